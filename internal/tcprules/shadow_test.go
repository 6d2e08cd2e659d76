package tcprules

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// refShadowed is the reference model of shadows: a map of every key to the
// first rule storing it.
func refShadowed(rules []*Rule) map[int]int {
	first := map[string]int{}
	out := map[int]int{}
	for _, r := range rules {
		keys := r.Keys()
		by, shadowed := 0, len(keys) > 0
		for _, k := range keys {
			if prev, ok := first[k]; ok {
				if by == 0 {
					by = prev
				}
				continue
			}
			shadowed = false
			first[k] = r.Line
		}
		if shadowed {
			out[r.Line] = by
		}
	}
	return out
}

// shadows answers as the exact model on random files, with a real hash and
// with one that collides on purpose (the hash only picks what to remember),
// with the index in one chunk and in many.
func TestShadowsMatchModel(t *testing.T) {
	defer func(n int) { hashChunk = n }(hashChunk)
	for _, hashChunk = range []int{64 << 10, 3} {
		testShadowsMatchModel(t)
	}
}

func testShadowsMatchModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	hashes := map[string]func(string) uint64{
		"maphash":  nil,
		"collides": func(k string) uint64 { return uint64(len(k) % 3) },
		"constant": func(string) uint64 { return 7 },
	}
	found := 0
	for i := 0; i < 500; i++ {
		f, _ := Parse("f", []byte(randomRules(rnd, rnd.IntN(30), false)))
		rules := f.Rules()
		want := refShadowed(rules)
		found += len(want)
		for name, h := range hashes {
			sh := shadows{hash: h}
			for _, r := range rules {
				sh.index(r)
			}
			got := map[int]int{}
			for _, r := range rules {
				if p := sh.check("f", r); p != nil {
					var by int
					fmt.Sscanf(p.Msg, "never used: line %d", &by)
					got[r.Line] = by
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s, chunks of %d: shadowed %v, model %v, file %q", name, hashChunk, got, want, f.Bytes())
			}
		}
	}
	if found == 0 {
		t.Fatal("no random file had a shadowed rule")
	}
}
