package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// This file generates the man pages (docs/man, section 8) and the shell
// completion scripts (completions/) from the command tree, through the
// hidden command
//
//	qmailctl __gen-docs --man DIR --completions DIR [--date YYYY-MM-DD] [--source TEXT]
//
// which scripts/gen-docs.sh runs. The pages are written as roff directly,
// not through Markdown, so that help texts written as plain text (as
// --help shows them) come out as written: prose paragraphs are filled,
// indented lines are kept as they are, "  - " and "  1. " lines become list
// items, and a paragraph headed by a line in capitals (EXIT STATUS) becomes
// a section of its own. The output depends only on the command tree and
// the options, never on the time, the machine or the environment, so a test
// can regenerate the pages and compare them byte for byte.

// manDate is the date in the committed man pages. It is fixed so that the
// pages are reproducible; packages pass the commit date instead (--date).
const manDate = "2026-11-26"

// manSection is the man section of every page: qmailctl is an administrator's
// tool, installed in /usr/sbin.
const manSection = "8"

// docsOptions are the parts of a man page that do not come from the commands.
type docsOptions struct {
	date   string // .TH date, YYYY-MM-DD; manDate when empty
	source string // .TH source, the footer's left side; "qmailctl" when empty
}

func (o docsOptions) withDefaults() docsOptions {
	if o.date == "" {
		o.date = manDate
	}
	if o.source == "" {
		o.source = "qmailctl"
	}
	return o
}

// newGenDocsCmd is the hidden qmailctl __gen-docs, run by scripts/gen-docs.sh.
func (a *app) newGenDocsCmd() *cobra.Command {
	var manDir, complDir string
	var o docsOptions
	cmd := &cobra.Command{
		Use:    "__gen-docs",
		Short:  "Write the man pages and the shell completion scripts (for scripts/gen-docs.sh)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if manDir == "" && complDir == "" {
				return usageErrorf("__gen-docs: give --man DIR, --completions DIR or both")
			}
			if o.date != "" {
				if _, err := time.Parse(time.DateOnly, o.date); err != nil {
					return usageErrorf("__gen-docs: --date %q: expected YYYY-MM-DD", o.date)
				}
			}
			if manDir != "" {
				if err := genManPages(cmd.Root(), manDir, o); err != nil {
					return err
				}
			}
			if complDir != "" {
				return genCompletions(cmd.Root(), complDir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "write one man page per command into `DIR`, removing pages of commands that are gone")
	cmd.Flags().StringVar(&complDir, "completions", "", "write the bash, zsh and fish completion scripts into `DIR`")
	cmd.Flags().StringVar(&o.date, "date", "", "date of the pages, YYYY-MM-DD (default "+manDate+")")
	cmd.Flags().StringVar(&o.source, "source", "", `footer source, e.g. "qmailctl 1.2.0" (default "qmailctl")`)
	return cmd
}

// completionFiles are the completion scripts, by file name, as packages
// install them (bash-completion, zsh vendor-completions, fish
// vendor_completions.d).
var completionFiles = []struct {
	name string
	gen  func(root *cobra.Command, w *bytes.Buffer) error
}{
	{"qmailctl.bash", func(root *cobra.Command, w *bytes.Buffer) error { return root.GenBashCompletionV2(w, true) }},
	{"_qmailctl", func(root *cobra.Command, w *bytes.Buffer) error { return root.GenZshCompletion(w) }},
	{"qmailctl.fish", func(root *cobra.Command, w *bytes.Buffer) error { return root.GenFishCompletion(w, true) }},
}

// genCompletions writes the completion scripts into dir.
func genCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range completionFiles {
		var b bytes.Buffer
		if err := f.gen(root, &b); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// genManPages writes a page for every command and help topic into dir, and
// removes the qmailctl*.8 pages there of commands that no longer exist.
func genManPages(root *cobra.Command, dir string, o docsOptions) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pages := manPages(root, o)
	for name, page := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), page, 0o644); err != nil {
			return err
		}
	}
	old, err := filepath.Glob(filepath.Join(dir, "qmailctl*."+manSection))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, ok := pages[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// manPages renders every page, by file name.
func manPages(root *cobra.Command, o docsOptions) map[string][]byte {
	o = o.withDefaults()
	// What cobra adds when a command runs, added to every command here, so
	// that the pages do not depend on which command ran (__gen-docs or a
	// test) and their synopses match --help.
	root.InitDefaultVersionFlag()
	cmds := documented(root)
	for _, c := range cmds {
		c.InitDefaultHelpFlag()
	}
	pages := map[string][]byte{}
	for _, c := range cmds {
		pages[manName(c)+"."+manSection] = genManPage(c, o)
	}
	return pages
}

// documented lists root and every command and help topic under it that
// gets a man page: not hidden, not help, not cobra's completion command
// (the scripts are installed; the root page says so).
func documented(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		out = append(out, c)
		for _, sub := range children(c) {
			walk(sub)
		}
	}
	walk(root)
	return out
}

// children are the subcommands and help topics of c that are documented.
func children(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() && !sub.IsAdditionalHelpTopicCommand() || isBuiltin(sub) {
			continue
		}
		out = append(out, sub)
	}
	return out
}

// isBuiltin reports whether c is one of the commands cobra adds.
func isBuiltin(c *cobra.Command) bool {
	return c.HasParent() && !c.Parent().HasParent() && (c.Name() == "help" || c.Name() == "completion")
}

// isTopic reports whether c is a help topic: text only, nothing to run.
func isTopic(c *cobra.Command) bool { return c.HasParent() && c.IsAdditionalHelpTopicCommand() }

// manName is the page name: qmailctl, qmailctl-tcp-add, ...
func manName(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "-") }

// manRef is a cross reference such as qmailctl-tcp(8).
func manRef(c *cobra.Command) string { return manName(c) + "(" + manSection + ")" }

// seeAlsoExternal are the pages of the classic tools that each command group
// works with, by the name of the group (the root under "").
var seeAlsoExternal = map[string][]string{
	"":              {"tcprules(1)", "tcprulescheck(1)", "tcpserver(1)", "qmail-control(5)", "qmail-smtpd(8)"},
	"cdb":           {"tcprules(1)", "tcpserver(1)", "cdbmake(1)"},
	"tcp":           {"tcprules(1)", "tcprulescheck(1)", "tcpserver(1)"},
	"relay":         {"tcpserver(1)", "qmail-control(5)", "qmail-smtpd(8)"},
	"rcpthosts":     {"qmail-control(5)", "qmail-smtpd(8)"},
	"morercpthosts": {"qmail-control(5)", "qmail-smtpd(8)"},
	"relayclients":  {"qmail-control(5)", "qmail-smtpd(8)"},
	"relaydomains":  {"qmail-control(5)", "qmail-smtpd(8)"},
	"relaymailfrom": {"qmail-control(5)", "qmail-smtpd(8)"},
}

// rootEnvironment and rootFiles are sections of qmailctl(8) only.
const rootEnvironment = `CONTROLDIR
  The qmail control directory when --control-dir is not given, as for
  IndiMail's own tools.

QMAILCTL_RELAY_DB
  The relay table when --relay-db is not given: a mysql:// DSN (IndiMail's
  MySQL relay table) or the path of an SQLite file.`

const rootFiles = `/etc/indimail/tcp/tcp.smtp
/etc/indimail/tcp/tcp.smtp.cdb
  IndiMail's tcprules file for qmail-smtpd and the cdb that tcpserver -x reads
  (the other tcp.* files there are compiled alike). Classic qmail keeps them
  in /etc (--tcp-dir).

/etc/indimail/control
/var/qmail/control
  The control directory (--control-dir, $CONTROLDIR): rcpthosts,
  morercpthosts and morercpthosts.cdb, relayclients, relaydomains,
  relaymailfrom and relaymailfrom.cdb.

/usr/share/bash-completion/completions/qmailctl
/usr/share/zsh/vendor-completions/_qmailctl
/usr/share/fish/vendor_completions.d/qmailctl.fish
  Shell completion, as installed by the packages; qmailctl completion bash
  (zsh, fish) prints the same scripts.`

// genManPage renders the page of one command or help topic.
func genManPage(c *cobra.Command, o docsOptions) []byte {
	w := &roff{}
	w.line(fmt.Sprintf(`.TH "%s" "%s" "%s" "%s" "System Manager's Manual"`,
		escape(strings.ToUpper(manName(c))), manSection, o.date, escape(o.source)))
	w.line(".nh")
	w.line(".ad l")

	w.section("NAME")
	w.line(escape(manName(c)) + ` \- ` + escape(c.Short))

	w.section("SYNOPSIS")
	writeSynopsis(w, c)

	desc, sections := splitSections(c.Long)
	if strings.TrimSpace(desc) == "" {
		desc = sentence(c.Short)
	}
	w.section("DESCRIPTION")
	w.text(desc)
	if len(c.Aliases) > 0 {
		w.paragraph()
		alias := c.Parent().CommandPath() + " " + c.Aliases[0]
		w.line("Also available as " + bold(alias) + ".")
	}

	if subs := children(c); len(subs) > 0 && !isTopic(c) {
		w.section("COMMANDS")
		for _, sub := range subs {
			if isTopic(sub) && !c.HasParent() {
				continue // listed under SEE ALSO
			}
			name, args, _ := strings.Cut(sub.Use, " ")
			w.line(".TP")
			w.line(strings.TrimSpace(bold(name) + " " + escape(args)))
			w.line(escape(sentence(sub.Short)))
		}
	}

	if !isTopic(c) {
		writeOptions(w, "OPTIONS", c.NonInheritedFlags())
		if c.HasParent() {
			writeOptions(w, "INHERITED OPTIONS", c.InheritedFlags())
		}
	}

	// EXIT STATUS: the command's own, else the one every command shares.
	exit, hasExit := sections["EXIT STATUS"]
	if !hasExit && !isTopic(c) {
		exit = exitStatusBody()
	}
	if exit != "" {
		w.section("EXIT STATUS")
		w.text(exit)
	}
	if !c.HasParent() {
		w.section("ENVIRONMENT")
		w.definitions(rootEnvironment)
		w.section("FILES")
		w.definitions(rootFiles)
	}
	for _, name := range sectionOrder(c.Long) {
		if name == "EXIT STATUS" {
			continue
		}
		w.section(name)
		w.text(sections[name])
	}

	if c.Example != "" {
		w.section("EXAMPLES")
		w.example(c.Example)
	}

	w.section("SEE ALSO")
	w.refs(seeAlso(c))
	return w.Bytes()
}

// sentence ends s with a full stop.
func sentence(s string) string {
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?:") {
		return s
	}
	return s + "."
}

// exitStatusBody is the shared EXIT STATUS without its heading.
func exitStatusBody() string {
	_, s := splitSections(exitStatusTable())
	return s["EXIT STATUS"]
}

// seeAlso lists the parent page, the subcommands' pages, for the root the
// help topics, then the classic tools' pages.
func seeAlso(c *cobra.Command) []string {
	var refs []string
	if c.HasParent() {
		refs = append(refs, manRef(c.Parent()))
	}
	for _, sub := range children(c) {
		refs = append(refs, manRef(sub))
	}
	top := c
	for top.HasParent() && top.Parent().HasParent() {
		top = top.Parent()
	}
	group := ""
	if top.HasParent() {
		group = top.Name()
	}
	ext, ok := seeAlsoExternal[group]
	if !ok {
		ext = []string{"qmail-smtpd(8)"}
	}
	ext = slices.Clone(ext)
	slices.SortStableFunc(ext, func(x, y string) int {
		if sx, sy := refSection(x), refSection(y); sx != sy {
			return strings.Compare(sx, sy)
		}
		return strings.Compare(x, y)
	})
	return append(refs, ext...)
}

func refSection(ref string) string {
	_, s, _ := strings.Cut(ref, "(")
	return s
}

// writeSynopsis writes the usage lines: one for a command, one per
// subcommand for a group, and the help form for a topic.
func writeSynopsis(w *roff, c *cobra.Command) {
	use := func(cmd *cobra.Command) {
		rest := strings.TrimPrefix(cmd.UseLine(), cmd.CommandPath())
		w.line(bold(cmd.CommandPath()) + escape(rest))
		w.line(".br")
	}
	switch {
	case !c.HasParent():
		w.line(bold(c.Name()) + ` [\fIoptions\fR] \fIcommand\fR [\fIarguments\fR]`)
		w.line(".br")
		w.line(bold(c.Name()+" help") + ` [\fIcommand\fR | \fItopic\fR]`)
		w.line(".br")
		w.line(bold(c.Name() + " --version"))
	case isTopic(c):
		w.line(bold(c.Root().Name() + " help " + strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")))
	case c.HasAvailableSubCommands():
		if c.Runnable() {
			use(c)
		}
		for _, sub := range children(c) {
			if !isTopic(sub) {
				use(sub)
			}
		}
	default:
		use(c)
	}
}

// writeOptions writes the flags of set under heading, in name order.
func writeOptions(w *roff, heading string, set *pflag.FlagSet) {
	var flags []*pflag.Flag
	set.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" || f.Name == "help" {
			return
		}
		flags = append(flags, f)
	})
	if len(flags) == 0 {
		return
	}
	w.section(heading)
	for _, f := range flags {
		name, usage := pflag.UnquoteUsage(f)
		switch name {
		case "stringArray", "stringSlice":
			name = "string"
		}
		head := bold("--" + f.Name)
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			head = bold("-"+f.Shorthand) + ", " + head
		}
		switch {
		case f.Value.Type() == "bool":
		case f.NoOptDefVal != "":
			head += `[=\fI` + escape(name) + `\fR]`
		default:
			head += ` \fI` + escape(name) + `\fR`
		}
		w.line(".TP")
		w.line(head)
		text := usage
		if d := docDefault(f); d != "" {
			text += " (default: " + d + ")"
		}
		w.line(escape(text))
	}
}

// docDefault is the default a page shows for f: its documented default
// (setDocDefault), else its value unless that is the zero value.
func docDefault(f *pflag.Flag) string {
	if d, ok := f.Annotations[docDefaultAnnotation]; ok {
		return strings.Join(d, "") // "" shows no default
	}
	switch f.DefValue {
	case "", "false", "0", "[]", "0s":
		return ""
	}
	if f.Value.Type() == "string" {
		return fmt.Sprintf("%q", f.DefValue)
	}
	return f.DefValue
}

// headingRE matches a heading line in a help text: capitals only.
var headingRE = regexp.MustCompile(`^[A-Z][A-Z /-]*[A-Z]$`)

// splitSections splits a help text into the description and the sections
// headed by a line in capitals (EXIT STATUS, NOTES, ...). A heading with
// text under it takes that paragraph; a heading alone in its paragraph takes
// the paragraphs up to the next heading. A paragraph that starts with "Exit
// status" is the EXIT STATUS section when there is no such heading.
func splitSections(long string) (desc string, sections map[string]string) {
	sections = map[string]string{}
	var descParas []string
	current, open := "", false // open: the heading was alone and takes what follows
	var exitPara string
	for _, p := range splitParagraphs(long) {
		first, rest, _ := strings.Cut(p, "\n")
		switch {
		case headingRE.MatchString(first) && len(first) >= 4:
			current, open = first, rest == ""
			if rest != "" {
				sections[current] = rest
			}
			continue
		case open:
			sections[current] = joinParas(sections[current], p)
			continue
		}
		if exitPara == "" && strings.HasPrefix(strings.ToLower(p), "exit status") {
			exitPara = p
			continue
		}
		descParas = append(descParas, p)
	}
	if _, ok := sections["EXIT STATUS"]; !ok && exitPara != "" {
		// "Exit status: 0 when ..." reads "0 when ..." under its heading.
		if rest, ok := cutPrefixFold(exitPara, "exit status:"); ok {
			exitPara = strings.TrimLeft(rest, " \n")
		}
		sections["EXIT STATUS"] = exitPara
	} else if exitPara != "" {
		descParas = append(descParas, exitPara)
	}
	return strings.Join(descParas, "\n\n"), sections
}

// sectionOrder lists the section headings of a help text in order.
func sectionOrder(long string) []string {
	var names []string
	for _, p := range splitParagraphs(long) {
		first, _, _ := strings.Cut(p, "\n")
		if headingRE.MatchString(first) && len(first) >= 4 && !slices.Contains(names, first) {
			names = append(names, first)
		}
	}
	return names
}

// cutPrefixFold is strings.CutPrefix, ignoring the case of ASCII letters.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func joinParas(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}

// splitParagraphs splits text at blank lines, dropping trailing spaces.
func splitParagraphs(text string) []string {
	var paras []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, l := range strings.Split(strings.ReplaceAll(text, "\t", "        "), "\n") {
		l = strings.TrimRight(l, " ")
		if l == "" {
			flush()
			continue
		}
		cur = append(cur, l)
	}
	flush()
	return paras
}

// roff accumulates a man page.
type roff struct {
	bytes.Buffer
	fresh bool // at the start of a section: no paragraph break needed
}

func (w *roff) line(s string) { w.WriteString(s + "\n") }

func (w *roff) section(name string) {
	if strings.Contains(name, " ") {
		w.line(`.SH "` + name + `"`)
	} else {
		w.line(".SH " + name)
	}
	w.fresh = true
}

// paragraph starts a new paragraph unless the section has just begun.
func (w *roff) paragraph() {
	if !w.fresh {
		w.line(".PP")
	}
	w.fresh = false
}

// refs writes cross references, comma-separated.
func (w *roff) refs(refs []string) {
	for i, r := range refs {
		name, sec, _ := strings.Cut(r, "(")
		sep := ","
		if i == len(refs)-1 {
			sep = ""
		}
		w.line(fmt.Sprintf(".BR %s (%s%s", escape(name), sec, sep))
	}
}

var (
	bulletRE   = regexp.MustCompile(`^(\s+)([-*•])\s+(.*)$`)
	numberedRE = regexp.MustCompile(`^(\s+)(\d+[.)])\s+(.*)$`)
	exitCodeRE = regexp.MustCompile(`^(\s+)(\d{1,3})\s{2,}(.*)$`)
)

// text writes a help text: prose lines (starting in column 0) are filled,
// "  - item" and "  1. item" lines become list items and "  0    meaning"
// lines tagged paragraphs (their more indented continuation lines joined to
// them), and other indented lines are kept as written.
func (w *roff) text(s string) {
	for _, p := range splitParagraphs(s) {
		w.paragraph()
		lines := strings.Split(p, "\n")
		indentAll := commonIndent(lines)
		state := "" // "prose", "item", "pre"
		itemIndent := 0
		var run []string // prose or item text, written as one line
		flush := func() {
			if len(run) > 0 {
				w.line(escape(strings.Join(run, " ")))
				run = nil
			}
		}
		for _, l := range lines {
			indent := len(l) - len(strings.TrimLeft(l, " "))
			if state == "item" && indent > itemIndent && !isItem(l) || state == "prose" && indent == 0 {
				run = append(run, strings.TrimSpace(l))
				continue
			}
			flush()
			if state == "pre" && (indent == 0 || isItem(l)) {
				w.line(".fi")
				w.line(".RE")
				state = ""
			}
			switch {
			case indent == 0:
				if state == "item" {
					w.line(".PP")
				}
				state = "prose"
				run = append(run, l)
			case exitCodeRE.MatchString(l):
				m := exitCodeRE.FindStringSubmatch(l)
				w.line(".TP")
				w.line(".B " + m[2])
				run = append(run, m[3])
				state, itemIndent = "item", len(m[1])
			case bulletRE.MatchString(l):
				m := bulletRE.FindStringSubmatch(l)
				w.line(`.IP \(bu 2`)
				run = append(run, m[3])
				state, itemIndent = "item", len(m[1])
			case numberedRE.MatchString(l):
				m := numberedRE.FindStringSubmatch(l)
				w.line(".IP " + m[2] + " 4")
				run = append(run, m[3])
				state, itemIndent = "item", len(m[1])
			default:
				if state != "pre" {
					if state == "item" {
						w.line(".PP")
					}
					w.line(".RS 4")
					w.line(".nf")
					state = "pre"
				}
				w.line(escape(strings.TrimPrefix(l, indentAll)))
			}
		}
		flush()
		if state == "pre" {
			w.line(".fi")
			w.line(".RE")
		}
	}
}

// example writes a command's Example: preformatted, at the section's
// indentation, blank lines between the examples kept.
func (w *roff) example(s string) {
	lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
	indent := commonIndent(lines)
	w.line(".nf")
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" {
			w.line("")
			continue
		}
		w.line(escape(strings.TrimPrefix(l, indent)))
	}
	w.line(".fi")
	w.fresh = false
}

// definitions writes a list of terms (lines in column 0, such as a variable
// or file names) each followed by its indented description.
func (w *roff) definitions(s string) {
	for _, p := range splitParagraphs(s) {
		var terms, desc []string
		for _, l := range strings.Split(p, "\n") {
			if strings.HasPrefix(l, " ") {
				desc = append(desc, strings.TrimSpace(l))
			} else {
				terms = append(terms, l)
			}
		}
		for i, t := range terms {
			if i == 0 {
				w.line(".TP")
			} else {
				w.line(".TQ")
			}
			w.line(`\fB` + escape(t) + `\fR`)
		}
		w.line(escape(strings.Join(desc, " ")))
	}
	w.fresh = false
}

func isItem(l string) bool {
	return exitCodeRE.MatchString(l) || bulletRE.MatchString(l) || numberedRE.MatchString(l)
}

// commonIndent is the indentation shared by the indented lines.
func commonIndent(lines []string) string {
	common := -1
	for _, l := range lines {
		n := len(l) - len(strings.TrimLeft(l, " "))
		if n > 0 && (common < 0 || n < common) {
			common = n
		}
	}
	if common < 0 {
		return ""
	}
	return strings.Repeat(" ", common)
}

// escape makes text safe in roff: backslashes, hyphens (kept as ASCII
// minus signs so that options can be copied), quotes that groff would
// typeset, and a leading dot or apostrophe, which would start a request.
var escaper = strings.NewReplacer(
	`\`, `\e`,
	`-`, `\-`,
	`'`, `\(aq`,
	"`", `\(ga`,
	`^`, `\(ha`,
	`~`, `\(ti`,
)

func escape(s string) string {
	s = escaper.Replace(s)
	if strings.HasPrefix(s, ".") {
		s = `\&` + s
	}
	return s
}

// bold is s in bold.
func bold(s string) string { return `\fB` + escape(s) + `\fR` }
