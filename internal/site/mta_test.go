package site

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/relay"
)

func TestSMTPDCommandAndMTA(t *testing.T) {
	dir := t.TempDir()
	write := func(run string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "run"), []byte(run), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("#!/bin/sh\nexec 2>&1\nexec envdir ./variables sh -c \"\nexec /usr/bin/tcpserver -v -H -R -l localhost \\\n  -x ../tcp/tcp.smtp.cdb -c 20 -u 555 -g 556 0 25 \\\n  /usr/sbin/qmail-smtpd mx.example.com /bin/checkpassword /bin/true\"\n")
	os.Mkdir(filepath.Join(dir, "variables"), 0o755)
	svc, err := ReadService(dir)
	if err != nil {
		t.Fatal(err)
	}
	argv, uid, gid := svc.SMTPDCommand()
	if strings.Join(argv, " ") != "/usr/sbin/qmail-smtpd mx.example.com /bin/checkpassword /bin/true" || uid != 555 || gid != 556 {
		t.Errorf("SMTPDCommand = %q %d %d", argv, uid, gid)
	}
	if m, how := svc.DetectMTA(); m != relay.MTAIndiMail {
		t.Errorf("DetectMTA = %q (%s); want indimail", m, how)
	}

	write("#!/bin/sh\nexec tcpserver -x /etc/tcp.smtp.cdb 0 smtp /var/qmail/bin/qmail-smtpd\n")
	if svc, err = ReadService(dir); err != nil {
		t.Fatal(err)
	}
	if m, how := svc.DetectMTA(); m != relay.MTANotqmail {
		t.Errorf("DetectMTA = %q (%s); want notqmail", m, how)
	}
	if argv, uid, gid := svc.SMTPDCommand(); len(argv) != 1 || uid != -1 || gid != -1 {
		t.Errorf("SMTPDCommand = %q %d %d", argv, uid, gid)
	}
}
