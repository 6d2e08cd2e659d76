package safefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func writeString(s string) func(*os.File) error {
	return func(f *os.File) error { _, err := f.WriteString(s); return err }
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func begin(t *testing.T, paths ...string) *Txn {
	t.Helper()
	txn, err := Begin(time.Second, paths...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { txn.Close() })
	return txn
}

// A source in one directory and its cdb in another are replaced together,
// only at Commit; the cdb can be compiled from the staged source.
func TestTxnCommitsTogether(t *testing.T) {
	root := t.TempDir()
	src, dst := filepath.Join(root, "real", "tcp.smtp"), filepath.Join(root, "tcp", "tcp.smtp.cdb")
	mustWrite(t, src, "old source")
	mustWrite(t, dst, "old cdb")
	txn := begin(t, src, dst)
	if err := txn.Stage(src, writeString("new source")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Stage(dst, func(f *os.File) error {
		in, err := txn.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(f, in)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	assertContent(t, src, "old source")
	assertContent(t, dst, "old cdb")
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	assertContent(t, src, "new source")
	assertContent(t, dst, "new source")
	txn.Close()
	assertOnlyFiles(t, filepath.Dir(src), "tcp.smtp")
	assertOnlyFiles(t, filepath.Dir(dst), "tcp.smtp.cdb")
}

// When the cdb cannot be written (a full disk, a compile error, a directory
// in its place), the source staged before it is not replaced either.
func TestTxnFailureReplacesNothing(t *testing.T) {
	boom := errors.New("disk full")
	tests := []struct {
		name  string
		setup func(t *testing.T, dst string)
		write func(*os.File) error
		want  error
	}{
		{"write fails", func(t *testing.T, dst string) { mustWrite(t, dst, "old cdb") },
			func(f *os.File) error { f.WriteString("partial"); return boom }, boom},
		{"target is a directory", func(t *testing.T, dst string) { os.MkdirAll(dst, 0o755) },
			writeString("new cdb"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "tcp.smtp"), filepath.Join(dir, "tcp.smtp.cdb")
			mustWrite(t, src, "old source")
			tt.setup(t, dst)
			txn := begin(t, src, dst)
			if err := txn.Stage(src, writeString("new source")); err != nil {
				t.Fatal(err)
			}
			err := txn.Stage(dst, tt.write)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Stage(cdb) = %v, want %v", err, tt.want)
			}
			if err := txn.Close(); err != nil {
				t.Fatal(err)
			}
			assertContent(t, src, "old source")
			assertOnlyFiles(t, dir, "tcp.smtp", "tcp.smtp.cdb")
		})
	}
}

// A directory reached through a symbolic link and by its own name is locked
// once: flocking it twice would wait on itself until the timeout.
func TestBeginLocksADirectoryOnce(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "real", "tcp", "tcp.smtp"), ":allow\n")
	if err := os.Symlink("real", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "link", "tcp", "tcp.smtp")
	txn, err := Begin(100*time.Millisecond, src, filepath.Join(root, "real", "tcp", "tcp.smtp.cdb"), src+".cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	if len(txn.locks) != 1 {
		t.Fatalf("%d locks, want 1", len(txn.locks))
	}
	if err := txn.Stage(src+".cdb", writeString("cdb")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	assertContent(t, filepath.Join(root, "real", "tcp", "tcp.smtp.cdb"), "cdb")
}

// Every transaction locks its directories in one order, whatever the order
// of its paths, so two edits of files linked into each other's directory
// cannot each hold the lock the other waits for.
func TestBeginLockOrder(t *testing.T) {
	root := t.TempDir()
	var paths []string
	for _, d := range []string{"a", "b", "c"} {
		paths = append(paths, filepath.Join(root, d, "tcp.smtp"))
		mustWrite(t, paths[len(paths)-1], "")
	}
	order := func(paths ...string) []string {
		txn := begin(t, paths...)
		defer txn.Close()
		var dirs []string
		for _, l := range txn.locks {
			dirs = append(dirs, l.Dir())
		}
		return dirs
	}
	want := order(paths...)
	if len(want) != 3 {
		t.Fatalf("locked %q, want three directories", want)
	}
	for _, p := range [][]string{{paths[2], paths[1], paths[0]}, {paths[1], paths[0], paths[2]}} {
		if got := order(p...); !slices.Equal(got, want) {
			t.Errorf("Begin(%q) locked %q, want %q", p, got, want)
		}
	}
	// The order is the directories' identity, not their names.
	var ids []dirID
	for _, d := range want {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, dirID{uint64(st.Dev), st.Ino})
	}
	if !slices.IsSortedFunc(ids, dirID.compare) {
		t.Errorf("locked in order %v, not sorted by device and inode", ids)
	}
}

// Locking a directory removes what killed runs left, also when nothing is
// written afterwards (a cdb found up to date), but never a temporary file
// that a live process holds, one newer than the lock, or anybody else's.
func TestLockRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	// renameio's leftovers: .NAME and a random int64 (15-19 digits).
	stale := []string{".tcp.smtp.cdb.qmailctl-123456", ".morercpthosts.qmailctl-1", ".tcp.smtp.cdb8765309437165307294", ".tcp.smtp123456789012345"}
	// An admin's backups beside the files (.tcp.smtp20240101, .tcp.smtp1)
	// are not qmailctl's, whatever their age.
	keep := []string{".tcp.smtp.cdb.qmailctl-12x", "tcp.smtp.qmailctl-1", ".qmailctl-1", ".other123", "tcp.smtp", "tcp.smtp.cdb",
		".tcp.smtp20240101", ".tcp.smtp1", ".tcp.smtp.cdb8765309", ".tcp.smtp.cdb12345678901234567890", ".other123456789012345678"}
	for _, n := range append(slices.Clone(stale), keep...) {
		mustWrite(t, filepath.Join(dir, n), "")
	}
	held := filepath.Join(dir, ".tcp.smtp.qmailctl-42")
	mustWrite(t, held, "")
	hf, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	if err := syscall.Flock(int(hf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	future := filepath.Join(dir, ".tcp.smtp.qmailctl-43")
	mustWrite(t, future, "")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(future, later, later); err != nil {
		t.Fatal(err)
	}
	l := lock(t, dir)
	l.Unlock()
	want := append(keep, filepath.Base(held), filepath.Base(future))
	slices.Sort(want)
	assertOnlyFiles(t, dir, want...)
}

// A link whose target does not exist yet (a cdb link made before the first
// build) is followed too: the link stays, and the file it names is created
// under the lock of its own directory.
func TestBeginFollowsDanglingLink(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"tcp", "cdbs"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "tcp", "tcp.smtp.cdb")
	if err := os.Symlink("../cdbs/tcp.smtp.cdb", link); err != nil {
		t.Fatal(err)
	}
	txn := begin(t, link)
	if err := txn.Stage(link, writeString("cdb")); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi, err)
	}
	assertContent(t, filepath.Join(root, "cdbs", "tcp.smtp.cdb"), "cdb")
}

// A transaction that cannot take every lock takes none: the locks it got
// are released before it reports the one it waited for.
func TestBeginLockedReleasesAll(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a", "tcp.smtp"), filepath.Join(root, "b", "tcp.smtp.cdb")
	mustWrite(t, a, "")
	mustWrite(t, b, "")
	held := lock(t, filepath.Dir(b))
	if _, err := Begin(0, a, b); !errors.Is(err, ErrLocked) {
		t.Fatalf("Begin with %s held: err = %v, want ErrLocked", held.Dir(), err)
	}
	l, err := LockDir(filepath.Dir(a), 0)
	if err != nil {
		t.Fatalf("the other directory is still locked: %v", err)
	}
	l.Unlock()
}
