package tcprules

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// Adder receives cdb records in file order; *cdb.Writer is one.
type Adder interface {
	Add(key, data []byte) error
}

// Stats counts what a compile saw.
type Stats struct {
	Lines   int `json:"lines"`
	Rules   int `json:"rules"`
	Records int `json:"records"`
}

// maxWarnings bounds the warnings a compile collects, so a huge broken file
// cannot exhaust memory; the rest are counted in one last warning.
const maxWarnings = 100

// Compile streams a rules file from r into w, record by record, exactly as
// tcprules would. It stops at the first syntax error and returns it as a
// *diag.Problem; the caller must then discard what w received. Warnings
// (skipped lines, rules that can never match) are returned alongside.
func Compile(name string, r io.Reader, w Adder) (Stats, []diag.Problem, error) {
	var (
		st       Stats
		warnings []diag.Problem
		dropped  int
		p        parsed
		addErr   error
	)
	lr := newLineReader(name, r)
	var plain, first bool // the address needs no warning; the next key is the first
	emit := func(key []byte) {
		if first {
			// A range such as 10.1.1.1-9 is fine when its keys are.
			first, plain = false, plain || plainAddress(key)
		}
		if addErr == nil {
			addErr = w.Add(key, p.data)
			st.Records++
		}
	}
	warn := func(pr diag.Problem) {
		if len(warnings) < maxWarnings {
			warnings = append(warnings, pr)
		} else {
			dropped++
		}
	}
	for {
		line, err := lr.next()
		if err != nil {
			return st, warnings, err
		}
		if line == nil {
			break
		}
		st.Lines++
		text := bytes.TrimSuffix(line, []byte("\n"))
		col, msg, expected := parseLine(text, &p, false)
		if msg != "" {
			pr := problem(name, st.Lines, text, col, diag.Error, msg, expected, checkHint)
			return st, warnings, &pr
		}
		if p.kind != kindRule {
			if p.kind == kindNoColon || (p.kind == kindBlank && len(text) > 0) {
				_, probs := parseRule(name, st.Lines, text, &parsed{})
				for _, pr := range probs {
					warn(pr)
				}
			}
			continue
		}
		st.Rules++
		plain, first = plainAddress(p.addr), true
		p.key = expandAddress(p.addr, p.key, emit)
		if addErr != nil {
			return st, warnings, fmt.Errorf("compile %s line %d: %w", name, st.Lines, addErr)
		}
		if !plain {
			if m, h := addressWarning(p.addr); m != "" {
				warn(problem(name, st.Lines, text, 1, diag.Warning, m, "", h))
			}
		}
		if i := bytes.Index(p.data, []byte("+RELAYCLIENT=")); i >= 0 && p.data[i+len("+RELAYCLIENT=")] != 0 {
			_, probs := parseRule(name, st.Lines, text, &parsed{})
			for _, pr := range probs {
				if pr.Severity == diag.Warning && bytes.Contains([]byte(pr.Msg), []byte("RELAYCLIENT")) {
					warn(pr)
				}
			}
		}
	}
	if dropped > 0 {
		warnings = append(warnings, diag.Problem{Pos: diag.Pos{File: name}, Severity: diag.Warning,
			Msg: fmt.Sprintf("%d more warnings not shown", dropped), Hint: "qmailctl tcp check lists them all"})
	}
	return st, warnings, nil
}

// plainAddress reports, without allocating, the common addresses that need
// no warning: the default, a canonical IPv4 address or dotted prefix, and a
// lower-case =host rule. Everything else goes through addressWarning.
func plainAddress(a []byte) bool {
	if len(a) == 0 {
		return true
	}
	if a[0] == '=' {
		for _, c := range a {
			if c >= 'A' && c <= 'Z' || c == ' ' || c == '\t' {
				return false
			}
		}
		return true
	}
	octets, digits, lead0 := 0, 0, false
	val := 0
	for i, c := range a {
		switch {
		case c >= '0' && c <= '9':
			if digits == 0 && c == '0' {
				lead0 = true
			} else if lead0 {
				return false
			}
			digits++
			val = val*10 + int(c-'0')
			if digits > 3 || val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 {
				return false
			}
			octets++
			digits, val, lead0 = 0, 0, false
			if octets > 3 || (octets == 3 && i == len(a)-1) {
				return octets == 3 && i == len(a)-1
			}
		default:
			return false
		}
	}
	return digits > 0 && octets == 3 || digits == 0 && octets > 0
}

// ErrNotCompiled is wrapped by Compare when the cdb's records differ from what
// the rules file compiles to.
var ErrNotCompiled = errors.New("cdb differs from its source")
