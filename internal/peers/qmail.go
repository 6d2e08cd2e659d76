package peers

import (
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
