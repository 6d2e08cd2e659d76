package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// TestRelayTestLive runs the qmailctl program's `relay test --live` on a
// copy of the bundled examples/ served by both real servers, for a
// relaying, a refused and a local session, and for the examples without
// control/me (both servers then refuse before greeting): every run must
// agree with its own prediction (exit 0). CONTROLDIR is not given: relay
// test --live passes the control directory it read to the server.
func TestRelayTestLive(t *testing.T) {
	sessions := []struct {
		name string
		args []string
		want string // in the live output
	}{
		{"relaying", []string{"10.1.1.5", "joe@example.com", "friend@example.net", "U@Example.COM"}, "live: RCPT TO:<friend@example.net> -> 250 ok (agrees)"},
		{"refused", []string{"203.0.113.9", "a@gmail.com", "friend@example.net"}, "live: RCPT TO:<friend@example.net> -> 553 "},
		{"local", []string{"203.0.113.9", "a@gmail.com", "joe@example.com", "x@sales.example.com"}, "live: RCPT TO:<x@sales.example.com> -> 250 ok (agrees)"},
		{"no-me", []string{"10.1.1.5", "joe@example.com", "friend@example.net"}, "unable to read controls (#4.3.0) (agrees)"},
	}
	qmailctl := qmailctlBinary(t)
	for _, mta := range []string{"notqmail", "indimail"} {
		smtpd := peers.QmailSMTPD(t, mta)
		for _, s := range sessions {
			t.Run(mta+"/"+s.name, func(t *testing.T) {
				home := peers.ShortTempDir(t)
				ctl := filepath.Join(home, "control")
				copyDir(t, "../../examples/control", ctl)
				tcp := filepath.Join(home, "tcp")
				copyDir(t, "../../examples/tcp", tcp)
				if s.name == "no-me" {
					if err := os.Remove(filepath.Join(ctl, "me")); err != nil {
						t.Fatal(err)
					}
				}
				prog := smtpd
				if mta == "notqmail" {
					prog = peers.NotqmailAt(t, smtpd, home)
				}
				// Relative paths, as an admin types them (the server must
				// still get its control dir).
				args := append([]string{"--tcp-dir", "tcp", "--control-dir", "control", "relay", "test", "--live", "--mta", mta, "--smtpd", prog,
					"--env", "NODNSCHECK=1", "--env", "PENALTY=0"}, s.args...)
				cmd := testexec.Command(t, qmailctl, args...)
				cmd.Dir = home
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				if err != nil || strings.Contains(out.String(), "DIFFERS") || !strings.Contains(out.String(), s.want) {
					t.Errorf("qmailctl %v: %v (want exit 0 and %q)\n%s%s", s.args, err, s.want, out.String(), errb.String())
				}
				if s.name != "no-me" && (!strings.Contains(out.String(), "live: EHLO -> \"250-") || !strings.Contains(out.String(), "live: MAIL FROM:<"+s.args[1]+"> -> 250 ok")) {
					t.Errorf("qmailctl %v: no EHLO and MAIL replies in\n%s", s.args, out.String())
				}
				if strings.Contains(errb.String(), "compiled-in home") {
					t.Errorf("warns of notqmail's control dir, which is the one read:\n%s", errb.String())
				}
			})
		}
	}
}

// TestRelayTestLiveDisagrees: when the server's answer differs from the
// prediction, relay test --live prints what the server said (here notqmail,
// whose compiled-in control dir has no me, refusing before greeting), marks
// the difference, exits 1 and names both control directories.
func TestRelayTestLiveDisagrees(t *testing.T) {
	smtpd := peers.QmailSMTPD(t, "notqmail")
	qmailctl := qmailctlBinary(t)
	home, elsewhere := peers.ShortTempDir(t), peers.ShortTempDir(t)
	ctl := filepath.Join(home, "control")
	copyDir(t, "../../examples/control", ctl)
	if err := os.MkdirAll(filepath.Join(elsewhere, "control"), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := peers.NotqmailAt(t, smtpd, elsewhere)
	cmd := testexec.Command(t, qmailctl, "--tcp-dir", "../../examples/tcp", "--control-dir", ctl, "relay", "test", "--live", "--mta", "notqmail", "--smtpd", prog,
		"10.1.1.5", "joe@example.com", "friend@example.net")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d (%v), want 1", code, err)
	}
	for _, want := range []string{
		`greets "421 unable to read controls (#4.3.0)"`,
		`live: RCPT TO:<friend@example.net> -> 421 unable to read controls (#4.3.0) (DIFFERS from the prediction "250 ok")`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if e := errb.String(); !strings.Contains(e, "compiled-in home") || !strings.Contains(e, filepath.Join(elsewhere, "control")) || !strings.Contains(e, ctl) {
		t.Errorf("stderr does not name both control dirs:\n%s", e)
	}
}

// copyDir copies the regular files of src into a new directory dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
