package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/relaytable"
	"github.com/qmailctl/qmailctl/internal/site"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

func (a *app) newRelayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Test and audit the relay decision; manage the relay table",
		Long: `The relay commands answer "may this client send this message through us?" the
way IndiMail's qmail-smtpd does, and check that the answer is what the admin
meant:

  relay test IP FROM RCPT...  replays the decision for one session, step by
                              step, naming the file and line that decided
  relay audit                 lints the whole configuration for open-relay
                              risks and IndiMail's known relay traps
  relay table                 manages the POP/IMAP-before-SMTP relay table
                              that CHECKRELAY consults

See qmailctl help relaying for how the files fit together.`,
		Example: `  qmailctl relay test 10.1.1.5 joe@example.com friend@example.net
  sudo qmailctl relay audit
  qmailctl relay table check joe@example.com 192.0.2.7`,
	}
	cmd.AddCommand(a.newRelayTestCmd(), a.newRelayAuditCmd(), a.newRelayTableCmd())
	return cmd
}

// relayOpts are the flags of relay test.
type relayOpts struct {
	host, info, auth, service, port string
	rblAssume                       string
	authNoRelay, asJSON             bool
	env                             []string
	mta, smtpd                      string
	localIPs                        []string
	live                            bool
}

func (a *app) newRelayTestCmd() *cobra.Command {
	var o relayOpts
	cmd := &cobra.Command{
		Use:   "test IP FROM RCPT...",
		Short: "Say whether a message would be accepted and relayed, and which rule decides",
		Long: `Replay the relay decision IndiMail's qmail-smtpd makes for a client IP, an
envelope sender (FROM) and one or more recipients (RCPT), step by step:
tcp.smtp.cdb (as tcpserver -x looks it up), RELAYCLIENT, control/relayclients
and relaydomains, SMTP AUTH, relaymailfrom.cdb and relaymailfrom, the
@/%/! relay-probe check, rcpthosts and morercpthosts.cdb, and with CHECKRELAY
the POP/IMAP-before-SMTP relay table. Each step prints one line, matched or
not and why; "=>" marks the one that decided, with its file and line.

Use it before and after changing a relay rule, or when a user reports "553
sorry, that domain isn't allowed to be relayed": it names the rule to fix.
Addresses are read as qmail-smtpd reads them (<> is the null sender; angle
brackets are optional). The verdict and the exit status follow the server's
code (proven against the real servers); where IndiMail's code differs from its
documentation (colon lines in relayclients never match, a relaydomains miss
cancels a relayclients hit, @domain keys in relaymailfrom.cdb never match,
...) a warning on stderr says what the documentation promises and what to
edit. --mta notqmail models notqmail, netqmail and LWQ instead.

--service DIR reads a supervise service directory (IndiMail's
/service/qmail-smtpd.25): the rules cdb from tcpserver's -x in DIR/run, the
envdir the script passes through as the environment (CONTROLDIR there
overrides --control-dir unless that flag is given), and an rblsmtpd between
tcpserver and qmail-smtpd, whose exact replies relay test gives (553 for
RBLSMTPD="-TEXT", 451 for RBLSMTPD="TEXT"; with RBLSMTPD unset its DNS lists
decide, which --rbl-assume listed|not-listed chooses). Without --service and
--tcp-dir, the qmail-smtpd services under /service, /etc/service and
/var/service are found; with several, --port N chooses one (else the first
is used, and a warning says so). --env NAME=VALUE adds to or
overrides that environment (what the run script sets); the tcp.smtp rule's
variables override both.

Exit status: 0 when every recipient is accepted, 1 when any is refused, 100
for bad input (an unparsable IP or address), 111 for I/O errors.

With several recipients, --json prints the fields accepted, relaying, reply,
decided_by, queued_as, trace and warnings for the recipient that speaks for
the session (the first refused one, else the first one; accepted is true
only when all are), plus "recipients", the same fields for each one.`,
		Example: `  # may the office network relay to gmail?
  qmailctl relay test 10.1.1.5 joe@example.com friend@gmail.com

  # a user authenticates on the submission port
  qmailctl relay test 203.0.113.9 joe@example.com friend@gmail.com --auth joe@example.com

  # the exact service, with its run script and variables
  qmailctl relay test 203.0.113.9 '<>' postmaster@example.com --service /service/qmail-smtpd.25

  # script it
  qmailctl relay test 192.0.2.7 a@example.net b@gmail.com --json | jq -r .reply`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return usageErrorf("relay test takes IP FROM RCPT... (see qmailctl relay test --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.relayTest(cmd, o, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.host, "host", "", "client host name (TCPREMOTEHOST); unset means tcpserver -H")
	fl.StringVar(&o.info, "info", "", "ident user (TCPREMOTEINFO); unset means tcpserver -R")
	fl.StringVar(&o.auth, "auth", "", "the client authenticates as USER (SMTP AUTH succeeds)")
	fl.BoolVar(&o.authNoRelay, "auth-no-relay", false, "with --auth: the account has IndiMail's NO_RELAY flag (authpgm exits 3)")
	fl.StringArrayVarP(&o.env, "env", "e", nil, "set NAME=VALUE in qmail-smtpd's environment, as the run script does (repeatable)")
	fl.StringVar(&o.service, "service", "", "supervise service directory: read DIR/run (tcpserver -x, the programs before qmail-smtpd) and its envdir")
	fl.StringVar(&o.rblAssume, "rbl-assume", "", "with rblsmtpd and RBLSMTPD unset: assume the client is \"listed\" or \"not-listed\" in its DNS lists")
	fl.StringVar(&o.port, "port", "", "with several services found, test the one listening on port N")
	fl.BoolVar(&o.asJSON, "json", false, "print the decision as JSON")
	fl.StringVar(&o.mta, "mta", "", "the server's qmail-smtpd: indimail, or notqmail (also netqmail and LWQ); default: detected from --service, else indimail")
	fl.BoolVar(&o.live, "live", false, "also run the installed qmail-smtpd (the --service run script's, or --smtpd) for this session, up to the last RCPT, and print its replies beside the prediction; exit 0 only when they agree")
	fl.StringVar(&o.smtpd, "smtpd", "", "with --live: the qmail-smtpd program to run (default: the one --service's run script names)")
	fl.StringArrayVar(&o.localIPs, "local-ip", nil, "an IPv4 address of the server, for user@[ip] (repeatable; default: this host's addresses)")
	return cmd
}

// relayCtx is the loaded configuration of one relay test, and what to close.
type relayCtx struct {
	cfg      relay.Config
	warnings []string
	closers  []func()
	store    *relaytable.Store
}

func (r *relayCtx) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

func (a *app) relayTest(cmd *cobra.Command, o relayOpts, args []string) error {
	ip, err := tcprules.NormalizeIP(args[0])
	if err != nil {
		return badInput(fmt.Errorf("IP (first argument): %w", err), "give the client address as tcpserver reports it, e.g. 10.1.1.5 or 2001:db8::5")
	}
	if o.authNoRelay && !cmd.Flags().Changed("auth") {
		return usageErrorf("--auth-no-relay needs --auth USER")
	}
	if o.rblAssume != "" && o.rblAssume != "listed" && o.rblAssume != "not-listed" {
		return usageErrorf("--rbl-assume %q: expected listed or not-listed", o.rblAssume)
	}
	if o.service != "" && o.port != "" {
		return usageErrorf("give --service DIR or --port N, not both")
	}
	var services []string
	if o.service != "" {
		services = []string{o.service}
	}
	st, err := a.loadSite(cmd, services, o.env)
	if err != nil {
		return err
	}
	c, used, err := st.Pick(o.port)
	if err != nil {
		return badInput(err, "qmailctl relay audit lists the services it finds")
	}
	if c.Problem != "" {
		return badInput(fmt.Errorf("%s: %s", c.Label(), c.Problem), "use --tcp-dir, --env and the flags of relay test instead of --service")
	}
	q := relay.Query{
		IP: ip, Host: o.host, HasHost: cmd.Flags().Changed("host"),
		Info: o.info, HasInfo: cmd.Flags().Changed("info"),
		Auth: o.auth, HasAuth: cmd.Flags().Changed("auth"), AuthNoRelay: o.authNoRelay,
		From: args[1], Rcpts: args[2:], Env: c.Env, Now: time.Now(),
	}
	var warns []string
	if used != "" {
		warns = append(warns, used)
	}
	if svc := c.Service; svc != nil {
		if svc.NoHostLookup && q.HasHost {
			warns = append(warns, fmt.Sprintf("%s runs tcpserver with -H: TCPREMOTEHOST is never set, so --host %q is what the server never sees", svc.Dir, q.Host))
		}
		if svc.NoInfoLookup && q.HasInfo {
			warns = append(warns, fmt.Sprintf("%s runs tcpserver with -R: TCPREMOTEINFO is never set, so --info %q is what the server never sees", svc.Dir, q.Info))
		}
	}
	mta, mtaFrom, err := chooseMTA(o.mta, c.Service)
	if err != nil {
		return err
	}
	for _, l := range o.localIPs {
		if ip := net.ParseIP(l); ip == nil || ip.To4() == nil {
			return badInput(fmt.Errorf("--local-ip %q is not an IPv4 address", l), "give one of the server's own addresses, e.g. --local-ip 192.0.2.25")
		}
	}
	opened, err := c.OpenRelay()
	if err != nil {
		return err
	}
	defer opened.Close()
	if opened.Relay.RBL != nil {
		opened.Relay.RBL.Assume = o.rblAssume
	}
	var roaming *site.RoamingRow
	if ro := opened.Rules.Roaming; ro != nil {
		rowFor := a.roamingRowFor(cmd.Context(), func(k string) string { return c.Env[k] })
		ro.RowFor = func(ip string) (*site.RoamingRow, error) {
			row, err := rowFor(ip)
			roaming = row
			return row, err
		}
	}
	rc := &relayCtx{cfg: opened.Relay}
	defer rc.close()
	// Wired whatever the environment says: CHECKRELAY may come from the
	// tcp.smtp rule, and the table is opened only if step 8 needs it.
	a.relayTableFor(rc, c.Env)
	rc.cfg.MTA, rc.cfg.LocalIPs = mta, o.localIPs
	if len(rc.cfg.LocalIPs) == 0 {
		rc.cfg.LocalIPs = relay.HostIPv4s()
	}
	if rc.cfg.LocalIPHost, _, err = relay.ReadLocalIPHost(c.ControlDir); err != nil {
		return err
	}
	hasGreeting, err := relay.HasGreeting(c.ControlDir)
	if err != nil {
		return err
	}
	rc.cfg.NoGreeting = !hasGreeting
	res, err := relay.Decide(cmd.Context(), &rc.cfg, q)
	if err != nil {
		var ie *relay.InputError
		if errors.As(err, &ie) {
			return badInput(err, "give addresses as an SMTP client would: user@example.com, <user@example.com>, or <> for the null sender")
		}
		return err
	}
	warns = append(warns, opened.Warnings...)
	for _, w := range warns {
		fmt.Fprintf(a.stderr, "qmailctl: warning: %s\n", w)
	}
	all := append(append([]string{}, warns...), res.Warnings...)
	if o.asJSON {
		out := relayJSON(res, q, all, c.RulesCDB, c.ControlDir)
		out.MTA, out.MTAFrom = string(mta), mtaFrom
		out.Roaming = roaming
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "server: %s's qmail-smtpd (%s)\n", mta, mtaFrom)
		a.printRelay(res, q)
	}
	// Warnings go to stderr with --json too: a script that keeps only stdout
	// must not lose "this server is an open relay".
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "qmailctl: warning: %s\n", w)
	}
	if o.live {
		return a.relayLive(cmd, o, c.Service, c.ControlDir, mta, res, q)
	}
	if !res.Accepted() {
		return errNo
	}
	return nil
}

// relayLive runs the installed qmail-smtpd for the session (relay test
// --live) and compares its replies with the prediction: exit 0 only when
// every RCPT reply agrees. controlDir is the control directory the
// prediction read; the server is given it as CONTROLDIR (IndiMail reads
// its control files there; notqmail's is compiled in, so relayLive warns
// when that one differs).
func (a *app) relayLive(cmd *cobra.Command, o relayOpts, svc *site.Service, controlDir string, mta relay.MTA, res *relay.Result, q relay.Query) error {
	if res.Dropped {
		fmt.Fprintln(a.stderr, "live: not run: tcpserver drops this connection before qmail-smtpd starts")
		return nil
	}
	var argv []string
	uid, gid := -1, -1
	switch {
	case o.smtpd != "":
		argv = []string{o.smtpd}
	case svc != nil && svc.SMTPD != "":
		argv, uid, gid = svc.SMTPDCommand()
	default:
		return usageErrorf("--live needs a service whose run script names qmail-smtpd (--service DIR), or --smtpd PATH")
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 && uid >= 0 && gid >= 0 {
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	local := "127.0.0.1"
	if len(o.localIPs) > 0 {
		local = o.localIPs[0]
	}
	// The server may chdir (IndiMail to its home) before it reads
	// CONTROLDIR: give it the directory's absolute path.
	if abs, err := filepath.Abs(controlDir); err == nil {
		controlDir = abs
	}
	env := relay.LiveEnv(res, q, local)
	if old, ok := env["CONTROLDIR"]; ok && !sameDir(old, controlDir) {
		fmt.Fprintf(a.stderr, "qmailctl: warning: --live: the session's CONTROLDIR=%s is not %s, the control directory relay test read: the server is given CONTROLDIR=%s\n", old, controlDir, controlDir)
	}
	env["CONTROLDIR"] = controlDir
	if mta == relay.MTANotqmail {
		// notqmail chdirs to its compiled-in home (conf-qmail), which an
		// install puts its programs under: HOME/bin/qmail-smtpd.
		if home := filepath.Dir(filepath.Dir(argv[0])); !sameDir(filepath.Join(home, "control"), controlDir) {
			fmt.Fprintf(a.stderr, "qmailctl: warning: --live: notqmail reads its control files from its compiled-in home, presumably %s (the parent of %s's directory), not from %s, which the prediction read: the replies may differ for that reason alone\n", filepath.Join(home, "control"), argv[0], controlDir)
		}
	}
	live, err := relay.RunLive(cmd.Context(), argv, env, cred, q.From, q.Rcpts)
	if err != nil {
		return fmt.Errorf("--live: %w", err)
	}
	w := a.stdout
	if o.asJSON {
		w = a.stderr // stdout is the JSON object
	}
	fmt.Fprintf(w, "live: %s greets %q\n", argv[0], live.Greeting)
	if live.Helo != "" {
		fmt.Fprintf(w, "live: EHLO -> %q\n", live.Helo)
	}
	if live.Mail != "" {
		fmt.Fprintf(w, "live: MAIL FROM:<%s> -> %s\n", res.From.Addr, live.Mail)
		if !strings.HasPrefix(live.Mail, "2") && mta != relay.MTANotqmail && env["NODNSCHECK"] == "" {
			fmt.Fprintln(w, "live: note: IndiMail refuses MAIL FROM whose domain has no MX or A record unless NODNSCHECK is set, which relay test does not model: add --env NODNSCHECK=1 to compare the relay decision alone")
		}
	}
	last := live.Last()
	if live.Closed {
		fmt.Fprintf(w, "live: the server closed the connection after %q: that is its answer to every later command\n", last)
	}
	agree := true
	for i, v := range res.Recipients {
		got, want := live.Rcpts[i], v.Actual().Reply
		if got == "" && live.Closed {
			got = last
		}
		mark := "agrees"
		if got != want {
			mark, agree = fmt.Sprintf("DIFFERS from the prediction %q", want), false
		}
		fmt.Fprintf(w, "live: RCPT TO:<%s> -> %s (%s)\n", v.Rcpt.Addr, got, mark)
	}
	if strings.TrimSpace(live.Stderr) != "" && (!agree || live.Closed) {
		fmt.Fprintf(a.stderr, "live: %s wrote on stderr:\n%s", argv[0], live.Stderr)
		if !strings.HasSuffix(live.Stderr, "\n") {
			fmt.Fprintln(a.stderr)
		}
	}
	if !agree {
		fmt.Fprintln(a.stderr, "qmailctl: warning: the live server disagrees with relay test's prediction: please report it with this output")
		return errNo
	}
	return nil
}

// sameDir reports whether a and b name the same directory, symbolic links
// resolved where they exist.
func sameDir(a, b string) bool {
	ea, err1 := filepath.Abs(a)
	eb, err2 := filepath.Abs(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if r, err := filepath.EvalSymlinks(ea); err == nil {
		ea = r
	}
	if r, err := filepath.EvalSymlinks(eb); err == nil {
		eb = r
	}
	return ea == eb
}

// chooseMTA picks the server relay test models: --mta, else what the
// service's run script and program say, else IndiMail. from says which.
func chooseMTA(flag string, svc *site.Service) (relay.MTA, string, error) {
	if flag != "" {
		m, ok := relay.ParseMTA(flag)
		if !ok {
			return "", "", usageErrorf("--mta %q: expected indimail or notqmail (netqmail and lwq are notqmail)", flag)
		}
		return m, "--mta " + flag, nil
	}
	if svc != nil {
		m, how := svc.DetectMTA()
		if m != "" {
			return m, "detected: " + how, nil
		}
		return relay.MTAIndiMail, "assumed: " + how + "; give --mta", nil
	}
	return relay.MTAIndiMail, "assumed without --mta or --service", nil
}

// loadSite loads the configuration through internal/site: the services
// named (or found under the service roots), else --tcp-dir and
// --control-dir, with --env added to each one's environment.
func (a *app) loadSite(cmd *cobra.Command, services, set []string) (*site.Site, error) {
	env := map[string]string{}
	for _, s := range set {
		name, value, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, usageErrorf("--env %q: expected NAME=VALUE", s)
		}
		env[name] = value
	}
	return site.Load(site.Options{
		Services: services, Roots: serviceRoots(),
		TCPDir: a.tcpDir, TCPDirGiven: cmd.Flags().Changed("tcp-dir"),
		ControlDir: a.controlDir, ControlDirGiven: cmd.Flags().Changed("control-dir"),
		Env: env,
	})
}

// relayTableFor connects the relay test to the relay table, lazily: the
// database is opened only when a remote recipient reaches step 8.
func (a *app) relayTableFor(rc *relayCtx, env map[string]string) {
	dsn := a.relayDB
	if dsn == "" {
		var path string
		if dsn, path = defaultRelayDSN(); !isFile(path) {
			rc.cfg.RelayTableNote = "no --relay-db given and no " + path
			return
		}
	}
	table, err := relaytable.TableFromEnv(func(k string) string { return env[k] })
	if err != nil {
		rc.cfg.RelayTableNote = err.Error()
		return
	}
	rc.cfg.RelayTable = func(ctx context.Context, from, ip string, now time.Time, minutes int) (relay.TableAnswer, error) {
		if rc.store == nil {
			s, err := relaytable.Open(ctx, dsn, table)
			if err != nil {
				return relay.TableAnswer{}, err
			}
			rc.store = s
			rc.closers = append(rc.closers, func() { s.Close() })
		}
		res, err := rc.store.Check(ctx, from, ip, now, minutes)
		if errors.Is(err, relaytable.ErrInvalid) {
			return relay.TableAnswer{Detail: "the relay table cannot hold this sender or IP (" + err.Error() + "), so no row matches"}, nil
		}
		if err != nil {
			return relay.TableAnswer{}, err
		}
		return tableAnswer(res, now), nil
	}
}

// tableAnswer turns the relay table's answer into the engine's.
func tableAnswer(res *relaytable.CheckResult, now time.Time) relay.TableAnswer {
	ans := relay.TableAnswer{Allowed: res.Allowed(), IndiMailAllowed: res.Allowed() || len(res.IndiMailPrefix) > 0}
	switch {
	case res.Match != nil:
		ans.Detail = fmt.Sprintf("%s logged in from %s %s ago", res.Match.Email, res.IP, now.Sub(res.Match.Time).Round(time.Second))
	case res.Expired != nil:
		ans.Detail = fmt.Sprintf("%s logged in from %s, but the grant expired %s ago", res.Expired.Email, res.IP, res.ExpiredAgo.Round(time.Second))
	case len(res.OtherSenders) > 0:
		ans.Detail = fmt.Sprintf("no row for %q at %s; %d other address(es) logged in from there (e.g. %s)", res.From, res.IP, len(res.OtherSenders), res.OtherSenders[0].Email)
	case len(res.OtherIPs) > 0:
		ans.Detail = fmt.Sprintf("%q logged in only from other IPs (e.g. %s)", res.From, res.OtherIPs[0].IP)
	default:
		ans.Detail = fmt.Sprintf("no row for %q at %s", res.From, res.IP)
	}
	return ans
}

// relayOut is the JSON of relay test (accepted, relaying, reply,
// decided_by, trace, warnings).
type relayOut struct {
	MTA        string          `json:"mta"`
	MTAFrom    string          `json:"mta_from"`
	IP         string          `json:"ip"`
	Host       *string         `json:"host"`
	Info       *string         `json:"info"`
	Auth       *string         `json:"auth"`
	From       string          `json:"from"`
	Accepted   bool            `json:"accepted"`
	Relaying   bool            `json:"relaying"`
	Reply      string          `json:"reply"`
	DecidedBy  relay.Source    `json:"decided_by"`
	QueuedAs   string          `json:"queued_as"`
	Dropped    bool            `json:"dropped"`
	Documented *relay.Outcome  `json:"documented,omitempty"`
	Trace      []relay.Step    `json:"trace"`
	Warnings   []string        `json:"warnings"`
	Recipients []recipientOut  `json:"recipients"`
	Env        []tcprules.Var  `json:"env"`
	Config     relayConfigJSON `json:"config"`
	// Roaming: the relay table row behind the IndiMail roaming-user record
	// that tcpserver matched.
	Roaming *site.RoamingRow `json:"roaming,omitempty"`
}

type recipientOut struct {
	Rcpt       string         `json:"rcpt"`
	Accepted   bool           `json:"accepted"`
	Relaying   bool           `json:"relaying"`
	Local      bool           `json:"local"`
	Reply      string         `json:"reply"`
	DecidedBy  relay.Source   `json:"decided_by"`
	QueuedAs   string         `json:"queued_as"`
	Documented *relay.Outcome `json:"documented,omitempty"`
	Trace      []relay.Step   `json:"trace"`
	Warnings   []string       `json:"warnings"`
}

type relayConfigJSON struct {
	RulesCDB   string `json:"rules_cdb"`
	ControlDir string `json:"control_dir"`
}

func relayJSON(res *relay.Result, q relay.Query, warnings []string, rulesCDB, controlDir string) relayOut {
	out := relayOut{IP: res.IP, From: res.From.Addr, Dropped: res.Dropped, Env: res.Env, Warnings: warnings,
		Accepted: res.Accepted(), Config: relayConfigJSON{RulesCDB: rulesCDB, ControlDir: controlDir}}
	if q.HasHost {
		out.Host = &q.Host
	}
	if q.HasInfo {
		out.Info = &q.Info
	}
	if q.HasAuth {
		out.Auth = &q.Auth
	}
	for _, v := range res.Recipients {
		out.Recipients = append(out.Recipients, recipientOut{Rcpt: v.Rcpt.Addr, Accepted: v.Accepted, Relaying: v.Relaying,
			Local: v.Local, Reply: v.Reply, DecidedBy: v.DecidedBy, QueuedAs: v.QueuedAs, Documented: v.Documented,
			Trace: v.Trace, Warnings: v.Warnings})
	}
	d := res.Deciding()
	out.Relaying, out.Reply, out.DecidedBy, out.QueuedAs, out.Documented, out.Trace = d.Relaying, d.Reply, d.DecidedBy, d.QueuedAs, d.Documented, d.Trace
	return out
}

// printRelay tells the session as a short story: one line per step, "=>"
// on the step that decided, then each recipient's reply.
func (a *app) printRelay(res *relay.Result, q relay.Query) {
	w := a.stdout
	decisive := map[int]bool{}
	nSession := 0
	for _, v := range res.Recipients {
		for i, st := range v.Trace {
			if st.Phase != "rcpt" {
				nSession = max(nSession, i+1)
				if st.Decisive {
					decisive[i] = true
				}
			}
		}
	}
	conn := "connect from " + res.IP
	var notes []string
	if q.HasHost {
		notes = append(notes, "host "+q.Host)
	} else {
		notes = append(notes, "no host name: as tcpserver -H")
	}
	if q.HasInfo {
		notes = append(notes, "ident "+q.Info)
	}
	fmt.Fprintf(w, "%s (%s)\n", conn, strings.Join(notes, ", "))
	phase := "connect"
	line := func(st relay.Step, mark bool) {
		m := "  "
		if mark {
			m = "=>"
		}
		loc := ""
		if st.File != "" && st.Line > 0 {
			loc = fmt.Sprintf("  [%s:%d]", st.File, st.Line)
		}
		fmt.Fprintf(w, "%s %d %-17s %-9s %s%s\n", m, st.Number, st.Step, st.Result, st.Detail, loc)
	}
	heading := func(p string) {
		switch p {
		case "auth":
			fmt.Fprintln(w, "AUTH")
		case "mail":
			fmt.Fprintf(w, "MAIL FROM:<%s>\n", res.From.Addr)
		}
	}
	first := res.Recipients[0].Trace
	for i := 0; i < nSession; i++ {
		if first[i].Phase != phase {
			phase = first[i].Phase
			heading(phase)
		}
		line(first[i], decisive[i])
	}
	for _, v := range res.Recipients {
		fmt.Fprintf(w, "RCPT TO:<%s>\n", v.Rcpt.Addr)
		for _, st := range v.Trace[nSession:] {
			line(st, st.Decisive)
		}
		verdict := "refused"
		if v.Accepted {
			verdict = "accepted"
			if v.Relaying {
				verdict += ", relaying"
			} else {
				verdict += ", local"
			}
			verdict += ", queued as <" + v.QueuedAs + ">"
		}
		by := string(v.DecidedBy.Source)
		if v.DecidedBy.File != "" {
			by = v.DecidedBy.File
			if v.DecidedBy.Line > 0 {
				by = fmt.Sprintf("%s:%d", v.DecidedBy.File, v.DecidedBy.Line)
			}
		}
		fmt.Fprintf(w, "   -> %s (%s; decided by %s)\n", v.Reply, verdict, by)
		if v.Documented != nil {
			fmt.Fprintf(w, "   -> IndiMail's documentation promises instead: %s\n", describeOutcome(v.Documented))
		}
	}
}

func describeOutcome(o *relay.Outcome) string {
	s := o.Reply
	if o.Accepted {
		s += ", queued as <" + o.QueuedAs
		if o.QueuedUnknown {
			s += "...unpredictable bytes"
		}
		s += ">"
	}
	return s
}
