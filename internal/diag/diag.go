// Package diag describes problems found in an admin's input files: a position
// (file, line, column), the offending line, what was expected, and the command
// that fixes it. Parsers in qmailctl return these so that every front end
// reports bad input the same way.
package diag

import (
	"fmt"
	"strings"
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
func (p *Problem) Error() string { return p.Pos.String() + ": " + p.Msg }

// Long renders the problem for a person: the position and message, the line
// with a caret under the column, what was expected, and the hint.
func (p *Problem) Long() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %s\n", p.Pos, p.Severity, p.Msg)
	if p.Line > 0 {
		text, col := window(p.Text, p.Col)
		fmt.Fprintf(&b, "    %s\n", visible(text))
		if col > 0 {
			fmt.Fprintf(&b, "    %s^\n", strings.Repeat(" ", caretOffset(text, col)))
		}
	}
	if p.Expected != "" {
		fmt.Fprintf(&b, "  expected %s\n", p.Expected)
	}
	if p.Hint != "" {
		fmt.Fprintf(&b, "  hint: %s\n", p.Hint)
	}
	return b.String()
}

// maxShown is how much of a long line a problem shows, around its column.
const maxShown = 120

// window cuts a long line to maxShown bytes around col (which it shifts to
// match), marking the cuts with "...", so that a megabyte-long line does not
// flood the terminal.
func window(text string, col int) (string, int) {
	if len(text) <= maxShown {
		return text, col
	}
	start := max(0, min(col-1-maxShown/2, len(text)-maxShown))
	end := min(len(text), start+maxShown)
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

// visible shows control bytes (a stray \r, a tab, a NUL) so the admin can see them.
func visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
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
