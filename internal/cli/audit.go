package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/relaytable"
)

// auditOut is the JSON of relay audit: every finding, and the same grouped
// by the service (or --tcp-dir) they belong to.
type auditOut struct {
	Findings []relay.Finding `json:"findings"`
	Summary  relay.Summary   `json:"summary"`
	Services []serviceAudit  `json:"services"`
}

// serviceAudit is the audit of one listener.
type serviceAudit struct {
	Service    string          `json:"service"`
	Port       string          `json:"port,omitempty"`
	Rules      string          `json:"rules"`
	RulesCDB   string          `json:"rules_cdb"`
	ControlDir string          `json:"control_dir"`
	Findings   []relay.Finding `json:"findings"`
	Summary    relay.Summary   `json:"summary"`
}

func (a *app) newRelayAuditCmd() *cobra.Command {
	var (
		asJSON   bool
		services []string
		env      []string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Find open-relay risks and IndiMail's relay traps in the whole configuration",
		Long: `Read tcp.smtp (and its cdb) and the control files that decide relaying, and
report, each with its file and line, why it matters and the command that
fixes it:

  - a missing rcpthosts (an open relay) or one that lists nothing;
  - RELAYCLIENT on the default rule, on "=", on whole /8 prefixes ("0.",
    "10."), on whole private ranges (10., 172.16-31., 192.168.), or on CIDR
    blocks wider than a /16; a non-empty RELAYCLIENT value;
  - relaymailfrom, which trusts a forgeable MAIL FROM, and its patterns;
    @domain lines that only the text file (never relaymailfrom.cdb) matches;
  - relayclients/relaydomains lines in the documented colon form, which
    IndiMail's code never matches; both files present (a relaydomains miss
    cancels a relayclients hit);
  - stale cdbs (tcp.smtp.cdb, relaymailfrom.cdb, morercpthosts.cdb: content
    compared, not dates) and cdbs or control files others cannot read (qmaild
    cannot, and every connection fails);
  - tcp.smtp lines tcprules skips or that never match, and shadowed rules;
  - CHECKRELAY set (--env or --service variables) without a reachable relay
    table.

Exit status: 0 when nothing at warning level or above is found, 1 when
something is, 111 when the files cannot be read.`,
		Example: `  sudo qmailctl relay audit
  qmailctl relay audit --service /service/qmail-smtpd.25
  qmailctl relay audit --json | jq -r '.findings[] | select(.severity=="error") | .message'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.loadSite(cmd, services, env)
			if err != nil {
				return err
			}
			out := auditOut{Findings: []relay.Finding{}}
			for _, c := range st.Configs {
				sa := serviceAudit{Service: c.Label(), Rules: c.RulesSource, RulesCDB: c.RulesCDB, ControlDir: c.ControlDir, Findings: []relay.Finding{}}
				if c.Service != nil {
					sa.Service, sa.Port = c.Service.Dir, c.Service.Port
				} else if c.Problem != "" {
					sa.Service = c.EnvFrom
				}
				if c.Problem != "" {
					// A service qmailctl cannot fully read is reported, not
					// fatal: the other services are still audited.
					sa.Findings = append(sa.Findings, relay.Finding{Check: "service", Problem: diag.Problem{
						Pos: diag.Pos{File: filepath.Join(sa.Service, "run")}, Severity: diag.Warning, Msg: c.Problem,
						Hint: "qmailctl relay test --service " + sa.Service + " cannot model this service; check its run script"}})
				} else {
					in, err := c.LoadAudit(a.probeRelayTable(cmd.Context(), c.Env))
					if err != nil {
						return err
					}
					sa.Findings = append(sa.Findings, relay.Audit(in)...)
					sa.Findings = append(sa.Findings, c.Findings()...)
				}
				sa.Summary = relay.Summarize(sa.Findings)
				out.Services = append(out.Services, sa)
				out.Findings = append(out.Findings, sa.Findings...)
			}
			out.Summary = relay.Summarize(out.Findings)
			if asJSON {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printAudit(out)
			}
			if out.Summary.Errors+out.Summary.Warnings > 0 {
				return errNo
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print {findings, summary} as JSON")
	fl.StringArrayVar(&services, "service", nil, "supervise service directory to audit (repeatable; default: every qmail-smtpd service found under /service, /etc/service, /var/service or $QMAILCTL_SERVICE_ROOTS, else --tcp-dir)")
	fl.StringArrayVarP(&env, "env", "e", nil, "NAME=VALUE of qmail-smtpd's environment, as the run script sets it (repeatable)")
	return cmd
}

// probeRelayTable returns a check that the relay table CHECKRELAY needs can
// be reached, without creating the default SQLite file.
func (a *app) probeRelayTable(ctx context.Context, env map[string]string) func() error {
	return func() error {
		dsn := a.relayDB
		if dsn == "" {
			var path string
			if dsn, path = defaultRelayDSN(); !isFile(path) {
				return fmt.Errorf("no --relay-db given and no %s", path)
			}
		}
		table, err := relaytable.TableFromEnv(func(k string) string { return env[k] })
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := relaytable.Open(ctx, dsn, table)
		if err != nil {
			return err
		}
		return s.Close()
	}
}

func (a *app) printAudit(out auditOut) {
	for _, sa := range out.Services {
		if len(out.Services) > 1 {
			fmt.Fprintf(a.stdout, "== %s", sa.Service)
			if sa.Port != "" {
				fmt.Fprintf(a.stdout, " (port %s)", sa.Port)
			}
			fmt.Fprintln(a.stdout, " ==")
		}
		probs := make([]diag.Problem, len(sa.Findings))
		for i, f := range sa.Findings {
			probs[i] = f.Problem
		}
		hide, notes := diag.Hidden(probs)
		for i, f := range sa.Findings {
			if !hide[i] {
				fmt.Fprintf(a.stdout, "[%s] %s", f.Check, f.Long())
			}
			if n, ok := notes[i]; ok {
				fmt.Fprintf(a.stdout, "[%s] %s", f.Check, n.Long())
			}
		}
		if len(sa.Findings) == 0 {
			fmt.Fprintf(a.stdout, "%s and %s: no relay problems found\n", sa.Rules, sa.ControlDir)
		}
	}
	s := out.Summary
	if len(out.Findings) == 0 {
		return
	}
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{s.Errors, "error"}, {s.Warnings, "warning"}, {s.Infos, "note"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s%s", x.n, x.what, map[bool]string{true: "", false: "s"}[x.n == 1]))
		}
	}
	fmt.Fprintf(a.stdout, "%s\n", strings.Join(parts, ", "))
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
