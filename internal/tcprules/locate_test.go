package tcprules

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
)

// TestLocateAgreesWithFindKey checks the binary search against a plain scan
// of the parsed file, for every key of large random files full of
// duplicates, ranges and lines that store nothing.
func TestLocateAgreesWithFindKey(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		g := &gen{r: rand.New(rand.NewPCG(seed, 9)), ipv6: seed == 2}
		var b strings.Builder
		for b.Len() < 400<<10 {
			line := g.line() + "\n"
			if _, probs := Parse("", []byte(line)); firstErrorLine(probs) == 0 {
				b.WriteString(line)
			}
		}
		src := []byte(b.String())
		f, _ := Parse("tcp.smtp", src)
		dir := t.TempDir()
		path := filepath.Join(dir, "tcp.smtp")
		os.WriteFile(path, src, 0o644)
		if err := buildCDB(t, path); err != nil {
			t.Fatal(err)
		}
		r, err := cdb.Open(path + ".cdb")
		if err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		firstRule := map[string]*Rule{} // what File.FindKey answers, for every key at once
		for _, rule := range f.Rules() {
			for _, k := range rule.Keys() {
				if firstRule[k] == nil {
					firstRule[k] = rule
				}
			}
		}
		checked := 0
		for i, rule := range f.Rules() {
			for _, k := range rule.Keys() {
				if firstRule[k] != rule || i%41 != 0 {
					continue // each key once, and a sample of them
				}
				pos, err := r.Positions([]byte(k))
				if err != nil || len(pos) == 0 {
					t.Fatalf("key %q: positions %v %v", k, pos, err)
				}
				want := firstRule[k]
				loc, ok, err := Locate(src, r.Positions, k, pos[0])
				if err != nil || !ok || loc.Line != want.Line || loc.Text != want.Text {
					t.Fatalf("key %q: Locate = line %d %q (ok %v, %v), FindKey = line %d", k, loc.Line, loc.Text, ok, err, want.Line)
				}
				loc, ok, err = LocateAt(file, int64(len(src)), r.Positions, k, pos[0])
				if err != nil || !ok || loc.Line != want.Line || loc.Text != want.Text {
					t.Fatalf("key %q: LocateAt = line %d %q (ok %v, %v), FindKey = line %d", k, loc.Line, loc.Text, ok, err, want.Line)
				}
				checked++
			}
		}
		r.Close()
		file.Close()
		t.Logf("seed %d: %d keys located in %d bytes", seed, checked, len(src))
	}
}

func firstErrorLine(probs []diagProblem) int {
	for _, p := range probs {
		if p.Severity == diagError {
			return p.Line
		}
	}
	return 0
}

func TestLocateStaleSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tcp.smtp")
	os.WriteFile(path, []byte("10.1.1.:allow\n"), 0o644)
	if err := buildCDB(t, path); err != nil {
		t.Fatal(err)
	}
	r, _ := cdb.Open(path + ".cdb")
	defer r.Close()
	// The source no longer has the key: no rule is found.
	if rule, err := FindRule([]byte("10.2.2.:allow\n"), r.Positions, "10.1.1."); rule != nil || err != nil {
		t.Errorf("FindRule on a stale source = %v, %v; want nil", rule, err)
	}
	// The source changed the rule: the line is found, and its data differs.
	changed := "# new\n10.1.1.:deny\n"
	rule, err := FindRule([]byte(changed), r.Positions, "10.1.1.")
	if err != nil || rule == nil || rule.Line != 2 || !rule.Deny {
		t.Errorf("FindRule on a changed source = %+v, %v; want line 2, deny", rule, err)
	}
	rule, err = FindRuleAt(strings.NewReader(changed), int64(len(changed)), r.Positions, "10.1.1.")
	if err != nil || rule == nil || rule.Line != 2 || !rule.Deny {
		t.Errorf("FindRuleAt on a changed source = %+v, %v; want line 2, deny", rule, err)
	}
}

type diagProblem = diag.Problem

const diagError = diag.Error

func TestCountLines(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 3 << 20} {
		b := []byte(strings.Repeat("10.1.1.:allow\n", n) + "1.:deny")
		for name, src := range map[string]source{
			"bytes":    {b: b, size: int64(len(b))},
			"ReaderAt": {r: strings.NewReader(string(b)), size: int64(len(b))},
		} {
			if got, err := src.countLines(src.size); got != n || err != nil {
				t.Errorf("%s: countLines of %d lines = %d, %v", name, n, got, err)
			}
		}
	}
}
