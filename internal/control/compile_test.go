package control

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

func TestRecords(t *testing.T) {
	src := "# comment\nExample.COM \t\n\n   \n.Sub.Example\n#x\nexample.com\nlast.example"
	want := []string{"example.com", ".sub.example", "example.com", "last.example"}
	if got := Records([]byte(src)); !slices.Equal(got, want) {
		t.Errorf("Records = %q, want %q", got, want)
	}
	// qmail-cdb strips only space, TAB and newline: a CR stays in the key.
	if got := Records([]byte("a.example\r\n")); !slices.Equal(got, []string{"a.example\r"}) {
		t.Errorf("CRLF: %q", got)
	}
	if got := Records(nil); len(got) != 0 {
		t.Errorf("empty: %q", got)
	}
}

// compile runs Compile in a transaction of its own and commits it, as
// qmailctl cdb does.
func compile(t *testing.T, kind Kind, dir string) (int, []diag.Problem, error) {
	t.Helper()
	src, dst, err := compiled(kind, dir)
	if err != nil {
		return Compile(nil, kind, dir) // refused before it touches a file
	}
	txn, err := safefile.Begin(time.Second, src, dst)
	if err != nil {
		return 0, nil, err
	}
	defer txn.Close()
	n, problems, err := Compile(txn, kind, dir)
	if err == nil {
		err = txn.Commit()
	}
	return n, problems, err
}

// cdbmake runs DJB's cdbmake (freecdb) on keys with empty data.
func cdbmake(t *testing.T, keys []string) []byte {
	t.Helper()
	bin, err := exec.LookPath("cdbmake")
	if err != nil {
		bin = "/usr/bin/cdbmake"
		if _, err := os.Stat(bin); err != nil {
			peers.Missing(t, "cdbmake is missing (install freecdb: scripts/install-test-deps.sh)")
		}
	}
	dir := t.TempDir()
	var in bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&in, "+%d,0:%s->\n", len(k), k)
	}
	in.WriteString("\n")
	out := filepath.Join(dir, "out.cdb")
	cmd := testexec.Command(t, bin, out, filepath.Join(dir, "out.tmp"))
	cmd.Stdin = &in
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdbmake: %v: %s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCompileMatchesCdbmake(t *testing.T) {
	var many strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&many, "host%d.Example.COM\n", i)
	}
	sources := map[Kind][]string{
		MoreRcptHosts: {
			"",
			"# only a comment\n",
			"example.com\n",
			"Example.COM\n.sub.example.com \t\n# c\n\nexample.com\nlast.example",
			many.String(),
		},
		RelayMailFrom: {
			"joe@example.com\n@example.org\n*@*.example.net\n!bad@x.example.net\nJoe@Example.COM\n",
		},
	}
	for kind, list := range sources {
		for i, src := range list {
			t.Run(fmt.Sprintf("%s/%d", kind, i), func(t *testing.T) {
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, kind.Name()), []byte(src), 0o644)
				n, warns, err := compile(t, kind, dir)
				if err != nil {
					t.Fatal(err)
				}
				keys := Records([]byte(src))
				if n != len(keys) {
					t.Errorf("Compile wrote %d records, want %d", n, len(keys))
				}
				_ = warns
				got, err := os.ReadFile(filepath.Join(dir, kind.CDBName()))
				if err != nil {
					t.Fatal(err)
				}
				if want := cdbmake(t, keys); !bytes.Equal(got, want) {
					t.Errorf("%s differs from cdbmake's (%d vs %d bytes)", kind.CDBName(), len(got), len(want))
				}
				// And qmail-smtpd's lookups find every key.
				r, err := cdb.Open(filepath.Join(dir, kind.CDBName()))
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for _, k := range keys {
					if _, ok, err := r.Get([]byte(k)); !ok || err != nil {
						t.Fatalf("key %q not found: %v", k, err)
					}
				}
			})
		}
	}
}

// TestCompileInvalidSourceAsQmailNewmrh: lines qmailctl finds invalid are
// compiled as qmail-newmrh compiles them (the live servers match them
// literally), byte for byte, with a warning; before, Compile refused the
// file and wrote no cdb.
func TestCompileInvalidSourceAsQmailNewmrh(t *testing.T) {
	src := "example.com\n*.example.org\nTrail.Example.\n  lead.example\nunder_score.example \n#c\n\ncr.example\r\n"
	dir := t.TempDir()
	path := filepath.Join(dir, "morercpthosts")
	os.WriteFile(path, []byte(src), 0o644)
	n, problems, err := compile(t, MoreRcptHosts, dir)
	if err != nil || n != 6 {
		t.Fatalf("Compile = %d, %v; want 6 records", n, err)
	}
	for _, line := range []int{2, 3, 4, 5} {
		found := false
		for _, p := range problems {
			found = found || p.Line == line && p.Severity == diag.Warning
		}
		if !found {
			t.Errorf("no warning for line %d: %v", line, problems)
		}
	}
	if _, _, err := compile(t, MoreRcptHosts, t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
	if _, _, err := compile(t, RcptHosts, dir); err == nil {
		t.Error("Compile(rcpthosts) succeeded")
	}

	newmrh := peers.QmailTool(t, "notqmail", "qmail-newmrh")
	home := peers.ShortTempDir(t)
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	os.WriteFile(filepath.Join(home, "control", "morercpthosts"), []byte(src), 0o644)
	if out, err := testexec.Command(t, peers.NotqmailAt(t, newmrh, home)).CombinedOutput(); err != nil {
		t.Fatalf("qmail-newmrh: %v %s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(home, "control", "morercpthosts.cdb"))
	got, _ := os.ReadFile(filepath.Join(dir, "morercpthosts.cdb"))
	if !bytes.Equal(got, want) {
		t.Errorf("morercpthosts.cdb differs from qmail-newmrh's (%d and %d bytes)", len(got), len(want))
	}
}

func TestCompileReturnsWarningsAndKeepsMode(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "relaymailfrom"), []byte("*\n"), 0o644)
	cdbPath := filepath.Join(dir, "relaymailfrom.cdb")
	os.WriteFile(cdbPath, []byte("old"), 0o640)
	os.Chmod(cdbPath, 0o640)
	n, warns, err := compile(t, RelayMailFrom, dir)
	if err != nil || n != 1 || !hasMsg(warns, "matches every sender") {
		t.Fatalf("Compile = %d, %v, %v", n, warns, err)
	}
	if fi, err := os.Stat(cdbPath); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v %v", fi, err)
	}
}

func TestStale(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "morercpthosts")
	db := filepath.Join(dir, "morercpthosts.cdb")
	check := func(wantStale bool, wantReason string) {
		t.Helper()
		st, err := Stale(MoreRcptHosts, dir)
		if err != nil {
			t.Fatal(err)
		}
		stale, reason := st.Stale(), st.Reason
		if stale != wantStale || !strings.Contains(reason, wantReason) {
			t.Errorf("Stale = %v, %q; want %v, %q", stale, reason, wantStale, wantReason)
		}
	}
	check(false, "neither morercpthosts nor morercpthosts.cdb exists")

	os.WriteFile(src, []byte("a.example\nb.example\n"), 0o644)
	check(true, "morercpthosts.cdb does not exist")

	if _, _, err := compile(t, MoreRcptHosts, dir); err != nil {
		t.Fatal(err)
	}
	check(false, "morercpthosts.cdb matches morercpthosts (2 records)")

	// Same records, different text: comments, blanks, case: not stale.
	os.WriteFile(src, []byte("# hosts\nA.example \n\nb.example"), 0o644)
	check(false, "matches")

	// Changed content, same size, and the old modification time: stale.
	fi, _ := os.Stat(db)
	old := fi.ModTime().Add(-time.Hour)
	os.WriteFile(src, []byte("# hosts\nA.example \n\nc.example"), 0o644)
	os.Chtimes(src, old, old)
	check(true, `record 2 of morercpthosts.cdb is "b.example", but morercpthosts line 4 compiles to "c.example"`)

	os.WriteFile(src, []byte("a.example\nb.example\nc.example\n"), 0o644)
	check(true, `morercpthosts.cdb has 2 records, but morercpthosts compiles to 3 (line 3 "c.example" is missing)`)

	os.WriteFile(src, []byte("a.example\n"), 0o644)
	check(true, `("b.example" is no longer in the source)`)

	// A cdb with data in a record was not written by qmail-cdb.
	f, _ := os.Create(db)
	w, _ := cdb.NewWriter(f)
	w.Add([]byte("a.example"), []byte("x"))
	w.Finish()
	f.Close()
	check(true, "has data")

	os.WriteFile(db, []byte("garbage"), 0o644)
	check(true, "not a valid cdb")

	// qmail-cdb -m moved the source away: the cdb is left alone.
	os.Remove(src)
	check(false, "morercpthosts is missing")

	if _, err := Stale(RelayClients, dir); err == nil {
		t.Error("Stale(relayclients) succeeded")
	}
}
