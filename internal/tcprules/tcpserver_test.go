package tcprules

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	tcpserver := peers.Tool(t, "tcpserver")
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	if err := os.WriteFile(src, []byte(tcpserverRules), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := safefile.LockDir(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Build(l, src, src+".cdb", nil); err != nil {
		t.Fatal(err)
	}
	l.Unlock()

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tcpserver, "-R", "-H", "-l", "localhost", "-x", src+".cdb",
		"127.0.0.1", fmt.Sprint(port), "/usr/bin/env")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	waitListening(t, port)

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
			env, closed := connect(t, ip, port)
			if d.Deny {
				if !closed || len(env) > 0 {
					t.Fatalf("lookup says deny, but the child ran: %v", env)
				}
				return
			}
			if closed {
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

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			io.Copy(io.Discard, c) // let the child finish
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tcpserver did not listen on port %d", port)
}

// connect opens a connection from source address ip and returns the
// environment the child printed, or closed=true if nothing came back.
func connect(t *testing.T, ip string, port int) (env map[string]string, closed bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	env = map[string]string{}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), "="); ok {
			env[name] = value
		}
	}
	return env, len(env) == 0
}
