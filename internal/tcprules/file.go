package tcprules

import (
	"bytes"
	"fmt"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// Hint is the command suggested with syntax errors in a rules file.
const checkHint = "qmailctl tcp check shows every problem in the file; fix the line and run qmailctl cdb"

// Line is one line of a rules file, kept verbatim so that an edit changes
// nothing but the lines it means to.
type Line struct {
	Num  int
	Raw  []byte // the line with its newline, if it had one
	Rule *Rule  // nil for comments, blank and skipped lines
}

// File is a parsed rules file.
type File struct {
	Name  string
	Lines []Line
}

// Parse reads a whole rules file into memory, with the Scanner: it returns
// every problem found: syntax errors (diag.Error), lines tcprules skips or
// that can never match (diag.Warning), and CIDR expansions (diag.Info). Lines
// with errors have no Rule, and their Raw bytes are slices of data. Use
// diag.FirstError to decide whether the file may be compiled. Commands that
// may meet a large file stream it with a Scanner instead.
func Parse(name string, data []byte) (*File, []diag.Problem) {
	f := &File{Name: name}
	var problems []diag.Problem
	s := NewScanner(name, bytes.NewReader(data))
	off := 0
	for s.Scan() {
		l := s.Line()
		n := len(l.Raw)
		l.Raw = data[off : off+n : off+n]
		off += n
		f.Lines = append(f.Lines, l)
		problems = append(problems, s.Problems()...)
	}
	return f, problems // a bytes.Reader cannot fail
}

// parseRule parses one line into a Rule and its diagnostics.
func parseRule(file string, num int, text []byte, p *parsed) (*Rule, []diag.Problem) {
	col, msg, expected := parseLine(text, p, true)
	if msg != "" {
		return nil, []diag.Problem{problem(file, num, text, col, diag.Error, msg, expected, checkHint)}
	}
	switch p.kind {
	case kindBlank:
		if len(bytes.TrimRight(text, "\n")) > 0 {
			return nil, []diag.Problem{problem(file, num, text, 1, diag.Warning,
				"line of white space: tcprules skips it (and ucspi-tcp-ipv6's tcprules never finishes on it)", "", "delete the line")}
		}
		return nil, nil
	case kindComment:
		return nil, nil
	case kindNoColon:
		return nil, []diag.Problem{problem(file, num, text, len(text)+1, diag.Warning,
			"no colon: tcprules silently skips this line (and ucspi-tcp-ipv6's tcprules never finishes on it)",
			`ADDRESS:allow or ADDRESS:deny`, "")}
	}
	r := &Rule{Line: num, Text: string(text), Address: string(p.addr), Deny: p.deny}
	r.Env = append([]Var(nil), p.vars...)
	var probs []diag.Problem
	if m, h := addressWarning(p.addr); m != "" {
		probs = append(probs, problem(file, num, text, 1, diag.Warning, m, "", h))
	}
	if isCIDR(p.addr) {
		keys := r.Keys()
		probs = append(probs, problem(file, num, text, 1, diag.Info,
			fmt.Sprintf("CIDR block stored as %d key(s) tcpserver understands: %s", len(keys), abbreviate(keys, 4)), "", ""))
	}
	for i, v := range r.Env {
		if v.Name == "RELAYCLIENT" && !v.Unset && v.Value != "" {
			probs = append(probs, problem(file, num, text, p.varCols[i], diag.Warning,
				fmt.Sprintf("RELAYCLIENT=%q is appended to every recipient address, which corrupts them", v.Value),
				"", `write RELAYCLIENT=""`))
		}
	}
	return r, probs
}

func abbreviate(keys []string, n int) string {
	if len(keys) <= n {
		return fmt.Sprintf("%q", keys)
	}
	return fmt.Sprintf("%q and %d more", keys[:n], len(keys)-n)
}

// Rules returns the rules of the file in order.
func (f *File) Rules() []*Rule {
	var rules []*Rule
	for _, l := range f.Lines {
		if l.Rule != nil {
			rules = append(rules, l.Rule)
		}
	}
	return rules
}

// Bytes returns the file's contents.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.Lines {
		b.Write(l.Raw)
	}
	return b.Bytes()
}

// Shadowed reports rules that never take effect because every key they store
// was stored first by an earlier rule: tcpserver uses only the first record
// of a key.
func (f *File) Shadowed() []diag.Problem {
	var sh shadows
	rules := f.Rules()
	for _, r := range rules {
		sh.index(r)
	}
	var problems []diag.Problem
	for _, r := range rules {
		if p := sh.check(f.Name, r); p != nil {
			problems = append(problems, *p)
		}
	}
	return problems
}

// FindKey returns the rule that stores key first, as tcpserver finds it.
func (f *File) FindKey(key string) *Rule {
	for _, r := range f.Rules() {
		for _, k := range r.Keys() {
			if k == key {
				return r
			}
		}
	}
	return nil
}
