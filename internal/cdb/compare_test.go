package cdb

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// writeDB writes recs as a cdb at path.
func writeDB(t *testing.T, path string, recs []rec) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range recs {
		if err := w.Add(x.key, x.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

func emitAll(recs []rec) func(add func(k, d []byte) error) error {
	return func(add func(k, d []byte) error) error {
		for _, x := range recs {
			if err := add(x.key, x.data); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestCompare(t *testing.T) {
	have := []rec{r("a", ""), r("b", "D"), r("c", "")}
	cases := []struct {
		name       string
		want       []rec
		state      State
		record     int
		cdbRecords int
	}{
		{"same", have, Fresh, 0, 0},
		{"data differs", []rec{r("a", ""), r("b", ""), r("c", "")}, Differs, 2, 0},
		{"key differs", []rec{r("a", ""), r("x", "D"), r("c", "")}, Differs, 2, 0},
		{"source longer", append(append([]rec{}, have...), r("d", "")), SourceLonger, 4, 0},
		{"cdb longer", have[:1], CDBLonger, 2, 3},
		{"empty source", nil, CDBLonger, 1, 3},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "x.cdb")
	writeDB(t, path, have)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := Compare(path, emitAll(c.want))
			if err != nil {
				t.Fatal(err)
			}
			if st.State != c.state || st.Record != c.record || st.CDBRecords != c.cdbRecords || st.Stale() != (c.state != Fresh) {
				t.Errorf("Compare = %v record %d cdb %d (%s); want %v record %d cdb %d", st.State, st.Record, st.CDBRecords, st.Reason, c.state, c.record, c.cdbRecords)
			}
		})
	}

	st, err := Compare(filepath.Join(dir, "none.cdb"), emitAll(have))
	if err != nil || st.State != NoCDB {
		t.Errorf("missing cdb: %v %v; want NoCDB", st.State, err)
	}
	bad := filepath.Join(dir, "bad.cdb")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	st, err = Compare(bad, emitAll(have))
	if err != nil || st.State != Corrupt {
		t.Errorf("corrupt cdb: %v %v; want Corrupt", st.State, err)
	}
	// An error of the source (a syntax error) is returned as is.
	boom := errors.New("line 3: syntax error")
	_, err = Compare(path, func(add func(k, d []byte) error) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("source error: %v; want %v", err, boom)
	}
}
