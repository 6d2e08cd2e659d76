package tcprules

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// shadows finds the rules that never take effect because every key they
// store was stored first by an earlier rule (tcpserver uses only the first
// record of a key). It sees the rules twice, in file order, so that a
// million-line file need not be held: index records a 64-bit hash of every
// key (8 bytes a key), and keeps only the hashes that occur more than once;
// check then remembers the first line and the text of the keys with such a
// hash, the only keys a later rule can store again (about 30 bytes each).
// The text settles collisions: two keys with one hash cost memory, never a
// wrong answer.
type shadows struct {
	chunks [][]uint64     // index: every key's hash, in chunks so that growing copies nothing
	hashes []uint64       // after finish: the repeated hashes, once each, sorted
	first  []uint32       // per repeated hash: the first line storing its key, 0 before
	text   []int          // per repeated hash: where that key is in arena
	arena  []byte         // the remembered keys, each after its length as a uvarint
	other  map[string]int // first lines of keys whose hash another key had first
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
		if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) == hashChunk {
			s.chunks = append(s.chunks, make([]uint64, 0, hashChunk))
		}
		last := &s.chunks[len(s.chunks)-1]
		*last = append(*last, s.hash(k))
	}
}

// hashChunk is the number of hashes in one chunk of the index (512 KiB).
var hashChunk = 64 << 10 // a variable for tests

// finish keeps the hashes that occur more than once, once each, sorted: it
// sorts each chunk and merges them, dropping each chunk as it is done.
func (s *shadows) finish() {
	s.ready = true
	s.other = map[string]int{}
	for _, c := range s.chunks {
		slices.Sort(c)
	}
	var prev uint64
	n := 0 // how many times prev has been seen
	for {
		lo := -1
		for i, c := range s.chunks {
			if len(c) > 0 && (lo < 0 || c[0] < s.chunks[lo][0]) {
				lo = i
			}
		}
		if lo < 0 {
			break
		}
		h := s.chunks[lo][0]
		if s.chunks[lo] = s.chunks[lo][1:]; len(s.chunks[lo]) == 0 {
			s.chunks[lo] = nil
		}
		if n > 0 && h == prev {
			if n++; n == 2 {
				s.hashes = append(s.hashes, h)
			}
			continue
		}
		prev, n = h, 1
	}
	s.chunks = nil
	s.first = make([]uint32, len(s.hashes))
	s.text = make([]int, len(s.hashes))
}

// stored returns the first line that stored k, or 0, and records that line
// stores k if k may be stored again.
func (s *shadows) stored(k string, line int) int {
	i, repeated := slices.BinarySearch(s.hashes, s.hash(k))
	if !repeated {
		return 0 // the file stores k once
	}
	if s.first[i] == 0 {
		s.first[i], s.text[i] = uint32(line), len(s.arena)
		s.arena = binary.AppendUvarint(s.arena, uint64(len(k)))
		s.arena = append(s.arena, k...)
		return 0
	}
	n, w := binary.Uvarint(s.arena[s.text[i]:])
	if at := s.text[i] + w; string(s.arena[at:at+int(n)]) == k {
		return int(s.first[i])
	}
	if prev, ok := s.other[k]; ok { // a collision
		return prev
	}
	s.other[k] = line
	return 0
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
		if prev := s.stored(k, r.Line); prev != 0 {
			if by == 0 {
				by = prev
			}
			continue
		}
		shadowed = false
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
