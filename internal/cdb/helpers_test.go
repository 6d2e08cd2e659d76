package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/qmailctl/qmailctl/internal/peers"
)

// rec is one record of a test database.
type rec struct {
	key, data []byte
}

func r(key, data string) rec { return rec{[]byte(key), []byte(data)} }

// memFile is an in-memory io.WriteSeeker (and io.ReaderAt through bytes()).
type memFile struct {
	b   []byte
	off int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.off:], p)
	m.off += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += m.off
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	m.off = off
	return off, nil
}

// build returns the cdb our Writer makes of recs.
func build(t testing.TB, recs []rec) []byte {
	t.Helper()
	var m memFile
	w, err := NewWriter(&m)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range recs {
		if err := w.Add(x.key, x.data); err != nil {
			t.Fatal(err)
		}
	}
	if w.Len() != len(recs) {
		t.Fatalf("Len = %d, want %d", w.Len(), len(recs))
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return m.b
}

func open(t testing.TB, b []byte) *Reader {
	t.Helper()
	rd, err := New(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// cdbmakeInput renders recs in the input format of cdbmake and cdb -c.
func cdbmakeInput(recs []rec) []byte {
	var b bytes.Buffer
	for _, x := range recs {
		fmt.Fprintf(&b, "+%d,%d:%s->%s\n", len(x.key), len(x.data), x.key, x.data)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// lookTool returns the path of one of the reference cdb tools (freecdb's
// cdbmake and cdbget, tinycdb's cdb). Missing tools fail the test under CI,
// which must prove compatibility, and skip it elsewhere.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; isExecutable(p) {
		return p
	}
	peers.Missing(t, "reference tool %s not found; install Debian's freecdb and tinycdb (scripts/install-test-deps.sh)", name)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
