package peers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/testexec"
)

// StartTCPServer runs Debian's tcpserver on 127.0.0.1 with the rules cdb,
// as tcpserver -R -H -x cdb, and /usr/bin/env as the child, so that every
// connection reads back the environment the child got. It returns the
// address to connect to; the server is stopped when the test ends.
func StartTCPServer(t testing.TB, cdb string) string {
	t.Helper()
	tcpserver := Tool(t, "tcpserver")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := testexec.CommandContext(t, ctx, tcpserver, "-R", "-H", "-l", "localhost", "-x", cdb, "127.0.0.1", port, "/usr/bin/env")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })

	addr := "127.0.0.1:" + port
	for i := 0; i < 250; i++ { // at most about 5 s
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			io.Copy(io.Discard, c) // let the child finish
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("tcpserver does not listen on %s: %s", addr, stderr.String())
	return ""
}

// ConnectFrom connects to addr from the loopback source address ip and
// returns the environment the child printed; ran is false when tcpserver
// closed the connection without running the child (a deny rule).
func ConnectFrom(t testing.TB, ip, addr string) (env map[string]string, ran bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connect from %s: %v", ip, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read from %s: %v", ip, err)
	}
	env = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env, len(out) > 0
}
