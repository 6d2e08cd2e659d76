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
	return locate(source{b: src, size: int64(len(src))}, positions, key, pos)
}

// LocateAt is Locate on a file of size bytes read with ReadAt, a line at a
// time: unlike a mapping of the file, it leaves the process's memory as
// small on a million-line file as on a short one.
func LocateAt(src io.ReaderAt, size int64, positions Positions, key string, pos int64) (loc Location, ok bool, err error) {
	return locate(source{r: src, size: size}, positions, key, pos)
}

func locate(src source, positions Positions, key string, pos int64) (loc Location, ok bool, err error) {
	lo, hi := int64(0), src.size
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
		text, end, err := src.line(start)
		if err != nil {
			return loc, false, err
		}
		if col, _, _ := parseLine(text, &p, false); col == 0 && p.kind == kindRule {
			stores := false
			p.key = expandAddress(p.addr, p.key, func(k []byte) { stores = stores || string(k) == key })
			if stores {
				n, err := src.countLines(start)
				if err != nil {
					return loc, false, err
				}
				r, _ := parseRule("", n+1, text, &parsed{})
				return Location{Line: n + 1, Text: string(text), Rule: r}, true, nil
			}
		}
		start = end
	}
	return loc, false, nil
}

// probe looks from offset from (rounded to the next line start) up to hi for
// a rule line whose first key is stored exactly once, and returns the line's
// bounds and the span [first, end) of the records it stored.
func probe(src source, from, hi int64, positions Positions, p *parsed) (start, end int64, span [2]int64, found bool, err error) {
	start = from
	if start > 0 {
		// Begin at the next line start: after the line holding start-1.
		if _, start, err = src.line(start - 1); err != nil {
			return 0, 0, span, false, err
		}
	}
	for tries := 0; start < hi && tries < 256; tries++ {
		text, next, err := src.line(start)
		if err != nil {
			return 0, 0, span, false, err
		}
		end = next
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

// source is a rules file in memory (b) or read with ReadAt (r).
type source struct {
	b    []byte
	r    io.ReaderAt
	size int64
	buf  []byte
}

// line returns the text of the line at start, without its newline, and the
// offset just past the newline. The text is valid until the next call.
func (s *source) line(start int64) ([]byte, int64, error) {
	if s.b != nil || s.r == nil {
		end := start + int64(indexOrLen(s.b[start:], '\n'))
		if end < s.size {
			return s.b[start:end], end + 1, nil
		}
		return s.b[start:end], end, nil
	}
	s.buf = s.buf[:0]
	for off := start; off < s.size; {
		n := min(int64(max(256, len(s.buf))), s.size-off)
		chunk := make([]byte, n)
		if _, err := s.r.ReadAt(chunk, off); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("locate: %w", err)
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			s.buf = append(s.buf, chunk[:i]...)
			return s.buf, start + int64(len(s.buf)) + 1, nil
		}
		s.buf = append(s.buf, chunk...)
		off += n
	}
	return s.buf, s.size, nil
}

// countLines counts the newlines before offset end. Counting is the one
// cost of Locate that grows with the file, so a long prefix is counted on
// every CPU at once; a file read with ReadAt goes through a 1 MiB buffer
// per CPU.
func (s *source) countLines(end int64) (int, error) {
	const chunk = 4 << 20
	parts := int(min(int64(runtime.NumCPU()), end/chunk))
	if parts < 1 {
		parts = 1
	}
	counts := make([]int, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	size := end / int64(parts)
	for i := range parts {
		from, to := int64(i)*size, int64(i+1)*size
		if i == parts-1 {
			to = end
		}
		count := func() { counts[i], errs[i] = s.count(from, to) }
		if parts == 1 {
			count()
			break
		}
		wg.Go(count)
	}
	wg.Wait()
	n := 0
	for i, c := range counts {
		if errs[i] != nil {
			return 0, errs[i]
		}
		n += c
	}
	return n, nil
}

func (s *source) count(from, to int64) (int, error) {
	if s.b != nil || s.r == nil {
		return bytes.Count(s.b[from:to], []byte("\n")), nil
	}
	buf := make([]byte, min(1<<20, to-from))
	n := 0
	for from < to {
		b := buf[:min(int64(len(buf)), to-from)]
		if _, err := s.r.ReadAt(b, from); err != nil && err != io.EOF {
			return 0, fmt.Errorf("locate: %w", err)
		}
		n += bytes.Count(b, []byte("\n"))
		from += int64(len(b))
	}
	return n, nil
}

// FindRule returns the first rule of src that stores key, the one tcpserver
// uses, or nil when no rule of src stores it (the cdb is stale).
func FindRule(src []byte, positions Positions, key string) (*Rule, error) {
	return findRule(source{b: src, size: int64(len(src))}, positions, key)
}

// FindRuleAt is FindRule on a file of size bytes read with ReadAt (see
// LocateAt).
func FindRuleAt(src io.ReaderAt, size int64, positions Positions, key string) (*Rule, error) {
	return findRule(source{r: src, size: size}, positions, key)
}

func findRule(src source, positions Positions, key string) (*Rule, error) {
	pos, err := positions([]byte(key))
	if err != nil || len(pos) == 0 {
		return nil, err
	}
	loc, ok, err := locate(src, positions, key, pos[0])
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
