package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/relaytable"
)

// auditOut is the JSON of relay audit.
type auditOut struct {
	Findings []relay.Finding `json:"findings"`
	Summary  relay.Summary   `json:"summary"`
}

func (a *app) newRelayAuditCmd() *cobra.Command {
	var (
		asJSON  bool
		service string
		env     []string
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
			vars, envFrom, svc, err := a.serviceEnv(service, env)
			if err != nil {
				return err
			}
			controlDir := a.controlDir
			if v, ok := vars["CONTROLDIR"]; ok && v != "" && !cmd.Flags().Changed("control-dir") {
				controlDir = v
			}
			p := relay.AuditPaths{
				TCPSource: filepath.Join(a.tcpDir, "tcp.smtp"), TCPCDB: filepath.Join(a.tcpDir, "tcp.smtp.cdb"),
				ControlDir: controlDir, Env: vars, EnvFrom: envFrom,
				ProbeRelayTable: a.probeRelayTable(cmd.Context(), vars),
			}
			if svc != nil {
				p.TCPSource, p.TCPCDB, p.NoHostLookup = svc.RulesSource, svc.RulesCDB, svc.NoHostLookup
			}
			in, err := relay.LoadAudit(p)
			if err != nil {
				return err
			}
			findings := relay.Audit(in)
			out := auditOut{Findings: findings, Summary: relay.Summarize(findings)}
			if out.Findings == nil {
				out.Findings = []relay.Finding{}
			}
			if asJSON {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				a.printAudit(out, p)
			}
			if out.Summary.Errors+out.Summary.Warnings > 0 {
				return errNo
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print {findings, summary} as JSON")
	fl.StringVar(&service, "service", "", "supervise service directory: audit its tcpserver -x rules and its variables")
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

func (a *app) printAudit(out auditOut, p relay.AuditPaths) {
	for _, f := range out.Findings {
		fmt.Fprintf(a.stdout, "[%s] %s", f.Check, f.Long())
	}
	s := out.Summary
	if len(out.Findings) == 0 {
		fmt.Fprintf(a.stdout, "%s and %s: no relay problems found\n", p.TCPSource, p.ControlDir)
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
