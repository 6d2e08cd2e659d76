package tcprules

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// The rules the real tcpserver is run with: every lookup step that needs only
// the client IP, duplicates, deny with variables, and a variable set twice.
const tcpserverRules = `# qmailctl's tcpserver test
127.0.0.2:allow,RELAYCLIENT="",WHO="exact"
127.0.1.:allow,RELAYCLIENT="@relay.example",WHO="prefix3"
127.0.2.1-5:allow,WHO="range",TWICE="a",TWICE="b"
127.0.2.3:deny
127.0.3.:deny,WHO="denied"
127.0.4.0/22:allow,WHO="cidr"
127.1.:allow,WHO="prefix2",EMPTY=""
127.:allow,WHO="prefix1"
:allow,WHO="default"
`

// TestTcpserverSeesWhatLookupPredicts starts Debian's tcpserver on a cdb
// compiled by qmailctl, connects from many loopback source addresses, and
// compares the environment its child prints with Lookup's decision.
func TestTcpserverSeesWhatLookupPredicts(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	if err := os.WriteFile(src, []byte(tcpserverRules), 0o644); err != nil {
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
	clients := []string{"127.0.0.2", "127.0.0.3", "127.0.1.9", "127.0.2.1", "127.0.2.3", "127.0.2.5",
		"127.0.2.6", "127.0.3.77", "127.0.4.1", "127.0.7.255", "127.0.8.1", "127.1.2.3", "127.9.9.9"}
	for _, ip := range clients {
		t.Run(ip, func(t *testing.T) {
			d, err := Lookup(r.Get, Query{IP: ip})
			if err != nil {
				t.Fatal(err)
			}
			env, ran := peers.ConnectFrom(t, ip, addr)
			if d.Deny {
				if ran {
					t.Fatalf("lookup says deny, but the child ran: %v", env)
				}
				return
			}
			if !ran {
				t.Fatal("lookup says allow, but tcpserver dropped the connection")
			}
			if env["TCPREMOTEIP"] != ip {
				t.Fatalf("connected from %s, tcpserver saw %s", ip, env["TCPREMOTEIP"])
			}
			want := d.Apply(nil)
			for name, value := range want {
				if got, ok := env[name]; !ok || got != value {
					t.Errorf("%s: child has %q (set: %v), lookup predicts %q", name, got, ok, value)
				}
			}
			for _, name := range []string{"RELAYCLIENT", "WHO", "TWICE", "EMPTY"} {
				if _, predicted := want[name]; !predicted {
					if v, ok := env[name]; ok {
						t.Errorf("child has %s=%q, lookup predicts it unset", name, v)
					}
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
	if _, _, err := Build(txn, src, src+".cdb", nil); err != nil {
		return err
	}
	return txn.Commit()
}
