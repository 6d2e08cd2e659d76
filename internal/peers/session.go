package peers

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/testexec"
)

// TCPServer is Debian's tcpserver running for a test (StartTCPServer).
type TCPServer struct {
	// Addr is where it listens: 127.0.0.1:PORT.
	Addr string
	log  childLog
	stop sync.Once
	quit func()
}

// Stop ends tcpserver and waits for it; the test's end does it too.
func (s *TCPServer) Stop() { s.stop.Do(s.quit) }

// Log is what the programs tcpserver ran wrote to stderr so far, without
// tcpserver's own -v lines: for a test's failure message.
func (s *TCPServer) Log() string { return s.log.String() }

// StartTCPServer runs Debian's tcpserver -v -R -H -x cdb on 127.0.0.1 with
// env (NAME=VALUE, after PATH=/usr/bin:/bin) and child as the program it
// runs per connection (/usr/bin/env, to read back the environment a client
// gets; rblsmtpd ...; qmail-smtpd ...). It is ready when tcpserver prints
// its first "status:" line (after listen), so no waiting loop is needed.
// tcpserver dies with the test (testexec).
func StartTCPServer(t testing.TB, cdb string, env []string, child ...string) *TCPServer {
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
	s := &TCPServer{Addr: "127.0.0.1:" + port, quit: func() { cancel(); cmd.Wait() }}
	t.Cleanup(s.Stop)
	ready := make(chan bool, 1)
	go func() { // reads until tcpserver exits, so it never blocks on its log
		sc := bufio.NewScanner(stderr)
		listening := false
		for sc.Scan() {
			line := sc.Text()
			if !listening && strings.Contains(line, "status:") {
				listening = true
				ready <- true
			}
			s.log.add(line)
		}
		if !listening {
			ready <- false
		}
	}()
	if !<-ready {
		t.Fatalf("tcpserver did not start on port %s: %s", port, s.log.String())
	}
	return s
}

// childLog collects the stderr lines of tcpserver's children; tcpserver's
// own -v lines (status, pid, ok, end) are left out.
type childLog struct {
	mu    sync.Mutex
	lines []string
}

func (b *childLog) add(l string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	own := strings.HasPrefix(l, "tcpserver: ") &&
		(strings.Contains(l, "status:") || strings.Contains(l, "pid ") || strings.Contains(l, "ok ") || strings.Contains(l, "end "))
	if !own {
		b.lines = append(b.lines, l)
	}
}

func (b *childLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
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
