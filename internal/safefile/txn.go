package safefile

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Txn is one edit that may replace several files, in one or more
// directories, all or nothing: `tcp add` writes the rules file (perhaps a
// link into another directory) and its cdb.
//
// Begin resolves every path once and locks every directory involved, each
// once, in one global order; Stage writes and syncs a new file beside its
// target; Commit renames the staged files into place, in the order they were
// staged, and syncs their directories. A failure before Commit (a compile
// error, a full disk, a lock not obtained) leaves every file as it was.
type Txn struct {
	locks   []*Lock
	targets map[string]string // each path given to Begin -> the file it names
	staged  []*staged
}

// Begin starts a transaction on paths: it resolves each (following a
// symbolic link to the file it names) and locks the directory of each,
// waiting up to timeout in all for other holders. Close ends it.
func Begin(timeout time.Duration, paths ...string) (*Txn, error) {
	t := &Txn{targets: make(map[string]string, len(paths))}
	dirs := make([]string, 0, len(paths))
	for _, p := range paths {
		target, err := resolveFile(p)
		if err != nil {
			return nil, err
		}
		t.targets[p] = target
		dirs = append(dirs, filepath.Dir(target))
	}
	locks, err := lockDirs(dirs, timeout)
	if err != nil {
		return nil, err
	}
	t.locks = locks
	return t, nil
}

// Target is the file that path, one of Begin's paths, names: symbolic links
// resolved, as the transaction writes it.
func (t *Txn) Target(path string) (string, error) {
	target, ok := t.targets[path]
	if !ok {
		return "", fmt.Errorf("%s: not part of the transaction", path)
	}
	return target, nil
}

// Stage writes the new content of path, one of Begin's paths, with write
// into a temporary file beside the file it names, and syncs it. Nothing is
// visible until Commit. If write fails, nothing is left behind.
func (t *Txn) Stage(path string, write func(f *os.File) error) error {
	if t.locks == nil {
		return fmt.Errorf("write %s: transaction closed", path)
	}
	if err := CheckWrite(path); err != nil {
		return err
	}
	target, err := t.Target(path)
	if err != nil {
		return err
	}
	for _, s := range t.staged {
		if s.target == target {
			return fmt.Errorf("write %s: staged twice", path)
		}
	}
	s, err := stage(target, write)
	if err != nil {
		return err
	}
	t.staged = append(t.staged, s)
	return nil
}

// Open opens path, one of Begin's paths, for reading as the transaction
// sees it: the staged content if it was staged, else the file. A cdb is
// compiled from the staged source this way, so it is exactly what will be
// committed.
func (t *Txn) Open(path string) (*os.File, error) {
	target, err := t.Target(path)
	if err != nil {
		return nil, err
	}
	for _, s := range t.staged {
		if s.target == target {
			return os.Open(s.f.Name())
		}
	}
	return Open(target)
}

// Commit renames every staged file over its target, in the order staged,
// and syncs their directories. The locks stay held until Close, so more
// files may be staged and committed.
//
// A rename within a directory fails only on an I/O error; if one does, the
// files staged after it are discarded and the error says which file was not
// replaced.
func (t *Txn) Commit() error {
	staged := t.staged
	t.staged = nil
	var dirs []string
	for i, s := range staged {
		if err := s.commit(); err != nil {
			for _, rest := range staged[i+1:] {
				rest.abort()
			}
			return err
		}
		if d := filepath.Dir(s.target); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// Close discards what was staged and not committed and releases the locks.
// It is safe to call more than once.
func (t *Txn) Close() error {
	for _, s := range t.staged {
		s.abort()
	}
	t.staged = nil
	var first error
	for _, l := range t.locks {
		if err := l.Unlock(); err != nil && first == nil {
			first = err
		}
	}
	t.locks = nil
	return first
}

// dirID names a directory whatever the path it is reached by.
type dirID struct{ dev, ino uint64 }

func (a dirID) compare(b dirID) int {
	return cmp.Or(cmp.Compare(a.dev, b.dev), cmp.Compare(a.ino, b.ino))
}

// lockDirs locks each directory in dirs once, waiting up to timeout in all.
//
// Every qmailctl takes its locks here, in one global order, by device and
// inode: two runs that need the same two directories (two rules files linked
// into each other's directory) take them in the same order and cannot
// deadlock. A directory reached by two paths (a symbolic link, `.`) is locked
// once: a second flock through a second descriptor would wait for the first
// forever. When all are held, the temporary files killed runs left in them
// are removed.
func lockDirs(dirs []string, timeout time.Duration) ([]*Lock, error) {
	type entry struct {
		id   dirID
		lock *Lock
	}
	var all []entry
	release := func() {
		for _, e := range all {
			e.lock.Unlock()
		}
	}
	for _, d := range dirs {
		if err := CheckDir(d); err != nil {
			release()
			return nil, err
		}
		dir, err := resolveDir(d)
		if err != nil {
			release()
			return nil, err
		}
		f, err := os.Open(dir)
		if err != nil {
			release()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			f.Close()
			release()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		id := dirID{uint64(st.Dev), st.Ino}
		if slices.ContainsFunc(all, func(e entry) bool { return e.id == id }) {
			f.Close()
			continue
		}
		all = append(all, entry{id, &Lock{dir: dir, f: f}})
	}
	slices.SortFunc(all, func(a, b entry) int { return a.id.compare(b.id) })
	deadline := time.Now().Add(timeout)
	for _, e := range all {
		if err := flock(e.lock, deadline, timeout); err != nil {
			release()
			return nil, err
		}
	}
	since := time.Now()
	locks := make([]*Lock, len(all))
	for i, e := range all {
		e.lock.since = since
		e.lock.removeStale()
		locks[i] = e.lock
	}
	return locks, nil
}

// flock takes l's lock, polling until deadline.
func flock(l *Lock, deadline time.Time, timeout time.Duration) error {
	for {
		err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			return fmt.Errorf("lock %s: %w", l.dir, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lock %s: waited %v: %w", l.dir, timeout, ErrLocked)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
