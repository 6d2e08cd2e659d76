package tcprules

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// peakReader samples the heap in use at every read, so that a test can see
// the most a streaming reader held while it read the file. The samples
// depend on how much was allocated, not on how fast.
type peakReader struct {
	r    io.Reader
	peak uint64
}

func (p *peakReader) Read(b []byte) (int, error) {
	p.sample()
	return p.r.Read(b)
}

func (p *peakReader) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p.peak = max(p.peak, m.HeapInuse)
}

// The readers and the editor hold a bounded amount of memory however large
// the file: on a 200,000-line file (7 MB, which the in-memory File held as
// more than 40 MB), each stays within a few MiB of the heap it started
// with. tcp check's index may add 8 bytes a cdb record, as the compiler's
// cdb writer does, plus the keys that recur.
func TestStreamingMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 7 MB file several times")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	path := filepath.Join(t.TempDir(), "tcp.smtp")
	src := mixedRules(200000, 1)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	src = nil
	const bound = 8 << 20 // bytes above the starting heap
	measure := func(name string, limit uint64, run func(read func() io.Reader)) int64 {
		t.Helper()
		var readers []*os.File
		defer func() {
			for _, f := range readers {
				f.Close()
			}
		}()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		p := &peakReader{}
		run(func() io.Reader {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			readers = append(readers, f)
			p.r = f
			return p
		})
		p.sample()
		grew := int64(p.peak) - int64(m.HeapInuse)
		t.Logf("%s: heap in use grew by at most %.1f MiB", name, float64(grew)/(1<<20))
		if grew > int64(limit) {
			t.Errorf("%s: heap in use grew by %d bytes reading a %d-line file; bound %d", name, grew, 200000, limit)
		}
		return grew
	}
	// The guard sees a reader that holds the file: Parse, which tcp list,
	// check and the editor used before they streamed.
	var f *File
	if grew := measure("Parse (holds the file)", 1<<40, func(read func() io.Reader) {
		data, err := io.ReadAll(read())
		if err != nil {
			t.Fatal(err)
		}
		f, _ = Parse("f", data)
	}); grew < 4*bound || len(f.Lines) != 200001 {
		t.Errorf("Parse grew the heap by only %d bytes: the guard measures nothing", grew)
	}
	f = nil
	measure("Scanner", bound, func(read func() io.Reader) {
		s := NewScanner("f", read())
		n := 0
		for s.Scan() {
			if s.Line().Rule != nil {
				n++
			}
		}
		if s.Err() != nil || n < 100000 {
			t.Fatalf("scanned %d rules, err %v", n, s.Err())
		}
	})
	r, _, err := NewRule("10.1.1.5", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	measure("PlanAdd+Apply", bound, func(read func() io.Reader) {
		e, err := PlanAdd("f", read(), r, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Apply(read(), io.Discard); err != nil {
			t.Fatal(err)
		}
	})
	measure("PlanRemove+Apply", bound, func(read func() io.Reader) {
		e, err := PlanRemove("f", read(), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Apply(read(), io.Discard); err != nil {
			t.Fatal(err)
		}
	})
	measure("Survey+Problems", bound+16*200000, func(read func() io.Reader) {
		c, err := Survey("f", read())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := c.Problems(read(), func(diag.Problem) error { n++; return nil }); err != nil || n == 0 {
			t.Fatalf("%d problems, err %v", n, err)
		}
	})
}
