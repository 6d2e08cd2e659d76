package peers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/testexec"
)

// StartTCPServer runs Debian's tcpserver -v -R -H -x cdb on 127.0.0.1
// with child as the program it runs per connection (/usr/bin/env, to read
// back the environment a client gets; rblsmtpd ...), and returns the address
// to connect to. It is ready when tcpserver prints its first "status:" line
// (after listen), so no waiting loop is needed. tcpserver dies with the test
// (testexec).
func StartTCPServer(t testing.TB, cdb string, env []string, child ...string) string {
	t.Helper()
	tcpserver := Tool(t, "tcpserver")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"-v", "-R", "-H", "-l", "localhost", "-x", cdb, "127.0.0.1", port}, child...)
	cmd := testexec.CommandContext(t, ctx, tcpserver, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "status:") {
			go io.Copy(io.Discard, stderr) // keep tcpserver from blocking on its log
			return "127.0.0.1:" + port
		}
	}
	t.Fatalf("tcpserver did not start on port %s: %s", port, strings.Join(seen, "\n"))
	return ""
}

// SMTPSession connects to addr from the loopback address ip, sends each of
// cmds (CRLF added) after reading the previous reply line, and returns every
// line the server sent (CRLF removed) until it closes the connection.
func SMTPSession(t testing.TB, ip, addr string, cmds []string) []string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connect from %s: %v", ip, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	var out []string
	read := func() bool {
		line, err := r.ReadString('\n')
		if line != "" {
			out = append(out, strings.TrimRight(line, "\r\n"))
		}
		return err == nil
	}
	if !read() { // the greeting, or -t 0's one line
		return out
	}
	for _, cmd := range cmds {
		if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
			break
		}
		if !read() {
			break
		}
	}
	for read() {
	}
	return out
}
