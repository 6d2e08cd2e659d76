package relay

import (
	"bufio"
	"bytes"
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
	tcpserver := peers.Tool(t, "tcpserver")
	envBin, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env program")
	}
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
	l, err := safefile.LockDir(dir, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tcprules.Build(l, src, src+".cdb", nil); err != nil {
		t.Fatal(err)
	}
	l.Unlock()

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tcpserver, "-R", "-H", "-l", "localhost", "-x", src+".cdb", "127.0.0.1", port, envBin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	waitListening(t, "127.0.0.1:"+port, &stderr)

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
			out, err := connectFrom(ip, "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			env := parseEnv(out)
			res, err := Decide(context.Background(), cfg, Query{IP: ip, From: "a@example.com", Rcpts: []string{"b@gmail.com"}})
			if err != nil {
				t.Fatal(err)
			}
			v := res.Recipients[0]
			if res.Dropped {
				if len(out) != 0 {
					t.Fatalf("engine says tcpserver denies %s, but the child ran:\n%s", ip, out)
				}
				return
			}
			if len(out) == 0 {
				t.Fatalf("engine says %s is allowed, but tcpserver closed the connection (stderr: %s)", ip, stderr.String())
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

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// waitListening polls addr until tcpserver accepts, for at most 5 seconds.
func waitListening(t *testing.T, addr string, stderr *bytes.Buffer) {
	t.Helper()
	for i := 0; i < 250; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tcpserver does not listen on %s: %s", addr, stderr.String())
}

// connectFrom connects to addr from the source address ip and reads what
// the child prints until tcpserver closes the connection.
func connectFrom(ip, addr string) ([]byte, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect from %s: %w", ip, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		return out, fmt.Errorf("read from %s: %w", ip, err)
	}
	return out, nil
}

func parseEnv(out []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}
