package relay

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Finding is one result of Audit: a diag.Problem (severity, file:line, the
// line, why it matters, the command that fixes it) with the name of the
// check that found it, so scripts can filter.
type Finding struct {
	Check string `json:"check"`
	diag.Problem
}

// FileFacts is what Audit needs to know about a file on disk.
type FileFacts struct {
	Path   string
	Exists bool
	Mode   fs.FileMode
}

// Staleness is the result of comparing a cdb with its source.
type Staleness struct {
	Checked bool
	Stale   bool
	Reason  string
}

// ControlInput is one parsed control file with its parse problems.
type ControlInput struct {
	File     *control.File
	Problems []diag.Problem
	Facts    FileFacts
}

// AuditInput is the whole relay configuration, read by LoadAudit (or built
// by a test): Audit itself does no I/O.
type AuditInput struct {
	TCPFacts    FileFacts
	TCPFindings []Finding // TCPFindings of the rules source; none when it is missing
	TCPCDB      FileFacts
	TCPStale    Staleness

	Control map[control.Kind]*ControlInput

	RelayMailFromCDB      FileFacts
	RelayMailFromStale    Staleness
	RelayMailFromCDBAtKey []string // @domain keys stored in relaymailfrom.cdb
	MoreRcptHostsCDB      FileFacts
	MoreRcptHostsStale    Staleness

	// Env is the service environment (envdir variables, --env); EnvFrom
	// names where it came from, for positions.
	Env     map[string]string
	EnvFrom string
	// NoHostLookup: the service's tcpserver runs with -H.
	NoHostLookup bool
	// CheckRelay is the outcome of reaching the relay table when
	// CHECKRELAY is set: "" when reachable, otherwise why not.
	RelayTableProblem string
	// LocalIPHost is what user@[own ip] is rewritten to (ReadLocalIPHost),
	// LocalIPHostFrom the file it comes from; LocalIPs the server's own
	// addresses.
	LocalIPHost     string
	LocalIPHostFrom string
	LocalIPs        []string
}

// Audit lints the relay configuration for open-relay risks and the known
// traps of IndiMail's code (docs/relay.md). Findings of warning
// severity or above need the admin's attention.
func Audit(in *AuditInput) []Finding {
	var out []Finding
	add := func(check string, sev diag.Severity, file string, line int, text, msg, hint string) {
		out = append(out, Finding{Check: check, Problem: diag.Problem{
			Pos: diag.Pos{File: file, Line: line}, Severity: sev, Msg: msg, Text: text, Hint: hint}})
	}
	ctl := func(k control.Kind) *ControlInput {
		if c := in.Control[k]; c != nil {
			return c
		}
		return &ControlInput{File: &control.File{Kind: k}}
	}
	rh, rc, rd, rmf, mrh := ctl(control.RcptHosts), ctl(control.RelayClients), ctl(control.RelayDomains), ctl(control.RelayMailFrom), ctl(control.MoreRcptHosts)

	// rcpthosts: missing is an open relay.
	switch {
	case !rh.File.Exists:
		add("rcpthosts-missing", diag.Error, rh.Facts.Path, 0, "",
			"rcpthosts does not exist: qmail-smtpd accepts every recipient domain, so this server is an open relay (IndiMail's run script refuses to start without it)",
			"qmailctl rcpthosts add YOUR.DOMAIN (one line per domain you receive mail for)")
	case len(rh.File.Entries) == 0 && !in.MoreRcptHostsCDB.Exists:
		add("rcpthosts-empty", diag.Error, rh.Facts.Path, 0, "",
			"rcpthosts has no entries and there is no morercpthosts.cdb: no domain is local, so every message from outside is refused",
			"qmailctl rcpthosts add YOUR.DOMAIN")
	}
	if in.MoreRcptHostsCDB.Exists && !rh.File.Exists {
		add("morercpthosts-unused", diag.Warning, in.MoreRcptHostsCDB.Path, 0, "",
			"morercpthosts.cdb is never read: qmail-smtpd consults it only when rcpthosts exists",
			"create rcpthosts: qmailctl rcpthosts add YOUR.DOMAIN")
	}
	auditLocalIP(in, rh, add)
	if mrh.File.Exists && !in.MoreRcptHostsCDB.Exists {
		add("morercpthosts-no-cdb", diag.Warning, mrh.Facts.Path, 0, "",
			"morercpthosts exists but morercpthosts.cdb does not: qmail-smtpd reads only the cdb, so these domains are not local",
			"qmailctl cdb")
	}

	// The control files' own problems: colon lines, CRLF, the next-line
	// append, duplicates, wildcards, negations that cannot work.
	for _, c := range []*ControlInput{rh, rc, rd, rmf, mrh} {
		for _, p := range c.Problems {
			if p.Severity >= diag.Warning {
				out = append(out, Finding{Check: c.File.Kind.Name(), Problem: p})
			}
		}
	}
	if rc.File.Exists && rd.File.Exists {
		add("relaydomains-cancels", diag.Warning, rd.Facts.Path, 0, "",
			"both relayclients and relaydomains exist: IndiMail's code looks relaydomains up after relayclients and overwrites its answer, so a client listed in relayclients whose host name is not in relaydomains may not relay",
			"give relaying in tcp.smtp instead (qmailctl tcp add IP allow --relay), and remove one of the two files")
	}
	if rd.File.Exists && in.NoHostLookup {
		add("relaydomains-nohost", diag.Warning, rd.Facts.Path, 0, "",
			"tcpserver runs with -H, so TCPREMOTEHOST is never set and qmail-smtpd matches relaydomains against \"unknown\": only a line \"unknown\" can match, and it matches everybody",
			"remove relaydomains, or run tcpserver without -H (and with -p)")
	}

	// relaymailfrom: a spoofable grant.
	if n := len(rmf.File.Entries); rmf.File.Exists && n > 0 {
		first := rmf.File.Entries[0]
		grants := 0
		for i := range rmf.File.Entries {
			if !rmf.File.Entries[i].Negate {
				grants++
			}
		}
		if grants > 0 {
			add("relaymailfrom-grant", diag.Warning, rmf.Facts.Path, first.Line, first.Text,
				fmt.Sprintf("relaymailfrom lets %d sender entr%s relay with no authentication: anyone who forges such a MAIL FROM relays, and the grant lasts for the rest of the SMTP session", grants, plural(grants, "y", "ies")),
				"use SMTP AUTH for these senders, then: qmailctl relaymailfrom remove ENTRY")
		}
		for i := range rmf.File.Entries {
			e := &rmf.File.Entries[i]
			if e.Negate {
				continue
			}
			if e.Pattern() {
				sev := diag.Warning
				if control.Wildmat(e.Key, "anyone@anywhere.example") {
					sev = diag.Error // '*' and friends: an open relay for every forged sender
				}
				add("relaymailfrom-wildcard", sev, rmf.Facts.Path, e.Line, e.Text,
					fmt.Sprintf("the pattern %q lets every sender it matches relay, and the sender is forgeable", e.Key),
					"qmailctl relaymailfrom remove "+diag.ShellQuote(e.Text))
			}
			if strings.HasPrefix(e.Key, "@") && in.RelayMailFromCDB.Exists {
				add("relaymailfrom-cdb-domain", diag.Warning, rmf.Facts.Path, e.Line, e.Text,
					fmt.Sprintf("%s matches only through this text file: IndiMail looks up only full addresses in relaymailfrom.cdb, so after qmail-cdb -m (which moves this file away) it stops working", e.Key),
					"list the addresses one by one, or keep relaymailfrom next to the cdb")
			}
		}
	}
	if !rmf.File.Exists {
		for _, k := range in.RelayMailFromCDBAtKey {
			add("relaymailfrom-cdb-domain", diag.Warning, in.RelayMailFromCDB.Path, 0, k,
				fmt.Sprintf("relaymailfrom.cdb has the key %s, which never matches: IndiMail looks up only full addresses in the cdb, and the text relaymailfrom is gone", k),
				"restore relaymailfrom (from relaymailfrom.bak), or list the addresses one by one")
		}
	}

	// tcp.smtp
	switch {
	case !in.TCPCDB.Exists && in.TCPFacts.Exists:
		add("tcp-no-cdb", diag.Error, in.TCPCDB.Path, 0, "",
			"the rules cdb does not exist: tcpserver -x drops every connection (unless it runs with -X)",
			"qmailctl cdb "+in.TCPFacts.Path)
	case !in.TCPFacts.Exists && in.TCPCDB.Exists:
		add("tcp-no-source", diag.Warning, in.TCPFacts.Path, 0, "",
			"the rules source does not exist, so the rules in the cdb cannot be audited or rebuilt",
			"recreate "+in.TCPFacts.Path)
	}
	out = append(out, in.TCPFindings...)
	if in.TCPStale.Stale {
		add("stale", diag.Warning, in.TCPCDB.Path, 0, "",
			"stale: "+in.TCPStale.Reason+"; tcpserver still uses the old rules",
			"qmailctl cdb "+in.TCPFacts.Path)
	}
	if in.RelayMailFromStale.Stale {
		add("stale", diag.Warning, in.RelayMailFromCDB.Path, 0, "",
			"stale: "+in.RelayMailFromStale.Reason+"; qmail-smtpd searches the cdb first", "qmailctl cdb")
	}
	if in.MoreRcptHostsStale.Stale {
		add("stale", diag.Warning, in.MoreRcptHostsCDB.Path, 0, "",
			"stale: "+in.MoreRcptHostsStale.Reason+"; qmail-smtpd reads only the cdb", "qmailctl cdb")
	}

	// Modes: qmail-smtpd and tcpserver run as qmaild, not root.
	facts := []struct {
		f    FileFacts
		what string
	}{
		{in.TCPCDB, "tcpserver opens it for every connection after dropping to its -u user (qmaild): if that user cannot read it, every connection is dropped"},
		{rh.Facts, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
		{rc.Facts, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
		{rd.Facts, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
		{rmf.Facts, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
		{in.RelayMailFromCDB, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
		{in.MoreRcptHostsCDB, "qmail-smtpd (as qmaild) cannot read it and fails every session with a temporary error"},
	}
	for _, x := range facts {
		if x.f.Exists && x.f.Mode&0o004 == 0 {
			add("unreadable", diag.Error, x.f.Path, 0, "",
				fmt.Sprintf("mode %04o is not readable by others: unless qmaild is its owner or in its group, %s", x.f.Mode.Perm(), x.what),
				"chmod 644 "+x.f.Path)
		}
	}

	// The service environment.
	if v, ok := in.Env["RELAYCLIENT"]; ok {
		sev, msg := diag.Warning, "RELAYCLIENT is set in the service environment: every client of this service may relay, whatever tcp.smtp says"
		if v != "" {
			msg += fmt.Sprintf(", and %q is appended to every recipient, which corrupts the addresses", v)
		}
		add("env-relayclient", sev, in.EnvFrom, 0, "RELAYCLIENT="+strconv.Quote(v), msg, "remove RELAYCLIENT from "+in.EnvFrom)
	}
	if _, ok := in.Env["CHECKRELAY"]; ok && in.RelayTableProblem != "" {
		add("checkrelay-no-table", diag.Warning, in.EnvFrom, 0, "CHECKRELAY",
			"CHECKRELAY is set, but the relay table is not reachable ("+in.RelayTableProblem+"): POP/IMAP-before-SMTP cannot work, and IndiMail answers 451 to remote recipients",
			"give --relay-db DSN (or $QMAILCTL_RELAY_DB), or unset CHECKRELAY")
	}

	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return out
}

// auditRule flags a tcp.smtp rule that gives relaying to too many clients.
// TCPFindings are relay audit's findings about the rules file that c
// surveyed, read again from src a line at a time (memory does not grow with
// the file): its syntax problems, then the rules that never take effect and
// the rules that let too many clients relay (both only when the file has no
// syntax error). each, when not nil, is called with every rule.
func TCPFindings(c *tcprules.Check, src io.Reader, each func(*tcprules.Rule)) ([]Finding, error) {
	var parse, shadowed, rules []Finding
	add := func(check string, sev diag.Severity, file string, line int, text, msg, hint string) {
		rules = append(rules, Finding{Check: check, Problem: diag.Problem{
			Pos: diag.Pos{File: file, Line: line}, Severity: sev, Msg: msg, Text: text, Hint: hint}})
	}
	err := c.Scan(src, func(r *tcprules.Rule) error {
		if each != nil {
			each(r)
		}
		if !c.HasErrors {
			auditRule(c.Name, r, add)
		}
		return nil
	}, func(p diag.Problem, sh bool) error {
		switch {
		case sh:
			shadowed = append(shadowed, Finding{Check: "tcp-shadowed", Problem: p})
		case p.Severity >= diag.Warning:
			parse = append(parse, Finding{Check: "tcp.smtp", Problem: p})
		}
		return nil
	})
	return append(append(parse, shadowed...), rules...), err
}

func auditRule(file string, r *tcprules.Rule, add func(check string, sev diag.Severity, file string, line int, text, msg, hint string)) {
	if r.Deny {
		return
	}
	relay := false
	for _, v := range r.Env {
		if v.Name == "RELAYCLIENT" {
			relay = !v.Unset
		}
	}
	if !relay {
		return
	}
	hint := fmt.Sprintf("qmailctl tcp remove %s, then give relaying to the hosts that need it one by one (qmailctl tcp add IP allow --relay), or use SMTP AUTH", diag.ShellQuote(r.Address))
	switch {
	case r.Address == "":
		add("tcp-relay-default", diag.Error, file, r.Line, r.Text,
			"the default rule sets RELAYCLIENT: every client that no earlier rule matches may relay; this server is an open relay",
			"qmailctl tcp add '' allow --replace (the default rule without RELAYCLIENT)")
		return
	case r.Address == "=":
		add("tcp-relay-anyhost", diag.Warning, file, r.Line, r.Text,
			"the rule \"=\" sets RELAYCLIENT for every client whose IP has a host name: nearly the whole Internet may relay", hint)
		return
	}
	keys := r.Keys()
	if name, ok := privateRange(keys); ok {
		add("tcp-relay-private", diag.Warning, file, r.Line, r.Text,
			fmt.Sprintf("RELAYCLIENT for the whole private range %s: any host on it, or any compromised one, may relay", name), hint)
		return
	}
	if n, wide := coverage(keys); wide {
		add("tcp-relay-wide", diag.Warning, file, r.Line, r.Text,
			fmt.Sprintf("RELAYCLIENT for %s addresses (%d key(s)): a range this wide lets many hosts you do not control relay", n, len(keys)), hint)
	}
}

// privateRange reports whether keys cover a whole RFC 1918 range.
func privateRange(keys []string) (string, bool) {
	has := map[string]bool{}
	for _, k := range keys {
		has[k] = true
	}
	if has["10."] {
		return "10.0.0.0/8", true
	}
	if has["192.168."] {
		return "192.168.0.0/16", true
	}
	if has["172."] {
		return "172.16.0.0/12 (and all of 172.0.0.0/8)", true
	}
	all := true
	for x := 16; x <= 31; x++ {
		if !has["172."+strconv.Itoa(x)+"."] {
			all = false
			break
		}
	}
	if all {
		return "172.16.0.0/12", true
	}
	return "", false
}

// coverage counts the client addresses keys match, loopback (127.) aside,
// and reports whether that is wider than a /16 (65,536 IPv4 addresses) or
// an IPv6 /32.
func coverage(keys []string) (string, bool) {
	var n4 float64
	wide6 := false
	for _, k := range keys {
		if strings.ContainsAny(k, "=@") || strings.HasPrefix(k, "127.") {
			continue // host rules, and loopback: only this host itself
		}
		if strings.Contains(k, ":") {
			if strings.HasSuffix(k, ":") && strings.Count(k, ":") <= 2 {
				wide6 = true
			}
			continue
		}
		if !strings.HasSuffix(k, ".") {
			n4++
			continue
		}
		octets := strings.Count(k, ".")
		n4 += math.Pow(256, float64(4-octets))
	}
	switch {
	case wide6:
		return "an IPv6 /32 or more of", true
	case n4 > 65536:
		return strconv.FormatFloat(n4, 'f', 0, 64), true
	}
	return "", false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
}

// Summarize counts findings by severity.
func Summarize(f []Finding) Summary {
	var s Summary
	for _, x := range f {
		switch x.Severity {
		case diag.Error:
			s.Errors++
		case diag.Warning:
			s.Warnings++
		default:
			s.Infos++
		}
	}
	return s
}

// CDBFindings are relay audit's findings about the rules that the cdb at
// path holds, for a rules source this user may not read (tcp.smtp mode 600
// beside a world-readable cdb): each key's first record, as tcpserver uses
// it, is judged as the rule it came from would be, without line numbers.
func CDBFindings(path string) ([]Finding, error) {
	r, err := cdb.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Finding
	add := func(check string, sev diag.Severity, file string, line int, text, msg, hint string) {
		out = append(out, Finding{Check: check, Problem: diag.Problem{
			Pos: diag.Pos{File: file, Line: line}, Severity: sev, Msg: msg, Text: text, Hint: hint}})
	}
	seen := map[string]bool{}
	err = r.ForEach(func(key, data []byte) error {
		if seen[string(key)] {
			return nil // tcpserver uses a key's first record
		}
		seen[string(key)] = true
		deny, env := tcprules.Decode(data)
		rule := &tcprules.Rule{Address: string(key), Deny: deny, Env: env}
		rule.Text = rule.String()
		auditRule(path, rule, add)
		return nil
	})
	return out, err
}
