package cdb

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/qmailctl/qmailctl/internal/testexec"
)

// randomRecords makes n records with random binary keys and values, empty
// keys and values, many duplicate keys and many keys that share a bucket.
func randomRecords(rng *rand.Rand, n int) []rec {
	crowded := []uint32{uint32(rng.IntN(256)), uint32(rng.IntN(256))}
	recs := make([]rec, 0, n)
	for range n {
		var k []byte
		switch p := rng.IntN(100); {
		case p < 25 && len(recs) > 0: // duplicate of an earlier key
			k = recs[rng.IntN(len(recs))].key
		case p < 45: // a key in one of two crowded buckets
			k = sameBucket(rng, crowded[rng.IntN(2)], 1)[0]
		case p < 48:
			k = []byte{}
		default:
			k = randomBytes(rng, rng.IntN(25))
		}
		var d []byte
		switch p := rng.IntN(100); {
		case p < 10:
			d = []byte{}
		case p < 97:
			d = randomBytes(rng, rng.IntN(40))
		default:
			d = randomBytes(rng, rng.IntN(5000))
		}
		recs = append(recs, rec{k, d})
	}
	return recs
}

// randomBytes returns n bytes biased towards NUL, newline and the
// characters of the cdbmake input syntax.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		if rng.IntN(4) == 0 {
			b[i] = "\x00\n+,:->\xff"[rng.IntN(8)]
		} else {
			b[i] = byte(rng.Uint32())
		}
	}
	return b
}

// runTool runs a reference tool with stdin from a file and returns the cdb it made.
func runTool(t *testing.T, dir, input string, out string, name string, args ...string) []byte {
	t.Helper()
	in, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := testexec.Command(t, name, args...)
	cmd.Dir = dir
	cmd.Stdin = in
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, msg)
	}
	b, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMatchesReferenceTools requires our Writer's output to be byte-identical
// to freecdb's cdbmake and tinycdb's cdb -c for hundreds of random inputs.
func TestMatchesReferenceTools(t *testing.T) {
	cdbmake := lookTool(t, "cdbmake")
	tinycdb := lookTool(t, "cdb")
	rng := rand.New(rand.NewPCG(7, 8))
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	const inputs = 220
	total := 0
	for i := range inputs {
		var n int
		switch i % 4 {
		case 0:
			n = rng.IntN(4)
		case 1:
			n = rng.IntN(60)
		case 2:
			n = rng.IntN(600)
		default:
			n = rng.IntN(5001)
		}
		if testing.Short() {
			n = min(n, 300)
		}
		total += n
		recs := randomRecords(rng, n)
		if err := os.WriteFile(input, cdbmakeInput(recs), 0o644); err != nil {
			t.Fatal(err)
		}
		ours := build(t, recs)
		for _, tool := range []struct {
			name string
			got  []byte
		}{
			{"cdbmake", runTool(t, dir, input, "a.cdb", cdbmake, "a.cdb", "a.tmp")},
			{"cdb -c", runTool(t, dir, input, "b.cdb", tinycdb, "-c", "b.cdb")},
		} {
			if !bytes.Equal(ours, tool.got) {
				off := 0
				for off < min(len(ours), len(tool.got)) && ours[off] == tool.got[off] {
					off++
				}
				t.Fatalf("input %d (%d records): ours (%d bytes) differs from %s (%d bytes) at offset %d",
					i, n, len(ours), tool.name, len(tool.got), off)
			}
		}
		if i%8 == 0 {
			check(t, open(t, ours), recs, []byte("not a key \x00"))
		}
	}
	t.Logf("%d inputs, %d records: identical to cdbmake and cdb -c", inputs, total)
}

// TestReaderMatchesCdbget looks keys up with freecdb's cdbget in a file made by
// cdbmake and compares the answers with our Reader's.
func TestReaderMatchesCdbget(t *testing.T) {
	cdbmake := lookTool(t, "cdbmake")
	cdbget := lookTool(t, "cdbget")
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	var recs []rec
	for i := range 500 {
		recs = append(recs, r(fmt.Sprintf("10.%d.%d.", i%7, i%50), fmt.Sprintf("+RELAYCLIENT=\x00ID=%d\x00", i)))
	}
	recs = append(recs, r("x", ""), r("x", "second"))
	if err := os.WriteFile(input, cdbmakeInput(recs), 0o644); err != nil {
		t.Fatal(err)
	}
	file := runTool(t, dir, input, "a.cdb", cdbmake, "a.cdb", "a.tmp")
	rd := open(t, file)
	if all, _ := rd.GetAll([]byte("x")); len(all) != 2 {
		t.Fatalf("GetAll(x) = %q, want 2 records", all)
	}
	runs := 0
	for _, k := range []string{"10.0.0.", "10.3.17.", "10.6.49.", "x", "10.9.9.", "nope"} {
		all, err := rd.GetAll([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		for skip := range len(all) + 1 {
			f, err := os.Open(filepath.Join(dir, "a.cdb"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := testexec.Command(t, cdbget, k, fmt.Sprint(skip))
			cmd.Stdin = f
			out, err := cmd.Output()
			f.Close()
			runs++
			if skip < len(all) {
				if err != nil || !bytes.Equal(out, all[skip]) {
					t.Errorf("cdbget %q %d = %q, %v; our GetAll has %q", k, skip, out, err, all[skip])
				}
			} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 100 {
				t.Errorf("cdbget %q %d = %q, %v; we have only %d records", k, skip, out, err, len(all))
			}
		}
		first, ok, err := rd.Get([]byte(k))
		if err != nil || ok != (len(all) > 0) || (ok && !bytes.Equal(first, all[0])) {
			t.Errorf("Get(%q) = %q, %v, %v; GetAll = %q", k, first, ok, err, all)
		}
	}
	if runs < 10 {
		t.Fatalf("only %d cdbget runs", runs)
	}
	if !slices.Equal(file, build(t, recs)) {
		t.Error("cdbmake and our Writer disagree")
	}
}
