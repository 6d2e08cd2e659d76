package site

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// SMTPDCommand is the command tcpserver runs for each connection (qmail-smtpd
// and its arguments), and tcpserver's -u and -g (-1 when absent or not
// numeric), for relay test --live.
func (s *Service) SMTPDCommand() (argv []string, uid, gid int) {
	argv = append([]string{s.SMTPD}, s.SMTPDArgs...)
	uid, gid = -1, -1
	if n, err := strconv.Atoi(s.User); err == nil {
		uid = n
	}
	if n, err := strconv.Atoi(s.Group); err == nil {
		gid = n
	}
	return argv, uid, gid
}

// DetectMTA tells which qmail-smtpd the service runs: IndiMail's binary
// names IndiMail, notqmail's, netqmail's and LWQ's do not; when the program
// cannot be read, its path says what it can (/var/qmail/bin is the
// netqmail/LWQ layout, /usr/sbin IndiMail's). It returns "" when nothing
// tells, with the reason in how.
func (s *Service) DetectMTA() (m relay.MTA, how string) {
	prog := s.SMTPD
	if prog == "" {
		return "", s.Dir + "/run names no qmail-smtpd"
	}
	if bin, err := safefile.ReadFile(prog); err == nil {
		if bytes.Contains(bin, []byte("indimail")) || bytes.Contains(bin, []byte("IndiMail")) {
			return relay.MTAIndiMail, prog + " is IndiMail's"
		}
		return relay.MTANotqmail, prog + " is not IndiMail's (notqmail, netqmail or LWQ)"
	}
	switch {
	case strings.HasPrefix(prog, "/var/qmail/"):
		return relay.MTANotqmail, s.Dir + "/run runs " + prog + " (netqmail/LWQ layout)"
	case strings.Contains(strings.ToLower(prog), "indimail") || strings.HasPrefix(prog, "/usr/sbin/"):
		return relay.MTAIndiMail, s.Dir + "/run runs " + prog + " (IndiMail layout)"
	}
	return "", s.Dir + "/run runs " + prog + ", which cannot be read"
}
