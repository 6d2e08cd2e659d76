package tcprules

import (
	"io"
	"sort"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// Check is a tcp check of a rules file in two reads, each holding one line
// (and, for shadowed rules, an index of 8 bytes a key): Survey counts the
// rules, notes syntax errors and indexes the keys; Problems reads the file
// again and reports every problem in line order.
type Check struct {
	Name      string
	Lines     int
	Rules     int
	HasErrors bool // a line has a syntax error; shadowed rules are then not reported
	sh        shadows
}

// Survey is the first read of the rules file name from src.
func Survey(name string, src io.Reader) (*Check, error) {
	c := &Check{Name: name}
	s := NewScanner(name, src)
	for s.Scan() {
		c.Lines++
		if diag.FirstError(s.Problems()) != nil {
			c.HasErrors = true
		}
		if r := s.Line().Rule; r != nil {
			c.Rules++
			if !c.HasErrors {
				c.sh.index(r)
			}
		}
	}
	return c, s.Err()
}

// Problems reads the surveyed file again from src and calls emit with every
// problem of every line, in order of line then column: Parse's diagnostics
// and, when the file has no syntax error, the rules that never take effect
// (File.Shadowed). It stops at the first error emit returns.
func (c *Check) Problems(src io.Reader, emit func(diag.Problem) error) error {
	return c.Scan(src, nil, func(p diag.Problem, _ bool) error { return emit(p) })
}

// Scan is Problems that also tells the shadowed rules (shadowed true) from
// Parse's diagnostics, and calls rule, when not nil, with every rule after
// its line's problems. It holds one line at a time.
func (c *Check) Scan(src io.Reader, rule func(*Rule) error, problem func(p diag.Problem, shadowed bool) error) error {
	s := NewScanner(c.Name, src)
	type lp struct {
		p        diag.Problem
		shadowed bool
	}
	var line []lp
	for s.Scan() {
		line = line[:0]
		for _, p := range s.Problems() {
			line = append(line, lp{p, false})
		}
		r := s.Line().Rule
		if r != nil && !c.HasErrors {
			if p := c.sh.check(c.Name, r); p != nil {
				line = append(line, lp{*p, true})
			}
		}
		sort.SliceStable(line, func(i, j int) bool { return line[i].p.Col < line[j].p.Col })
		for _, x := range line {
			if err := problem(x.p, x.shadowed); err != nil {
				return err
			}
		}
		if r != nil && rule != nil {
			if err := rule(r); err != nil {
				return err
			}
		}
	}
	return s.Err()
}
