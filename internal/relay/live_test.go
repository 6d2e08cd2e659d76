package relay

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// The live agreement suite runs the real qmail-smtpd of notqmail and of
// IndiMail behind Debian's tcpserver on 127.0.0.1, with control files and
// a tcp.smtp.cdb that qmailctl compiled, drives seeded random SMTP sessions
// from 127.0.0.0/8 source addresses, and compares every live answer with
// Decide's prediction for the same server: whether tcpserver drops the
// connection, every RCPT reply (code and text), and the recipients the
// server hands its queue (a QMAILQUEUE stub records the envelope).
//
// QMAILCTL_LIVE_SESSIONS sets the number of sessions per server (default
// 60); CI sets it to 1000 or more. QMAILCTL_LIVE_SEED picks the seed.

const liveConfigs = 20 // sessions are spread over this many configurations

func TestLiveAgreement(t *testing.T) {
	total := 60
	if v := os.Getenv("QMAILCTL_LIVE_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("QMAILCTL_LIVE_SESSIONS=%q is not a positive number", v)
		}
		total = n
	}
	seed := int64(10)
	if v := os.Getenv("QMAILCTL_LIVE_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("QMAILCTL_LIVE_SEED=%q is not a number", v)
		}
		seed = n
	}
	for _, mta := range []MTA{MTANotqmail, MTAIndiMail} {
		t.Run(string(mta), func(t *testing.T) {
			smtpd := peers.QmailSMTPD(t, string(mta))
			tcpserver := peers.Tool(t, "tcpserver")
			rng := rand.New(rand.NewSource(seed))
			agreed, n := 0, 0
			nconf := liveConfigs
			if total < nconf {
				nconf = total
			}
			for c := 0; c < nconf; c++ {
				conf := genConfig(rng, mta)
				srv := startLive(t, mta, smtpd, tcpserver, conf)
				per := total / nconf
				if c < total%nconf {
					per++
				}
				for i := 0; i < per; i++ {
					sess := genSession(rng, mta)
					n++
					if diff := srv.compare(t, sess); diff != "" {
						t.Errorf("%s disagrees with relay test --mta %s:\n%s\nreproduction:\n%s", mta, mta, diff, conf.repro(sess))
						continue
					}
					agreed++
				}
				srv.srv.Stop()
			}
			t.Logf("%s: %d of %d sessions agree (seed %d)", mta, agreed, n, seed)
		})
	}
}

// liveConfig is one generated configuration.
type liveConfig struct {
	rules string            // tcp.smtp
	files map[string]string // control files by name (morercpthosts is compiled)
}

// liveSession is one generated SMTP session.
type liveSession struct {
	ip    string
	auth  string // AUTH PLAIN user, "" for none
	from  string
	rcpts []string
}

var (
	liveIPs      = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.1.6", "127.0.1.7", "127.0.2.8", "127.0.3.9"}
	liveDomains  = []string{"me.example", "lip.example", "example.com", ".sub.example.org", "Example.NET", "trail.example.", "under_score.example", "[127.0.0.1]", "local.example"}
	liveMore     = []string{"more.example", ".deep.example", "x.example.", "Mixed.Example"}
	liveSenders  = []string{"a@example.com", "boss@corp.example", "x@trusted.example", "", "Boss@Corp.Example", "joe@gmail.com"}
	liveRcpts    = []string{"u@me.example", "U@Example.COM", "x@gmail.com", "y@sub.example.org", "z@a.sub.example.org", "w@trail.example.", "w@trail.example", "v@under_score.example", "q@more.example", "r@x.deep.example", "u@[127.0.0.1]", "u@[127.0.0.9]", "", "a%b@gmail.com", "postmaster", "p@local.example", "m@mixed.example", "l@[0.0.0.0]", "l@[127.0.0.01]", "s@x.example.", "T@Example.Net"}
	liveRuleVals = []string{`RELAYCLIENT=""`, `RELAYCLIENT="+Ext"`, `RELAYCLIENT="-x"`, `SHUTDOWN=""`, `SHUTDOWN="450 closed"`, `REQPTR=""`, `REQPTR="no ptr"`, `TCPPARANOID=""`, `TCPPARANOID="x"`, `OPENRELAY=""`, `REQUIREAUTH=""`, `AUTH_ALL=""`, `FOO="bar"`}
)

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.Intn(len(list))] }

// subset returns a random subset of list, in order.
func subset(rng *rand.Rand, list []string, p float64) []string {
	var out []string
	for _, s := range list {
		if rng.Float64() < p {
			out = append(out, s)
		}
	}
	return out
}

func genConfig(rng *rand.Rand, mta MTA) liveConfig {
	var rules strings.Builder
	for _, ip := range liveIPs {
		if rng.Intn(3) == 0 {
			continue
		}
		key := ip
		switch rng.Intn(4) {
		case 0:
			key = ip[:strings.LastIndexByte(ip, '.')+1] // a dotted prefix
		case 1:
			key = ip[:strings.LastIndexByte(ip, '.')] + ".0/24"
		}
		if rng.Intn(6) == 0 {
			fmt.Fprintf(&rules, "%s:deny\n", key)
			continue
		}
		vals := subset(rng, liveRuleVals, 0.12)
		if mta == MTANotqmail {
			vals = subset(rng, liveRuleVals[:3], 0.4)
		}
		if len(vals) == 0 {
			fmt.Fprintf(&rules, "%s:allow\n", key)
		} else {
			fmt.Fprintf(&rules, "%s:allow,%s\n", key, strings.Join(vals, ","))
		}
	}
	rules.WriteString(":allow\n")
	files := map[string]string{}
	if rng.Intn(8) != 0 {
		files["rcpthosts"] = strings.Join(subset(rng, liveDomains, 0.5), "\n") + "\n"
	}
	if rng.Intn(3) == 0 {
		files["localiphost"] = pick(rng, []string{"lip.example", "Local.Example", "me.example"}) + "\n"
	}
	if rng.Intn(2) == 0 {
		files["morercpthosts"] = strings.Join(subset(rng, liveMore, 0.5), "\n") + "\n"
	}
	if mta == MTAIndiMail {
		if rng.Intn(3) == 0 {
			files["relayclients"] = strings.Join(subset(rng, []string{"127.0.0.5", "127.0.1.", "127.0.2.8:+rc", "127.0.3.9"}, 0.5), "\n") + "\n"
		}
		if rng.Intn(4) == 0 {
			files["relaydomains"] = strings.Join(subset(rng, []string{"unknown", "relay.example", ".example"}, 0.5), "\n") + "\n"
		}
		if rng.Intn(3) == 0 {
			files["relaymailfrom"] = strings.Join(subset(rng, []string{"boss@corp.example", "@trusted.example", "joe@gmail.com"}, 0.5), "\n") + "\n"
		}
	}
	return liveConfig{rules: rules.String(), files: files}
}

func genSession(rng *rand.Rand, mta MTA) liveSession {
	s := liveSession{ip: pick(rng, liveIPs), from: pick(rng, liveSenders)}
	if mta == MTAIndiMail && rng.Intn(4) == 0 {
		s.auth = pick(rng, []string{"relayuser", "norelayuser"})
	}
	for n := 1 + rng.Intn(3); n > 0; n-- {
		s.rcpts = append(s.rcpts, pick(rng, liveRcpts))
	}
	return s
}

// repro prints a configuration and session as a minimal reproduction.
func (c liveConfig) repro(s liveSession) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- tcp.smtp\n%s", c.rules)
	names := make([]string, 0, len(c.files))
	for k := range c.files {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "--- control/%s\n%s", k, c.files[k])
	}
	fmt.Fprintf(&b, "--- session from %s\n", s.ip)
	if s.auth != "" {
		fmt.Fprintf(&b, "AUTH PLAIN %s\n", s.auth)
	}
	fmt.Fprintf(&b, "MAIL FROM:<%s>\n", s.from)
	for _, r := range s.rcpts {
		fmt.Fprintf(&b, "RCPT TO:<%s>\n", r)
	}
	return b.String()
}

// liveServer is a tcpserver running one qmail-smtpd on one configuration.
type liveServer struct {
	mta  MTA
	addr string
	qdir string
	cfg  *Config
	env  map[string]string
	srv  *peers.TCPServer
}

const queueStub = `#!/bin/sh
# QMAILQUEUE stub: the message on fd 0, the envelope on fd 1.
cat >/dev/null
cat <&1 >"$LIVEQDIR/$TCPREMOTEIP.$TCPREMOTEPORT"
`

const checkpasswordStub = `#!/bin/sh
# checkpassword stub: user\0pass\0... on fd 3; relay* may relay, norelay* has NO_RELAY.
u=$(dd bs=512 count=1 <&3 2>/dev/null | tr '\0' '\n' | head -n 1)
case $u in
relay*) exit 0 ;;
norelay*) exit 3 ;;
esac
exit 1
`

func startLive(t *testing.T, mta MTA, smtpd, tcpserver string, conf liveConfig) *liveServer {
	t.Helper()
	home := peers.ShortTempDir(t)
	ctl := filepath.Join(home, "control")
	qdir := filepath.Join(home, "queue")
	for _, d := range []string{ctl, qdir, filepath.Join(home, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(ctl, "me"), "me.example\n", 0o644)
	write(filepath.Join(ctl, "smtpgreeting"), "me.example\n", 0o644)
	for name, text := range conf.files {
		write(filepath.Join(ctl, name), text, 0o644)
	}
	if _, ok := conf.files["morercpthosts"]; ok {
		if err := compileControl(t, control.MoreRcptHosts, ctl); err != nil {
			t.Fatalf("compile morercpthosts: %v\n%s", err, conf.files["morercpthosts"])
		}
	}
	rules := filepath.Join(home, "tcp.smtp")
	write(rules, conf.rules, 0o644)
	if err := buildCDB(t, rules); err != nil {
		t.Fatalf("build tcp.smtp: %v\n%s", err, conf.rules)
	}
	queue := filepath.Join(home, "bin", "queue")
	write(queue, queueStub, 0o755)
	checkpw := filepath.Join(home, "bin", "checkpassword")
	write(checkpw, checkpasswordStub, 0o755)

	env := map[string]string{"QMAILQUEUE": queue, "LIVEQDIR": qdir, "PATH": "/usr/bin:/bin"}
	args := []string{smtpd}
	if mta == MTANotqmail {
		args[0] = peers.NotqmailAt(t, smtpd, home)
	} else {
		env["CONTROLDIR"] = ctl
		env["NODNSCHECK"] = "1"
		env["PENALTY"] = "0" // no 5-second sleep after each refusal
		args = append(args, "me.example", checkpw, "/bin/true")
	}
	cfg := liveEngineConfig(t, mta, home, ctl, rules)
	cfg.LocalIPHost = "me.example"
	if l, ok := conf.files["localiphost"]; ok {
		cfg.LocalIPHost = strings.TrimSpace(l)
	}

	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	srv := peers.StartTCPServer(t, rules+".cdb", envList, args...)
	return &liveServer{mta: mta, addr: srv.Addr, qdir: qdir, cfg: cfg, srv: srv}
}

// liveEngineConfig loads the configuration the way relay test does.
func liveEngineConfig(t *testing.T, mta MTA, home, ctl, rules string) *Config {
	t.Helper()
	r, err := cdb.Open(rules + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	data, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{MTA: mta, Rules: r.Get, RulesCDB: rules + ".cdb", RulesSource: rules, ControlDir: ctl,
		FindRule: func(k string) (*tcprules.Rule, error) { return tcprules.FindRule(data, r.Positions, k) },
		LocalIPs: HostIPv4s()}
	load := func(k control.Kind) *control.File {
		f, _, err := control.Load(k, ctl)
		if err != nil {
			t.Fatalf("load %s: %v", k, err)
		}
		return f
	}
	cfg.RcptHosts = load(control.RcptHosts)
	if mta == MTAIndiMail {
		cfg.RelayClients = load(control.RelayClients)
		cfg.RelayDomains = load(control.RelayDomains)
		if b, err := os.ReadFile(filepath.Join(ctl, "relaymailfrom")); err == nil {
			cfg.RelayMailFrom = &TextFile{Path: filepath.Join(ctl, "relaymailfrom"), Data: b}
		}
	}
	if m, err := cdb.Open(filepath.Join(ctl, "morercpthosts.cdb")); err == nil {
		t.Cleanup(func() { m.Close() })
		cfg.MoreRcptHostsCDB = m
	}
	return cfg
}

// liveReply is one SMTP reply: its lines joined by "\n".
func readReply(br *bufio.Reader) (string, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
}

// liveResult is what the server did in one session.
type liveResult struct {
	dropped bool
	rcpts   []string // RCPT replies
	queued  []string // envelope recipients, nil when nothing was queued
}

func (s *liveServer) run(t *testing.T, sess liveSession) liveResult {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(sess.ip)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatalf("connect from %s: %v", sess.ip, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(c)
	var res liveResult
	cmd := func(line string) string {
		if _, err := fmt.Fprintf(c, "%s\r\n", line); err != nil {
			t.Fatalf("send %q: %v", line, err)
		}
		r, err := readReply(br)
		if err != nil {
			t.Fatalf("reply to %q: %v (%q) %s", line, err, r, s.srv.Log())
		}
		return r
	}
	greet, err := readReply(br)
	if greet == "" && err != nil {
		res.dropped = true
		return res
	}
	cmd("EHLO client.example")
	if sess.auth != "" {
		cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+sess.auth+"\x00secret")))
	}
	cmd("MAIL FROM:<" + sess.from + ">")
	ok := false
	for _, r := range sess.rcpts {
		rep := cmd("RCPT TO:<" + r + ">")
		res.rcpts = append(res.rcpts, rep)
		ok = ok || strings.HasPrefix(rep, "250")
	}
	if ok {
		if rep := cmd("DATA"); strings.HasPrefix(rep, "354") {
			if rep := cmd("Subject: live\r\n\r\nlive test\r\n."); !strings.HasPrefix(rep, "250") {
				t.Fatalf("message not queued: %s %s", rep, s.srv.Log())
			}
			l := c.LocalAddr().(*net.TCPAddr)
			env, err := os.ReadFile(filepath.Join(s.qdir, fmt.Sprintf("%s.%d", sess.ip, l.Port)))
			if err != nil {
				t.Fatalf("the queue stub recorded no envelope: %v", err)
			}
			res.queued = []string{}
			for _, f := range strings.Split(string(env), "\x00") {
				if strings.HasPrefix(f, "T") {
					res.queued = append(res.queued, f[1:])
				}
			}
		}
	}
	cmd("QUIT")
	return res
}

// compare runs sess live and through Decide and returns how they differ.
func (s *liveServer) compare(t *testing.T, sess liveSession) string {
	t.Helper()
	live := s.run(t, sess)
	q := Query{IP: sess.ip, From: sess.from, Rcpts: sess.rcpts, Auth: sess.auth, HasAuth: sess.auth != "",
		AuthNoRelay: strings.HasPrefix(sess.auth, "norelay"), Env: map[string]string{}}
	res, err := Decide(context.Background(), s.cfg, q)
	if err != nil {
		return fmt.Sprintf("relay test fails: %v", err)
	}
	var diffs []string
	if res.Dropped != live.dropped {
		diffs = append(diffs, fmt.Sprintf("dropped: live %v, predicted %v", live.dropped, res.Dropped))
	}
	if live.dropped || res.Dropped {
		return strings.Join(diffs, "\n")
	}
	var queued []Outcome
	for i, v := range res.Recipients {
		o := v.Actual()
		if i < len(live.rcpts) && live.rcpts[i] != o.Reply {
			diffs = append(diffs, fmt.Sprintf("RCPT #%d <%s>: live %q, predicted %q", i+1, sess.rcpts[i], live.rcpts[i], o.Reply))
		}
		if o.Accepted {
			queued = append(queued, o)
		}
	}
	if live.queued != nil {
		same := len(live.queued) == len(queued)
		var want []string
		for i, o := range queued {
			w := o.QueuedAs
			if o.QueuedUnknown {
				// The prediction is the address followed by bytes
				// that cannot be known (IndiMail's constmap value
				// past the end of the file).
				w += "..."
				same = same && strings.HasPrefix(live.queued[i], o.QueuedAs)
			} else {
				same = same && live.queued[i] == w
			}
			want = append(want, w)
		}
		if !same {
			diffs = append(diffs, fmt.Sprintf("queued: live %q, predicted %q", live.queued, want))
		}
	}
	return strings.Join(diffs, "\n")
}
