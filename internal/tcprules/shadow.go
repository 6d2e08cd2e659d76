package tcprules

import (
	"fmt"
	"hash/maphash"
	"sort"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// shadows finds the rules that never take effect because every key they
// store was stored first by an earlier rule (tcpserver uses only the first
// record of a key). It sees the rules twice, in file order, so that a
// million-line file need not be held: index records a 64-bit hash and the
// line of every key (12 bytes a key); check then keeps the text of only
// those keys whose hash recurs later in the file. The hashes only choose
// what to keep, so a collision costs memory, never a wrong answer.
type shadows struct {
	hashes []uint64
	lines  []uint32
	keep   []uint64       // bit per line: the line stores a key whose hash recurs after it
	stored map[string]int // key -> first line storing it, for the kept lines
	ready  bool
	hash   func(string) uint64 // for tests: collisions on purpose; nil: maphash
}

// index records r's keys; call it for every rule, in file order, before check.
func (s *shadows) index(r *Rule) {
	if s.hash == nil {
		seed := maphash.MakeSeed()
		s.hash = func(k string) uint64 { return maphash.String(seed, k) }
	}
	for _, k := range r.Keys() {
		s.hashes = append(s.hashes, s.hash(k))
		s.lines = append(s.lines, uint32(r.Line))
	}
}

// finish sorts the index by hash, marks every line that holds a hash some
// later line repeats, and drops the index.
func (s *shadows) finish() {
	s.ready = true
	s.stored = map[string]int{}
	sort.Sort(byHash{s.hashes, s.lines})
	for i := 0; i < len(s.hashes); {
		j := i + 1
		for j < len(s.hashes) && s.hashes[j] == s.hashes[i] {
			j++
		}
		for k := i; k < j-1; k++ { // every occurrence but the last
			line := int(s.lines[k])
			for line/64 >= len(s.keep) {
				s.keep = append(s.keep, 0)
			}
			s.keep[line/64] |= 1 << (line % 64)
		}
		i = j
	}
	s.hashes, s.lines = nil, nil
}

func (s *shadows) kept(line int) bool {
	return line/64 < len(s.keep) && s.keep[line/64]&(1<<(line%64)) != 0
}

// check reports r, of file, if an earlier rule stores every key it stores.
// Call it for every rule, in file order, after indexing them all.
func (s *shadows) check(file string, r *Rule) *diag.Problem {
	if !s.ready {
		s.finish()
	}
	keys := r.Keys()
	shadowed, by := len(keys) > 0, 0
	for _, k := range keys {
		if prev, ok := s.stored[k]; ok {
			if by == 0 {
				by = prev
			}
			continue
		}
		shadowed = false
		if s.kept(r.Line) {
			s.stored[k] = r.Line
		}
	}
	if !shadowed {
		return nil
	}
	return &diag.Problem{
		Pos:      diag.Pos{File: file, Line: r.Line, Col: 1},
		Severity: diag.Warning, Text: r.Text,
		Msg:  fmt.Sprintf("never used: line %d already stores the same key, and tcpserver uses the first", by),
		Hint: fmt.Sprintf("delete line %d, or merge what it sets into line %d", r.Line, by),
	}
}

// byHash sorts the index by hash, then line.
type byHash struct {
	h []uint64
	l []uint32
}

func (b byHash) Len() int { return len(b.h) }
func (b byHash) Less(i, j int) bool {
	return b.h[i] < b.h[j] || b.h[i] == b.h[j] && b.l[i] < b.l[j]
}
func (b byHash) Swap(i, j int) {
	b.h[i], b.h[j] = b.h[j], b.h[i]
	b.l[i], b.l[j] = b.l[j], b.l[i]
}
