package tcprules

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
)

var (
	// ErrDuplicate: the file already has exactly this rule.
	ErrDuplicate = errors.New("rule already present")
	// ErrConflict: the file has a different rule for the same address.
	ErrConflict = errors.New("address already has a rule")
	// ErrNotFound: no rule has the address.
	ErrNotFound = errors.New("no rule for address")
)

// NewRule builds a rule from its parts and checks it exactly as a line in a
// rules file is checked, so that what Add writes always compiles.
func NewRule(address string, deny bool, env []Var) (*Rule, []diag.Problem, error) {
	r := &Rule{Address: address, Deny: deny, Env: env}
	for _, v := range env {
		if v.Name == "" || bytes.ContainsAny([]byte(v.Name), "=,\n\x00") || (v.Unset && v.Name[0] == '!') {
			return nil, nil, fmt.Errorf("variable name %q: a name must be non-empty and contain no '=', ',', newline or NUL", v.Name)
		}
		if bytes.ContainsAny([]byte(v.Value), "\n\x00") {
			return nil, nil, fmt.Errorf("variable %s: a value cannot contain a newline or NUL", v.Name)
		}
	}
	if bytes.ContainsAny([]byte(address), "\n\x00") || bytes.HasPrefix([]byte(address), []byte("#")) {
		return nil, nil, fmt.Errorf("address %q: it cannot start with '#' or contain a newline", address)
	}
	text := r.String()
	got, probs := parseRule("command line", 1, []byte(text), &parsed{})
	if e := diag.FirstError(probs); e != nil {
		return nil, probs, e
	}
	if got == nil || got.Address != address || string(got.Data()) != string(r.Data()) {
		return nil, probs, fmt.Errorf("address %q cannot be written as a rules line: the colon before allow or deny would split it elsewhere", address)
	}
	got.Line = 0
	return got, probs, nil
}

// Edit describes what Add did.
type Edit struct {
	Line     int    // where the rule now is
	Replaced bool   // an existing rule for the address was replaced in place
	Before   *Rule  // the rule it was placed ahead of so that it takes effect
	Note     string // for the admin
}

// Add puts r into the file where it takes effect. tcpserver uses the first
// record of a key, so a rule storing a key that an earlier rule (say a range)
// also stores goes right before that rule; otherwise it goes at the end. An
// identical rule is refused with ErrDuplicate; a different rule for the same
// address, or for exactly the same keys spelled otherwise (10.1.1.0/24 and
// 10.1.1.), with ErrConflict, unless replace is set.
func (f *File) Add(r *Rule, replace bool) (Edit, error) {
	keySet := strings.Join(r.Keys(), "\n")
	for i, l := range f.Lines {
		old := l.Rule
		// The same address, or another spelling of it (10.1.1.0/24 for
		// 10.1.1.): the new rule would silently replace the old one.
		if old == nil || old.Address != r.Address && strings.Join(old.Keys(), "\n") != keySet {
			continue
		}
		if bytes.Equal(old.Data(), r.Data()) {
			return Edit{Line: l.Num}, fmt.Errorf("%s:%d: %w: %s", f.Name, l.Num, ErrDuplicate, old.Text)
		}
		if !replace {
			return Edit{Line: l.Num}, fmt.Errorf("%s:%d: %w %s: %s", f.Name, l.Num, ErrConflict, r.Address, old.Text)
		}
		f.Lines[i] = Line{Num: l.Num, Raw: withNewline(r.String(), l.Raw), Rule: r}
		r.Line, r.Text = l.Num, r.String()
		return Edit{Line: l.Num, Replaced: true, Note: "replaced " + old.Text}, nil
	}
	keys := map[string]bool{}
	for _, k := range r.Keys() {
		keys[k] = true
	}
	for i, l := range f.Lines {
		if old := l.Rule; old != nil {
			for _, k := range old.Keys() {
				if keys[k] {
					f.insert(i, r)
					return Edit{Line: r.Line, Before: old,
						Note: fmt.Sprintf("placed before line %d (%s), which stores %q too and would otherwise win", old.Line, old.Text, k)}, nil
				}
			}
		}
	}
	f.insert(len(f.Lines), r)
	return Edit{Line: r.Line}, nil
}

// Remove deletes every rule whose address is exactly address and returns them.
func (f *File) Remove(address string) ([]*Rule, error) {
	var removed []*Rule
	kept := f.Lines[:0]
	for _, l := range f.Lines {
		if l.Rule != nil && l.Rule.Address == address {
			removed = append(removed, l.Rule)
			continue
		}
		kept = append(kept, l)
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("%s: %w %q", f.Name, ErrNotFound, address)
	}
	f.Lines = kept
	f.renumber()
	return removed, nil
}

func (f *File) insert(i int, r *Rule) {
	if i == len(f.Lines) && i > 0 {
		last := &f.Lines[i-1]
		if !bytes.HasSuffix(last.Raw, []byte("\n")) {
			last.Raw = append(last.Raw[:len(last.Raw):len(last.Raw)], '\n')
		}
	}
	r.Text = r.String()
	line := Line{Raw: []byte(r.Text + "\n"), Rule: r}
	f.Lines = append(f.Lines, Line{})
	copy(f.Lines[i+1:], f.Lines[i:])
	f.Lines[i] = line
	f.renumber()
}

func (f *File) renumber() {
	for i := range f.Lines {
		f.Lines[i].Num = i + 1
		if f.Lines[i].Rule != nil {
			f.Lines[i].Rule.Line = i + 1
		}
	}
}

func withNewline(text string, like []byte) []byte {
	if bytes.HasSuffix(like, []byte("\n")) {
		return []byte(text + "\n")
	}
	return []byte(text)
}
