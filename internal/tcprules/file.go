package tcprules

import (
	"bytes"
	"fmt"
	"sort"

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

// Parse reads a whole rules file. It returns every problem found: syntax
// errors (diag.Error), lines tcprules skips or that can never match
// (diag.Warning), and CIDR expansions (diag.Info). Lines with errors have no
// Rule. Use diag.FirstError to decide whether the file may be compiled.
func Parse(name string, data []byte) (*File, []diag.Problem) {
	f := &File{Name: name}
	var problems []diag.Problem
	var p parsed
	num := 0
	for len(data) > 0 {
		num++
		end := bytes.IndexByte(data, '\n')
		var raw []byte
		if end < 0 {
			raw, data = data, nil
		} else {
			raw, data = data[:end+1], data[end+1:]
		}
		line := Line{Num: num, Raw: raw}
		text := bytes.TrimSuffix(raw, []byte("\n"))
		rule, probs := parseRule(name, num, text, &p)
		line.Rule = rule
		problems = append(problems, probs...)
		f.Lines = append(f.Lines, line)
	}
	return f, problems
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
	first := map[string]*Rule{}
	var problems []diag.Problem
	for _, r := range f.Rules() {
		keys := r.Keys()
		var by *Rule
		shadowed := len(keys) > 0
		for _, k := range keys {
			if prev, ok := first[k]; ok {
				if by == nil {
					by = prev
				}
				continue
			}
			shadowed = false
			first[k] = r
		}
		if shadowed {
			problems = append(problems, diag.Problem{
				Pos:      diag.Pos{File: f.Name, Line: r.Line, Col: 1},
				Severity: diag.Warning, Text: r.Text,
				Msg:  fmt.Sprintf("never used: line %d already stores the same key, and tcpserver uses the first", by.Line),
				Hint: fmt.Sprintf("delete line %d, or merge what it sets into line %d", r.Line, by.Line),
			})
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

// SortProblems orders problems by line, then column.
func SortProblems(p []diag.Problem) {
	sort.SliceStable(p, func(i, j int) bool {
		if p[i].Line != p[j].Line {
			return p[i].Line < p[j].Line
		}
		return p[i].Col < p[j].Col
	})
}
