package relay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// TestRealTCPServer starts Debian's tcpserver on a cdb compiled by
// qmailctl, connects from several loopback source addresses, and checks
// that the environment tcpserver gives its child (/usr/bin/env) agrees with
// the engine: RELAYCLIENT present exactly when the engine says relaying,
// its value exactly what the engine appends, and a denied client sees the
// connection closed with no output.
func TestRealTCPServer(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	rules := `127.0.0.2:deny
127.0.0.3:allow,RELAYCLIENT=""
127.0.0.4:allow,RELAYCLIENT="+ext"
127.0.1.:allow,RELAYCLIENT=""
127.0.2.1-5:allow,RELAYCLIENT=""
127.0.2.3:deny
127.0.3.0/24:deny
127.0.4.7:allow,GREETING="hi"
:allow,FOO="bar"
`
	if err := os.WriteFile(src, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := buildCDB(t, src); err != nil {
		t.Fatal(err)
	}

	addr := peers.StartTCPServer(t, src+".cdb", nil, "/usr/bin/env").Addr

	r, err := cdb.Open(src + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, _ := os.ReadFile(src)
	rh, _, _ := control.Parse(control.RcptHosts, "rcpthosts", []byte("example.com\n"))
	cfg := &Config{Rules: r.Get, RulesCDB: src + ".cdb", RulesSource: src, RcptHosts: rh,
		FindRule: func(k string) (*tcprules.Rule, error) { return tcprules.FindRule(data, r.Positions, k) }}

	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.1.9", "127.0.2.2", "127.0.2.3", "127.0.2.6", "127.0.3.77", "127.0.4.7", "127.9.9.9"} {
		t.Run(ip, func(t *testing.T) {
			env, ran := peers.ConnectFrom(t, ip, addr)
			res, err := Decide(context.Background(), cfg, Query{IP: ip, From: "a@example.com", Rcpts: []string{"b@gmail.com"}})
			if err != nil {
				t.Fatal(err)
			}
			v := res.Recipients[0]
			if res.Dropped {
				if ran {
					t.Fatalf("engine says tcpserver denies %s, but the child ran: %v", ip, env)
				}
				return
			}
			if !ran {
				t.Fatalf("engine says %s is allowed, but tcpserver closed the connection", ip)
			}
			if env["TCPREMOTEIP"] != ip {
				t.Errorf("TCPREMOTEIP %q; want %q", env["TCPREMOTEIP"], ip)
			}
			rc, has := env["RELAYCLIENT"]
			if has != v.Relaying {
				t.Errorf("tcpserver sets RELAYCLIENT: %v; engine says relaying: %v (%s)", has, v.Relaying, v.Reply)
			}
			if has && v.QueuedAs != "b@gmail.com"+rc {
				t.Errorf("RELAYCLIENT=%q, so qmail-smtpd queues b@gmail.com%s; engine says %q", rc, rc, v.QueuedAs)
			}
			for _, e := range res.Env {
				if env[e.Name] != e.Value {
					t.Errorf("engine's %s=%q; tcpserver's child has %q", e.Name, e.Value, env[e.Name])
				}
			}
		})
	}
}

// buildCDB compiles the rules file src into src.cdb in a transaction of its
// own and commits it, as qmailctl cdb does.
func buildCDB(t testing.TB, src string) error {
	t.Helper()
	txn, err := safefile.Begin(5*time.Second, src, src+".cdb")
	if err != nil {
		return err
	}
	defer txn.Close()
	if _, _, err := tcprules.Build(txn, src, src+".cdb", nil); err != nil {
		return err
	}
	return txn.Commit()
}

// compileControl compiles kind's cdb in the control directory dir in a
// transaction of its own and commits it, as qmailctl cdb does.
func compileControl(t testing.TB, kind control.Kind, dir string) error {
	t.Helper()
	src, dst := filepath.Join(dir, kind.Name()), filepath.Join(dir, kind.CDBName())
	txn, err := safefile.Begin(5*time.Second, src, dst)
	if err != nil {
		return err
	}
	defer txn.Close()
	if _, _, err := control.Compile(txn, kind, dir); err != nil {
		return err
	}
	return txn.Commit()
}
