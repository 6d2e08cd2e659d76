package site

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Findings are relay audit's findings about what internal/relay does not
// see: rblsmtpd (RBLFindings) and a roaming-user layout of the rules cdb.
// Call after LoadAudit.
func (c *Config) Findings() []relay.Finding {
	out := c.RBLFindings()
	if f := RoamingFinding(c.rules); f != nil {
		out = append(out, *f)
	}
	return out
}

// RBLFindings are relay audit's findings about rblsmtpd for c: which DNS
// lists its rblsmtpd asks, and tcp.smtp rules whose RBLSMTPD does nothing
// because no rblsmtpd runs (found by LoadAudit as it read the rules).
func (c *Config) RBLFindings() []relay.Finding {
	var out []relay.Finding
	var prog *Program
	if c.Service != nil {
		prog = c.Service.Program("rblsmtpd")
	}
	if prog != nil {
		rbl, err := relay.ParseRBL(prog.Path, prog.Args)
		run := filepath.Join(c.Service.Dir, "run")
		if err != nil {
			return append(out, relay.Finding{Check: "rblsmtpd", Problem: diag.Problem{Pos: diag.Pos{File: run}, Severity: diag.Error,
				Msg: err.Error() + ": the service cannot start", Hint: "fix the rblsmtpd options in " + run}})
		}
		var zones []string
		for _, l := range rbl.Lists {
			z := l.Zone
			if l.Anti {
				z = "-a " + z
			}
			zones = append(zones, z)
		}
		msg := "rblsmtpd runs before qmail-smtpd with no DNS list: only RBLSMTPD from tcp.smtp rules blocks clients"
		if len(zones) > 0 {
			msg = "rblsmtpd runs before qmail-smtpd: clients without RBLSMTPD are decided by the DNS lists " + strings.Join(zones, ", ")
		}
		return append(out, relay.Finding{Check: "rblsmtpd", Problem: diag.Problem{Pos: diag.Pos{File: run}, Severity: diag.Info, Msg: msg,
			Hint: "qmailctl relay test IP FROM RCPT --service " + c.Service.Dir + " --rbl-assume listed"}})
	}
	return append(out, c.rblRules...)
}

// rblRuleFinding is the finding about a rule whose RBLSMTPD does nothing
// because no rblsmtpd runs, or nil.
func (c *Config) rblRuleFinding(r *tcprules.Rule) *relay.Finding {
	if c.Service != nil && c.Service.Program("rblsmtpd") != nil {
		return nil
	}
	for _, v := range r.Env {
		if v.Name == "RBLSMTPD" && !v.Unset && v.Value != "" {
			where := "no rblsmtpd is known to run before qmail-smtpd"
			if c.Service != nil {
				where = filepath.Join(c.Service.Dir, "run") + " runs no rblsmtpd before qmail-smtpd"
			}
			return &relay.Finding{Check: "rblsmtpd", Problem: diag.Problem{
				Pos: diag.Pos{File: c.RulesSource, Line: r.Line}, Text: r.Text, Severity: diag.Warning,
				Msg:  fmt.Sprintf("RBLSMTPD=%q blocks nobody: %s", v.Value, where),
				Hint: "put rblsmtpd between tcpserver and qmail-smtpd in the run script, or use :deny"}}
		}
	}
	return nil
}
