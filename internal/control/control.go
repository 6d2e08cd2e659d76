// Package control reads, validates, looks up and edits the qmail/IndiMail
// control files that decide relaying: relayclients, relaydomains,
// relaymailfrom (and relaymailfrom.cdb), rcpthosts, and morercpthosts (the
// source of morercpthosts.cdb).
//
// Every lookup answers twice: with the documented meaning of the file, which
// is what the admin meant, and with what IndiMail's qmail-smtpd code really
// does (see docs/relay.md), so that callers can warn where the
// two differ. The package only models; it prints nothing. Bad lines are
// reported as diag.Problem values with file:line:column.
package control

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// Kind names one of the control files this package understands.
type Kind int

// The control files that decide relaying.
const (
	// RelayClients lists client IP addresses and dotted prefixes allowed to relay.
	RelayClients Kind = iota + 1
	// RelayDomains lists client host names (TCPREMOTEHOST) allowed to relay.
	RelayDomains
	// RelayMailFrom lists envelope senders allowed to relay: addresses,
	// @domain, or wildmat patterns with optional "!" negation.
	RelayMailFrom
	// RcptHosts lists the recipient domains accepted as local.
	RcptHosts
	// MoreRcptHosts is the text source of morercpthosts.cdb (same syntax as
	// rcpthosts); qmail-smtpd itself reads only the cdb.
	MoreRcptHosts
)

var kindNames = [...]string{
	RelayClients:  "relayclients",
	RelayDomains:  "relaydomains",
	RelayMailFrom: "relaymailfrom",
	RcptHosts:     "rcpthosts",
	MoreRcptHosts: "morercpthosts",
}

// Kinds lists every Kind, in the order qmail-smtpd consults the files.
func Kinds() []Kind {
	return []Kind{RelayClients, RelayDomains, RelayMailFrom, RcptHosts, MoreRcptHosts}
}

// Name is the file's name in the control directory, e.g. "relayclients".
func (k Kind) Name() string {
	if k < RelayClients || k > MoreRcptHosts {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// String is the same as Name.
func (k Kind) String() string { return k.Name() }

// CDBName is the name of the cdb compiled from this file ("relaymailfrom.cdb",
// "morercpthosts.cdb"), or "" for files qmail-smtpd reads only as text.
func (k Kind) CDBName() string {
	switch k {
	case RelayMailFrom, MoreRcptHosts:
		return k.Name() + ".cdb"
	}
	return ""
}

// ParseKind returns the Kind whose Name is name.
func ParseKind(name string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.Name() == name {
			return k, true
		}
	}
	return 0, false
}

// hasColonForm reports whether the documented format of the file is
// "KEY:append-string" (relayclients and relaydomains).
func (k Kind) hasColonForm() bool { return k == RelayClients || k == RelayDomains }

// Entry is one line that qmail-smtpd stores from a control file.
type Entry struct {
	// Key is what the line matches: an IP address or dotted prefix, a host
	// or .domain, an address, @domain or wildmat pattern, or a recipient
	// domain. It has no "!" (see Negate), no ":value" (see Colon) and no
	// trailing CR.
	Key string
	// Value is the documented string appended to every recipient, the text
	// after the first colon (relayclients and relaydomains only).
	Value string
	// Colon is set when the line has the documented "KEY:VALUE" form, which
	// IndiMail's qmail-smtpd never matches (it uses the whole line as key).
	Colon bool
	// Negate is set for a relaymailfrom line starting with "!".
	Negate bool
	// Line is the 1-based line number in the file.
	Line int
	// Text is the line as qmail-smtpd stores it: trailing spaces and TABs
	// stripped, nothing else changed.
	Text string
	// CR is set when the line ended in "\r" (a CRLF file). IndiMail keeps
	// the "\r" in the key, so the line never matches there.
	CR bool

	kind    Kind
	next    string // IndiMail's constmap value: the next stored line
	pastEnd bool   // no next stored line: the value lies past the file's data
}

// IndiMailMatches reports whether IndiMail's qmail-smtpd can ever match this
// line: not when it has the documented colon form (the colon becomes part of
// the key) nor when it ends in "\r".
func (e *Entry) IndiMailMatches() bool { return !e.Colon && !e.CR }

// IndiMailAppend is what IndiMail appends to every recipient when this
// relayclients or relaydomains line matches: constmap returns the text just
// past the key, which is the next stored line. known is false for the last
// stored line, whose "value" is whatever lies past the file's data in memory.
func (e *Entry) IndiMailAppend() (s string, known bool) { return e.next, !e.pastEnd }

// Pattern reports whether a relaymailfrom line is a wildmat pattern (it
// contains *, ?, [ or \) rather than an address or @domain.
func (e *Entry) Pattern() bool { return e.kind == RelayMailFrom && hasWildmatMeta(e.Key) }

// body names the entry as an admin writes it: Key, after "!" for a
// negation (without the ":value" and without a trailing CR).
func (e *Entry) body() string {
	if e.Negate {
		return "!" + e.Key
	}
	return e.Key
}

// File is a parsed control file. It keeps every line, comments and invalid
// lines included, so that Add and Remove change nothing else.
type File struct {
	Kind Kind
	// Path is the file's path as given to Load or Parse, used in positions.
	Path string
	// Exists is false when the file is missing, which means "feature off"
	// (for rcpthosts: an open relay). An empty file exists.
	Exists bool
	// Entries are the valid stored lines, in file order. Invalid lines are
	// reported by Parse and kept only for editing.
	Entries []Entry

	lines []rawLine
}

// rawLine is one line of the file exactly as read.
type rawLine struct {
	text string   // without its newline
	nl   bool     // it ended in "\n"
	ids  []string // lower-cased names Add and Remove know it by; nil for comments and blank lines
}

// Bytes returns the file's content exactly as parsed.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l.text)
		if l.nl {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// Load reads and parses kind.Name() in the control directory dir. A missing
// file is not an error: the result has Exists false. The error is an I/O
// error, or the first invalid line as a *diag.Problem (the File and every
// problem are returned with it).
func Load(kind Kind, dir string) (*File, []diag.Problem, error) {
	path := filepath.Join(dir, kind.Name())
	data, err := safefile.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Kind: kind, Path: path}, nil, nil
	}
	if safefile.Refused(err) {
		return nil, nil, err // it names the file and what is wrong
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", kind.Name(), err)
	}
	return Parse(kind, path, data)
}

// Parse parses the content of a control file of the given kind; path is used
// in positions. It reads lines the way IndiMail's control_readfile does:
// trailing spaces and TABs are stripped, empty lines and lines starting with
// "#" are skipped. It returns the File (always), every problem in line order
// (errors for invalid lines, warnings for lines that are risky or that
// IndiMail treats differently from its documentation), and, as error, the
// first invalid line as a *diag.Problem.
func Parse(kind Kind, path string, data []byte) (*File, []diag.Problem, error) {
	if kind < RelayClients || kind > MoreRcptHosts {
		return nil, nil, fmt.Errorf("parse %s: unknown kind %d", path, int(kind))
	}
	f := &File{Kind: kind, Path: path, Exists: true}
	var problems []diag.Problem
	add := func(num int, raw string, sev diag.Severity, fd *finding) {
		problems = append(problems, fd.problem(path, num, raw, sev))
	}
	var stored []int // indexes into f.lines of the lines IndiMail keeps
	entryOf := map[int]int{}
	for num := 1; len(data) > 0; num++ {
		var l rawLine
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l.text, l.nl, data = string(data[:i]), true, data[i+1:]
		} else {
			l.text, data = string(data), nil
		}
		f.lines = append(f.lines, l)
		text := trimBlanks(l.text)
		if text == "" || text[0] == '#' {
			continue
		}
		stored = append(stored, num-1)
		body, cr := text, false
		if strings.HasSuffix(text, "\r") {
			cr = true
			body = trimBlanks(strings.TrimSuffix(text, "\r"))
			add(num, l.text, diag.Warning, &finding{col: len(text),
				msg:  `CRLF line ending: IndiMail keeps the "\r" as part of the line, so it never matches`,
				hint: "convert the file to Unix line endings (dos2unix " + kind.Name() + ")"})
			if body == "" {
				continue
			}
		}
		f.lines[num-1].ids = []string{LowerASCII(body)}
		res, fd := check(kind, body)
		if fd != nil {
			if fd.hint == "" {
				fd.hint = "qmailctl " + kind.Name() + " remove " + diag.ShellQuote(body)
			}
			add(num, l.text, diag.Error, fd)
			continue
		}
		f.lines[num-1].ids = append(f.lines[num-1].ids, LowerASCII(res.identity()))
		for i := range res.warns {
			add(num, l.text, diag.Warning, &res.warns[i])
		}
		entryOf[num-1] = len(f.Entries)
		f.Entries = append(f.Entries, Entry{
			Key: res.key, Value: res.value, Colon: res.colon, Negate: res.negate,
			Line: num, Text: text, CR: cr, kind: kind,
		})
	}
	// constmap's value for a whole-line key is the next stored line.
	for i, li := range stored {
		ei, ok := entryOf[li]
		if !ok {
			continue
		}
		if i+1 < len(stored) {
			f.Entries[ei].next = trimBlanks(f.lines[stored[i+1]].text)
		} else {
			f.Entries[ei].pastEnd = true
		}
	}
	problems = append(problems, f.crossLineWarnings()...)
	sort.SliceStable(problems, func(i, j int) bool {
		if problems[i].Line != problems[j].Line {
			return problems[i].Line < problems[j].Line
		}
		return problems[i].Col < problems[j].Col
	})
	for i := range problems {
		if problems[i].Severity == diag.Error {
			p := problems[i]
			return f, problems, &p
		}
	}
	return f, problems, nil
}

// crossLineWarnings finds problems that need more than one line: duplicates,
// IndiMail's constmap quirks, and relaymailfrom negations that cannot work.
func (f *File) crossLineWarnings() []diag.Problem {
	var out []diag.Problem
	warn := func(e *Entry, col int, msg, hint string) {
		fd := finding{col: col, msg: msg, hint: hint}
		out = append(out, fd.problem(f.Path, e.Line, f.lines[e.Line-1].text, diag.Warning))
	}
	seen := map[string]*Entry{}
	for i := range f.Entries {
		e := &f.Entries[i]
		id := LowerASCII(e.identity(f.Kind))
		if first, ok := seen[id]; ok {
			warn(e, 1, fmt.Sprintf("duplicate of line %d (%s)", first.Line, quoteText(first.Text)),
				"qmailctl "+f.Kind.Name()+" remove "+diag.ShellQuote(e.body())+" removes both; add it back once")
		} else {
			seen[id] = e
		}
	}
	switch f.Kind {
	case RelayClients, RelayDomains:
		for i := range f.Entries {
			e := &f.Entries[i]
			hint := tcpHint(f.Kind, e.Key)
			switch {
			case e.Colon:
				msg := "IndiMail's qmail-smtpd never matches a line with a colon: it reads the whole line, colon included, as the key"
				if e.Value != "" {
					msg += fmt.Sprintf("; the documented meaning appends %s to every recipient", quoteText(e.Value))
				}
				warn(e, len(e.Key)+1, msg, hint)
			case e.CR:
			case e.pastEnd:
				warn(e, 1, "when this line matches, IndiMail appends unpredictable bytes (whatever follows the file's data in memory) to every recipient", hint)
			default:
				warn(e, 1, fmt.Sprintf("when this line matches, IndiMail appends the next line's text %s to every recipient", quoteText(e.next)), hint)
			}
		}
	case RelayMailFrom:
		for i := range f.Entries {
			e := &f.Entries[i]
			if !e.Negate {
				continue
			}
			if o := f.overriddenBy(e); o != nil {
				warn(e, 1, fmt.Sprintf("this negation cannot override line %d (%s): IndiMail checks exact addresses and @domain lines before any pattern", o.Line, quoteText(o.Text)),
					"remove line "+fmt.Sprint(o.Line)+" and list the allowed senders one by one, or use a pattern such as *@domain before the negation")
			}
		}
	}
	return out
}

// overriddenBy returns the plain line that IndiMail's exact-address or
// @domain step matches before the negated pattern e is ever evaluated.
func (f *File) overriddenBy(e *Entry) *Entry {
	at := strings.LastIndexByte(e.Key, '@')
	for i := range f.Entries {
		o := &f.Entries[i]
		if o.Negate || o.Pattern() || o.CR {
			continue
		}
		if !hasWildmatMeta(e.Key) && equalFoldASCII(o.Key, e.Key) {
			return o
		}
		if at >= 0 && !hasWildmatMeta(e.Key[at:]) && equalFoldASCII(o.Key, e.Key[at:]) {
			return o
		}
	}
	return nil
}

// identity is the name an entry is known by for duplicates and removal.
func (e *Entry) identity(k Kind) string {
	if k == RelayMailFrom {
		return e.body()
	}
	return e.Key
}

// tcpHint suggests the tcp.smtp rule that does reliably what a relayclients
// or relaydomains line means to do.
func tcpHint(k Kind, key string) string {
	if k == RelayClients {
		return fmt.Sprintf(`give relaying in tcp.smtp instead: %s:allow,RELAYCLIENT=""`, key)
	}
	return fmt.Sprintf(`give relaying in tcp.smtp instead: =%s:allow,RELAYCLIENT="" (needs tcpserver without -H)`, key)
}

// finding is a problem found in one line, before it has a position.
type finding struct {
	col                 int
	msg, expected, hint string
}

func (fd *finding) problem(file string, line int, text string, sev diag.Severity) diag.Problem {
	return diag.Problem{
		Pos:      diag.Pos{File: file, Line: line, Col: fd.col},
		Severity: sev, Msg: fd.msg, Text: text, Expected: fd.expected, Hint: fd.hint,
	}
}

// trimBlanks strips trailing spaces and TABs, as control_readfile does.
func trimBlanks(s string) string { return strings.TrimRight(s, " \t") }

// LowerASCII lower-cases A-Z only, as qmail's case_lowerb does (Unicode
// letters are left alone, unlike strings.ToLower).
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// equalFoldASCII compares as constmap does: equal length, ASCII case folded.
func equalFoldASCII(a, b string) bool {
	return len(a) == len(b) && LowerASCII(a) == LowerASCII(b)
}

// quoteText quotes s for a message, showing control bytes.
func quoteText(s string) string { return fmt.Sprintf("%q", s) }
