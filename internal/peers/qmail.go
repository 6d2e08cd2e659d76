package peers

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// QmailDir is where scripts/build-peers.sh installs the real qmail-smtpd
// servers: $QMAILCTL_QMAIL_PEERS, default /opt/qmail-peers.
func QmailDir() string {
	if d := os.Getenv("QMAILCTL_QMAIL_PEERS"); d != "" {
		return d
	}
	return "/opt/qmail-peers"
}

// QmailSMTPD returns the path of the real qmail-smtpd of mta ("notqmail"
// or "indimail"), or fails (under CI) or skips the test when it is not
// built.
func QmailSMTPD(t testing.TB, mta string) string {
	t.Helper()
	p := filepath.Join(QmailDir(), mta, "bin", "qmail-smtpd")
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		missing(t, mta+"'s qmail-smtpd (scripts/build-peers.sh builds it)")
	}
	return p
}

// QmailTool returns the path of another tool of mta's build (qmail-newmrh,
// qmail-cdb), or fails or skips the test.
func QmailTool(t testing.TB, mta, name string) string {
	t.Helper()
	p := filepath.Join(QmailDir(), mta, "bin", name)
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		missing(t, mta+"'s "+name+" (scripts/build-peers.sh builds it)")
	}
	return p
}

// NotqmailAt returns a copy of notqmail's program bin (qmail-smtpd,
// qmail-newmrh) whose compiled-in home directory (conf-qmail, where it
// finds control/) is home, so that a test can give it its own control
// files. The string is patched in place: home must be no longer than the
// original (make it with ShortTempDir). The copy is home/bin/NAME.
func NotqmailAt(t testing.TB, bin, home string) string {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	orig := []byte(filepath.Dir(filepath.Dir(bin)) + "\x00")
	i := bytes.Index(data, append([]byte{0}, orig...))
	if i < 0 || len(home)+1 > len(orig) {
		t.Fatalf("cannot point %s at %s: its home %q is not in it, or is shorter", bin, home, orig)
	}
	copy(data[i+1:], append([]byte(home), make([]byte, len(orig)-len(home))...))
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(home, "bin", filepath.Base(bin))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ShortTempDir makes a directory with a short path under /tmp (whatever
// $TMPDIR says), removed when the test ends: notqmail's home directory is
// compiled in, and NotqmailAt can only patch in a path no longer than it.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "qm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
