package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/peers"
)

// TestRelayTestLive: relay test --live agrees with its own prediction on
// the bundled example configuration served by both real servers.
func TestRelayTestLive(t *testing.T) {
	sessions := [][]string{
		{"10.1.1.5", "joe@example.com", "friend@example.net", "U@Example.COM"},
		{"203.0.113.9", "a@gmail.com", "joe@example.com", "friend@example.net", "x@sales.example.com"},
		{"192.168.5.20", "joe@example.com", "friend@example.net"},
		{"198.51.100.7", "boss@example.com", "friend@gmail.com", "<>"},
	}
	for _, mta := range []string{"notqmail", "indimail"} {
		t.Run(mta, func(t *testing.T) {
			smtpd := peers.QmailSMTPD(t, mta)
			home := peers.ShortTempDir(t)
			ctl := filepath.Join(home, "control")
			if err := os.MkdirAll(ctl, 0o755); err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir("../../examples/control")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				data, err := os.ReadFile(filepath.Join("../../examples/control", e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(ctl, e.Name()), data, 0o644)
			}
			os.WriteFile(filepath.Join(ctl, "me"), []byte("mx.example.com\n"), 0o644)
			os.WriteFile(filepath.Join(ctl, "smtpgreeting"), []byte("mx.example.com\n"), 0o644)
			prog := smtpd
			if mta == "notqmail" {
				prog = peers.NotqmailAt(t, smtpd, home)
			}
			for _, s := range sessions {
				args := []string{"--tcp-dir", "../../examples/tcp", "--control-dir", ctl, "relay", "test", "--live", "--mta", mta, "--smtpd", prog,
					"--env", "CONTROLDIR=" + ctl, "--env", "NODNSCHECK=1", "--env", "PENALTY=0"}
				args = append(args, s...)
				var out, errb bytes.Buffer
				a := &app{stdout: &out, stderr: &errb}
				code := a.run(args)
				if code != exitOK && code != exitNo || strings.Contains(out.String(), "DIFFERS") || !strings.Contains(out.String(), "live: RCPT") {
					t.Errorf("relay test --live %v: exit %d\n%s%s", s, code, out.String(), errb.String())
				}
				if code == exitNo {
					t.Errorf("relay test --live %v exits 1: the server disagrees\n%s", s, out.String())
				}
			}
		})
	}
}
