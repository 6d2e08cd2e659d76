package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

func TestHash(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint32
	}{
		{"", 0x00001505},
		{"1.2.3.4", 0x3c4cfacf},
		{"1.2.3.", 0xe2cc079b},
		{"\x00", 5381 * 33},
		{"a", (5381 * 33) ^ 'a'},
	} {
		if got := Hash([]byte(tc.key)); got != tc.want {
			t.Errorf("Hash(%q) = %#08x, want %#08x", tc.key, got, tc.want)
		}
	}
}

// TestExactBytes checks a tcp.smtp-like database byte for byte.
func TestExactBytes(t *testing.T) {
	b := build(t, []rec{
		r("1.2.3.4", ""),
		r("1.2.3.", "D\x00"),
		r("", "+RELAYCLIENT=\x00"),
	})
	if len(b) != 2149 {
		t.Fatalf("size = %d, want 2149", len(b))
	}
	type hdr struct{ pos, slots uint32 }
	header := func(i int) hdr { return hdr{u32(b, 8*i), u32(b, 8*i+4)} }
	for i := range 5 {
		if got := header(i); got != (hdr{2101, 0}) {
			t.Errorf("header[%d] = %v, want {2101 0}", i, got)
		}
	}
	for _, tc := range []struct {
		i    int
		want hdr
	}{
		{5, hdr{2101, 2}}, {6, hdr{2117, 0}}, {155, hdr{2117, 2}}, {156, hdr{2133, 0}},
		{207, hdr{2133, 2}}, {208, hdr{2149, 0}}, {255, hdr{2149, 0}},
	} {
		if got := header(tc.i); got != tc.want {
			t.Errorf("header[%d] = %v, want %v", tc.i, got, tc.want)
		}
	}
	// Records at 2048, 2063 and 2079.
	for _, tc := range []struct {
		off        int
		key, value string
	}{
		{2048, "1.2.3.4", ""}, {2063, "1.2.3.", "D\x00"}, {2079, "", "+RELAYCLIENT=\x00"},
	} {
		kl, dl := int(u32(b, tc.off)), int(u32(b, tc.off+4))
		k := string(b[tc.off+8 : tc.off+8+kl])
		d := string(b[tc.off+8+kl : tc.off+8+kl+dl])
		if k != tc.key || d != tc.value {
			t.Errorf("record at %d = %q->%q, want %q->%q", tc.off, k, d, tc.key, tc.value)
		}
	}
	// Table 5 (key ""): slots (0,0), (0x1505,2079).
	slots := []uint32{u32(b, 2101), u32(b, 2105), u32(b, 2109), u32(b, 2113)}
	if !slices.Equal(slots, []uint32{0, 0, 0x1505, 2079}) {
		t.Errorf("table 5 = %#x", slots)
	}
	// Table 155 (key "1.2.3."): slot 1 = (0xe2cc079b, 2063).
	if got := []uint32{u32(b, 2117), u32(b, 2121), u32(b, 2125), u32(b, 2129)}; !slices.Equal(got, []uint32{0, 0, 0xe2cc079b, 2063}) {
		t.Errorf("table 155 = %#x", got)
	}
	// Table 207 (key "1.2.3.4"): slot 0 = (0x3c4cfacf, 2048).
	if got := []uint32{u32(b, 2133), u32(b, 2137), u32(b, 2141), u32(b, 2145)}; !slices.Equal(got, []uint32{0x3c4cfacf, 2048, 0, 0}) {
		t.Errorf("table 207 = %#x", got)
	}
}

func TestEmpty(t *testing.T) {
	b := build(t, nil)
	want := bytes.Repeat([]byte{0x00, 0x08, 0, 0, 0, 0, 0, 0}, 256)
	if !bytes.Equal(b, want) {
		t.Fatalf("empty cdb = %d bytes, not 256 x 00 08 00 00 00 00 00 00", len(b))
	}
	rd := open(t, b)
	if _, ok, err := rd.Get(nil); ok || err != nil {
		t.Errorf("Get on empty cdb = %v, %v", ok, err)
	}
	n := 0
	if err := rd.ForEach(func(k, d []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("ForEach on empty cdb: %d records, %v", n, err)
	}
}

// want models a cdb: every key's values in insertion order.
func want(recs []rec) map[string][][]byte {
	m := map[string][][]byte{}
	for _, x := range recs {
		m[string(x.key)] = append(m[string(x.key)], x.data)
	}
	return m
}

// check verifies every read path of rd against recs.
func check(t *testing.T, rd *Reader, recs []rec, missing ...[]byte) {
	t.Helper()
	for k, vals := range want(recs) {
		got, ok, err := rd.Get([]byte(k))
		if err != nil || !ok || !bytes.Equal(got, vals[0]) {
			t.Fatalf("Get(%q) = %q, %v, %v; want %q", k, got, ok, err, vals[0])
		}
		all, err := rd.GetAll([]byte(k))
		if err != nil || !slices.EqualFunc(all, vals, bytes.Equal) {
			t.Fatalf("GetAll(%q) = %q, %v; want %q", k, all, err, vals)
		}
	}
	for _, k := range missing {
		if got, ok, err := rd.Get(k); ok || err != nil || got != nil {
			t.Fatalf("Get(missing %q) = %q, %v, %v", k, got, ok, err)
		}
		if all, err := rd.GetAll(k); all != nil || err != nil {
			t.Fatalf("GetAll(missing %q) = %q, %v", k, all, err)
		}
	}
	i := 0
	err := rd.ForEach(func(k, d []byte) error {
		if i >= len(recs) || !bytes.Equal(k, recs[i].key) || !bytes.Equal(d, recs[i].data) {
			return fmt.Errorf("record %d = %q->%q", i, k, d)
		}
		i++
		return nil
	})
	if err != nil || i != len(recs) {
		t.Fatalf("ForEach: %d of %d records, %v", i, len(recs), err)
	}
}

// sameBucket returns n distinct keys whose hashes all fall in bucket.
func sameBucket(rng *rand.Rand, bucket uint32, n int) [][]byte {
	var keys [][]byte
	seen := map[string]bool{}
	for len(keys) < n {
		k := []byte(fmt.Sprintf("k%d", rng.Uint32()))
		if Hash(k)&255 == bucket && !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 100000)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	var collide []rec
	for i, k := range sameBucket(rng, 42, 300) {
		collide = append(collide, rec{k, []byte(fmt.Sprint(i))})
	}
	var many []rec
	for i := range 20000 {
		many = append(many, rec{[]byte(fmt.Sprintf("key%d", i)), []byte(fmt.Sprintf("value%d", i*7))})
	}
	for _, tc := range []struct {
		name    string
		recs    []rec
		missing []string
	}{
		{"one", []rec{r("a", "b")}, []string{"", "b", "a\x00", "A"}},
		{"empty key and value", []rec{r("", ""), r("x", "")}, []string{"\x00", "y"}},
		{"duplicates", []rec{r("k", "1"), r("j", "x"), r("k", "2"), r("", "e"), r("k", "3"), r("", "f")}, []string{"kk"}},
		{"binary keys with NULs", []rec{r("\x00", "nul"), r("\x00\x00", "two"), r("a\x00b", "\x00\xff"), r("\xff\xfe", "")}, []string{"a", "a\x00", "\x00\x00\x00"}},
		{"tcp.smtp", []rec{r("127.", "+RELAYCLIENT=\x00"), r("10.0.0.1", "D"), r("", "")}, []string{"127", "10.0.0."}},
		{"100000-byte value", []rec{r("big", string(big)), r("small", "s"), r("big", "second")}, []string{"bi"}},
		{"same bucket", collide, []string{"k", "nope"}},
		{"20000 records", many, []string{"key20000", "key-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.recs)
			var missing [][]byte
			for _, k := range tc.missing {
				missing = append(missing, []byte(k))
			}
			check(t, open(t, b), tc.recs, missing...)
		})
	}
}

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.cdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	recs := []rec{r("a", "1"), r("b", "2"), r("a", "3")}
	for _, x := range recs {
		if err := w.Add(x.key, x.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err == nil {
		t.Error("second Finish succeeded")
	}
	if err := w.Add([]byte("c"), nil); err == nil {
		t.Error("Add after Finish succeeded")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rd, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	check(t, rd, recs, []byte("c"))
	if err := rd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rd.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	if _, err := Open(filepath.Join(t.TempDir(), "missing.cdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	short := filepath.Join(t.TempDir(), "short.cdb")
	if err := os.WriteFile(short, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(short); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), short) {
		t.Errorf("Open(short) = %v, want ErrCorrupt naming the file", err)
	}
}

func TestForEachStops(t *testing.T) {
	rd := open(t, build(t, []rec{r("a", "1"), r("b", "2"), r("c", "3")}))
	stop := errors.New("stop")
	n := 0
	err := rd.ForEach(func(k, d []byte) error {
		n++
		if string(k) == "b" {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("ForEach = %v after %d records, want stop after 2", err, n)
	}
}

// testRecs is a small database with duplicates, empty and binary keys.
var testRecs = []rec{
	r("1.2.3.4", ""), r("1.2.3.", "D\x00"), r("", "+RELAYCLIENT=\x00"), r("a", "1"),
	r("a", "2"), r("\x00\xff", "bin"), r("long key with spaces", strings.Repeat("v", 300)), r("a", "3"),
}

// exercise runs every read path against a possibly damaged file and returns
// the first error that does not wrap ErrCorrupt.
func exercise(b []byte, size int64, keys [][]byte) error {
	rd, err := New(bytes.NewReader(b), size)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("New: %v", err)
		}
		return nil
	}
	for _, k := range keys {
		if _, _, err := rd.Get(k); err != nil && !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("Get(%q): %v", k, err)
		}
		if _, err := rd.GetAll(k); err != nil && !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("GetAll(%q): %v", k, err)
		}
	}
	if err := rd.ForEach(func(k, d []byte) error { return nil }); err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("ForEach: %v", err)
	}
	return nil
}

func testKeys() [][]byte {
	keys := [][]byte{[]byte("missing"), []byte("b")}
	for _, x := range testRecs {
		keys = append(keys, x.key)
	}
	return keys
}

func TestTruncated(t *testing.T) {
	b := build(t, testRecs)
	keys := testKeys()
	for n := range len(b) {
		// Truncated file, true size: New must refuse it.
		if _, err := New(bytes.NewReader(b[:n]), int64(n)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("New(%d of %d bytes) = %v, want ErrCorrupt", n, len(b), err)
		}
		// Truncated file that claims the full size: reads come up short.
		if err := exercise(b[:n], int64(len(b)), keys); err != nil {
			t.Errorf("%d of %d bytes claiming full size: %v", n, len(b), err)
		}
	}
}

func TestByteFlips(t *testing.T) {
	b := build(t, testRecs)
	keys := testKeys()
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		c := slices.Clone(b)
		for range 1 + rng.IntN(4) {
			off := rng.IntN(len(c))
			if rng.IntN(3) == 0 {
				off = 2048 + rng.IntN(len(c)-2048) // favour records and tables
			}
			c[off] ^= byte(1 + rng.IntN(255))
		}
		if err := exercise(c, int64(len(c)), keys); err != nil {
			t.Fatalf("flip %d: %v", i, err)
		}
	}
}

func TestCorruptMessages(t *testing.T) {
	good := build(t, testRecs)
	h := Hash([]byte("a"))
	ta := int(h & 255)
	tpos := int(u32(good, 8*ta))
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
	}{
		{"short header", func(b []byte) []byte { return b[:2047] }, "shorter than the 2048-byte header"},
		{"table past end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8*17:], uint32(len(b)-4))
			binary.LittleEndian.PutUint32(b[8*17+4:], 1)
			return b
		}, "table 17 (offset"},
		{"table in header", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8*3:], 100)
			return b
		}, "table 3 starts at offset 100, inside the header"},
		{"slot outside data", func(b []byte) []byte {
			for j := tpos; j < tpos+8*int(u32(b, 8*ta+4)); j += 8 {
				if u32(b, j) == h {
					binary.LittleEndian.PutUint32(b[j+4:], 12)
				}
			}
			return b
		}, "outside the data"},
		{"record past end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[2048+4:], 1<<30) // dlen of the first record
			return b
		}, "runs past end of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(slices.Clone(good))
			rd, err := New(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				_, _, err = rd.Get([]byte("a"))
				if err == nil {
					_, _, err = rd.Get([]byte("1.2.3.4"))
				}
				if err == nil {
					err = rd.ForEach(func(k, d []byte) error { return nil })
				}
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

// TestFullTable checks that a table without an empty slot cannot make a
// lookup loop, and that a slot repeated out of order is caught.
func TestFullTable(t *testing.T) {
	b := build(t, []rec{r("a", "1")})
	ta := int(Hash([]byte("a")) & 255)
	tpos := int(u32(b, 8*ta))
	if u32(b, 8*ta+4) != 2 {
		t.Fatal("expected 2 slots")
	}
	full := slices.Clone(b)
	// Copy the used slot over the empty one: both now point at record "a".
	if u32(full, tpos+4) == 0 {
		copy(full[tpos:tpos+8], full[tpos+8:tpos+16])
	} else {
		copy(full[tpos+8:tpos+16], full[tpos:tpos+8])
	}
	rd := open(t, full)
	other := sameBucket(rand.New(rand.NewPCG(5, 6)), uint32(ta), 1)[0]
	if _, ok, err := rd.Get(other); ok || err != nil {
		t.Errorf("Get(missing) in a full table = %v, %v", ok, err)
	}
	if _, ok, err := rd.Get([]byte("a")); !ok || err != nil {
		t.Errorf("Get(a) in a full table = %v, %v", ok, err)
	}
	if _, err := rd.GetAll([]byte("a")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("GetAll(a) with a repeated slot = %v, want ErrCorrupt", err)
	}
}

// seekRecorder discards what is written, keeping only what is written at
// offset 0 (the header).
type seekRecorder struct {
	off    int64
	header []byte
}

func (s *seekRecorder) Write(p []byte) (int, error) {
	if s.off == 0 {
		s.header = slices.Clone(p)
	}
	s.off += int64(len(p))
	return len(p), nil
}

func (s *seekRecorder) Seek(off int64, whence int) (int64, error) {
	s.off = off // only SeekStart is used
	return off, nil
}

// TestTooLarge checks the 4 GiB limit without writing 4 GiB, by moving the
// Writer's position counter close to the limit.
func TestTooLarge(t *testing.T) {
	const maxPos = 1<<32 - 1
	for _, tc := range []struct {
		name    string
		pos     uint64 // position before Add
		n       int    // records before Add
		key     int
		data    int
		wantErr bool
	}{
		// The finished file ends exactly at 0xffffffff: allowed.
		{"exact fit", maxPos - 16 - 8 - 10, 0, 4, 6, false},
		{"one byte over", maxPos - 16 - 8 - 10, 0, 4, 7, true},
		{"record wraps u32", maxPos - 100, 0, 3, 1 << 20, true},
		{"key wraps u32", maxPos - 1000, 0, 2000, 0, true},
		{"tables overflow", 1 << 31, 1 << 27, 0, 0, true},
		{"tables just fit", 1<<31 - 8 - 16, 1<<27 - 1, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s seekRecorder
			w, err := NewWriter(&s)
			if err != nil {
				t.Fatal(err)
			}
			w.pos, w.n = tc.pos, tc.n
			s.off = int64(tc.pos)
			key := make([]byte, tc.key)
			data := make([]byte, tc.data)
			err = w.Add(key, data)
			if tc.wantErr {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Add = %v, want ErrTooLarge", err)
				}
				if w.n != tc.n || w.pos != tc.pos {
					t.Fatalf("a refused Add moved the writer: n=%d pos=%d", w.n, w.pos)
				}
				return
			}
			if err != nil {
				t.Fatalf("Add = %v", err)
			}
			if tc.n != 0 {
				return // the fake records have no entries; Finish would not match n
			}
			if err := w.Finish(); err != nil {
				t.Fatalf("Finish = %v", err)
			}
			if got := u32(s.header, 8*255); got != maxPos {
				t.Errorf("header[255].pos = %#x, want %#x (end of file)", got, uint32(maxPos))
			}
		})
	}

	// Finish re-checks the table area on its own.
	var s seekRecorder
	w, err := NewWriter(&s)
	if err != nil {
		t.Fatal(err)
	}
	w.pos, w.n = maxPos-8, 1
	if err := w.Finish(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Finish past 4 GiB = %v, want ErrTooLarge", err)
	}
}

// failWriter fails every write after the first limit bytes.
type failWriter struct {
	memFile
	limit int64
}

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.off+int64(len(p)) > f.limit {
		return 0, errDisk
	}
	return f.memFile.Write(p)
}

func TestWriteErrors(t *testing.T) {
	f := &failWriter{limit: 2048 + 1000}
	w, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 100)
	var got error
	for i := 0; i < 2000 && got == nil; i++ { // fails once bufio flushes
		got = w.Add([]byte("k"), val)
	}
	if got == nil {
		got = w.Finish()
	}
	if !errors.Is(got, errDisk) {
		t.Fatalf("error = %v, want disk full", got)
	}
	if err := w.Add([]byte("k"), nil); !errors.Is(err, errDisk) {
		t.Errorf("Add after error = %v, want the sticky error", err)
	}
	if err := w.Finish(); !errors.Is(err, errDisk) {
		t.Errorf("Finish after error = %v, want the sticky error", err)
	}
}

func TestPositions(t *testing.T) {
	r := open(t, build(t, []rec{{[]byte("a"), []byte("1")}, {[]byte("bb"), []byte("22")}, {[]byte("a"), []byte("333")}}))
	pos, err := r.Positions([]byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	// "a"->"1" at 2048 is 8+1+1 bytes long; "bb"->"22" at 2058 is 12 bytes.
	if len(pos) != 2 || pos[0] != 2048 || pos[1] != 2070 {
		t.Errorf("Positions(a) = %v, want [2048 2070]", pos)
	}
	if pos, err := r.Positions([]byte("zz")); err != nil || len(pos) != 0 {
		t.Errorf("Positions(zz) = %v, %v", pos, err)
	}
}
