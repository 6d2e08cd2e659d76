package cdb

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchKey writes the i-th benchmark key (about 10 bytes) into buf.
func benchKey(buf []byte, i int) []byte {
	return strconv.AppendInt(append(buf[:0], "key:"...), int64(i), 10)
}

var benchValue = []byte("+RELAYCLIENT=\x00ID=12345") // 22 bytes

// BenchmarkWriter writes 1,000,000 records of ~10-byte keys and ~20-byte
// values to a temporary file per iteration.
func BenchmarkWriter(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "bench.cdb")
	var kbuf []byte
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(f)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			kbuf = benchKey(kbuf, i)
			if err := w.Add(kbuf, benchValue); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
}

// BenchmarkGet looks up keys in a 100,000-record file.
func BenchmarkGet(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "bench.cdb")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWriter(f)
	if err != nil {
		b.Fatal(err)
	}
	var kbuf []byte
	for i := range n {
		if err := w.Add(benchKey(kbuf, i), benchValue); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	rd, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key:%d", (i*7919)%n))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok, err := rd.Get(keys[i%len(keys)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
		i++
	}
}
