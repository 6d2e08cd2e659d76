package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestWriteFileModes(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	tests := []struct {
		name     string
		existing os.FileMode // 0: no file before
		want     os.FileMode
	}{
		{"new file ignores the umask", 0, 0o644},
		{"existing mode is kept", 0o640, 0o640},
		{"existing world-writable mode is kept", 0o664, 0o664},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "tcp.smtp.cdb")
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			l := lock(t, dir)
			if err := l.WriteFile(path, func(f *os.File) error { _, err := f.WriteString("new"); return err }); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Errorf("mode = %o, want %o", got, tt.want)
			}
			assertContent(t, path, "new")
			assertOnlyFiles(t, dir, "tcp.smtp.cdb")
		})
	}
}

func TestWriteFileFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tcp.smtp.cdb")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := lock(t, dir)
	boom := errors.New("boom")
	err := l.WriteFile(path, func(f *os.File) error { f.WriteString("partial"); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	assertContent(t, path, "old")
	assertOnlyFiles(t, dir, "tcp.smtp.cdb")
}

func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	os.WriteFile(real, []byte("old"), 0o644)
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	l := lock(t, dir)
	if err := l.WriteFile(link, func(f *os.File) error { _, err := f.WriteString("new"); return err }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi, err)
	}
	assertContent(t, real, "new")
}

func TestWriteFileRemovesLitter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tcp.smtp.cdb")
	// What a run killed before its rename leaves behind, and look-alikes that must stay.
	for _, name := range []string{".tcp.smtp.cdb3427190655178234121", ".tcp.smtp.cdbx1", "tcp.smtp"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	l := lock(t, dir)
	if err := l.WriteFile(path, func(f *os.File) error { return nil }); err != nil {
		t.Fatal(err)
	}
	assertOnlyFiles(t, dir, ".tcp.smtp.cdbx1", "tcp.smtp", "tcp.smtp.cdb")
}

func TestWriteFileOutsideLockedDir(t *testing.T) {
	l := lock(t, t.TempDir())
	if err := l.WriteFile(filepath.Join(t.TempDir(), "x"), func(*os.File) error { return nil }); err == nil {
		t.Fatal("write outside the locked directory succeeded")
	}
}

func TestLockDirExcludes(t *testing.T) {
	dir := t.TempDir()
	l := lock(t, dir)
	start := time.Now()
	_, err := LockDir(dir, 100*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: err = %v, want ErrLocked", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("second lock gave up before its timeout")
	}
	l.Unlock()
	l2, err := LockDir(dir, time.Second)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l2.Unlock()
}

func TestLockDirMissing(t *testing.T) {
	if _, err := LockDir(filepath.Join(t.TempDir(), "nope"), time.Second); err == nil {
		t.Fatal("locking a missing directory succeeded")
	}
}

func lock(t *testing.T, dir string) *Lock {
	t.Helper()
	l, err := LockDir(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Unlock() })
	return l
}

func assertContent(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("files in %s = %q, want %q", dir, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("files in %s = %q, want %q", dir, got, want)
		}
	}
}
