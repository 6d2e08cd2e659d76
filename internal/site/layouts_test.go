package site

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestLayouts reads the run scripts of the three classic layouts in
// testdata: Life with qmail (backquotes, rblsmtpd in the chain), IndiMail's
// svctool (envdir + sh -c, $RBLCOMMAND split into words by the inner shell)
// and vpopmail (fixcrio, recordio, setuidgid).
func TestLayouts(t *testing.T) {
	type want struct {
		server, port, cdb string
		noHost, noInfo    bool
		chain             []Program
		smtpd, controlDir string
	}
	cases := []struct {
		layout string
		want   want
	}{
		{"lwq", want{server: "tcpserver", port: "smtp", cdb: "/etc/tcp.smtp.cdb", noInfo: true,
			chain: []Program{{Name: "rblsmtpd", Path: "/usr/local/bin/rblsmtpd", Args: []string{"-b", "-r", "zen.spamhaus.org"}}},
			smtpd: "/var/qmail/bin/qmail-smtpd"}},
		{"indimail", want{server: "tcpserver", port: "25", cdb: "/etc/indimail/tcp/tcp.smtp.cdb", noInfo: true,
			chain: []Program{{Name: "rblsmtpd", Path: "/usr/bin/rblsmtpd", Args: []string{"-rzen.spamhaus.org", "-rdnsbl-1.uceprotect.net"}}},
			smtpd: "/usr/sbin/qmail-smtpd", controlDir: "/etc/indimail/control"}},
		{"vpopmail", want{server: "tcpserver", port: "25", cdb: "/home/vpopmail/etc/tcp.smtp.cdb", noHost: true, noInfo: true,
			chain: []Program{{Name: "fixcrio", Path: "/usr/bin/fixcrio"}, {Name: "recordio", Path: "/usr/bin/recordio"},
				{Name: "setuidgid", Path: "/usr/bin/setuidgid", Args: []string{"qmaild"}}},
			smtpd: "/var/qmail/bin/qmail-smtpd"}},
	}
	for _, c := range cases {
		t.Run(c.layout, func(t *testing.T) {
			dirs, err := Discover([]string{filepath.Join("testdata", c.layout, "service")})
			if err != nil || len(dirs) != 1 {
				t.Fatalf("Discover = %q, %v; want one service", dirs, err)
			}
			s, err := ReadService(dirs[0])
			if err != nil {
				t.Fatal(err)
			}
			got := want{server: s.Server, port: s.Port, cdb: s.RulesCDB, noHost: s.NoHostLookup, noInfo: s.NoInfoLookup,
				chain: s.Chain, smtpd: s.SMTPD, controlDir: s.Env["CONTROLDIR"]}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("read\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}
