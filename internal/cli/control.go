package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// cdbPolicy says whether an edit of a control file recompiles its cdb.
type cdbPolicy int

const (
	// noCDB: qmail-smtpd reads the text file only.
	noCDB cdbPolicy = iota
	// alwaysCDB: qmail-smtpd reads only the cdb (morercpthosts), so every
	// edit rebuilds it.
	alwaysCDB
	// existingCDB: qmail-smtpd reads the cdb, when there is one, before the
	// text file (relaymailfrom), so an edit keeps an existing cdb current but
	// creates one only on request.
	existingCDB
)

// controlSpec is everything that differs between the control-file command
// groups. newControlGroup builds the same list, add and remove commands
// from each, so the five groups behave alike and are documented alike.
type controlSpec struct {
	kind    control.Kind
	short   string // the group's one-line summary
	syntax  string // what an entry looks like, for add's help
	about   string // what the file is for and when to use it
	gotchas string // where IndiMail differs from the documentation, or what is risky
	// missing says what a missing file means; missingSev is Warning when
	// that is dangerous, with missingHint as the fix.
	missing     string
	missingSev  diag.Severity
	missingHint string
	// Examples from real admin tasks, each under a comment naming the task.
	listEx, addEx, removeEx string
	cdb                     cdbPolicy
}

// colonForm reports whether the file's documented format is KEY:VALUE.
func (s *controlSpec) colonForm() bool {
	return s.kind == control.RelayClients || s.kind == control.RelayDomains
}

const colonGotcha = `IndiMail's qmail-smtpd reads every line whole as the key: a line in the documented colon form (%[1]s) never matches there,
and when a bare line (%[2]s) matches, IndiMail appends the text of the next
line, or for the last line whatever bytes follow the file in memory, to every
recipient. When both relayclients and relaydomains exist, a relaydomains miss
cancels a relayclients hit. On IndiMail, give relaying in tcp.smtp instead
(qmailctl tcp add ... --relay); the colon form is right for netqmail with the
classic relayclients patch.`

// controlSpecs are the control files that decide relaying, in the order
// qmail-smtpd consults them.
var controlSpecs = []controlSpec{
	{
		kind:  control.RelayClients,
		short: "List and edit control/relayclients, the client IPs allowed to relay",
		syntax: `An ENTRY is a client IPv4 address (10.1.1.5), a prefix ending in a dot
(10.1.1.), an IPv6 address, or an IPv4-mapped prefix (::ffff:10.1.1.),
optionally followed by a colon and a string to append to every recipient
(10.1.1.:). CIDR blocks, ranges and wildcards are refused with the prefixes to
write instead.`,
		about: `relayclients lists the client IP addresses and prefixes that may relay. qmail-smtpd
tries the client's full address, then each shorter prefix ending in a dot
(10.1.1.5, 10.1.1., 10.1., 10.), when the connection starts and only when
tcpserver did not set RELAYCLIENT. Use it on a qmail patched for it when you
cannot change tcp.smtp.`,
		gotchas:    fmt.Sprintf(colonGotcha, "10.1.1.:", "10.1.1."),
		missing:    "no client may relay because of its IP address here",
		missingSev: diag.Info,
		listEx: `  # which clients may relay here, and which lines IndiMail never matches
  qmailctl relayclients list
  qmailctl relayclients list --json |
    jq -r '.[] | select(.indimail_matches | not) | .entry'`,
		addEx: `  # let the office network relay (netqmail with the relayclients patch)
  sudo qmailctl relayclients add 10.1.1.:

  # on IndiMail, give the same network relaying in tcp.smtp instead
  sudo qmailctl tcp add 10.1.1. allow --relay`,
		removeEx: `  # the old backup MX no longer relays (also removes "192.0.2.25:")
  sudo qmailctl relayclients remove 192.0.2.25`,
	},
	{
		kind:  control.RelayDomains,
		short: "List and edit control/relaydomains, the client host names allowed to relay",
		syntax: `An ENTRY is a client host name (mail.example.com) or a domain with a leading dot
for every host under it (.example.com), optionally followed by a colon and a
string to append to every recipient. IP addresses belong in relayclients.`,
		about: `relaydomains lists the client host names that may relay. It is matched against
the CONNECTING CLIENT's host name (TCPREMOTEHOST, from its PTR record), not
against the recipient's domain: to accept mail for a domain, use rcpthosts.
qmail-smtpd tries the whole name, then each suffix starting at a dot, when the
connection starts and only when tcpserver did not set RELAYCLIENT.`,
		gotchas: fmt.Sprintf(colonGotcha, ".example.com:", ".example.com") + `

Host names are only as trustworthy as the PTR records: without tcpserver -p
whoever owns the client's address block chooses its name. With tcpserver -H
(IndiMail's run script without --rbl) no name is looked up and every client is
"unknown", so only a line "unknown" could match, and it would match everyone.`,
		missing:    "no client may relay because of its host name here",
		missingSev: diag.Info,
		listEx: `  # which client host names may relay here
  qmailctl relaydomains list`,
		addEx: `  # let a partner's mail hosts relay (needs tcpserver -p, and no -H)
  sudo qmailctl relaydomains add .partner.example`,
		removeEx: `  # the partnership ended
  sudo qmailctl relaydomains remove .partner.example`,
	},
	{
		kind:  control.RelayMailFrom,
		short: "List and edit control/relaymailfrom, the envelope senders allowed to relay",
		syntax: `An ENTRY is an envelope sender address (joe@example.com), @domain for every
address at that domain (@example.com), or a wildmat pattern (*@*.example.com),
optionally after ! to exclude what it matches. Quote patterns for the shell.`,
		about: `relaymailfrom lists the envelope senders (MAIL FROM) that may relay. IndiMail's
qmail-smtpd looks the lower-cased sender up in relaymailfrom.cdb first, when it
exists, then in this file: the exact address, its @domain, then the patterns,
the last matching pattern winning. A match lets the rest of the SMTP session
relay. Use it for a device or application that cannot do SMTP AUTH and has no
fixed address for tcp.smtp.`,
		gotchas: `Anyone can write any MAIL FROM: a listed sender is a password everybody can
guess, and one match opens the whole session. Prefer SMTP AUTH or a tcp.smtp
rule. A pattern such as * lets every sender relay. relaymailfrom.cdb is probed
with the full address only, so @domain lines and patterns match only from the
text file; after qmail-cdb -m moves the text file away, they stop working.`,
		missing:    "no sender may relay because of its address here",
		missingSev: diag.Info,
		listEx: `  # who may relay by sender address
  qmailctl relaymailfrom list`,
		addEx: `  # let one sender relay (a scanner that cannot do SMTP AUTH)
  sudo qmailctl relaymailfrom add joe@example.com

  # every address at a domain, except the shared mailbox
  sudo qmailctl relaymailfrom add '*@example.com' '!info@example.com'`,
		removeEx: `  # joe left; his address must stop relaying now, cdb included
  sudo qmailctl relaymailfrom remove joe@example.com`,
		cdb: existingCDB,
	},
	{
		kind:  control.RcptHosts,
		short: "List and edit control/rcpthosts, the domains this server accepts mail for",
		syntax: `An ENTRY is a domain (example.com) or a domain with a leading dot for all its
subdomains but not itself (.example.com), or an address literal ([192.0.2.1]).`,
		about: `rcpthosts lists the domains this server accepts mail for. A recipient whose
domain is in rcpthosts (or in morercpthosts.cdb) is taken as local and needs no
relay rights; every other recipient does. Add a domain here before (or when)
its MX record points at this server.`,
		gotchas: `Without rcpthosts, qmail-smtpd accepts every recipient from everyone: the server
is an open relay (IndiMail's run script refuses to start without the file).
morercpthosts.cdb is consulted only when rcpthosts exists. qmail reads this
file into memory for every connection; keep hundreds of domains in
morercpthosts instead.`,
		missing:     "qmail-smtpd accepts mail for every domain from every client: this server is an open relay",
		missingSev:  diag.Warning,
		missingHint: "qmailctl rcpthosts add YOUR-DOMAIN (every domain this server receives mail for)",
		listEx: `  # is example.org accepted here?
  qmailctl rcpthosts list | grep -ix example.org`,
		addEx: `  # accept mail for a new domain
  sudo qmailctl rcpthosts add example.org

  # and for its subdomains (lists.example.org, ...)
  sudo qmailctl rcpthosts add .example.org`,
		removeEx: `  # the domain moved to another provider
  sudo qmailctl rcpthosts remove example.org .example.org`,
	},
	{
		kind:  control.MoreRcptHosts,
		short: "List and edit control/morercpthosts, more accepted domains (compiled to a cdb)",
		syntax: `An ENTRY is a domain (example.com) or a domain with a leading dot for all its
subdomains but not itself (.example.com), as in rcpthosts.`,
		about: `morercpthosts lists more domains this server accepts mail for, with the syntax of
rcpthosts, for servers with too many domains to keep in rcpthosts. qmail-smtpd
never reads this text file: it reads morercpthosts.cdb, which qmail-cdb (or the
older qmail-newmrh) compiles from it.`,
		gotchas: `morercpthosts.cdb is consulted only when rcpthosts exists. If qmail-cdb -m moved
the text file to morercpthosts.bak, add refuses to start a new one that would
replace every record in the cdb: restore the .bak first.`,
		missing:    "only rcpthosts lists the domains accepted here",
		missingSev: diag.Info,
		listEx: `  # how many hosted domains are there?
  qmailctl morercpthosts list | wc -l`,
		addEx: `  # a new hosting customer's domain
  sudo qmailctl morercpthosts add customer.example`,
		removeEx: `  # the customer left
  sudo qmailctl morercpthosts remove customer.example`,
		cdb: alwaysCDB,
	},
}

// cdbText explains when add and remove rebuild the file's cdb.
func (s *controlSpec) cdbText() string {
	name, cdbName := s.kind.Name(), s.kind.CDBName()
	switch s.cdb {
	case alwaysCDB:
		return fmt.Sprintf(`add and remove rebuild %[2]s from the file, byte for byte what qmail-cdb
writes, unless --no-cdb. After editing %[1]s by hand, run qmailctl cdb.`, name, cdbName)
	case existingCDB:
		return fmt.Sprintf(`add and remove rebuild %[2]s when it exists, so that a removed sender
cannot go on relaying through a stale copy (IndiMail reads the cdb first). They
do not create one unless --cdb is given: IndiMail needs only the text file, a
cdb never matches @domain lines or patterns, and it is a second copy that a
later hand edit leaves stale. --no-cdb skips the rebuild. After editing %[1]s
by hand, run qmailctl cdb.`, name, cdbName)
	}
	return ""
}

// exitStatus is the EXIT STATUS section of a command's help, each meaning
// filled with a hanging indent.
func exitStatus(ok, perm, temp string) string {
	const indent = "       "
	line := func(code, text string) string {
		return fmt.Sprintf("  %-5s%s", code, wrap(text, len(indent), indent))
	}
	return strings.Join([]string{"EXIT STATUS",
		line("0", ok),
		line("1", `not used: these commands have no "no" answer`),
		line("100", perm),
		line("111", temp)}, "\n")
}

// Exit status texts shared by the groups, add and remove.
const (
	tempRead   = "the file or the directory could not be read"
	tempWrite  = "the control directory could not be read, locked (another qmailctl held it for --lock-timeout) or written, or the cdb could not be rebuilt; nothing was written"
	permUsage  = "--control-dir names no directory, or bad usage; nothing was written"
	permAdd    = "an ENTRY is invalid or already in the file, the file has invalid lines, " + permUsage
	permRemove = "an ENTRY is not in the file, the file would keep invalid lines, " + permUsage
	permGroup  = "an ENTRY is invalid, already there (add) or missing (remove), the file has invalid lines, " + permUsage
)

// helpWidth is the column help text is filled to.
const helpWidth = 79

// paragraphs joins the non-empty paragraphs of a help text, refilling each
// prose paragraph to helpWidth columns (texts are composed with fmt, so their
// line lengths vary). A paragraph with an indented line, or headed by a line
// in capitals (EXIT STATUS), is kept as written.
func paragraphs(ps ...string) string {
	var out []string
	for _, p := range ps {
		if p != "" {
			out = append(out, fill(p))
		}
	}
	return strings.Join(out, "\n\n")
}

func fill(p string) string {
	lines := strings.Split(p, "\n")
	if lines[0] == strings.ToUpper(lines[0]) {
		return p
	}
	for _, l := range lines {
		if strings.HasPrefix(l, " ") {
			return p
		}
	}
	return wrap(p, 0, "")
}

// wrap fills the words of text to helpWidth columns: the first line starts
// at column first, the others after indent.
func wrap(text string, first int, indent string) string {
	var b strings.Builder
	col, start := first, true
	for _, w := range strings.Fields(text) {
		switch {
		case start:
		case col+1+len(w) > helpWidth:
			b.WriteString("\n" + indent)
			col = len(indent)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
		start = false
	}
	return b.String()
}

// newControlCmds builds one command group per control file.
func (a *app) newControlCmds() []*cobra.Command {
	cmds := make([]*cobra.Command, 0, len(controlSpecs))
	for i := range controlSpecs {
		cmds = append(cmds, a.newControlGroup(&controlSpecs[i]))
	}
	return cmds
}

// newControlGroup builds `qmailctl NAME` with its list, add and remove
// subcommands.
func (a *app) newControlGroup(s *controlSpec) *cobra.Command {
	name := s.kind.Name()
	cmd := &cobra.Command{
		Use:   name,
		Short: s.short,
		Long: paragraphs(s.about, s.gotchas,
			fmt.Sprintf(`The file is control/%s in --control-dir (also $CONTROLDIR). qmail-smtpd reads
it afresh for every connection, so a change applies to the next connection and
nothing needs restarting. Edits keep comments, blank lines and the order of the
other lines byte for byte, take the control directory's lock and replace the
file atomically.`, name),
			s.cdbText(),
			exitStatus("success", permGroup, tempWrite)),
		Example: paragraphs(s.listEx, s.addEx, s.removeEx),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("%s: unknown command %q: expected list, add or remove (see %s --help)", cmd.CommandPath(), args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newControlListCmd(s), a.newControlAddCmd(s), a.newControlRemoveCmd(s))
	return cmd
}

// noArgs refuses positional arguments with a usage error (exit 100).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// needEntries requires at least one ENTRY (exit 100 otherwise).
func needEntries(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf("%s needs at least one ENTRY (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// controlEntryJSON is one entry as `list --json` prints it.
type controlEntryJSON struct {
	Line int `json:"line"`
	// Entry is the line as written, without trailing blanks or CR.
	Entry string `json:"entry"`
	// Key is what the line matches, without "!" and without ":value".
	Key string `json:"key"`
	// Value is the documented string appended to every recipient (the text
	// after the colon), or null for a line without a colon.
	Value   *string `json:"value"`
	Negate  bool    `json:"negate"`
	Pattern bool    `json:"pattern"`
	CRLF    bool    `json:"crlf"`
	// IndiMailMatches is false for lines IndiMail's qmail-smtpd never
	// matches (the colon form, a CRLF ending).
	IndiMailMatches bool `json:"indimail_matches"`
	// IndiMailAppend (relayclients, relaydomains) is what IndiMail really
	// appends to every recipient when the line matches.
	IndiMailAppend *indiMailAppendJSON `json:"indimail_append,omitempty"`
}

// indiMailAppendJSON is the string IndiMail appends to recipients: the next
// line's text, or unknown bytes (known false) after the last line.
type indiMailAppendJSON struct {
	Text  string `json:"text"`
	Known bool   `json:"known"`
}

// entryJSON describes e for list --json.
func entryJSON(s *controlSpec, e *control.Entry) controlEntryJSON {
	out := controlEntryJSON{
		Line: e.Line, Entry: strings.TrimSuffix(e.Text, "\r"), Key: e.Key,
		Negate: e.Negate, Pattern: e.Pattern(), CRLF: e.CR, IndiMailMatches: e.IndiMailMatches(),
	}
	if e.Colon {
		v := e.Value
		out.Value = &v
	}
	if s.colonForm() && e.IndiMailMatches() {
		text, known := e.IndiMailAppend()
		out.IndiMailAppend = &indiMailAppendJSON{Text: text, Known: known}
	}
	return out
}

// entryNotes is the notes column of the list table.
func entryNotes(s *controlSpec, e *control.Entry) string {
	var notes []string
	switch {
	case e.CR:
		notes = append(notes, "CRLF: never matches in IndiMail")
	case e.Colon:
		notes = append(notes, "colon form: never matches in IndiMail")
	}
	if e.Colon && e.Value != "" {
		notes = append(notes, fmt.Sprintf("documented: appends %q", e.Value))
	}
	if e.Negate {
		notes = append(notes, "negation")
	}
	if e.Pattern() {
		notes = append(notes, "wildmat pattern")
	}
	if s.colonForm() && e.IndiMailMatches() {
		if text, known := e.IndiMailAppend(); known {
			notes = append(notes, fmt.Sprintf("IndiMail appends %q", text))
		} else {
			notes = append(notes, "IndiMail appends stray bytes")
		}
	}
	return strings.Join(notes, "; ")
}

func (a *app) newControlListCmd(s *controlSpec) *cobra.Command {
	var asJSON bool
	name := s.kind.Name()
	appendField := ""
	if s.colonForm() {
		appendField = ", and indimail_append (what IndiMail really appends to recipients)"
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   fmt.Sprintf("List the entries of %s", name),
		Long: paragraphs(fmt.Sprintf(`List the entries of control/%s in file order: a table with line numbers and
notes on a terminal, one entry per line exactly as written when piped (for
grep, wc and while read), or with --json an array of objects with line, entry,
key, value (the documented append string, or null), negate, pattern, crlf and
indimail_matches (false for lines IndiMail never matches)%s.`, name, appendField),
			fmt.Sprintf(`Invalid and risky lines, a stale cdb, and a missing file (%s) are
reported on stderr; they do not change the exit status.`, s.missing),
			exitStatus(fmt.Sprintf("listed, also when %s is missing or has invalid lines", name),
				"bad usage, or --control-dir names no directory",
				tempRead)),
		Example:           s.listEx,
		Args:              noArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := a.controlDirectory()
			if err != nil {
				return err
			}
			f, probs, err := loadControl(s.kind, dir)
			if err != nil {
				return err
			}
			a.warn(probs)
			printProblems(a.stderr, fileState(s, f, dir), diag.Info)
			if asJSON {
				out := make([]controlEntryJSON, 0, len(f.Entries))
				for i := range f.Entries {
					out = append(out, entryJSON(s, &f.Entries[i]))
				}
				return a.printJSON(out)
			}
			if !a.tty {
				for _, e := range f.Entries {
					fmt.Fprintln(a.stdout, strings.TrimSuffix(e.Text, "\r"))
				}
				return nil
			}
			rows := make([][]string, 0, len(f.Entries))
			for i := range f.Entries {
				e := &f.Entries[i]
				rows = append(rows, []string{fmt.Sprint(e.Line), strings.TrimSuffix(e.Text, "\r"), entryNotes(s, e)})
			}
			return a.printTable([]string{"line", "entry", "notes"}, rows)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries as a JSON array")
	return cmd
}

// fileState describes, for list, a missing file and a stale or orphaned cdb.
func fileState(s *controlSpec, f *control.File, dir string) []diag.Problem {
	name, cdbName := s.kind.Name(), s.kind.CDBName()
	cdbPath := filepath.Join(dir, cdbName)
	hasCDB := cdbName != "" && exists(cdbPath)
	switch {
	case !f.Exists && hasCDB:
		return []diag.Problem{{Pos: diag.Pos{File: f.Path}, Severity: diag.Warning,
			Msg:  fmt.Sprintf("does not exist, but %s does: qmail-smtpd uses the cdb's records, which this list cannot show", cdbName),
			Hint: fmt.Sprintf("restore the source (qmail-cdb -m moves it to %s.bak)", name)}}
	case !f.Exists:
		return []diag.Problem{{Pos: diag.Pos{File: f.Path}, Severity: s.missingSev,
			Msg: "does not exist: " + s.missing, Hint: s.missingHint}}
	case cdbName == "" || !hasCDB && s.cdb == existingCDB:
		return nil
	case !hasCDB:
		return []diag.Problem{{Pos: diag.Pos{File: cdbPath}, Severity: diag.Warning,
			Msg:  fmt.Sprintf("does not exist: qmail-smtpd reads only the cdb, so it sees none of the entries of %s", name),
			Hint: "qmailctl cdb"}}
	}
	st, err := control.Stale(s.kind, dir)
	if err != nil {
		return []diag.Problem{{Pos: diag.Pos{File: cdbPath}, Severity: diag.Warning, Msg: err.Error()}}
	}
	stale, why := st.Stale(), st.Reason
	if !stale {
		return nil
	}
	return []diag.Problem{{Pos: diag.Pos{File: cdbPath}, Severity: diag.Warning,
		Msg:  "stale: " + why + "; qmail-smtpd still uses the old records",
		Hint: "qmailctl cdb"}}
}

// cdbFlags are add's and remove's choices about the file's cdb.
type cdbFlags struct {
	skip   bool // --no-cdb
	create bool // --cdb: create relaymailfrom.cdb if it does not exist
}

// register adds the flags that apply to the spec's cdb policy.
func (o *cdbFlags) register(cmd *cobra.Command, s *controlSpec) {
	if s.cdb == noCDB {
		return
	}
	cmd.Flags().BoolVar(&o.skip, "no-cdb", false, "edit the file only; do not rebuild "+s.kind.CDBName())
	if s.cdb == existingCDB {
		cmd.Flags().BoolVar(&o.create, "cdb", false, "also create "+s.kind.CDBName()+" if it does not exist")
	}
}

func (o *cdbFlags) check() error {
	if o.skip && o.create {
		return usageErrorf("--cdb and --no-cdb contradict each other")
	}
	return nil
}

func (a *app) newControlAddCmd(s *controlSpec) *cobra.Command {
	var o cdbFlags
	name := s.kind.Name()
	dupBy := ""
	if s.colonForm() {
		dupBy = " and by key, so 10.1.1. duplicates 10.1.1.:"
	}
	cmd := &cobra.Command{
		Use:   "add ENTRY...",
		Short: fmt.Sprintf("Add entries to %s", name),
		Long: paragraphs(fmt.Sprintf(`Append each ENTRY to control/%s as a new last line. %s`, name, s.syntax),
			fmt.Sprintf(`Every ENTRY is checked before anything is written: an invalid one is reported
as command line:N:COLUMN (N counts the ENTRYs) with what was expected, and the
command exits 100. An entry already in the file (compared without regard to
case%s) is refused the same way. A missing file is created with mode 0644. The
file is not edited while it has invalid lines: remove or fix them first.`, dupBy),
			s.gotchas, s.cdbText(),
			exitStatus("added", permAdd, tempWrite)),
		Example:           s.addEx,
		Args:              needEntries,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if err := a.validateEntries(s, args); err != nil {
				return err
			}
			return a.editControl(s, o, args, false)
		},
	}
	o.register(cmd, s)
	return cmd
}

func (a *app) newControlRemoveCmd(s *controlSpec) *cobra.Command {
	var o cdbFlags
	name := s.kind.Name()
	byKey := ""
	if s.colonForm() {
		byKey = ", so 10.1.1. also removes 10.1.1.:"
	}
	cmd := &cobra.Command{
		Use:     "remove ENTRY...",
		Aliases: []string{"rm"},
		Short:   fmt.Sprintf("Remove entries from %s", name),
		Long: paragraphs(fmt.Sprintf(`Delete every line of control/%s that an ENTRY names: by its text as list
shows it, or by its key%s, without regard to case. Invalid lines can be removed
by their text, which is how to repair a file qmailctl refuses to edit. Every
ENTRY must be in the file, or nothing is written. Comments, blank lines and
the other lines are kept byte for byte.`, name, byKey),
			s.cdbText(),
			exitStatus("removed", permRemove, tempWrite)),
		Example:           s.removeEx,
		Args:              needEntries,
		ValidArgsFunction: a.completeEntries(s),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			return a.editControl(s, o, args, true)
		},
	}
	o.register(cmd, s)
	return cmd
}

// completeEntries completes remove's arguments with the lines of the file,
// invalid ones included, each described by its line number.
func (a *app) completeEntries(s *controlSpec) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		f, probs, err := control.Load(s.kind, a.controlDir)
		if f == nil || err != nil && !isProblem(err) {
			return nil, cobra.ShellCompDirectiveError
		}
		given := func(t string) bool {
			for _, g := range args {
				if strings.EqualFold(g, t) {
					return true
				}
			}
			return false
		}
		var out []cobra.Completion
		add := func(text string, line int) {
			if !given(text) {
				out = append(out, cobra.CompletionWithDesc(text, fmt.Sprintf("line %d", line)))
			}
		}
		for _, e := range f.Entries {
			add(strings.TrimSuffix(e.Text, "\r"), e.Line)
		}
		for _, p := range probs {
			if p.Severity == diag.Error {
				add(strings.TrimRight(p.Text, " \t\r"), p.Line)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func isProblem(err error) bool {
	var p *diag.Problem
	return errors.As(err, &p)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// controlDirectory returns --control-dir, refusing one that does not exist:
// a wrong directory would make every file look missing (and rcpthosts
// missing means an open relay).
func (a *app) controlDirectory() (string, error) {
	fi, err := os.Stat(a.controlDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", badInput(fmt.Errorf("control directory %s does not exist", a.controlDir),
			"give the qmail control directory with --control-dir or $CONTROLDIR")
	case err != nil:
		return "", fmt.Errorf("control directory: %w", err)
	case !fi.IsDir():
		return "", badInput(fmt.Errorf("control directory %s is not a directory", a.controlDir),
			"give the qmail control directory with --control-dir or $CONTROLDIR")
	}
	return a.controlDir, nil
}

// loadControl reads a control file. Invalid lines are not an error here:
// they are among the problems, and editors refuse them themselves.
func loadControl(kind control.Kind, dir string) (*control.File, []diag.Problem, error) {
	f, probs, err := control.Load(kind, dir)
	if err != nil && !isProblem(err) {
		return nil, nil, err
	}
	return f, probs, nil
}

// validateEntries checks every ENTRY before the file is touched. Invalid
// entries are reported as command line:N:COLUMN, N counting the ENTRYs; so
// is an ENTRY given twice.
func (a *app) validateEntries(s *controlSpec, entries []string) error {
	var bad []diag.Problem
	for i, e := range entries {
		_, err := control.ValidateEntry(s.kind, e)
		var p *diag.Problem
		if errors.As(err, &p) {
			q := *p
			q.File, q.Line = "command line", i+1
			bad = append(bad, q)
		} else if err != nil {
			return err
		}
	}
	if len(bad) > 0 {
		printProblems(a.stderr, bad, diag.Error)
		n := "an invalid entry"
		if len(bad) > 1 {
			n = fmt.Sprintf("%d invalid entries", len(bad))
		}
		return &exitError{code: exitPerm, err: fmt.Errorf("%s: %s; nothing was written", s.kind.Name(), n)}
	}
	return nil
}

// refuseGivenTwice refuses an ENTRY that appears twice on the command line,
// which would otherwise be reported against a line not yet in the file.
func refuseGivenTwice(entries []string) error {
	for i, e := range entries {
		for _, f := range entries[:i] {
			if strings.EqualFold(strings.TrimRight(e, " \t"), strings.TrimRight(f, " \t")) {
				return badInput(fmt.Errorf("%q is given twice", e), "give each ENTRY once")
			}
		}
	}
	return nil
}

// editControl adds (or removes) entries to (from) the spec's file: under
// the locks of the control directory and of the source's own directory (the
// file may be a link to elsewhere) it loads the file, applies every edit,
// refuses a result with invalid lines, and writes it and the cdb (as the
// spec's policy says) as one transaction: nothing is written unless every
// entry can be added (removed) and the cdb can be built.
func (a *app) editControl(s *controlSpec, o cdbFlags, entries []string, remove bool) error {
	if err := refuseGivenTwice(entries); err != nil {
		return err
	}
	dir, err := a.controlDirectory()
	if err != nil {
		return err
	}
	src, cdbPath := filepath.Join(dir, s.kind.Name()), ""
	paths := []string{src}
	if s.kind.CDBName() != "" {
		cdbPath = filepath.Join(dir, s.kind.CDBName())
		paths = append(paths, cdbPath)
	}
	txn, err := safefile.Begin(a.lockTimeout, paths...)
	if err != nil {
		return err
	}
	defer txn.Close()
	f, probs, err := loadControl(s.kind, dir)
	if err != nil {
		return err
	}
	if !remove {
		if err := refuseNewSource(s, f, dir); err != nil {
			return err
		}
	}
	old := f.Bytes()
	data, err := applyEdits(f, entries, remove)
	if err != nil {
		return editError(s, err)
	}
	res, resProbs, err := control.Parse(s.kind, f.Path, data)
	if err != nil {
		return a.refuseInvalid(s, f.Path, probs, resProbs)
	}
	oldLines := splitLines(old)
	if !remove {
		for _, p := range resProbs {
			if p.Line > len(oldLines) {
				a.warn([]diag.Problem{p})
			}
		}
	}
	if err := txn.Stage(src, func(w *os.File) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	rebuilt, warning, err := stageCDB(s, o, txn, dir, data)
	if err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	if !f.Exists {
		fmt.Fprintf(a.stdout, "created %s\n", f.Path)
	}
	if remove {
		for _, r := range removedLines(oldLines, splitLines(data)) {
			fmt.Fprintf(a.stdout, "removed %s:%d: %s\n", f.Path, r.num, r.text)
		}
	} else {
		for _, e := range res.Entries {
			if e.Line > len(oldLines) {
				fmt.Fprintf(a.stdout, "added %s:%d: %s\n", f.Path, e.Line, e.Text)
			}
		}
	}
	if rebuilt >= 0 {
		fmt.Fprintf(a.stdout, "%s: %d records\n", cdbPath, rebuilt)
	}
	fmt.Fprint(a.stderr, warning)
	return nil
}

// refuseNewSource refuses to create the text source of a cdb that exists
// without it: qmail-cdb -m moves the source to .bak, and compiling a new
// source holding only the new entries would drop every record of the cdb.
func refuseNewSource(s *controlSpec, f *control.File, dir string) error {
	cdbName := s.kind.CDBName()
	if f.Exists || cdbName == "" || !exists(filepath.Join(dir, cdbName)) {
		return nil
	}
	name := s.kind.Name()
	return badInput(fmt.Errorf("%s does not exist, but %s does: a new %s would replace every record of the cdb with the new entries; nothing was written", f.Path, cdbName, name),
		fmt.Sprintf("restore the source first (qmail-cdb -m moves it to %s.bak): mv %s.bak %s", name, f.Path, f.Path))
}

// applyEdits applies Add (or Remove) for each entry in turn, each to the
// result of the one before, and returns the final content.
func applyEdits(f *control.File, entries []string, remove bool) ([]byte, error) {
	cur := f
	var data []byte
	for i, e := range entries {
		var err error
		if remove {
			data, err = cur.Remove(e)
		} else {
			data, err = cur.Add(e)
		}
		if err != nil {
			return nil, err
		}
		if i < len(entries)-1 {
			if cur, _, _ = control.Parse(f.Kind, f.Path, data); cur == nil {
				return nil, fmt.Errorf("%s: cannot parse the edited content", f.Path)
			}
		}
	}
	return data, nil
}

// editError gives the domain's refusals their hint.
func editError(s *controlSpec, err error) error {
	list := "qmailctl " + s.kind.Name() + " list"
	switch {
	case errors.Is(err, control.ErrDuplicate):
		return badInput(err, "nothing was written: the entry is already there ("+list+")")
	case errors.Is(err, control.ErrNotFound):
		return badInput(err, "nothing was written; "+list+" shows the entries")
	}
	return err
}

// refuseInvalid reports the invalid lines an edit would leave in the file,
// numbered as they are on disk, and refuses the edit.
func (a *app) refuseInvalid(s *controlSpec, path string, before, after []diag.Problem) error {
	left := map[string]bool{}
	for _, p := range after {
		if p.Severity == diag.Error {
			left[p.Text] = true
		}
	}
	var report []diag.Problem
	for _, p := range before {
		if p.Severity == diag.Error && left[p.Text] {
			report = append(report, p)
		}
	}
	if len(report) == 0 {
		report = after // cannot happen: edits only append or delete whole lines
	}
	printProblems(a.stderr, report, diag.Error)
	return &exitError{code: exitPerm,
		err:  fmt.Errorf("%s has invalid lines; nothing was written", path),
		hint: fmt.Sprintf("fix them by hand, or remove them too: qmailctl %s remove LINE...", s.kind.Name())}
}

// stageCDB stages the spec's cdb, compiled from data, the edited source, in
// txn, as its policy and the flags say. It returns the number of records,
// or -1 when the cdb is not rebuilt, with the warning to print once the edit
// is committed if the admin should know why. The cdb is built before
// anything is replaced: when it cannot be, the source is not replaced either.
func stageCDB(s *controlSpec, o cdbFlags, txn *safefile.Txn, dir string, data []byte) (int, string, error) {
	if s.cdb == noCDB {
		return -1, "", nil
	}
	name, cdbPath := s.kind.Name(), filepath.Join(dir, s.kind.CDBName())
	had := exists(cdbPath)
	switch {
	case s.cdb == existingCDB && !had && !o.create:
		return -1, "", nil
	case o.skip && had:
		return -1, fmt.Sprintf("qmailctl: warning: %s not rebuilt (--no-cdb): qmail-smtpd still uses its old records\n  hint: qmailctl cdb\n", cdbPath), nil
	case o.skip:
		return -1, fmt.Sprintf("qmailctl: warning: %s not built (--no-cdb): qmail-smtpd does not see %s until it is\n  hint: qmailctl cdb\n", cdbPath, name), nil
	}
	var n int
	err := txn.Stage(cdbPath, func(w *os.File) error {
		var err error
		n, _, err = control.WriteCDB(w, s.kind, filepath.Join(dir, name), data)
		return err
	})
	if err != nil {
		return -1, "", fmt.Errorf("%s not rebuilt, so %s was not changed either: %w", s.kind.CDBName(), name, err)
	}
	return n, "", nil
}

// numberedLine is a line of a file and its 1-based number.
type numberedLine struct {
	num  int
	text string
}

// splitLines splits content into lines without their newlines.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// removedLines returns the lines of old missing from new, which is old
// with whole lines deleted. Remove deletes every line with the same text
// together, so matching greedily in order finds exactly those.
func removedLines(old, new []string) []numberedLine {
	var out []numberedLine
	j := 0
	for i, l := range old {
		if j < len(new) && new[j] == l {
			j++
			continue
		}
		out = append(out, numberedLine{num: i + 1, text: strings.TrimRight(l, " \t\r")})
	}
	return out
}
