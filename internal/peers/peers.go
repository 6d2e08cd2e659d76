// Package peers finds the real tools that qmailctl's tests compare it with:
// Debian's ucspi-tcp (tcprules, tcprulescheck, tcpserver), ucspi-tcp-ipv6
// unpacked into a private folder, freecdb's cdbmake and tinycdb's cdb.
// scripts/install-test-deps.sh installs them. Under CI a missing tool fails
// the test, because a skipped compatibility test proves nothing; on a
// developer's machine it skips: Missing is the one place that decides.
package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// IPv6Dir is where ucspi-tcp-ipv6's binaries are unpacked.
func IPv6Dir() string {
	root := os.Getenv("QMAILCTL_PEERS")
	if root == "" {
		root = "/opt/qmailctl-peers"
	}
	return filepath.Join(root, "ipv6", "usr", "bin")
}

// Tool returns the path of a tool on $PATH, or fails or skips the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name)
	}
	return p
}

// IPv6Tool returns the path of ucspi-tcp-ipv6's tool name.
func IPv6Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(IPv6Dir(), name)
	if _, err := os.Stat(p); err != nil {
		missing(t, "ucspi-tcp-ipv6 "+name)
	}
	return p
}

func missing(t testing.TB, what string) {
	t.Helper()
	Missing(t, "%s is not installed; run scripts/install-test-deps.sh", what)
}

// UnderCI reports whether the tests run under CI ($CI is set, as CI
// services and .ci/run set it).
func UnderCI() bool { return os.Getenv("CI") != "" }

// Missing ends a test that cannot run because something it compares with or
// needs (a peer tool, a database, a system file) is absent: under CI it
// fails, because a skipped compatibility test proves nothing and CI installs
// everything; on a developer's machine it skips. The message says what is
// missing and how to get it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if UnderCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
