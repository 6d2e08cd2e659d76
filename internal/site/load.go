package site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/safefile"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Opened is the configuration relay test decides with: the engine's Config,
// the warnings about what was loaded (stale cdbs, unreadable sources, what
// the engine does not model), and what to close.
type Opened struct {
	Relay    relay.Config
	Rules    RulesState
	Warnings []string
	closers  []func()
}

// Close releases the mapped files and open cdbs.
func (o *Opened) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
	o.closers = nil
}

// OpenRelay opens what relay test needs for c, cheaply: cdbs are looked up,
// never read whole; the rules source is mapped and searched only for the
// rule that matches. The relay table is left to the caller.
func (c *Config) OpenRelay() (*Opened, error) {
	o := &Opened{}
	cfg := &o.Relay
	cfg.RulesCDB, cfg.RulesSource, cfg.ControlDir = c.RulesCDB, c.RulesSource, c.ControlDir
	fail := func(err error) (*Opened, error) {
		o.Close()
		return nil, err
	}
	var err error
	if o.Rules, err = QuickRulesState(c.RulesSource, c.RulesCDB); err != nil {
		return fail(err)
	}
	noRules := c.Service != nil && c.Service.RulesCDB == "" && c.Service.MySQLRules == ""
	// The rules cdb is mapped: lookups touch a few pages, and its record
	// order indexes the source (tcprules.FindRule).
	var positions tcprules.Positions
	switch m, err := mapFile(c.RulesCDB); {
	case noRules:
		if err == nil {
			m.close()
		}
	case errors.Is(err, fs.ErrNotExist):
		if c.Service == nil || !c.Service.AllowNoRules {
			cfg.RulesMissing = true
		}
	case err != nil:
		return fail(err)
	default:
		o.closers = append(o.closers, m.close)
		r, err := cdb.New(bytes.NewReader(m.data), int64(len(m.data)))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", c.RulesCDB, err))
		}
		cfg.Rules, positions = r.Get, r.Positions
	}
	switch {
	case noRules || !o.Rules.CDBExists:
	case o.Rules.SourceUnreadable:
		o.Warnings = append(o.Warnings, fmt.Sprintf("%s cannot be read (permission denied): answering from %s alone; rule line numbers are unknown", c.RulesSource, c.RulesCDB))
	case !o.Rules.SourceExists:
		o.Warnings = append(o.Warnings, fmt.Sprintf("%s does not exist: the rule's line cannot be shown", c.RulesSource))
	default:
		src, err := mapFile(c.RulesSource)
		if err != nil {
			return fail(err)
		}
		o.closers = append(o.closers, src.close)
		ro := o.Rules.Roaming
		cfg.FindRule = func(key string) (*tcprules.Rule, error) {
			if ro.Has(key) {
				return roamingRule(ro, key), nil
			}
			if positions == nil {
				return nil, nil
			}
			return tcprules.FindRule(src.data, positions, key)
		}
		if o.Rules.Stale() {
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s is stale (%s); tcpserver uses the cdb, so the lines shown may not be what it applies: run qmailctl cdb %s", c.RulesCDB, o.Rules.Staleness.Reason, c.RulesSource))
			cfg.RulesStaleKnown = true
		}
	}

	if c.Service != nil {
		if p := c.Service.Program("rblsmtpd"); p != nil {
			if cfg.RBL, err = relay.ParseRBL(p.Path, p.Args); err != nil {
				return fail(fmt.Errorf("%s: %w", filepath.Join(c.Service.Dir, "run"), err))
			}
		}
	}

	load := func(k control.Kind) (*control.File, error) {
		f, _, err := control.Load(k, c.ControlDir)
		if f == nil {
			return nil, err
		}
		return f, nil // invalid lines are left out; qmailctl relay audit lists them
	}
	if cfg.RelayClients, err = load(control.RelayClients); err != nil {
		return fail(err)
	}
	if cfg.RelayDomains, err = load(control.RelayDomains); err != nil {
		return fail(err)
	}
	if cfg.RcptHosts, err = load(control.RcptHosts); err != nil {
		return fail(err)
	}
	rmfPath := filepath.Join(c.ControlDir, "relaymailfrom")
	if m, err := mapFile(rmfPath); err == nil {
		o.closers = append(o.closers, m.close)
		cfg.RelayMailFrom = &relay.TextFile{Path: rmfPath, Data: m.data}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	for _, x := range []struct {
		kind control.Kind
		dst  *relay.CDB
	}{{control.RelayMailFrom, &cfg.RelayMailFromCDB}, {control.MoreRcptHosts, &cfg.MoreRcptHostsCDB}} {
		r, err := control.OpenCDB(x.kind, c.ControlDir)
		if err != nil {
			return fail(err)
		}
		if r == nil {
			continue
		}
		o.closers = append(o.closers, func() { r.Close() })
		*x.dst = r
		// Compared whole only up to QuickLimit, as the rules source: relay
		// audit and qmailctl cdb compare any size.
		if fi, err := os.Stat(filepath.Join(c.ControlDir, x.kind.Name())); err != nil || fi.Size() > QuickLimit {
			continue
		}
		st, err := control.Stale(x.kind, c.ControlDir)
		if err != nil {
			return fail(err)
		}
		if st.Stale() {
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s is stale (%s); qmail-smtpd reads the cdb: run qmailctl cdb",
				filepath.Join(c.ControlDir, x.kind.CDBName()), st.Reason))
		}
	}
	// What relay test does not model must not change the verdict silently.
	for _, f := range []string{"authdomains", "tlsclients", "relaymailfrom.sql"} {
		if exists(filepath.Join(c.ControlDir, f)) {
			o.Warnings = append(o.Warnings, fmt.Sprintf("%s exists and relay test does not model it: IndiMail's answer may differ (see docs/relay.md)", filepath.Join(c.ControlDir, f)))
		}
	}
	for _, v := range []string{"QREGEX", "CUGMAIL", "CHECKRECIPIENT", "CHECKSENDER"} {
		if _, ok := c.Env[v]; ok {
			o.Warnings = append(o.Warnings, v+" is set and relay test does not model it: IndiMail's answer may differ (see docs/relay.md)")
		}
	}
	return o, nil
}

// LoadAudit reads everything relay.Audit looks at for c, with the one
// staleness answer (content, not modification times). probe, called only
// when CHECKRELAY is set, says why the relay table cannot be reached.
func (c *Config) LoadAudit(probe func() error) (*relay.AuditInput, error) {
	in := &relay.AuditInput{Control: map[control.Kind]*relay.ControlInput{}, Env: c.Env, EnvFrom: c.EnvFrom}
	if c.Service != nil {
		in.NoHostLookup = c.Service.NoHostLookup
	}
	in.LocalIPs = relay.HostIPv4s()
	var err error
	if in.LocalIPHost, in.LocalIPHostFrom, err = relay.ReadLocalIPHost(c.ControlDir); err != nil {
		return nil, err
	}
	if in.TCPFacts, err = stat(c.RulesSource); err != nil {
		return nil, err
	}
	if in.TCPCDB, err = stat(c.RulesCDB); err != nil {
		return nil, err
	}
	rs, err := RulesStaleness(c.RulesSource, c.RulesCDB)
	if err != nil {
		return nil, err
	}
	c.rules = rs
	if in.TCPFacts.Exists && !rs.SourceUnreadable {
		// Two streamed reads (tcprules.Check): memory does not grow with
		// the file, so a 1,000,000-line tcp.smtp is audited in a few MiB.
		if err := c.auditRules(in); err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		if rs.CDBExists && rs.Staleness != nil && rs.SourceError == nil {
			in.TCPStale = relay.Staleness{Checked: true, Stale: rs.Stale(), Reason: rs.Staleness.Reason}
		}
	}
	if in.TCPFacts.Exists && rs.SourceUnreadable {
		// Judge what tcpserver really reads, the cdb, rather than say
		// nothing: an open relay must not pass as "no problems found".
		in.TCPFindings = append(in.TCPFindings, relay.Finding{Check: "tcp-unreadable", Problem: diag.Problem{
			Pos: diag.Pos{File: c.RulesSource}, Severity: diag.Warning,
			Msg:  "this user may not read the rules file: the findings about its rules come from " + c.RulesCDB + " (what tcpserver reads), without line numbers, and the source's syntax and staleness are not checked",
			Hint: "run it as root: sudo qmailctl relay audit"}})
		if rs.CDBExists {
			fs, err := relay.CDBFindings(c.RulesCDB)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", c.RulesCDB, err)
			}
			in.TCPFindings = append(in.TCPFindings, fs...)
		}
	}
	for _, k := range control.Kinds() {
		// An invalid line is a finding (its problem is in probs), not a
		// failure: only an I/O error leaves f nil.
		f, probs, err := control.Load(k, c.ControlDir)
		if f == nil {
			return nil, err
		}
		facts, err := stat(filepath.Join(c.ControlDir, k.Name()))
		if err != nil {
			return nil, err
		}
		in.Control[k] = &relay.ControlInput{File: f, Problems: probs, Facts: facts}
	}
	if in.RelayMailFromCDB, err = stat(filepath.Join(c.ControlDir, "relaymailfrom.cdb")); err != nil {
		return nil, err
	}
	if in.MoreRcptHostsCDB, err = stat(filepath.Join(c.ControlDir, "morercpthosts.cdb")); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		kind  control.Kind
		facts relay.FileFacts
		out   *relay.Staleness
	}{
		{control.RelayMailFrom, in.RelayMailFromCDB, &in.RelayMailFromStale},
		{control.MoreRcptHosts, in.MoreRcptHostsCDB, &in.MoreRcptHostsStale},
	} {
		if !x.facts.Exists || !in.Control[x.kind].File.Exists {
			continue
		}
		st, err := control.Stale(x.kind, c.ControlDir)
		if err != nil {
			return nil, err
		}
		*x.out = relay.Staleness{Checked: true, Stale: st.Stale(), Reason: st.Reason}
	}
	if in.RelayMailFromCDB.Exists {
		r, err := cdb.Open(in.RelayMailFromCDB.Path)
		if err != nil {
			return nil, fmt.Errorf("open relaymailfrom.cdb: %w", err)
		}
		err = r.ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), "@") {
				in.RelayMailFromCDBAtKey = append(in.RelayMailFromCDBAtKey, string(k))
			}
			return nil
		})
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read relaymailfrom.cdb: %w", err)
		}
	}
	if _, ok := c.Env["CHECKRELAY"]; ok {
		switch {
		case probe == nil:
			in.RelayTableProblem = "no relay table is configured"
		default:
			if err := probe(); err != nil {
				in.RelayTableProblem = err.Error()
			}
		}
	}
	return in, nil
}

// roamingRule is the rule a roaming-user record stands for, named as such
// (it has no line in the source: Line is 0).
func roamingRule(ro *Roaming, key string) *tcprules.Rule {
	line := ro.Line(key)
	f, _ := tcprules.Parse("roaming", []byte(line+"\n"))
	if f == nil || len(f.Rules()) == 0 {
		return nil
	}
	r := *f.Rules()[0]
	r.Line = 0
	r.Text, _ = ro.Entry(key)
	return &r
}

// RoamingFinding reports a roaming-user layout found in a rules cdb: relay
// audit names it instead of calling the cdb stale.
func RoamingFinding(rs RulesState) *relay.Finding {
	if rs.Roaming == nil {
		return nil
	}
	hint := "qmailctl cdb --roaming relay-table " + rs.Source + " (rebuilds with the relay table's rows first), never from " + rs.Source + " alone"
	if rs.Roaming.Layout == LayoutOpenSMTP {
		hint = "qmailctl cdb --roaming open-smtp=~vpopmail/etc/open-smtp " + rs.Source + ", never from " + rs.Source + " alone"
	}
	return &relay.Finding{Check: "roaming", Problem: diag.Problem{Pos: diag.Pos{File: rs.CDB}, Severity: diag.Info,
		Msg:  fmt.Sprintf("holds %d roaming-user record(s) ahead of %s's rules: %s", len(rs.Roaming.Records), rs.Source, rs.Roaming.Describe()),
		Hint: hint}}
}

// stat returns a file's facts; a missing file is not an error.
func stat(path string) (relay.FileFacts, error) {
	f := relay.FileFacts{Path: path}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("stat: %w", err)
	}
	f.Exists, f.Mode = true, fi.Mode()
	return f, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mapped is a file mapped into memory (tcprules.MapFile).
type mapped struct {
	data  []byte
	close func()
}

// mapFile maps path into memory: the engine then reads only the pages it
// touches, so a 1,000,000-line tcp.smtp costs only the search for its rule.
func mapFile(path string) (*mapped, error) {
	data, release, err := tcprules.MapFile(path)
	if err != nil {
		return nil, err
	}
	return &mapped{data: data, close: release}, nil
}

// auditRules reads the rules source twice, a line at a time: a survey, then
// relay audit's findings about it, with the rules whose RBLSMTPD does
// nothing kept for Findings.
func (c *Config) auditRules(in *relay.AuditInput) error {
	read := func(f func(io.Reader) error) error {
		file, err := safefile.Open(c.RulesSource)
		if err != nil {
			return err
		}
		defer file.Close()
		return f(file)
	}
	var chk *tcprules.Check
	err := read(func(r io.Reader) (err error) {
		chk, err = tcprules.Survey(c.RulesSource, r)
		return err
	})
	if err != nil {
		return err
	}
	c.rblRules = nil
	return read(func(r io.Reader) (err error) {
		in.TCPFindings, err = relay.TCPFindings(chk, r, func(rule *tcprules.Rule) {
			if f := c.rblRuleFinding(rule); f != nil {
				c.rblRules = append(c.rblRules, *f)
			}
		})
		return err
	})
}
