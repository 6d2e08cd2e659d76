package relay

import (
	"context"
	"fmt"
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

// TestRunLiveControlsMissing: a server with no greeting (neither
// control/smtpgreeting nor control/me) refuses before greeting and exits.
// RunLive returns that refusal as an answer, not an error (with the
// server's stderr), and the prediction (Config.NoGreeting) agrees; with
// control/me alone, both servers greet with it (smtpgreeting falls back to
// me) and the session goes on.
func TestRunLiveControlsMissing(t *testing.T) {
	for _, mta := range []MTA{MTANotqmail, MTAIndiMail} {
		for _, withMe := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/me=%v", mta, withMe), func(t *testing.T) {
				smtpd := peers.QmailSMTPD(t, string(mta))
				home := peers.ShortTempDir(t)
				ctl := filepath.Join(home, "control")
				if err := os.MkdirAll(ctl, 0o755); err != nil {
					t.Fatal(err)
				}
				ctlFiles := map[string]string{"rcpthosts": "example.com\n"}
				if withMe {
					ctlFiles["me"] = "me.example\n"
				}
				for name, text := range ctlFiles {
					if err := os.WriteFile(filepath.Join(ctl, name), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				argv := []string{smtpd}
				if mta == MTANotqmail {
					argv[0] = peers.NotqmailAt(t, smtpd, home)
				}
				cfg := config(t, files{"tcp.smtp": ":allow\n"})
				cfg.MTA, cfg.LocalIPs, cfg.ControlDir = mta, HostIPv4s(), ctl
				cfg.RcptHosts, _, _ = control.Load(control.RcptHosts, ctl)
				has, err := HasGreeting(ctl)
				if err != nil || has != withMe {
					t.Fatalf("HasGreeting = %v, %v; want %v", has, err, withMe)
				}
				cfg.NoGreeting = !has
				q := Query{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"b@example.com"},
					Env: map[string]string{"CONTROLDIR": ctl, "NODNSCHECK": "1", "PENALTY": "0"}}
				res, err := Decide(context.Background(), cfg, q)
				if err != nil {
					t.Fatal(err)
				}
				live, err := RunLive(context.Background(), argv, LiveEnv(res, q, "127.0.0.1"), nil, q.From, q.Rcpts)
				if err != nil {
					t.Fatalf("RunLive: %v", err)
				}
				got, want := live.Rcpts[0], res.Recipients[0].Actual().Reply
				if live.Closed {
					got = live.Last()
				}
				if got != want {
					t.Errorf("live %q, predicted %q (session %+v)", got, want, live)
				}
				if !withMe {
					if live.Greeting != ControlsRefusal(mta) || !live.Closed || live.Rcpts[0] != "" {
						t.Errorf("live session %+v: want the greeting %q, then closed", live, ControlsRefusal(mta))
					}
					if mta == MTAIndiMail && !strings.Contains(live.Stderr, "unable to read controls") {
						t.Errorf("IndiMail's stderr %q: want its log line", live.Stderr)
					}
				} else if !strings.HasPrefix(live.Greeting, "220 me.example") || live.Closed {
					t.Errorf("live session %+v: want a greeting from control/me", live)
				}
			})
		}
	}
}
