// Package diag describes problems found in an admin's input files: a position
// (file, line, column), the offending line, what was expected, and the command
// that fixes it. Parsers in qmailctl return these so that every front end
// reports bad input the same way.
package diag

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Severity orders findings from informational to fatal.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	default:
		return "error"
	}
}

// MarshalText makes a Severity print as its name in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a place in a file. Line and Col count from 1; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Problem is one finding about an input file. As an error it is bad input:
// the command refuses it and writes nothing.
type Problem struct {
	Pos
	Severity Severity `json:"severity"`
	Msg      string   `json:"message"`
	Text     string   `json:"text,omitempty"`     // the offending line, without its newline
	Expected string   `json:"expected,omitempty"` // what would have been valid here
	Hint     string   `json:"hint,omitempty"`     // a command or edit that fixes it
}

// Error returns the one-line form "file:line:col: message".
func (p *Problem) Error() string { return visible(p.Pos.String() + ": " + p.Msg) }

// Long renders the problem for a person: the position and message, the line
// with a caret under the column, what was expected, and the hint.
func (p *Problem) Long() string {
	var b strings.Builder
	// Every part may quote the file, so every part is shown escaped: a
	// line of a file that is not text must not drive the terminal.
	fmt.Fprintf(&b, "%s: %s: %s\n", visible(p.Pos.String()), p.Severity, visible(p.Msg))
	if p.Line > 0 {
		text, col := window(p.Text, p.Col)
		fmt.Fprintf(&b, "    %s\n", visible(text))
		if col > 0 {
			fmt.Fprintf(&b, "    %s^\n", strings.Repeat(" ", caretOffset(text, col)))
		}
	}
	if p.Expected != "" {
		fmt.Fprintf(&b, "  expected %s\n", visible(p.Expected))
	}
	if p.Hint != "" {
		fmt.Fprintf(&b, "  hint: %s\n", visible(p.Hint))
	}
	return b.String()
}

// maxShown is how much of a long line a problem shows, around its column.
const maxShown = 120

// window cuts a long line to maxShown bytes around col (which it shifts to
// match), marking the cuts with "...", so that a megabyte-long line does not
// flood the terminal.
func window(text string, col int) (string, int) {
	// Binary bytes are shown 4 columns wide: narrow the window until what
	// is shown fits.
	for width := maxShown; ; width /= 2 {
		out, c := cut(text, col, width)
		if width < 16 || len(visible(out)) <= maxShown+6 {
			return out, c
		}
	}
}

// cut is window with a window of width bytes.
func cut(text string, col, width int) (string, int) {
	if len(text) <= width {
		return text, col
	}
	start := max(0, min(col-1-width/2, len(text)-width))
	end := min(len(text), start+width)
	out, shift := text[start:end], start
	if start > 0 {
		out, shift = "..."+out, start-3
	}
	if end < len(text) {
		out += "..."
	}
	if col > 0 {
		col -= shift
	}
	return out, col
}

// visible shows control bytes (a stray \r, a tab, a NUL) so the admin can
// see them, and so that nothing a file holds reaches the terminal as a
// control sequence: bytes that are not UTF-8 are shown as \xNN, C1 controls
// and invisible formatting characters (bidirectional overrides) as \uNNNN.
func visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r >= 0x80 && r < 0xa0, unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Escape shows s as visible shows a quoted line, keeping its newlines: for
// error messages that may quote a file (an existing rule's text) and are
// printed without a Problem around them.
func Escape(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = visible(lines[i])
	}
	return strings.Join(lines, "\n")
}

// caretOffset is the display column of byte column col in s after visible().
func caretOffset(s string, col int) int {
	if col-1 > len(s) {
		col = len(s) + 1
	}
	return len(visible(s[:col-1]))
}

// FirstError returns the first problem of Error severity, or nil.
func FirstError(problems []Problem) *Problem {
	for i := range problems {
		if problems[i].Severity == Error {
			return &problems[i]
		}
	}
	return nil
}

// ShellQuote quotes s for a command line a person can paste into a shell,
// leaving it bare when that is safe.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:@%+=_,/-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// maxBadLines is how many lines in error a file may have and still be shown
// line by line.
const maxBadLines = 20

// Excerpt returns problems as they should be shown to a person. A file that
// is not of the kind expected (a cdb or /etc/shadow given as a rules file)
// would otherwise be printed out line by line, one problem each: for a file
// with a NUL byte or an invalid UTF-8 sequence in a problem's line, or with
// more than 20 lines in error, only its first problem is kept, followed by a
// note of how many more there are. Other files' problems are unchanged.
func Excerpt(problems []Problem) []Problem {
	hide, notes := Hidden(problems)
	var out []Problem
	for i, p := range problems {
		if !hide[i] {
			out = append(out, p)
		}
		if n, ok := notes[i]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Hidden is Excerpt for callers that print problems with more around them
// (relay audit's findings): hide[i] says to leave problems[i] out, and
// notes[i], if present, is to be shown right after problems[i].
func Hidden(problems []Problem) (hide []bool, notes map[int]Problem) {
	errs, binary := map[string]int{}, map[string]bool{}
	for _, p := range problems {
		if p.Severity == Error {
			errs[p.File]++
		}
		if strings.IndexByte(p.Text, 0) >= 0 || !utf8.ValidString(p.Text) {
			binary[p.File] = true
		}
	}
	hide, notes = make([]bool, len(problems)), map[int]Problem{}
	first, hidden := map[string]int{}, map[string]int{}
	for i, p := range problems {
		if !binary[p.File] && errs[p.File] <= maxBadLines {
			continue
		}
		if _, seen := first[p.File]; !seen {
			first[p.File] = i
			continue
		}
		hide[i] = true
		hidden[p.File]++
	}
	for file, n := range hidden {
		notes[first[file]] = Problem{Pos: Pos{File: file}, Severity: Warning,
			Msg: fmt.Sprintf("%d more %s not shown: the file does not look like the kind of file expected here",
				n, map[bool]string{true: "problem", false: "problems"}[n == 1])}
	}
	return hide, notes
}
