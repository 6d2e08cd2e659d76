package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/site"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

func (a *app) newTCPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tcp",
		Short: "List, edit, check and explain tcprules files (tcp.smtp)",
		Long: `The tcp commands work on one tcprules file, tcp.smtp in --tcp-dir unless
--file names another. tcpserver -x reads its compiled cdb for every connection,
so a rule that sets RELAYCLIENT lets every client it matches relay.

Edits keep every other line byte for byte, are refused if they would not take
effect, and recompile the cdb (unless --no-cdb) exactly as qmailctl cdb does:
a cdb holding roaming-user records (vpopmail's open-smtp, IndiMail's relay
table) is not rebuilt without them unless --roaming says how to keep or drop
them (see qmailctl cdb --help); the edit is refused, nothing written.`,
		Example: `  qmailctl tcp list
  sudo qmailctl tcp add 10.1.1. allow --relay
  qmailctl tcp explain 10.1.1.5
  qmailctl tcp check`,
	}
	var file string
	cmd.PersistentFlags().StringVar(&file, "file", "", "rules file (default tcp.smtp in --tcp-dir)")
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		if file != "" {
			return site.CheckDir("directory of --file", filepath.Dir(file), true)
		}
		return a.checkTCPDir(c)
	}
	cmd.AddCommand(a.newTCPListCmd(&file), a.newTCPAddCmd(&file), a.newTCPRemoveCmd(&file),
		a.newTCPCheckCmd(&file), a.newTCPExplainCmd(&file))
	return cmd
}

// openRules opens a rules file for the streaming readers of
// internal/tcprules, which read it once or twice and never hold it. A missing
// file is an empty one when missingOK is set (tcp add creates it).
func openRules(path string, missingOK bool) (io.ReadSeekCloser, error) {
	f, err := safefile.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if missingOK {
			return nopCloser{strings.NewReader("")}, nil
		}
		return nil, badInput(err, "check --tcp-dir or --file")
	}
	return f, err
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// rewind seeks src back to its start for another read.
func rewind(src io.Seeker, path string) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read %s again: %w", path, err)
	}
	return nil
}

type ruleJSON struct {
	*tcprules.Rule
	Action string   `json:"action"`
	Keys   []string `json:"keys"`
}

func (a *app) newTCPListCmd(file *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the rules of a tcprules file",
		Long: `List the rules of the file in order, with their line numbers: a table on a
terminal, tab-separated LINE ADDRESS ACTION VARIABLES when piped, or JSON.
Rules are printed as they are read, so a file of any size lists at once in
little memory: on a terminal a file of more than 500 rules is shown as one
table per 500 rules, each with its header.`,
		Example: `  qmailctl tcp list
  qmailctl tcp list --json | jq -r '.[] | select(.env[]?.name == "RELAYCLIENT") | .address'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listRules(a.rulesFile(*file), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rules as a JSON array")
	return cmd
}

// listPage is how many rules tcp list puts in one table on a terminal: a
// larger file is printed as consecutive tables of this many rows, so that
// the listing starts at once and memory does not grow with the file.
const listPage = 500

// listRules prints the rules of path as it reads them, holding one rule (or
// one page of the terminal table). Problems go to stderr as they are met;
// lines with syntax errors are not listed, and the exit status then says the
// list is not the whole file.
func (a *app) listRules(path string, asJSON bool) error {
	src, err := openRules(path, false)
	if err != nil {
		return err
	}
	defer src.Close()
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	var (
		emit  func(*tcprules.Rule) error
		flush func() error
	)
	switch {
	case asJSON:
		arr := newJSONArray(out, 0)
		emit = func(r *tcprules.Rule) error {
			if r.Env == nil {
				r.Env = []tcprules.Var{}
			}
			keys := r.Keys()
			if keys == nil {
				keys = []string{} // an empty range stores nothing
			}
			return arr.Add(ruleJSON{Rule: r, Action: r.Action(), Keys: keys})
		}
		flush = func() error {
			if err := arr.Close(); err != nil {
				return err
			}
			_, err := out.WriteString("\n")
			return err
		}
	case a.tty:
		header := []string{"line", "address", "action", "variables"}
		var rows [][]string
		pages := 0
		flush = func() error {
			if len(rows) == 0 && pages > 0 {
				return nil // an empty file still gets its header
			}
			pages++
			err := a.printTable(header, rows)
			rows = rows[:0]
			return err
		}
		emit = func(r *tcprules.Rule) error {
			rows = append(rows, listRow(r))
			if len(rows) == listPage {
				return flush()
			}
			return nil
		}
	default: // the tab-separated lines printTable gives a pipe
		emit = func(r *tcprules.Rule) error {
			_, err := out.WriteString(strings.Join(listRow(r), "\t") + "\n")
			return err
		}
		flush = func() error { return nil }
	}
	s := tcprules.NewScanner(path, src)
	var listErr error
	for s.Scan() {
		probs := s.Problems()
		if diag.FirstError(probs) != nil {
			listErr = &exitError{code: exitPerm, err: errors.New("syntax errors"), quiet: true}
		}
		if len(probs) > 0 {
			if err := out.Flush(); err != nil {
				return err
			}
			a.warn(probs)
		}
		if r := s.Line().Rule; r != nil {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	return listErr
}

func listRow(r *tcprules.Rule) []string {
	return []string{strconv.Itoa(r.Line), displayAddress(r.Address), r.Action(), tcprules.FormatVars(r.Env)}
}

func displayAddress(a string) string {
	if a == "" {
		return "(default)"
	}
	return a
}

// parseEnvFlags turns NAME=VALUE and NAME (for --unset) flags into variables.
func parseEnvFlags(set, unset []string, relay bool) ([]tcprules.Var, error) {
	var env []tcprules.Var
	if relay {
		env = append(env, tcprules.Var{Name: "RELAYCLIENT"})
	}
	for _, s := range set {
		name, value, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, usageErrorf("--env %q: expected NAME=VALUE", s)
		}
		env = append(env, tcprules.Var{Name: name, Value: value})
	}
	for _, n := range unset {
		env = append(env, tcprules.Var{Name: n, Unset: true})
	}
	return env, nil
}

func (a *app) newTCPAddCmd(file *string) *cobra.Command {
	var (
		set, unset          []string
		relay, replace, noC bool
	)
	cmd := &cobra.Command{
		Use:   "add ADDRESS allow|deny",
		Short: "Add a rule and recompile the cdb",
		Long: `Add a rule for ADDRESS: an IP (10.1.1.5), a prefix ending in a dot (10.1.1.),
a range (10.1.1.1-9), a CIDR block (10.1.0.0/16, expanded into prefixes), a
host rule (=mail.example.com, =.example.com), info@IP, or "" for the default.

tcpserver uses the first record stored under a key, so the rule goes where it
takes effect: before an earlier rule (a range, say) that stores the same key,
otherwise at the end. An identical rule is refused; a different rule for the
same address needs --replace. The cdb is recompiled unless --no-cdb.`,
		Example: `  # let every host on 10.1.1.* relay (the seed's first recipe)
  sudo qmailctl tcp add 10.1.1. allow --relay

  # refuse one host, with a variable for the log
  sudo qmailctl tcp add 192.0.2.7 deny

  # IndiMail: relay for localhost without greylisting
  sudo qmailctl tcp add 127. allow --relay --unset GREYIP`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageErrorf("tcp add takes ADDRESS and allow|deny (see qmailctl tcp add --help)")
			}
			if args[1] != "allow" && args[1] != "deny" {
				return usageErrorf("tcp add: %q: expected allow or deny", args[1])
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return []string{"allow", "deny"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnvFlags(set, unset, relay)
			if err != nil {
				return err
			}
			rule, probs, err := tcprules.NewRule(args[0], args[1] == "deny", env)
			if err != nil {
				return badInput(err, "")
			}
			// A rule that can never match is refused rather than written: the
			// admin meant something else.
			for i := range probs {
				if probs[i].Severity >= diag.Warning {
					p := probs[i]
					p.Severity = diag.Error
					return &p
				}
			}
			a.warn(probs)
			return a.editRules(*file, !noC, func(path string, src io.Reader) (*tcprules.Edit, string, error) {
				ed, err := tcprules.PlanAdd(path, src, rule, replace)
				if err != nil {
					return nil, "", err
				}
				msg := fmt.Sprintf("added %s:%d: %s", path, ed.Line, rule.Text)
				if ed.Replaced {
					msg = fmt.Sprintf("replaced %s:%d: %s", path, ed.Line, rule.Text)
				}
				if ed.Before != nil {
					msg += "\n  " + ed.Note
				}
				return ed, msg, nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&set, "env", "e", nil, "set a variable, NAME=VALUE (repeatable)")
	fl.StringArrayVar(&unset, "unset", nil, "unset a variable, IndiMail's !NAME (repeatable)")
	fl.BoolVar(&relay, "relay", false, `let the clients relay: set RELAYCLIENT=""`)
	fl.BoolVar(&replace, "replace", false, "replace an existing rule for the same address")
	fl.BoolVar(&noC, "no-cdb", false, "edit the file only; do not recompile the cdb")
	a.roamingFlag(fl)
	return cmd
}

func (a *app) newTCPRemoveCmd(file *string) *cobra.Command {
	var noC bool
	cmd := &cobra.Command{
		Use:     "remove ADDRESS",
		Aliases: []string{"rm"},
		Short:   "Remove the rules for an address and recompile the cdb",
		Long: `Remove every rule whose address is exactly ADDRESS (as tcp list shows it; ""
for the default rule), keeping all other lines byte for byte, and recompile the
cdb unless --no-cdb.`,
		Example: `  sudo qmailctl tcp remove 10.1.1.`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			path := a.rulesFile(*file)
			src, err := openRules(path, false)
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			defer src.Close()
			var addrs []string
			s := tcprules.NewScanner(path, src)
			for s.Scan() {
				if r := s.Line().Rule; r != nil && r.Address != "" { // the default rule cannot be typed as a word
					addrs = append(addrs, r.Address+"\t"+r.Text)
				}
			}
			return addrs, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.editRules(*file, !noC, func(path string, src io.Reader) (*tcprules.Edit, string, error) {
				ed, err := tcprules.PlanRemove(path, src, args[0])
				if err != nil {
					return nil, "", err
				}
				var lines []string
				for _, r := range ed.Removed {
					lines = append(lines, fmt.Sprintf("removed %s:%d: %s", path, r.Line, r.Text))
				}
				return ed, strings.Join(lines, "\n"), nil
			})
		},
	}
	cmd.Flags().BoolVar(&noC, "no-cdb", false, "edit the file only; do not recompile the cdb")
	a.roamingFlag(cmd.Flags())
	return cmd
}

// editRules applies edit to the rules file and recompiles its cdb as one
// transaction: under the locks of the directories of both (tcp.smtp may be a
// link to another directory; its cdb is written beside the name given), the
// new file and the new cdb are both written before either replaces the old
// one, so a failure leaves both as they were. The edit is planned on one
// read of the file and applied on a second; neither holds the file. A file
// with syntax errors is not edited (plan returns the first): the admin fixes
// it first.
func (a *app) editRules(file string, compile bool, plan func(path string, src io.Reader) (*tcprules.Edit, string, error)) error {
	path := a.rulesFile(file)
	paths := []string{path}
	if compile {
		paths = append(paths, path+".cdb")
	}
	txn, err := safefile.Begin(a.lockTimeout, paths...)
	if err != nil {
		return err
	}
	defer txn.Close()
	src, err := openRules(path, true)
	if err != nil {
		return err
	}
	defer src.Close()
	ed, msg, err := plan(path, src)
	if err != nil {
		return err
	}
	if err := rewind(src, path); err != nil {
		return err
	}
	if err := txn.Stage(path, func(w *os.File) error { return ed.Apply(src, w) }); err != nil {
		return err
	}
	var st tcprules.Stats
	if compile {
		// The rebuild of qmailctl cdb, roaming-user records and all; it
		// reads the staged source, so the cdb is what is committed.
		j := a.keepRoaming(tcpJob(path), "run it again with --roaming %s")
		if st, _, err = j.build(txn); err != nil {
			return err
		}
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, msg)
	if !compile {
		fmt.Fprintf(a.stderr, "qmailctl: %s.cdb not recompiled: run qmailctl cdb %s\n", path, path)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s.cdb: %d rules, %d records\n", path, st.Rules, st.Records)
	return nil
}

type checkJSON struct {
	File     string         `json:"file"`
	Rules    int            `json:"rules"`
	CDB      string         `json:"cdb"`
	Stale    bool           `json:"stale"`
	Problems []diag.Problem `json:"problems"`
}

func (a *app) newTCPCheckCmd(file *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Find syntax errors, dead rules and a stale cdb",
		Long: `Check a rules file the way tcprules never does: every syntax error with its
line and column; lines tcprules silently skips (no colon, only white space);
rules that can never match (a CIDR block or a range written for the wrong
tool, leading spaces, upper-case host names, an IPv6 address not written the
way tcpserver prints it); rules shadowed by an earlier identical key; a
non-empty RELAYCLIENT; and a cdb that differs from its source.`,
		Example: `  qmailctl tcp check
  qmailctl tcp check --file /etc/tcp.smtp --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.checkRules(a.rulesFile(*file), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as JSON")
	return cmd
}

// checkRules prints every problem of the rules file at path in line order,
// after the state of its cdb, reading the file three times (the cdb
// comparison, the survey, the report) and holding none of it: the findings
// are printed, as JSON too, as they are found.
func (a *app) checkRules(path string, asJSON bool) error {
	src, err := openRules(path, false)
	if err != nil {
		return err
	}
	defer src.Close()
	var probs []diag.Problem // the cdb's, at line 0, before the file's
	st, staleErr := tcprules.Stale(path, path+".cdb", nil)
	stale := staleErr == nil && st.Stale()
	if stale {
		probs = append(probs, diag.Problem{Pos: diag.Pos{File: path + ".cdb"}, Severity: diag.Warning,
			Msg: staleMessage(st.Reason), Hint: "qmailctl cdb " + path})
	}
	c, err := tcprules.Survey(path, src)
	if err != nil {
		return err
	}
	if err := rewind(src, path); err != nil {
		return err
	}
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	worst, n := diag.Info, 0
	var emit func(diag.Problem) error
	var arr *jsonArray
	if asJSON {
		head, err := json.MarshalIndent(checkJSON{File: path, Rules: c.Rules, CDB: path + ".cdb", Stale: stale,
			Problems: []diag.Problem{}}, "", "  ")
		if err != nil {
			return err
		}
		// checkJSON's last field, problems, is streamed in place of its "[]".
		head = bytes.TrimSuffix(head, []byte("[]\n}"))
		out.Write(head)
		arr = newJSONArray(out, 1)
		emit = func(p diag.Problem) error { return arr.Add(p) }
	} else {
		emit = func(p diag.Problem) error {
			printProblems(out, []diag.Problem{p}, diag.Info)
			return nil
		}
	}
	report := func(p diag.Problem) error {
		n++
		worst = max(worst, p.Severity)
		return emit(p)
	}
	for _, p := range probs {
		if err := report(p); err != nil {
			return err
		}
	}
	if err := c.Problems(src, report); err != nil {
		return err
	}
	if asJSON {
		if err := arr.Close(); err != nil {
			return err
		}
		out.WriteString("\n}\n")
	} else if n == 0 {
		fmt.Fprintf(out, "%s: %d rules, no problems\n", path, c.Rules)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	switch worst {
	case diag.Error:
		return &exitError{code: exitPerm, err: errors.New("syntax errors"), quiet: true}
	case diag.Warning:
		return errNo
	}
	return nil
}

func staleMessage(why string) string {
	if why == "no cdb" {
		return "no cdb: tcpserver -x drops every connection until it exists"
	}
	return "stale: " + why + "; tcpserver still uses the old rules"
}

type explainJSON struct {
	IP      string         `json:"ip"`
	Host    *string        `json:"host"`
	Info    *string        `json:"info"`
	Matched bool           `json:"matched"`
	Key     string         `json:"key"`
	Action  string         `json:"action"`
	Env     []tcprules.Var `json:"env"`
	Unset   []string       `json:"unset"`
	File    string         `json:"file"`
	Line    int            `json:"line"`
	Rule    string         `json:"rule"`
	CDB     string         `json:"cdb"`
	Tried   []string       `json:"tried"`
	Stale   bool           `json:"stale"`
	Why     string         `json:"stale_reason,omitempty"` // what disagrees between the source and the cdb
	// SourceUnreadable: the answer comes from the cdb alone (the source
	// is mode 600 and qmailctl is not root): no line numbers.
	SourceUnreadable bool `json:"source_unreadable,omitempty"`
	// Roaming: the relay table row behind an IndiMail roaming-user record.
	Roaming *site.RoamingRow `json:"roaming,omitempty"`
}

func (a *app) newTCPExplainCmd(file *string) *cobra.Command {
	var (
		host, info string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "explain IP",
		Short: "Say what tcpserver does with a connection, and which rule decides",
		Long: `Look IP up in the compiled cdb exactly as tcpserver -x does (info@ip,
info@=host, ip, =host, prefixes, =.suffix, =, the default) and print the
decision, the variables the child gets, and the source file and line of the
rule: tcprulescheck, with the answer to "why". IPv4-mapped and IPv6 addresses
are normalised as tcpserver prints them. Exit 0 whether the connection is
allowed or denied.`,
		Example: `  qmailctl tcp explain 10.1.1.5
  qmailctl tcp explain 192.0.2.7 --host mail.example.com --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := a.rulesFile(*file)
			ip, err := tcprules.NormalizeIP(args[0])
			if err != nil {
				return badInput(err, "give the client address as tcpserver reports it, e.g. 10.1.1.5 or 2001:db8::5")
			}
			q := tcprules.Query{IP: ip, Host: host, HasHost: cmd.Flags().Changed("host"), Info: info, HasInfo: cmd.Flags().Changed("info")}
			out, err := explain(path, q, a.roamingRowFor(cmd.Context(), os.Getenv))
			if err != nil {
				return err
			}
			if out.SourceUnreadable {
				fmt.Fprintf(a.stderr, "qmailctl: warning: %s cannot be read: answering from %s.cdb alone; the rule's line number is unknown\n", path, path)
			}
			if out.Stale {
				fmt.Fprintf(a.stderr, "qmailctl: warning: %s.cdb is stale: %s; tcpserver uses the cdb\n  hint: qmailctl cdb %s\n", path, out.Why, path)
			}
			if asJSON {
				return a.printJSON(out)
			}
			a.printExplain(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "client host name (TCPREMOTEHOST); unset means tcpserver -H")
	cmd.Flags().StringVar(&info, "info", "", "ident user (TCPREMOTEINFO); unset means tcpserver -R")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	return cmd
}

// explain looks q up in path's cdb and finds the source line of the rule;
// rowFor names the relay table row behind a roaming-user record.
func explain(path string, q tcprules.Query, rowFor func(ip string) (*site.RoamingRow, error)) (explainJSON, error) {
	out := explainJSON{IP: q.IP, CDB: path + ".cdb", Env: []tcprules.Var{}, Unset: []string{}, Action: "allow", File: path}
	if q.HasHost {
		out.Host = &q.Host
	}
	if q.HasInfo {
		out.Info = &q.Info
	}
	r, err := cdb.Open(out.CDB)
	if err != nil {
		// As tcprulescheck: an unreadable cdb is a temporary failure (111),
		// and tcpserver would drop every connection.
		return out, &exitError{code: exitTemp, err: err, hint: "qmailctl cdb " + path}
	}
	defer r.Close()
	d, err := tcprules.Lookup(r.Get, q)
	if err != nil {
		return out, fmt.Errorf("%s: %w", out.CDB, err)
	}
	out.Matched, out.Key, out.Tried = d.Matched, d.Key, d.Tried
	if d.Deny {
		out.Action = "deny"
	}
	for _, v := range d.Env {
		if v.Unset {
			out.Unset = append(out.Unset, v.Name)
		} else {
			out.Env = append(out.Env, v)
		}
	}
	rs, err := site.QuickRulesState(path, out.CDB)
	if err != nil {
		return out, err
	}
	if rs.Stale() {
		out.Stale, out.Why = true, rs.Staleness.Reason
	}
	out.SourceUnreadable = rs.SourceUnreadable
	if d.Matched && rs.Roaming.Has(d.Key) {
		// IndiMail's relay table rows or vpopmail's open-smtp lines, put
		// ahead of the rules: no line of the source has it.
		rs.Roaming.RowFor = rowFor
		out.Rule, out.Roaming = rs.Roaming.Entry(d.Key)
		out.File = out.CDB
		return out, nil
	}
	if d.Matched && rs.SourceExists && !rs.SourceUnreadable {
		// Read a line at a time (not mapped): the memory stays small however
		// far down a large file the rule is.
		f, err := safefile.Open(path)
		if err != nil {
			return out, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return out, err
		}
		rule, err := tcprules.FindRuleAt(f, fi.Size(), r.Positions, d.Key)
		if err != nil {
			return out, fmt.Errorf("%s: %w", out.CDB, err)
		}
		if rule != nil {
			out.Line, out.Rule = rule.Line, rule.Text
			if !bytes.Equal(rule.Data(), d.Data) {
				// A stale cdb: show the rule tcpserver really applies,
				// not the edited line, which says something else.
				out.Rule = fmt.Sprintf("%s (the cdb's rule; line %d now reads %s)", tcprules.RuleText([]byte(d.Key), d.Data), rule.Line, rule.Text)
			}
		}
		// A source too large to compare whole: compare the record that
		// decides with its line (content, as the whole comparison would).
		switch {
		case !rs.Partial:
		case rule == nil:
			out.Stale, out.Why = true, fmt.Sprintf("no rule of the source stores the key %q that the cdb has", d.Key)
		case !bytes.Equal(rule.Data(), d.Data):
			out.Stale, out.Why = true, fmt.Sprintf("line %d (%s) differs from the cdb's record", rule.Line, rule.Text)
		}
	}
	return out, nil
}

func (a *app) printExplain(e explainJSON) {
	w := a.stdout
	if !e.Matched {
		fmt.Fprintf(w, "%s: no rule matches (tried %s)\n", e.IP, quoteKeys(e.Tried))
		fmt.Fprintln(w, "allow connection, no variables set")
		return
	}
	where := e.CDB
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	fmt.Fprintf(w, "%s: rule %q at %s\n", e.IP, e.Key, where)
	if e.Rule != "" {
		fmt.Fprintf(w, "    %s\n", e.Rule)
	}
	if len(e.Tried) > 1 {
		fmt.Fprintf(w, "  tried first: %s\n", quoteKeys(e.Tried[:len(e.Tried)-1]))
	}
	if e.Action == "allow" { // as tcprulescheck: a denied client gets no environment
		for _, v := range e.Env {
			fmt.Fprintf(w, "set environment variable %s=%s\n", v.Name, v.Value)
		}
		for _, n := range e.Unset {
			fmt.Fprintf(w, "unset environment variable %s\n", n)
		}
	}
	fmt.Fprintf(w, "%s connection\n", e.Action)
}

func quoteKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}
