package tcprules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
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

// Edit is a change to a rules file, planned by PlanAdd or PlanRemove on one
// read of the file and made by Apply on a second read, which copies every
// other line byte for byte. Neither read holds more than a line: a
// million-line tcp.smtp is edited in constant memory.
type Edit struct {
	Name     string  // the file, for messages
	Line     int     // where the added rule is in the new file
	Replaced bool    // an existing rule for the address was replaced in place
	Before   *Rule   // the rule the new one was placed ahead of so that it takes effect, at its new line
	Note     string  // for the admin
	Removed  []*Rule // the rules PlanRemove takes out, with their old line numbers

	rule   *Rule // the rule to add
	at     int   // old line the rule replaces or goes before; 0: append
	atText string
	lines  int    // lines of the old file
	sum    uint64 // hash of the old file
	seed   maphash.Seed
}

// PlanAdd reads the rules file src and decides where r goes so that it takes
// effect. tcpserver uses the first record of a key, so a rule storing a key
// that an earlier rule (say a range) also stores goes right before that rule;
// otherwise it goes at the end. An identical rule is refused with
// ErrDuplicate; a different rule for the same address, or for exactly the
// same keys spelled otherwise (10.1.1.0/24 and 10.1.1.), with ErrConflict,
// unless replace is set. A file with a syntax error is not edited: the first
// error is returned, as a *diag.Problem.
func PlanAdd(name string, src io.Reader, r *Rule, replace bool) (*Edit, error) {
	keys := r.Keys()
	keySet := strings.Join(keys, "\n")
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	var same, before *Rule // the first rule for the same address; the first storing a key of r
	var sharedKey string
	s := NewScanner(name, src)
	e := &Edit{Name: name, rule: r, seed: maphash.MakeSeed()}
	var h maphash.Hash
	h.SetSeed(e.seed)
	for s.Scan() {
		e.lines++
		h.Write(s.Line().Raw)
		if e := diag.FirstError(s.Problems()); e != nil {
			return nil, e
		}
		old := s.Line().Rule
		if old == nil {
			continue
		}
		oldKeys := old.Keys()
		// The same address, or another spelling of it (10.1.1.0/24 for
		// 10.1.1.): the new rule would silently replace the old one.
		if same == nil && (old.Address == r.Address || strings.Join(oldKeys, "\n") == keySet) {
			same = old
		}
		if before == nil {
			for _, k := range oldKeys {
				if want[k] {
					before, sharedKey = old, k
					break
				}
			}
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	e.sum = h.Sum64()
	r.Text = r.String()
	switch {
	case same != nil:
		if bytes.Equal(same.Data(), r.Data()) {
			return nil, fmt.Errorf("%s:%d: %w: %s", name, same.Line, ErrDuplicate, same.Text)
		}
		if !replace {
			return nil, fmt.Errorf("%s:%d: %w %s: %s", name, same.Line, ErrConflict, r.Address, same.Text)
		}
		e.at, e.atText, e.Line, e.Replaced, e.Note = same.Line, same.Text, same.Line, true, "replaced "+same.Text
	case before != nil:
		e.at, e.atText, e.Line, e.Before = before.Line, before.Text, before.Line, before
		before.Line++ // where it is in the new file
		e.Note = fmt.Sprintf("placed before line %d (%s), which stores %q too and would otherwise win", before.Line, before.Text, sharedKey)
	default:
		e.Line = e.lines + 1
	}
	r.Line = e.Line
	return e, nil
}

// PlanRemove reads the rules file src and plans the removal of every rule
// whose address is exactly address; ErrNotFound if there is none. A file
// with a syntax error is not edited, as for PlanAdd.
func PlanRemove(name string, src io.Reader, address string) (*Edit, error) {
	e := &Edit{Name: name, seed: maphash.MakeSeed()}
	var h maphash.Hash
	h.SetSeed(e.seed)
	s := NewScanner(name, src)
	for s.Scan() {
		e.lines++
		h.Write(s.Line().Raw)
		if err := diag.FirstError(s.Problems()); err != nil {
			return nil, err
		}
		if r := s.Line().Rule; r != nil && r.Address == address {
			e.Removed = append(e.Removed, r)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(e.Removed) == 0 {
		return nil, fmt.Errorf("%s: %w %q", name, ErrNotFound, address)
	}
	e.sum = h.Sum64()
	return e, nil
}

// ErrChanged is returned by Apply when the file is not the one planned on.
var ErrChanged = errors.New("the file changed while it was being edited")

// Apply copies src, the file the edit was planned on, to dst with the edit
// made; every other line is copied byte for byte. It fails with ErrChanged if
// src is not byte for byte the file the plan read (its hash differs), and
// then what dst received must be discarded.
func (e *Edit) Apply(src io.Reader, dst io.Writer) error {
	w := bufio.NewWriterSize(dst, 64<<10)
	lr := newLineReader(e.Name, src)
	removed := e.Removed
	newText := ""
	if e.rule != nil {
		newText = e.rule.Text
	}
	num := 0
	var last []byte
	var h maphash.Hash
	h.SetSeed(e.seed)
	for {
		raw, err := lr.next()
		if err != nil {
			return err
		}
		if raw == nil {
			break
		}
		num++
		last = raw
		h.Write(raw)
		text := bytes.TrimSuffix(raw, []byte("\n"))
		if len(removed) > 0 && removed[0].Line == num {
			if string(text) != removed[0].Text {
				return fmt.Errorf("%s:%d: %w", e.Name, num, ErrChanged)
			}
			removed = removed[1:]
			continue
		}
		if e.rule != nil && e.at == num {
			if string(text) != e.atText {
				return fmt.Errorf("%s:%d: %w", e.Name, num, ErrChanged)
			}
			w.WriteString(newText)
			if e.Replaced {
				w.Write(raw[len(text):]) // the line's newline, if it had one
				continue
			}
			w.WriteByte('\n')
		}
		w.Write(raw)
	}
	if num != e.lines || h.Sum64() != e.sum {
		return fmt.Errorf("%s: %w", e.Name, ErrChanged)
	}
	if e.rule != nil && e.at == 0 {
		if len(last) > 0 && last[len(last)-1] != '\n' {
			w.WriteByte('\n')
		}
		w.WriteString(newText)
		w.WriteByte('\n')
	}
	return w.Flush()
}
