package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRootRulesForReal runs the link and directory rules with real owners:
// as root, as qmailctl runs under sudo and as CI runs the tests. The same
// rules are tested with injected owners for everyone in trust_test.go.
func TestRootRulesForReal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	const mallory = 1234
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	control := filepath.Join(dir, "control")
	link := filepath.Join(control, "relaydomains")
	must(t, os.WriteFile(secret, []byte("TOP SECRET\n"), 0o600))
	must(t, os.Mkdir(control, 0o755))
	must(t, os.Symlink(secret, link))
	must(t, os.Lchown(link, mallory, mallory))

	_, err := ReadFile(link)
	var ue *UntrustedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "the link is owned by") {
		t.Fatalf("ReadFile through mallory's link: err = %v, want an *UntrustedError", err)
	}
	l, err := LockDir(control, time.Second)
	must(t, err)
	defer l.Unlock()
	err = l.WriteFile(link, func(f *os.File) error { _, err := f.WriteString("evil.example\n"); return err })
	if !errors.As(err, &ue) {
		t.Fatalf("WriteFile through mallory's link: err = %v, want an *UntrustedError", err)
	}
	assertContent(t, secret, "TOP SECRET\n")

	// mallory's link to mallory's own file is followed.
	own := filepath.Join(dir, "own")
	must(t, os.WriteFile(own, []byte("example.org\n"), 0o644))
	must(t, os.Chown(own, mallory, mallory))
	must(t, os.Remove(link))
	must(t, os.Symlink(own, link))
	must(t, os.Lchown(link, mallory, mallory))
	if data, err := ReadFile(link); err != nil || string(data) != "example.org\n" {
		t.Errorf("ReadFile through mallory's link to mallory's file = %q, %v", data, err)
	}

	// A world-writable directory is not written into, or locked.
	pub := filepath.Join(dir, "pub")
	must(t, os.Mkdir(pub, 0o755))
	must(t, os.Chmod(pub, 0o777))
	if _, err := LockDir(pub, time.Second); !errors.As(err, &ue) || !strings.Contains(err.Error(), "world-writable") {
		t.Errorf("LockDir(world-writable) err = %v, want an *UntrustedError", err)
	}
	must(t, os.Chmod(pub, 0o777|os.ModeSticky))
	pl, err := LockDir(pub, time.Second)
	if err != nil {
		t.Fatalf("LockDir(sticky world-writable) = %v", err)
	}
	pl.Unlock()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
