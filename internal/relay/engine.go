// Package relay decides, as qmail-smtpd does, whether a message
// from a client IP, sender and recipients would be accepted, and whether it
// would be relayed, recording every step of the decision with the file and
// line that took it (Decide); and it audits a whole relay configuration for
// open-relay risks and known traps (Audit).
//
// The engine is pure: it is handed the configuration (a cdb lookup for
// tcp.smtp.cdb, a locator for the rule's source line, parsed control files,
// the text of relaymailfrom, cdb readers, the relay-table check) and does no
// I/O of its own, so that tests can drive every step and the CLI can hand it
// cheap views of very large files. The verdict follows what the modelled
// server's code does (Config.MTA: IndiMail's or notqmail's qmail-smtpd, as
// the live suite in live_test.go proves against the real servers); where
// IndiMail's code differs from its documentation, the verdict carries the
// documented outcome (Verdict.Documented) and a warning explains why and
// what to edit.
package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Decide runs the relay decision (docs/relay.md) for q on cfg. The error is an
// *InputError for an unparsable address, or a wrapped lookup failure (a
// damaged cdb, a relay-table database error).
func Decide(ctx context.Context, cfg *Config, q Query) (*Result, error) {
	if len(q.Rcpts) == 0 {
		return nil, &InputError{What: "RCPT TO", Err: errors.New("no recipient given")}
	}
	from, err := ParseAddress(q.From)
	if err != nil {
		return nil, &InputError{What: "MAIL FROM", Err: err}
	}
	rcpts := make([]Address, len(q.Rcpts))
	for i, s := range q.Rcpts {
		a, err := ParseAddress(s)
		if err != nil {
			return nil, &InputError{What: fmt.Sprintf("RCPT TO #%d", i+1), Err: err}
		}
		rcpts[i] = localIPHost(cfg, a)
	}
	from = localIPHost(cfg, from)
	e := &engine{cfg: cfg, q: q, from: from, rcpts: rcpts, table: map[string]tableCached{}}
	doc, err := e.run(ctx, false)
	if err != nil {
		return nil, err
	}
	real := doc
	if !e.notqmail() {
		if real, err = e.run(ctx, true); err != nil {
			return nil, err
		}
	}
	res := &Result{IP: q.IP, From: from, Dropped: doc.dropped, Env: sortedEnv(doc.env)}
	var all warnings
	all.add(doc.sessionWarn...)
	for i := range doc.verdicts {
		v := doc.verdicts[i]
		r := real.verdicts[i]
		if r.Accepted != v.Accepted || r.Reply != v.Reply || r.QueuedAs != v.QueuedAs || r.Relaying != v.Relaying || r.unknown {
			// The verdict follows the code; the documentation's
			// promise and the documented reading's warnings (which
			// say what to edit) go with it.
			out := r
			out.Documented = &Outcome{Accepted: v.Accepted, Relaying: v.Relaying, Reply: v.Reply, QueuedAs: v.QueuedAs}
			out.QueuedUnknown = r.unknown
			out.warn = warnings{}
			out.warn.add(v.warn.list()...)
			out.warn.add(r.warn.list()...)
			out.warn.add(differs(v, r))
			v = out
		}
		v.Warnings = v.warn.list()
		all.add(v.Warnings...)
		res.Recipients = append(res.Recipients, v.Verdict)
	}
	res.Warnings = all.list()
	return res, nil
}

// differs explains how IndiMail's code treats a recipient differently.
func differs(doc, real verdict) string {
	var what string
	switch {
	case doc.Accepted != real.Accepted || doc.Reply != real.Reply:
		what = fmt.Sprintf("replies %q instead of %q", real.Reply, doc.Reply)
	case real.unknown:
		what = fmt.Sprintf("queues it as %s followed by unpredictable bytes", real.QueuedAs)
	case real.QueuedAs == control.LowerASCII(doc.QueuedAs):
		return fmt.Sprintf("for RCPT %s, IndiMail's qmail-smtpd code queues %q, not %q as given: it lower-cases the whole recipient before queueing it, RELAYCLIENT's text included", doc.Rcpt.Addr, real.QueuedAs, doc.QueuedAs)
	default:
		what = fmt.Sprintf("queues it as %q instead of %q", real.QueuedAs, doc.QueuedAs)
	}
	return fmt.Sprintf("for RCPT %s, IndiMail's qmail-smtpd code %s: the verdict follows the code; its documentation promises %s (see the warnings above for why, and what to edit)", doc.Rcpt.Addr, what, promise(doc))
}

// promise says what the documentation promises for a recipient.
func promise(doc verdict) string {
	if !doc.Accepted {
		return strconv.Quote(doc.Reply)
	}
	return fmt.Sprintf("%q, queued as %q", doc.Reply, doc.QueuedAs)
}

// engine holds one Decide call; run evaluates it once per reading.
type engine struct {
	cfg   *Config
	q     Query
	from  Address
	rcpts []Address
	table map[string]tableCached
}

// notqmail reports whether the server modelled is notqmail (netqmail, LWQ).
func (e *engine) notqmail() bool { return e.cfg.MTA == MTANotqmail }

type tableCached struct {
	ans TableAnswer
	err error
}

// grant is the relay right of the session: qmail-smtpd's relayclient.
type grant struct {
	src     Source
	value   string // appended to every recipient
	unknown bool   // the appended bytes cannot be predicted (IndiMail)
	step    int    // index of the granting step in the session trace, -1 for a relay-table hit
	what    string // for details: "the tcp.smtp rule", "SMTP AUTH", ...
}

// verdict is a Verdict under construction.
type verdict struct {
	Verdict
	warn    warnings
	unknown bool
}

// runState is one evaluation of the session.
type runState struct {
	actual      bool
	env         map[string]string
	steps       []Step // session steps
	sessionWarn []string
	dropped     bool
	refusal     *refusal // a refusal of every recipient (deny, greeting, MAIL)
	grant       *grant
	authd       bool
	verdicts    []verdict
	ruleSrc     Source                  // the tcp.smtp rule that matched
	ruleVars    map[string]tcprules.Var // the variables it sets or unsets
}

// refusal is a session-wide refusal and the step that caused it.
type refusal struct {
	reply string
	src   Source
	step  int
}

func (s *runState) add(st Step) int {
	s.steps = append(s.steps, st)
	return len(s.steps) - 1
}

func (e *engine) run(ctx context.Context, actual bool) (*runState, error) {
	s := &runState{actual: actual}
	var w warnings
	if err := e.connect(s, &w); err != nil {
		return nil, err
	}
	if s.refusal == nil {
		e.rblsmtpd(s, &w) // rblsmtpd.go
	}
	if s.refusal == nil {
		e.controls(s)
	}
	switch {
	case s.refusal != nil:
	case e.notqmail():
		e.relayClientOnly(s, &w)
	default:
		e.greeting(s)
		if s.refusal == nil {
			e.clientLists(s, &w)
			e.auth(s)
			if err := e.mail(s, &w); err != nil {
				return nil, err
			}
		}
	}
	s.sessionWarn = w.list()
	accepted := 0
	for i, a := range e.rcpts {
		v, err := e.rcpt(ctx, s, i, a, accepted)
		if err != nil {
			return nil, err
		}
		if v.Accepted {
			accepted++
		}
		s.verdicts = append(s.verdicts, v)
	}
	return s, nil
}

// connect is step 1: tcpserver's rule lookup and the environment it gives,
// then the greeting-time refusals qmail-smtpd makes from that environment.
func (e *engine) connect(s *runState, w *warnings) error {
	cfg, q := e.cfg, e.q
	s.env = map[string]string{}
	for k, v := range q.Env {
		s.env[k] = v
	}
	st := Step{Phase: "connect", Number: 1, Step: StepTCPServer, File: cfg.RulesCDB}
	switch {
	case cfg.RulesMissing:
		st.Result, st.Matched = "deny", true
		st.Detail = fmt.Sprintf("%s does not exist: tcpserver -x drops every connection (unless it runs with -X)", cfg.RulesCDB)
		w.add(fmt.Sprintf("%s does not exist; run: qmailctl cdb %s", cfg.RulesCDB, cfg.RulesSource))
		idx := s.add(st)
		s.dropped = true
		s.refusal = &refusal{reply: ReplyDropped, src: Source{Source: SourceTCPServer, File: cfg.RulesCDB}, step: idx}
		return nil
	case cfg.Rules == nil:
		st.Result = "allow"
		st.Detail = "no rules: tcpserver runs without -x, allows the connection and sets no variables"
		s.add(st)
		return nil
	}
	tq := tcprules.Query{IP: q.IP, Host: q.Host, HasHost: q.HasHost, Info: q.Info, HasInfo: q.HasInfo}
	d, err := tcprules.Lookup(cfg.Rules, tq)
	if err != nil {
		return fmt.Errorf("look up %s in %s: %w", q.IP, cfg.RulesCDB, err)
	}
	if !d.Matched {
		st.Result = "allow"
		st.Detail = fmt.Sprintf("no rule matches (tried %s): the connection is allowed with no variables", quoteKeys(d.Tried))
		s.add(st)
		return nil
	}
	src := Source{Source: SourceTCPSMTP, File: cfg.RulesCDB, Rule: fmt.Sprintf("key %q", d.Key)}
	var rule *tcprules.Rule
	if cfg.FindRule != nil {
		rule, err = cfg.FindRule(d.Key)
		if err != nil {
			return fmt.Errorf("find the rule for %q in %s: %w", d.Key, cfg.RulesSource, err)
		}
	}
	if rule != nil {
		src.File, src.Line, src.Rule = cfg.RulesSource, rule.Line, rule.Text
		st.File, st.Line = cfg.RulesSource, rule.Line
		if !bytes.Equal(rule.Data(), d.Data) && !cfg.RulesStaleKnown {
			w.add(fmt.Sprintf("%s is stale: %s line %d (%s) differs from the record tcpserver uses (%s); run: qmailctl cdb %s",
				cfg.RulesCDB, cfg.RulesSource, rule.Line, rule.Text, describeRecord(d), cfg.RulesSource))
		}
	} else if cfg.FindRule != nil && !cfg.RulesStaleKnown {
		w.add(fmt.Sprintf("%s is stale: no rule of %s stores the key %q that tcpserver finds; run: qmailctl cdb %s",
			cfg.RulesCDB, cfg.RulesSource, d.Key, cfg.RulesSource))
	}
	tried := ""
	if len(d.Tried) > 1 {
		tried = fmt.Sprintf("; tried first %s", quoteKeys(d.Tried[:len(d.Tried)-1]))
	}
	where := src.Rule
	switch {
	case rule != nil && !bytes.Equal(rule.Data(), d.Data):
		// A stale cdb: name the rule tcpserver applies, not the edited line.
		cdbRule := tcprules.RuleText([]byte(d.Key), d.Data)
		src.Rule = cdbRule
		where = fmt.Sprintf("the cdb's rule %s (line %d now reads %s)", cdbRule, rule.Line, rule.Text)
	case rule != nil:
		where = "rule " + rule.Text
	}
	st.Matched = true
	if d.Deny {
		st.Result = "deny"
		st.Detail = fmt.Sprintf("%s matches %s (key %q%s): tcpserver drops the connection before the greeting", where, q.IP, d.Key, tried)
		idx := s.add(st)
		s.dropped = true
		s.refusal = &refusal{reply: ReplyDropped, src: src, step: idx}
		return nil
	}
	st.Result = "allow"
	st.Detail = fmt.Sprintf("%s matches %s (key %q%s)", where, q.IP, d.Key, tried)
	if len(d.Env) > 0 {
		st.Detail += "; sets " + tcprules.FormatVars(d.Env)
	}
	s.add(st)
	s.env = d.Apply(s.env)
	s.ruleSrc = src
	s.ruleVars = map[string]tcprules.Var{}
	for _, v := range d.Env {
		s.ruleVars[v.Name] = v
	}
	return nil
}

// ControlsRefusal is what the server answers, then exits, when it cannot
// read its greeting: both servers read control/smtpgreeting, else the
// first line of control/me, at startup, and treat neither existing as
// unreadable controls (notqmail's setup: control_rldef of smtpgreeting
// with flagme; IndiMail's open_control_files1: control_readfile of
// smtpgreeting with flagme). The session ends before the greeting, so this
// line is its answer to every command.
func ControlsRefusal(mta MTA) string {
	if mta == MTANotqmail {
		return "421 unable to read controls (#4.3.0)"
	}
	return "451 Sorry, I'm unable to read controls (#4.3.0)"
}

// controls models the refusal before the greeting when the server has no
// greeting to give (Config.NoGreeting).
func (e *engine) controls(s *runState) {
	if !e.cfg.NoGreeting {
		return
	}
	file := joinPath(e.cfg.ControlDir, "smtpgreeting")
	st := Step{Phase: "connect", Number: 1, Step: StepGreeting, File: file, Result: "refuse", Matched: true,
		Detail: "neither control/smtpgreeting nor control/me exists: qmail-smtpd answers the reply below to the connection and exits; write the host's name to control/me"}
	idx := s.add(st)
	s.refusal = &refusal{reply: ControlsRefusal(e.cfg.MTA), src: Source{Source: SourceControls, File: file}, step: idx}
}

// greeting models the greeting-time refusals qmail-smtpd makes from its
// environment (smtpd.c qmail_smtpd): each one refuses every later command.
func (e *engine) greeting(s *runState) {
	ip := e.q.IP
	type check struct {
		name  string
		reply func(v string) string
		when  func() bool
	}
	// reply is what every later command (MAIL, RCPT) gets: IndiMail's
	// smtp_paranoid, smtp_ptr, smtp_relayreject, not the greeting's text.
	checks := []check{
		{"SHUTDOWN", func(string) string { return ReplyBadSequence }, nil},
		{"OPENRELAY", func(string) string {
			return "553 No mail accepted from an open relay (" + ip + "); check your server configs (#5.7.1)"
		}, nil},
		{"TCPPARANOID", func(v string) string {
			r := "553 sorry, your IP address (" + ip + ") PTR (reverse DNS) record points to wrong hostname"
			if v != "" {
				r += " [" + v + "]"
			}
			return r + " (#5.7.1)"
		}, nil},
		{"REQPTR", func(v string) string {
			if v != "" {
				return "553 " + v + ": from " + ip + ": (#5.7.1)"
			}
			return "553  Sorry, no PTR (reverse DNS) record for (" + ip + ") (#5.7.1)"
		}, func() bool { return !e.q.HasHost || e.q.Host == "unknown" }},
	}
	for _, c := range checks {
		v, ok := s.env[c.name]
		if !ok || (c.when != nil && !c.when()) {
			continue
		}
		src := s.varSource(c.name)
		detail := fmt.Sprintf("%s is set: qmail-smtpd greets with a refusal and answers every later command with the reply below", c.name)
		st := Step{Phase: "connect", Number: 1, Step: StepGreeting, File: src.File, Line: src.Line, Result: "refuse", Matched: true, Detail: detail}
		idx := s.add(st)
		s.refusal = &refusal{reply: c.reply(v), src: src, step: idx}
		return
	}
}

// varSource names what gave the session variable name its value: the
// tcp.smtp rule, or the environment the run script (or --env) set.
func (s *runState) varSource(name string) Source {
	if v, ok := s.ruleVars[name]; ok && !v.Unset {
		return s.ruleSrc
	}
	return Source{Source: SourceEnvironment, Rule: name + "=" + strconv.Quote(s.env[name])}
}

// clientLists are steps 2 and 3: RELAYCLIENT from the environment, else
// relayclients and relaydomains.
func (e *engine) clientLists(s *runState, w *warnings) {
	cfg, q := e.cfg, e.q
	st := Step{Phase: "connect", Number: 2, Step: StepRelayClient}
	if v, ok := s.env["RELAYCLIENT"]; ok {
		src := s.varSource("RELAYCLIENT")
		what := "the environment (--env or the run script)"
		if src.Source == SourceTCPSMTP {
			st.File, st.Line = src.File, src.Line
			what = "the tcp.smtp rule"
		}
		st.Result, st.Matched = "set", true
		st.Detail = fmt.Sprintf("RELAYCLIENT=%q, set by %s: this client may relay to any domain", v, what)
		if v != "" {
			st.Detail += fmt.Sprintf("; %q is appended to every recipient", v)
			w.add(fmt.Sprintf("RELAYCLIENT=%q is not empty: qmail-smtpd appends it to every recipient (x@example.com becomes x@example.com%s), which corrupts the addresses; write RELAYCLIENT=\"\"", v, v))
		}
		idx := s.add(st)
		s.grant = &grant{src: src, value: v, step: idx, what: what}
		for _, f := range []*control.File{cfg.RelayClients, cfg.RelayDomains} {
			if f != nil && f.Exists {
				w.add(fmt.Sprintf("IndiMail versions from 2016-05 to 2023-01 (smtpd.c before 1.286) ignore RELAYCLIENT from tcp.smtp when %s exists and does not match the client", f.Kind.Name()))
			}
		}
		skip := "not read: qmail-smtpd reads relayclients and relaydomains only when RELAYCLIENT is not set"
		s.add(Step{Phase: "connect", Number: 3, Step: StepRelayClients, File: pathOf(cfg.RelayClients), Result: "skipped", Detail: skip})
		s.add(Step{Phase: "connect", Number: 3, Step: StepRelayDomains, File: pathOf(cfg.RelayDomains), Result: "skipped", Detail: skip})
		return
	}
	st.Result = "unset"
	st.Detail = "RELAYCLIENT is not set"
	if v, ok := s.ruleVars["RELAYCLIENT"]; ok && v.Unset {
		st.File, st.Line = s.ruleSrc.File, s.ruleSrc.Line
		st.Detail += " (the rule's !RELAYCLIENT removes it)"
	}
	s.add(st)

	// relayclients
	mc := cfg.RelayClients.MatchClient(q.IP)
	stc := Step{Phase: "connect", Number: 3, Step: StepRelayClients, File: pathOf(cfg.RelayClients), Detail: mc.Reason}
	okDoc, okReal := mc.Matched, mc.IndiMail.Matched
	if mc.Entry != nil {
		stc.Line = mc.Entry.Line
	}
	hit := okDoc
	if s.actual {
		hit = okReal
	}
	stc.Matched, stc.Result = hit, result(hit, cfg.RelayClients)
	for _, m := range mc.Warnings {
		w.add(m)
	}
	idx := s.add(stc)
	if hit {
		g := &grant{step: idx, what: "relayclients"}
		if s.actual {
			e := mc.IndiMail.Entry
			g.src = Source{Source: SourceRelayClients, File: pathOf(cfg.RelayClients), Line: e.Line, Rule: e.Text}
			g.value, g.unknown = mc.IndiMail.Append, mc.IndiMail.AppendUnknown
		} else {
			g.src = Source{Source: SourceRelayClients, File: pathOf(cfg.RelayClients), Line: mc.Entry.Line, Rule: mc.Entry.Text}
			g.value = mc.Append
		}
		s.grant = g
	}

	// relaydomains
	host := ""
	if q.HasHost {
		host = q.Host
	}
	md := cfg.RelayDomains.MatchHost(host)
	std := Step{Phase: "connect", Number: 3, Step: StepRelayDomains, File: pathOf(cfg.RelayDomains), Detail: md.Reason}
	if md.Entry != nil {
		std.Line = md.Entry.Line
	}
	if !q.HasHost && cfg.RelayDomains != nil && cfg.RelayDomains.Exists {
		std.Detail += " (no --host: tcpserver -H leaves TCPREMOTEHOST unset, and qmail-smtpd uses \"unknown\")"
	}
	exists := cfg.RelayDomains != nil && cfg.RelayDomains.Exists
	switch {
	case !s.actual && okDoc:
		std.Result = "skipped"
		std.Detail = "not needed: relayclients already lets this client relay"
		if exists && !md.IndiMail.Matched {
			w.add(fmt.Sprintf("relaydomains exists and does not match %s: IndiMail's code looks it up even after a relayclients hit and overwrites that hit, so the client may NOT relay (smtpd.c setup())", hostOrUnknown(host)))
		}
		s.add(std)
		return
	case s.actual && exists:
		// IndiMail assigns relayclient from every probe: a miss cancels
		// a relayclients hit.
		hitD := md.IndiMail.Matched
		std.Matched, std.Result = hitD, result(hitD, cfg.RelayDomains)
		idx := s.add(std)
		if hitD {
			e := md.IndiMail.Entry
			s.grant = &grant{step: idx, what: "relaydomains", value: md.IndiMail.Append, unknown: md.IndiMail.AppendUnknown,
				src: Source{Source: SourceRelayDomains, File: pathOf(cfg.RelayDomains), Line: e.Line, Rule: e.Text}}
		} else if s.grant != nil {
			s.grant = nil
		}
		return
	case s.actual:
		std.Result = result(false, cfg.RelayDomains)
		s.add(std)
		return
	}
	std.Matched, std.Result = md.Matched, result(md.Matched, cfg.RelayDomains)
	for _, m := range md.Warnings {
		w.add(m)
	}
	idx = s.add(std)
	if md.Matched {
		s.grant = &grant{step: idx, what: "relaydomains", value: md.Append,
			src: Source{Source: SourceRelayDomains, File: pathOf(cfg.RelayDomains), Line: md.Entry.Line, Rule: md.Entry.Text}}
		if !q.HasHost {
			w.add("relaydomains matched the host name \"unknown\": every client without a PTR name (or any client with tcpserver -H) matches it")
		}
	}
}

// relayClientOnly is notqmail's steps 2 to 5: RELAYCLIENT from the
// environment is its only relay right; it has no relayclients,
// relaydomains, relaymailfrom, SMTP AUTH or greeting-time refusals.
func (e *engine) relayClientOnly(s *runState, w *warnings) {
	st := Step{Phase: "connect", Number: 2, Step: StepRelayClient, Result: "unset", Detail: "RELAYCLIENT is not set"}
	if v, ok := s.env["RELAYCLIENT"]; ok {
		src := s.varSource("RELAYCLIENT")
		if src.Source == SourceTCPSMTP {
			st.File, st.Line = src.File, src.Line
		}
		st.Result, st.Matched = "set", true
		st.Detail = fmt.Sprintf("RELAYCLIENT=%q: this client may relay to any domain", v)
		if v != "" {
			st.Detail += fmt.Sprintf("; %q is appended to every recipient", v)
			w.add(fmt.Sprintf("RELAYCLIENT=%q is not empty: qmail-smtpd appends it to every recipient (x@example.com becomes x@example.com%s), which corrupts the addresses; write RELAYCLIENT=\"\"", v, v))
		}
		idx := s.add(st)
		s.grant = &grant{src: src, value: v, step: idx, what: "RELAYCLIENT"}
		return
	}
	s.add(st)
	if e.q.HasAuth {
		w.add("notqmail's qmail-smtpd has no SMTP AUTH: it answers AUTH with 502 unimplemented, and --auth changes nothing")
	}
}

// auth is step 4: SMTP AUTH. Success sets relayclient to "" whatever it was.
func (e *engine) auth(s *runState) {
	q := e.q
	st := Step{Phase: "auth", Number: 4, Step: StepAuth}
	switch {
	case !q.HasAuth:
		st.Result, st.Detail = "none", "the client does not authenticate (no --auth)"
	case q.AuthNoRelay:
		s.authd = true
		st.Result = "no relay"
		st.Detail = fmt.Sprintf("%s authenticates, but the account has NO_RELAY (authpgm exits 3): AUTH gives no relay rights", q.Auth)
	default:
		s.authd = true
		st.Result, st.Matched = "relay", true
		st.Detail = fmt.Sprintf("%s authenticates (authpgm exits 0): qmail-smtpd sets relayclient to \"\"", q.Auth)
		if s.grant != nil && s.grant.value != "" {
			st.Detail += fmt.Sprintf(", replacing %q from %s", s.grant.value, s.grant.what)
		}
		idx := s.add(st)
		s.grant = &grant{step: idx, what: "SMTP AUTH", src: Source{Source: SourceAuth, Rule: "AUTH " + q.Auth}}
		return
	}
	s.add(st)
}

// mail is step 5: MAIL FROM, REQUIREAUTH, then relaymailfrom.cdb and
// relaymailfrom, read only when the client may not relay yet.
func (e *engine) mail(s *runState, w *warnings) error {
	cfg := e.cfg
	if v, ok := s.env["REQUIREAUTH"]; ok && !s.authd {
		idx := s.add(Step{Phase: "mail", Number: 5, Step: StepRequireAuth, Result: "refuse", Matched: true,
			Detail: fmt.Sprintf("REQUIREAUTH=%q is set and the client has not authenticated: MAIL FROM is refused with %s, and every RCPT TO then gets 503 MAIL first", v, ReplyAuthReq)})
		s.refusal = &refusal{reply: ReplyMailFirst, src: Source{Source: SourceEnvironment, Rule: "REQUIREAUTH=" + strconv.Quote(v)}, step: idx}
		return nil
	}
	cdbPath := joinPath(cfg.ControlDir, "relaymailfrom.cdb")
	txtPath := ""
	if cfg.RelayMailFrom != nil {
		txtPath = cfg.RelayMailFrom.Path
	} else {
		txtPath = joinPath(cfg.ControlDir, "relaymailfrom")
	}
	if s.grant != nil {
		skip := fmt.Sprintf("not read: %s already lets this client relay", s.grant.what)
		s.add(Step{Phase: "mail", Number: 5, Step: StepRelayMailFrom, File: txtPath, Result: "skipped", Detail: skip})
		return nil
	}
	a := control.LowerASCII(e.from.Addr)
	// relaymailfrom.cdb: the full lower-cased address only.
	if cfg.RelayMailFromCDB != nil {
		st := Step{Phase: "mail", Number: 5, Step: StepRelayMailFromCDB, File: cdbPath}
		hit, domainKey, err := control.LookupSenderCDB(cfg.RelayMailFromCDB, a)
		if err != nil {
			return fmt.Errorf("%s: %w", cdbPath, err)
		}
		if domainKey {
			w.add(fmt.Sprintf("%s has the key %s, but IndiMail looks up only the full address in the cdb, so that key never matches (only a line in the text relaymailfrom can)", cdbPath, a[strings.LastIndexByte(a, '@'):]))
		}
		if hit {
			st.Result, st.Matched = "match", true
			st.Detail = fmt.Sprintf("has the key %q: relaying allowed for the rest of the session", a)
			idx := s.add(st)
			s.grant = &grant{step: idx, what: "relaymailfrom.cdb", src: Source{Source: SourceRelayMailFromCDB, File: cdbPath, Rule: a}}
			w.add("relaymailfrom trusts the MAIL FROM, which anyone can forge; the grant lasts for the rest of the SMTP session, across RSET and later MAIL FROMs")
			return nil
		}
		st.Result = "no match"
		st.Detail = fmt.Sprintf("has no key %q (the cdb is looked up with the full lower-cased address only)", a)
		s.add(st)
	}
	st := Step{Phase: "mail", Number: 5, Step: StepRelayMailFrom, File: txtPath}
	if cfg.RelayMailFrom == nil {
		st.Result, st.Detail = "missing", "relaymailfrom does not exist"
		if cfg.RelayMailFromCDB != nil {
			st.Detail += " (qmail-cdb -m moves it to relaymailfrom.bak): its @domain lines and patterns are not used"
		}
		s.add(st)
		return nil
	}
	r := control.MatchSenderText(cfg.RelayMailFrom.Data, a)
	h := r.Doc
	if s.actual {
		h = r.Real
	}
	if r.CRLines > 0 && r.Doc != r.Real {
		w.add(fmt.Sprintf("%s has %d line(s) ending in \"\\r\" (CRLF): IndiMail keeps the \"\\r\" in the line, so they never match; convert the file with dos2unix", txtPath, r.CRLines))
	}
	st.Line = h.Line
	switch {
	case h.Line == 0:
		st.Result = "no match"
		st.Detail = fmt.Sprintf("no line for %s and no pattern matches", strings.Join(probeNames(r.Probes), ", "))
	case h.Matched:
		st.Result, st.Matched = "match", true
		st.Detail = h.Describe(a) + ": relaying allowed for the rest of the session"
	default:
		st.Result, st.Matched = "negated", true
		st.Detail = h.Describe(a)
	}
	if a != e.from.Addr && h.Line > 0 {
		st.Detail += fmt.Sprintf(" (IndiMail lower-cases the sender to %s)", a)
	}
	idx := s.add(st)
	if r.Overridden != nil && h.Matched {
		w.add(fmt.Sprintf("%s line %d %q would refuse this sender, but the exact-address and @domain lines are checked before patterns", txtPath, r.Overridden.Line, r.Overridden.Text))
	}
	if h.Matched {
		s.grant = &grant{step: idx, what: "relaymailfrom", src: Source{Source: SourceRelayMailFrom, File: txtPath, Line: h.Line, Rule: h.Text}}
		w.add("relaymailfrom trusts the MAIL FROM, which anyone can forge; the grant lasts for the rest of the SMTP session, across RSET and later MAIL FROMs")
	}
	return nil
}

// localIPHost rewrites user@[ip], where ip is one of the server's own
// addresses, to user@LocalIPHost, as both servers' addrparse do before any
// other check and before queueing.
func localIPHost(cfg *Config, a Address) Address {
	if cfg.LocalIPHost == "" || !a.HasAt || len(a.Domain) < 3 || a.Domain[0] != '[' {
		return a
	}
	ip, ok := scanBracketIPv4(a.Domain)
	if !ok {
		return a
	}
	me := ip == "0.0.0.0"
	for _, l := range cfg.LocalIPs {
		me = me || l == ip
	}
	if !me {
		return a
	}
	a.Notes = append(a.Notes, fmt.Sprintf("[%s] is one of this server's addresses: qmail-smtpd rewrites the domain to %s (control/localiphost, else control/me)", ip, cfg.LocalIPHost))
	a.Domain = cfg.LocalIPHost
	a.Addr = a.Local + "@" + a.Domain
	return a
}

// scanBracketIPv4 reads "[a.b.c.d]" as qmail's ip_scanbracket does: four
// decimal numbers, each kept in a byte (so 256 reads as 0), and nothing
// after the "]".
func scanBracketIPv4(d string) (string, bool) {
	if len(d) < 2 || d[0] != '[' || d[len(d)-1] != ']' {
		return "", false
	}
	parts := strings.Split(d[1:len(d)-1], ".")
	if len(parts) != 4 {
		return "", false
	}
	var out []string
	for _, p := range parts {
		if p == "" || !isDigits(p) {
			return "", false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return "", false
		}
		out = append(out, strconv.FormatUint(n&0xff, 10))
	}
	return strings.Join(out, "."), true
}

// rcpt decides one recipient: steps 6 to 9.
func (e *engine) rcpt(ctx context.Context, s *runState, n int, a Address, accepted int) (verdict, error) {
	cfg := e.cfg
	v := verdict{Verdict: Verdict{Rcpt: a, QueuedAs: a.Addr}}
	trace := append([]Step(nil), s.steps...)
	finish := func(reply string, src Source, decisive int) (verdict, error) {
		v.Reply, v.DecidedBy = reply, src
		if decisive >= 0 {
			trace[decisive].Decisive = true
		}
		v.Trace = trace
		return v, nil
	}
	if r := s.refusal; r != nil {
		v.QueuedAs = ""
		return finish(r.reply, r.src, r.step)
	}
	add := func(st Step) int {
		st.Phase = "rcpt"
		trace = append(trace, st)
		return len(trace) - 1
	}
	// Step 6: relay probes (IndiMail only).
	if e.notqmail() {
	} else if c, bad := relayProbe(a); bad {
		idx := add(Step{Number: 6, Step: StepRelayProbe, Result: "refuse", Matched: true,
			Detail: fmt.Sprintf("the local part %q contains %q: qmail-smtpd refuses @, %% and ! before the last @ with 550, even for clients that may relay", a.Local, string(c))})
		v.QueuedAs = ""
		return finish(ReplyNoRelay, Source{Source: SourceRelayProbe, Rule: fmt.Sprintf("%q in the local part", string(c))}, idx)
	}
	if !e.notqmail() {
		add(Step{Number: 6, Step: StepRelayProbe, Result: "pass", Detail: fmt.Sprintf("the local part %q has no @, %% or !", a.Local)})
	}

	// Step 7: local or remote.
	local, localSrc, localIdx, err := e.local(s, a, &v, add)
	if err != nil {
		return v, err
	}
	v.Local = local
	bounce := func() bool { return e.from.Null() && accepted >= 1 && !e.notqmail() }
	accept := func(src Source, idx int, g *grant) (verdict, error) {
		if bounce() {
			i := add(Step{Number: 9, Step: StepBounce, Result: "refuse", Matched: true,
				Detail: "the null sender <> (a bounce) may have only one recipient, and one was already accepted"})
			v.QueuedAs = ""
			return finish(ReplyBounce, Source{Source: SourceBounce, Rule: "MAIL FROM:<>"}, i)
		}
		v.Accepted = true
		if g != nil {
			v.Relaying = true
			v.QueuedAs = a.Addr + g.value
			v.unknown = g.unknown
			if g.unknown {
				v.QueuedAs = a.Addr
			}
		}
		if s.actual {
			// IndiMail's address_match lower-cases addr in place
			// (case_lowerb), after RELAYCLIENT was appended: the whole
			// recipient is queued in lower case.
			v.QueuedAs = control.LowerASCII(v.QueuedAs)
		}
		return finish(ReplyOK, src, idx)
	}
	if g := s.grant; g != nil {
		detail := fmt.Sprintf("relaying allowed by %s", g.what)
		switch {
		case g.unknown:
			detail += "; IndiMail appends unpredictable bytes to the recipient"
		case g.value != "":
			detail += fmt.Sprintf("; queued as %q (RELAYCLIENT %q appended)", a.Addr+g.value, g.value)
		}
		add(Step{Number: 7, Step: StepAccept, Result: "relay", Matched: true, Detail: detail})
		idx := g.step
		if idx < 0 {
			idx = len(trace) - 1
		}
		return accept(g.src, idx, g)
	}
	if local {
		res, err := accept(localSrc, localIdx, nil)
		if (cfg.RcptHosts == nil || !cfg.RcptHosts.Exists) && a.HasAt {
			// No rcpthosts: qmail-smtpd takes every domain as its own, which
			// for a remote domain means relaying it for anyone.
			res.Local, res.Relaying = false, true
		}
		return res, err
	}

	// Step 8: the relay table (POP/IMAP-before-SMTP; IndiMail only).
	if vv, ok := s.env["CHECKRELAY"]; ok && !e.notqmail() {
		st := Step{Number: 8, Step: StepRelayTable, Result: "no match"}
		if cfg.RelayTable == nil {
			st.Result = "unknown"
			st.Detail = "CHECKRELAY is set, but no relay table is reachable"
			if cfg.RelayTableNote != "" {
				st.Detail += " (" + cfg.RelayTableNote + ")"
			}
			st.Detail += ": qmailctl cannot tell whether this sender logged in by POP/IMAP from this IP"
			v.warn.add("CHECKRELAY=" + strconv.Quote(vv) + " is set, but no relay table is reachable: the verdict assumes no POP/IMAP-before-SMTP login; give --relay-db")
			add(st)
		} else {
			minutes, note := clearMinutes(s.env)
			if note != "" {
				v.warn.add(note)
			}
			ans, err := e.checkTable(ctx, minutes)
			if err != nil {
				return v, fmt.Errorf("relay table: %w", err)
			}
			ok := ans.Allowed
			if s.actual {
				ok = ans.IndiMailAllowed
			}
			st.Detail = fmt.Sprintf("%s (window %d minutes, RELAY_CLEAR_MINUTES as inlookup reads it)", ans.Detail, minutes)
			if ans.IndiMailAllowed && !ans.Allowed {
				v.warn.add("IndiMail's relay table check compares only the length of the MAIL FROM, so a sender that is a prefix of a logged-in address relays: " + ans.Detail)
			}
			if ok {
				st.Result, st.Matched = "match", true
				idx := add(st)
				// pop_bef_smtp sets relayclient and authenticated.
				s.grant = &grant{step: -1, what: fmt.Sprintf("the relay table (at RCPT #%d)", n+1), src: Source{Source: SourceRelayTable, Rule: fmt.Sprintf("%s from %s", e.from.Addr, e.q.IP)}}
				v.warn.add("the relay table grant lasts for the rest of the SMTP session, for any sender")
				return accept(s.grant.src, idx, s.grant)
			}
			add(st)
		}
	} else {
		add(Step{Number: 8, Step: StepRelayTable, Result: "skipped", Detail: "CHECKRELAY is not set"})
	}

	// Step 9: refuse.
	reply := ReplyNoGateway
	why := "not local, and nothing lets this client relay"
	if e.notqmail() {
		reply = ReplyNoRcptHosts
	} else if s.authd {
		reply = noGatewayAuth(e.q.Auth)
		why += fmt.Sprintf(" (%s authenticated without relay rights)", e.q.Auth)
	}
	idx := add(Step{Number: 9, Step: StepRefuse, Result: "refuse", Matched: true, Detail: why})
	v.QueuedAs = ""
	src := Source{Source: SourceRcptHosts, File: pathOf(cfg.RcptHosts), Rule: ""}
	if localSrc.Source == SourceAuthAll {
		src = localSrc
	}
	return finish(reply, src, idx)
}

// local is step 7: rcpthosts, then morercpthosts.cdb.
func (e *engine) local(s *runState, a Address, v *verdict, add func(Step) int) (bool, Source, int, error) {
	cfg := e.cfg
	if x, ok := s.env["AUTH_ALL"]; ok && !e.notqmail() {
		idx := add(Step{Number: 7, Step: StepRcptHosts, Result: "skipped",
			Detail: fmt.Sprintf("AUTH_ALL=%q is set: every recipient, local ones included, needs relay rights", x)})
		return false, Source{Source: SourceAuthAll, Rule: "AUTH_ALL=" + strconv.Quote(x)}, idx, nil
	}
	m, err := control.MatchRcptHost(cfg.RcptHosts, cfg.MoreRcptHostsCDB, a.Addr)
	if err != nil {
		return false, Source{}, 0, fmt.Errorf("%s: %w", cfg.ControlDir, err)
	}
	rh := pathOf(cfg.RcptHosts)
	if rh == "" {
		rh = joinPath(cfg.ControlDir, "rcpthosts")
	}
	st := Step{Number: 7, Step: StepRcptHosts, File: rh, Detail: m.Reason}
	doc, real := m.Matched, m.IndiMail.Matched
	src := Source{Source: SourceRcptHosts, File: rh}
	switch {
	case m.Entry != nil:
		st.Line, src.Line, src.Rule = m.Entry.Line, m.Entry.Line, m.Entry.Text
	case m.Source == control.MoreRcptHosts.CDBName():
		more := joinPath(cfg.ControlDir, "morercpthosts.cdb")
		st.File = more
		src = Source{Source: SourceMoreRcptHosts, File: more, Rule: m.Probe}
	}
	if m.Source != control.MoreRcptHosts.CDBName() {
		// rcpthosts' warnings say a domain is treated as remote; moot when
		// morercpthosts.cdb has it.
		for _, w := range m.Warnings {
			v.warn.add(w)
		}
	}
	hit := doc
	if s.actual {
		hit = real
	}
	st.Matched = hit
	if hit {
		st.Result = "local"
	} else {
		st.Result = "not local"
	}
	idx := add(st)
	return hit, src, idx, nil
}

// checkTable asks the relay table once per Decide.
func (e *engine) checkTable(ctx context.Context, minutes int) (TableAnswer, error) {
	key := e.from.Addr + "\x00" + strconv.Itoa(minutes)
	if c, ok := e.table[key]; ok {
		return c.ans, c.err
	}
	ans, err := e.cfg.RelayTable(ctx, e.from.Addr, e.q.IP, e.q.Now, minutes)
	e.table[key] = tableCached{ans, err}
	return ans, err
}

// maxClearMinutes is the longest relay window a relay table lookup takes
// (relaytable.MaxMinutes: what a time.Duration holds, about 292 years).
const maxClearMinutes = int(math.MaxInt64 / int64(time.Minute))

// clearMinutes reads RELAY_CLEAR_MINUTES as IndiMail does (atoi; default 60).
// A window longer than maxClearMinutes makes every row live, on IndiMail as
// with maxClearMinutes, so it is read as that.
func clearMinutes(env map[string]string) (int, string) {
	v, ok := env["RELAY_CLEAR_MINUTES"]
	if !ok || v == "" {
		return 60, ""
	}
	t := strings.TrimSpace(v)
	n := 0
	i := 0
	for ; i < len(t) && t[i] >= '0' && t[i] <= '9'; i++ {
		n = min(n*10+int(t[i]-'0'), maxClearMinutes+1)
	}
	var note string
	if i < len(t) || i == 0 {
		note = fmt.Sprintf("RELAY_CLEAR_MINUTES=%q is not a number: IndiMail's atoi reads it as %d minutes", v, min(n, maxClearMinutes))
	}
	if n > maxClearMinutes {
		n = maxClearMinutes
		if note == "" {
			note = fmt.Sprintf("RELAY_CLEAR_MINUTES=%q is longer than anyone has been logging in: every row of the relay table is live", v)
		}
	}
	return n, note
}

func result(hit bool, f *control.File) string {
	switch {
	case hit:
		return "match"
	case f == nil || !f.Exists:
		return "missing"
	}
	return "no match"
}

func pathOf(f *control.File) string {
	if f == nil {
		return ""
	}
	return f.Path
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

func hostOrUnknown(h string) string {
	if h == "" {
		return "unknown"
	}
	return h
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func probeNames(p []string) []string {
	out := make([]string, len(p))
	for i, s := range p {
		if s == "" {
			s = `""`
		}
		out[i] = s
	}
	return out
}

func quoteKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

func describeRecord(d tcprules.Decision) string {
	s := "allow"
	if d.Deny {
		s = "deny"
	}
	if len(d.Env) > 0 {
		s += "," + tcprules.FormatVars(d.Env)
	}
	return s
}

// sortedEnv lists the environment by name.
func sortedEnv(env map[string]string) []tcprules.Var {
	out := []tcprules.Var{}
	for k, v := range env {
		out = append(out, tcprules.Var{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// warnings is an ordered set of messages.
type warnings struct {
	seen map[string]bool
	msgs []string
}

func (w *warnings) add(msgs ...string) {
	for _, m := range msgs {
		if m == "" || w.seen[m] {
			continue
		}
		if w.seen == nil {
			w.seen = map[string]bool{}
		}
		w.seen[m] = true
		w.msgs = append(w.msgs, m)
	}
}

func (w *warnings) list() []string {
	if w.msgs == nil {
		return []string{}
	}
	return append([]string(nil), w.msgs...)
}
