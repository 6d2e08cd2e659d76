package relay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"syscall"
)

// LiveSession is what a real qmail-smtpd answered in one session run by
// RunLive: every reply, in order. A reply the server never gave (it closed
// the connection first) is "". Closed says the server ended the session
// before QUIT (e.g. "421 unable to read controls" and exit); Stderr is what
// it wrote there (its log lines), kept to show why.
type LiveSession struct {
	Greeting string
	Helo     string
	Mail     string
	Rcpts    []string
	Closed   bool
	Stderr   string
}

// RunLive runs the installed qmail-smtpd argv (program and arguments) with
// exactly env as its environment, speaks SMTP to it over a pipe (EHLO, MAIL
// FROM, every RCPT TO, then QUIT: never DATA, so nothing can be queued), and
// returns its replies. A server that closes the connection early is an
// answer, not an error: the session then holds what it said up to there.
// With cred, it runs as that user and group (what tcpserver -u/-g does when
// root). The process dies with ctx.
func RunLive(ctx context.Context, argv []string, env map[string]string, cred *syscall.Credential, from string, rcpts []string) (*LiveSession, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", argv[0], err)
	}
	s := &LiveSession{Rcpts: make([]string, len(rcpts))}
	br := bufio.NewReader(out)
	// read returns the next (possibly multi-line) reply; false when the
	// server closed the connection (the partial reply, if any, is kept).
	read := func() (string, bool) {
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				if l != "" {
					lines = append(lines, strings.TrimRight(l, "\r\n"))
				}
				s.Closed = true
				return strings.Join(lines, "\n"), false
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(lines, "\n"), true
			}
		}
	}
	ask := func(line string) (string, bool) {
		if _, err := io.WriteString(in, line+"\r\n"); err != nil {
			s.Closed = true // the server is gone (EPIPE)
			return "", false
		}
		return read()
	}
	ok := false
	if s.Greeting, ok = read(); ok {
		if s.Helo, ok = ask("EHLO qmailctl.invalid"); ok {
			if s.Mail, ok = ask("MAIL FROM:" + bracket(from)); ok {
				for i, r := range rcpts {
					if s.Rcpts[i], ok = ask("RCPT TO:" + bracket(r)); !ok {
						break
					}
				}
			}
		}
	}
	if ok {
		ask("QUIT")
		s.Closed = false
	}
	in.Close()
	io.Copy(io.Discard, out)
	// Its exit status says nothing the replies do not: a refusing server
	// answers 421/451 and exits 1.
	cmd.Wait()
	s.Stderr = stderr.String()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("run %s: %w", argv[0], ctx.Err())
	}
	return s, nil
}

// Last is the last reply the server gave: when it closed the connection
// early, its answer to everything the client would have sent after.
func (s *LiveSession) Last() string {
	last := s.Greeting
	for _, r := range append([]string{s.Helo, s.Mail}, s.Rcpts...) {
		if r != "" {
			last = r
		}
	}
	return last
}

// bracket puts an address between < and > unless it already is.
func bracket(a string) string {
	if strings.Contains(a, "<") {
		return a
	}
	return "<" + a + ">"
}

// LiveEnv is the environment tcpserver gives qmail-smtpd for the session
// res decided for q: the environment after the rule (res.Env, which starts
// from the run script's), TCPREMOTEIP, TCPLOCALIP, and TCPREMOTEHOST and
// TCPREMOTEINFO when q has them (tcpserver without -H, -R).
func LiveEnv(res *Result, q Query, localIP string) map[string]string {
	env := map[string]string{"TCPREMOTEIP": res.IP, "TCPLOCALIP": localIP, "PROTO": "TCP"}
	if q.HasHost {
		env["TCPREMOTEHOST"] = q.Host
	}
	if q.HasInfo {
		env["TCPREMOTEINFO"] = q.Info
	}
	for _, v := range res.Env {
		env[v.Name] = v.Value
	}
	return env
}
