package tcprules

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// The in-memory editor the streaming one replaced, kept as the reference
// model: refAdd and refRemove edit a parsed File.

func refAdd(f *File, r *Rule, replace bool) (Edit, error) {
	keySet := strings.Join(r.Keys(), "\n")
	for i, l := range f.Lines {
		old := l.Rule
		if old == nil || old.Address != r.Address && strings.Join(old.Keys(), "\n") != keySet {
			continue
		}
		if bytes.Equal(old.Data(), r.Data()) {
			return Edit{Line: l.Num}, fmt.Errorf("%s:%d: %w: %s", f.Name, l.Num, ErrDuplicate, old.Text)
		}
		if !replace {
			return Edit{Line: l.Num}, fmt.Errorf("%s:%d: %w %s: %s", f.Name, l.Num, ErrConflict, r.Address, old.Text)
		}
		raw := []byte(r.String())
		if bytes.HasSuffix(l.Raw, []byte("\n")) {
			raw = append(raw, '\n')
		}
		f.Lines[i] = Line{Num: l.Num, Raw: raw, Rule: r}
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
					refInsert(f, i, r)
					return Edit{Line: r.Line, Before: old,
						Note: fmt.Sprintf("placed before line %d (%s), which stores %q too and would otherwise win", old.Line, old.Text, k)}, nil
				}
			}
		}
	}
	refInsert(f, len(f.Lines), r)
	return Edit{Line: r.Line}, nil
}

func refInsert(f *File, i int, r *Rule) {
	if i == len(f.Lines) && i > 0 {
		last := &f.Lines[i-1]
		if !bytes.HasSuffix(last.Raw, []byte("\n")) {
			last.Raw = append(last.Raw[:len(last.Raw):len(last.Raw)], '\n')
		}
	}
	f.Lines = append(f.Lines, Line{})
	copy(f.Lines[i+1:], f.Lines[i:])
	f.Lines[i] = Line{Raw: []byte(r.String() + "\n"), Rule: r}
	for i := range f.Lines { // renumber
		f.Lines[i].Num = i + 1
		if f.Lines[i].Rule != nil {
			f.Lines[i].Rule.Line = i + 1
		}
	}
}

func refRemove(f *File, address string) ([]int, error) {
	var removed []int
	kept := f.Lines[:0]
	for _, l := range f.Lines {
		if l.Rule != nil && l.Rule.Address == address {
			removed = append(removed, l.Num)
			continue
		}
		kept = append(kept, l)
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("%s: %w %q", f.Name, ErrNotFound, address)
	}
	f.Lines = kept
	return removed, nil
}

// randomRules is a rules file drawn from a small pool of lines, so that
// addresses repeat and ranges, prefixes and CIDR blocks overlap; a line
// with a syntax error when broken is set.
func randomRules(r *rand.Rand, n int, broken bool) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		switch r.IntN(12) {
		case 0:
			b.WriteString("# comment\n")
		case 1:
			b.WriteString("\n")
		case 2:
			fmt.Fprintf(&b, "10.1.%d.%d-%d:deny\n", r.IntN(3), r.IntN(4), 2+r.IntN(4))
		case 3:
			fmt.Fprintf(&b, "10.1.%d.0/30:allow\n", r.IntN(3))
		case 4:
			fmt.Fprintf(&b, "10.1.%d.:allow,RELAYCLIENT=\"\"\n", r.IntN(3))
		case 5:
			b.WriteString(":allow\n")
		case 6:
			fmt.Fprintf(&b, "=h%d.example:deny\n", r.IntN(3))
		case 7:
			b.WriteString("   \n")
		default:
			fmt.Fprintf(&b, "10.1.%d.%d:%s\n", r.IntN(3), r.IntN(6), []string{"allow", "deny", "allow,X=\"1\""}[r.IntN(3)])
		}
	}
	s := b.String()
	if broken {
		s += "10.1.1.1:allow,X\n"
	}
	if r.IntN(3) == 0 {
		s = strings.TrimSuffix(s, "\n")
	}
	return s
}

func randomRule(r *rand.Rand) (*Rule, error) {
	addr := []string{"10.1.0.1", "10.1.1.3", "10.1.2.", "10.1.1.", "", "=h1.example", "10.1.0.0/30", "10.1.1.2-3", "10.9.9.9"}[r.IntN(9)]
	var env []Var
	if r.IntN(2) == 0 {
		env = []Var{{Name: "X", Value: "1"}}
	}
	rule, _, err := NewRule(addr, r.IntN(3) == 0, env)
	return rule, err
}

// The streaming editor gives the reference model's file, line numbers,
// notes and errors on random files.
func TestStreamingEditMatchesModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 9))
	seen := map[string]int{}
	defer func() {
		for _, c := range []string{"broken", "error", "replaced", "before", "appended", "removed"} {
			if seen[c] == 0 {
				t.Errorf("no random case was %s: %v", c, seen)
			}
		}
	}()
	for i := 0; i < 3000; i++ {
		src := randomRules(rnd, rnd.IntN(12), rnd.IntN(20) == 0)
		f, probs := Parse("tcp.smtp", []byte(src))
		broken := diag.FirstError(probs)
		if rnd.IntN(2) == 0 {
			rule, err := randomRule(rnd)
			if err != nil {
				t.Fatal(err)
			}
			replace := rnd.IntN(2) == 0
			got, e, err := addString(src, rule, replace)
			if broken != nil {
				if err == nil || err.Error() != broken.Error() {
					t.Fatalf("add to broken %q: err = %v, want %v", src, err, broken)
				}
				seen["broken"]++
				continue
			}
			want, wantErr := refAdd(f, rule, replace)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("add %q to %q: err = %v, model %v", rule.String(), src, err, wantErr)
			}
			if err != nil {
				seen["error"]++
				continue
			}
			switch {
			case e.Replaced:
				seen["replaced"]++
			case e.Before != nil:
				seen["before"]++
			default:
				seen["appended"]++
			}
			if got != string(f.Bytes()) || e.Line != want.Line || e.Replaced != want.Replaced || e.Note != want.Note || (e.Before == nil) != (want.Before == nil) ||
				e.Before != nil && e.Before.Line != want.Before.Line {
				t.Fatalf("add %q (replace %v) to %q:\ngot  %q line %d note %q\nwant %q line %d note %q",
					rule.String(), replace, src, got, e.Line, e.Note, f.Bytes(), want.Line, want.Note)
			}
			continue
		}
		addr := []string{"10.1.1.", "10.1.0.1", "", "=h0.example", "10.1.0.0/30", "10.9."}[rnd.IntN(6)]
		got, e, err := removeString(src, addr)
		if broken != nil {
			if err == nil || err.Error() != broken.Error() {
				t.Fatalf("remove from broken %q: err = %v, want %v", src, err, broken)
			}
			continue
		}
		wantLines, wantErr := refRemove(f, addr)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("remove %q from %q: err = %v, model %v", addr, src, err, wantErr)
		}
		if err != nil {
			continue
		}
		seen["removed"]++
		var gotLines []int
		for _, r := range e.Removed {
			gotLines = append(gotLines, r.Line)
		}
		if got != string(f.Bytes()) || fmt.Sprint(gotLines) != fmt.Sprint(wantLines) {
			t.Fatalf("remove %q from %q:\ngot  %q lines %v\nwant %q lines %v", addr, src, got, gotLines, f.Bytes(), wantLines)
		}
	}
}
