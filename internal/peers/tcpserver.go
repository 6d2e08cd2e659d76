package peers

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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
