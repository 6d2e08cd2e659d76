package relay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"syscall"
)

// LiveSession is what a real qmail-smtpd answered in one session run by
// RunLive: the greeting and every RCPT reply, in order.
type LiveSession struct {
	Greeting string
	Rcpts    []string
}

// RunLive runs the installed qmail-smtpd argv (program and arguments) with
// exactly env as its environment, speaks SMTP to it over a pipe (EHLO, MAIL
// FROM, every RCPT TO, then QUIT: never DATA, so nothing can be queued), and
// returns its replies. With cred, it runs as that user and group (what
// tcpserver -u/-g does when root). The process dies with ctx.
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
	defer func() {
		in.Close()
		io.Copy(io.Discard, out)
		cmd.Wait()
	}()
	br := bufio.NewReader(out)
	read := func() (string, error) {
		var lines []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				if len(lines) == 0 && l == "" {
					return "", fmt.Errorf("%s closed the connection: %w", argv[0], err)
				}
				return strings.Join(append(lines, strings.TrimRight(l, "\r\n")), "\n"), nil
			}
			l = strings.TrimRight(l, "\r\n")
			lines = append(lines, l)
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(lines, "\n"), nil
			}
		}
	}
	cmdReply := func(line string) (string, error) {
		if _, err := io.WriteString(in, line+"\r\n"); err != nil {
			return "", fmt.Errorf("write to %s: %w", argv[0], err)
		}
		return read()
	}
	s := &LiveSession{}
	if s.Greeting, err = read(); err != nil {
		return nil, err
	}
	if _, err := cmdReply("EHLO qmailctl.invalid"); err != nil {
		return nil, err
	}
	if _, err := cmdReply("MAIL FROM:" + bracket(from)); err != nil {
		return nil, err
	}
	for _, r := range rcpts {
		rep, err := cmdReply("RCPT TO:" + bracket(r))
		if err != nil {
			return nil, err
		}
		s.Rcpts = append(s.Rcpts, rep)
	}
	cmdReply("QUIT")
	return s, nil
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
