package tcprules

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"syscall"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// Positions returns the file offsets of a cdb's records for key, in the
// order they were added; *cdb.Reader's Positions is one.
type Positions func(key []byte) ([]int64, error)

// Location is where a rule is in its source file.
type Location struct {
	Line int
	Text string
	Rule *Rule
}

// Locate finds the line of src, a rules file, that stored the cdb record at
// pos under key, which Lookup found as the first record of key. Records lie
// in the cdb in line order, so a binary search over the file, probing lines
// whose first key is stored once, needs a few dozen cdb reads instead of a
// parse of the whole file: explain stays fast on a million-line tcp.smtp.
// ok is false when no line of src stores key. If src is not what the cdb
// was compiled from, the line found may differ from the record: callers
// compare the rule's Data with the record to tell a stale cdb.
func Locate(src []byte, positions Positions, key string, pos int64) (loc Location, ok bool, err error) {
	lo, hi := 0, len(src)
	var p parsed
	for hi-lo > 16<<10 {
		start, end, span, found, err := probe(src, lo+(hi-lo)/2, hi, positions, &p)
		if err != nil {
			return loc, false, err
		}
		if !found {
			break
		}
		switch {
		case span[1] <= pos:
			lo = end
		case pos < span[0]:
			hi = start
		default:
			lo, hi = start, end
		}
	}
	// The first line in [lo, hi) that stores key is the one: every line
	// before lo stored only records before pos.
	for start := lo; start < hi; {
		end := lineEnd(src, start)
		text := bytes.TrimSuffix(src[start:end], []byte("\n"))
		if col, _, _ := parseLine(text, &p, false); col == 0 && p.kind == kindRule {
			stores := false
			p.key = expandAddress(p.addr, p.key, func(k []byte) { stores = stores || string(k) == key })
			if stores {
				line := countLines(src[:start]) + 1
				r, _ := parseRule("", line, text, &parsed{})
				return Location{Line: line, Text: string(text), Rule: r}, true, nil
			}
		}
		start = end
	}
	return loc, false, nil
}

// probe looks from offset from (rounded to the next line start) up to hi for
// a rule line whose first key is stored exactly once, and returns the line's
// bounds and the span [first, end) of the records it stored.
func probe(src []byte, from, hi int, positions Positions, p *parsed) (start, end int, span [2]int64, found bool, err error) {
	start = from
	if start > 0 && src[start-1] != '\n' {
		start = lineEnd(src, start)
	}
	for tries := 0; start < hi && tries < 256; tries++ {
		end = lineEnd(src, start)
		text := bytes.TrimSuffix(src[start:end], []byte("\n"))
		if col, _, _ := parseLine(text, p, false); col == 0 && p.kind == kindRule {
			var first []byte
			var size int64
			p.key = expandAddress(p.addr, p.key, func(k []byte) {
				if first == nil {
					first = append([]byte{}, k...)
				}
				size += 8 + int64(len(k)) + int64(len(p.data))
			})
			if first != nil {
				pos, err := positions(first)
				if err != nil {
					return 0, 0, span, false, fmt.Errorf("locate: %w", err)
				}
				if len(pos) == 1 {
					return start, end, [2]int64{pos[0], pos[0] + size}, true, nil
				}
			}
		}
		start = end
	}
	return 0, 0, span, false, nil
}

// countLines counts the newlines in b. Counting is the one cost of Locate
// that grows with the file, so a long prefix is counted on every CPU at once.
func countLines(b []byte) int {
	const chunk = 4 << 20
	parts := min(runtime.NumCPU(), len(b)/chunk)
	if parts < 2 {
		return bytes.Count(b, []byte("\n"))
	}
	counts := make([]int, parts)
	var wg sync.WaitGroup
	size := len(b) / parts
	for i := range parts {
		end := (i + 1) * size
		if i == parts-1 {
			end = len(b)
		}
		wg.Go(func() { counts[i] = bytes.Count(b[i*size:end], []byte("\n")) })
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// lineEnd is the offset just past the newline ending the line at start.
func lineEnd(src []byte, start int) int {
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		return start + i + 1
	}
	return len(src)
}

// FindRule returns the first rule of src that stores key, the one tcpserver
// uses, or nil when no rule of src stores it (the cdb is stale).
func FindRule(src []byte, positions Positions, key string) (*Rule, error) {
	pos, err := positions([]byte(key))
	if err != nil || len(pos) == 0 {
		return nil, err
	}
	loc, ok, err := Locate(src, positions, key, pos[0])
	if !ok || err != nil {
		return nil, err
	}
	return loc.Rule, nil
}

// MapFile maps a file into memory read-only, so that Locate and cdb lookups
// touch only the pages they need. It opens through safefile.Open, so the
// file is a regular one; an empty file is read instead. The returned
// function releases the memory.
func MapFile(path string) ([]byte, func(), error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() > 0 && fi.Mode().IsRegular() {
		if b, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			return b, func() { syscall.Munmap(b) }, nil
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, func() {}, nil
}
