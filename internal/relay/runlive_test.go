package relay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/peers"
)

// TestRunLive runs relay test --live's session (RunLive, LiveEnv) against
// both real servers over a pipe and checks every RCPT reply against the
// prediction for the same server.
func TestRunLive(t *testing.T) {
	fs := files{
		"tcp.smtp":  "10.1.1.:allow,RELAYCLIENT=\"\"\n10.2.2.2:allow,TCPPARANOID=\"x\"\n:allow\n",
		"rcpthosts": "example.com\n.example.com\ntrail.example.\n",
	}
	sessions := []Query{
		{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"b@gmail.com", "U@Example.COM"}},
		{IP: "203.0.113.9", From: "a@gmail.com", Rcpts: []string{"joe@example.com", "x@gmail.com", "w@trail.example.", "u@[127.0.0.1]", "<>"}},
		{IP: "10.2.2.2", From: "a@gmail.com", Rcpts: []string{"joe@example.com"}},
	}
	for _, mta := range []MTA{MTANotqmail, MTAIndiMail} {
		t.Run(string(mta), func(t *testing.T) {
			smtpd := peers.QmailSMTPD(t, string(mta))
			home := peers.ShortTempDir(t)
			ctl := filepath.Join(home, "control")
			os.MkdirAll(ctl, 0o755)
			for name, text := range map[string]string{"me": "me.example\n", "smtpgreeting": "me.example\n", "rcpthosts": fs["rcpthosts"]} {
				if err := os.WriteFile(filepath.Join(ctl, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			argv := []string{smtpd}
			base := map[string]string{}
			if mta == MTANotqmail {
				argv[0] = peers.NotqmailAt(t, smtpd, home)
			} else {
				base["CONTROLDIR"], base["PENALTY"], base["NODNSCHECK"] = ctl, "0", "1"
			}
			cfg := config(t, fs)
			cfg.MTA, cfg.LocalIPs, cfg.LocalIPHost = mta, HostIPv4s(), "me.example"
			cfg.RcptHosts, _, _ = control.Load(control.RcptHosts, ctl)
			for _, q := range sessions {
				q.Env = base
				res, err := Decide(context.Background(), cfg, q)
				if err != nil {
					t.Fatal(err)
				}
				live, err := RunLive(context.Background(), argv, LiveEnv(res, q, "127.0.0.1"), nil, q.From, q.Rcpts)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range res.Recipients {
					if got, want := live.Rcpts[i], v.Actual().Reply; got != want {
						t.Errorf("%s RCPT %s from %s: live %q, predicted %q", mta, q.Rcpts[i], q.IP, got, want)
					}
				}
			}
		})
	}
}

// TestRunLiveControlsMissing: a server that refuses before its greeting
// (no control/smtpgreeting, no control/me) is an answer, not an error:
// RunLive returns its refusal, says the server closed the connection, and
// keeps what it wrote on stderr.
func TestRunLiveControlsMissing(t *testing.T) {
	for _, c := range []struct {
		mta   MTA
		reply string
	}{
		{MTANotqmail, "421 unable to read controls (#4.3.0)"},
		{MTAIndiMail, "451 Sorry, I'm unable to read controls (#4.3.0)"},
	} {
		t.Run(string(c.mta), func(t *testing.T) {
			smtpd := peers.QmailSMTPD(t, string(c.mta))
			home := peers.ShortTempDir(t)
			ctl := filepath.Join(home, "control")
			if err := os.MkdirAll(ctl, 0o755); err != nil {
				t.Fatal(err)
			}
			argv := []string{smtpd}
			if c.mta == MTANotqmail {
				argv[0] = peers.NotqmailAt(t, smtpd, home)
			}
			env := map[string]string{"TCPREMOTEIP": "10.1.1.5", "TCPLOCALIP": "127.0.0.1", "CONTROLDIR": ctl}
			live, err := RunLive(context.Background(), argv, env, nil, "a@example.com", []string{"b@example.net"})
			if err != nil {
				t.Fatalf("RunLive: %v", err)
			}
			if live.Greeting != c.reply || !live.Closed || live.Last() != c.reply || live.Rcpts[0] != "" {
				t.Errorf("live session %+v, want greeting %q then closed", live, c.reply)
			}
			if c.mta == MTAIndiMail && !strings.Contains(live.Stderr, "unable to read controls") {
				t.Errorf("IndiMail's stderr %q: want its log line", live.Stderr)
			}
		})
	}
}
