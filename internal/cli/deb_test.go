package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDebPackage builds the .deb with goreleaser (goreleaser.yaml, a
// snapshot), installs it on this machine, checks the installed binary, man
// pages and completion, and purges it: scripts/test-deb.sh. It needs root
// and changes the system, so it runs only under CI or with
// QMAILCTL_TEST_DEB=1; the first run builds goreleaser from the module proxy
// (several minutes), later runs take seconds.
func TestDebPackage(t *testing.T) {
	if os.Getenv("CI") == "" && os.Getenv("QMAILCTL_TEST_DEB") == "" {
		t.Skip("installs a package: set QMAILCTL_TEST_DEB=1 (as root) to run it")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("scripts/test-deb.sh needs root")
		}
		t.Skip("scripts/test-deb.sh needs root")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "test-deb.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/test-deb.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
