// Package safefile replaces files the way a mail server's configuration must
// be replaced: under an exclusive lock, through a temporary file in the same
// directory that is fsynced and renamed over the target, so that a reader
// (tcpserver opens its cdb for every connection) sees the old complete file or
// the new complete file and nothing in between.
//
// An edit that changes several files (a rules file and its cdb) is one
// transaction (see Txn): every new file is written and synced before the
// first is renamed into place, so a failure leaves all of them as they were.
//
// The result keeps the mode and owner of the file it replaces. A new file gets
// a fixed mode whatever the umask, because `sudo` with umask 077 would
// otherwise leave a cdb that qmaild cannot read, and every connection would be
// dropped.
package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// DefaultMode is the mode of a newly created file: readable by the daemons
// that run under their own users (qmaild, tcpserver's -u user).
const DefaultMode os.FileMode = 0o644

// ErrLocked reports that another process held the lock for the whole wait.
var ErrLocked = errors.New("locked by another process")

// Lock is an exclusive flock(2) on a directory. Every qmailctl command that
// edits or compiles a file in that directory holds it, so two runs never
// interleave and a compile never reads a half-edited source.
type Lock struct {
	dir   string
	f     *os.File
	since time.Time // when the lock was taken
}

// LockDir takes the lock on dir, waiting up to timeout for another holder.
// Temporary files that a killed run left in dir are removed.
func LockDir(dir string, timeout time.Duration) (*Lock, error) {
	locks, err := lockDirs([]string{dir}, timeout)
	if err != nil {
		return nil, err
	}
	return locks[0], nil
}

// LockFor locks the directory that holds path's file: the directory of the
// file a symbolic link at path points to, so that WriteFile(path) may
// replace it.
func LockFor(path string, timeout time.Duration) (*Lock, error) {
	target, err := resolveFile(path)
	if err != nil {
		return nil, err
	}
	return LockDir(filepath.Dir(target), timeout)
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// Dir is the locked directory, with symbolic links resolved.
func (l *Lock) Dir() string { return l.dir }

// WriteFile atomically replaces path, which must be in the locked directory,
// with what write puts into the temporary file. If write fails, the target is
// untouched and the temporary file is removed. A symbolic link at path is
// followed, so the file it points to is replaced and the link is kept.
// To replace several files together, use a Txn.
func (l *Lock) WriteFile(path string, write func(f *os.File) error) error {
	if l == nil || l.f == nil {
		return fmt.Errorf("write %s: lock not held", path)
	}
	if err := CheckWrite(path); err != nil {
		return err
	}
	target, err := resolveFile(path)
	if err != nil {
		return err
	}
	if filepath.Dir(target) != l.dir {
		return fmt.Errorf("write %s: not in the locked directory %s", path, l.dir)
	}
	l.removeStale(filepath.Base(target))
	s, err := stage(target, write)
	if err != nil {
		return err
	}
	if err := s.commit(); err != nil {
		return err
	}
	return syncDir(l.dir)
}

// tempMark is part of the name of every temporary file: .NAME.qmailctl-DIGITS
// beside NAME. It tells a leftover of a killed run from anybody else's file.
const tempMark = ".qmailctl-"

// staged is the new content of one file, written to a temporary file beside
// it and synced, waiting to be renamed over the target.
type staged struct {
	target string
	f      *os.File // open, and flocked, until it is committed or aborted
}

// stage writes the new content of target into a temporary file in target's
// directory (which the caller has locked), with the target's mode and owner,
// and syncs it. On failure nothing is left behind.
func stage(target string, write func(f *os.File) error) (*staged, error) {
	mode := DefaultMode
	var owner *syscall.Stat_t
	switch fi, err := os.Stat(target); {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("write %s: is a directory", target)
	case err == nil:
		mode = fi.Mode().Perm()
		owner, _ = fi.Sys().(*syscall.Stat_t)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("write %s: %w", target, err)
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+tempMark+"*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", target, err)
	}
	s := &staged{target: target, f: f}
	fail := func(err error) (*staged, error) {
		s.abort()
		return nil, fmt.Errorf("write %s: %w", target, err)
	}
	// The flock tells a run that finds this file while it holds the
	// directory's lock that the file is in use (see removeStale).
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fail(err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if owner != nil && (int(owner.Uid) != os.Geteuid() || int(owner.Gid) != os.Getegid()) {
		// Only root may give a file away; anyone else keeps the file as theirs,
		// as tcprules does.
		if err := f.Chown(int(owner.Uid), int(owner.Gid)); err != nil && !errors.Is(err, syscall.EPERM) {
			return fail(fmt.Errorf("keep owner: %w", err))
		}
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return s, nil
}

// commit renames the temporary file over the target. The caller syncs the
// directory.
func (s *staged) commit() error {
	err := os.Rename(s.f.Name(), s.target)
	if err != nil {
		s.abort()
		return fmt.Errorf("write %s: %w", s.target, err)
	}
	s.f.Close()
	return nil
}

// abort removes the temporary file.
func (s *staged) abort() {
	os.Remove(s.f.Name())
	s.f.Close()
}

// removeStale deletes the temporary files that an earlier run left behind
// when it was killed between creating and renaming them: files named as
// stage names them (and, as versions before transactions named them, .NAME
// followed by digits beside an existing NAME or a NAME about to be written)
// that are older than the lock and that no process holds. Holding the
// directory's lock proves no other qmailctl is writing them now; the age and
// the flock make sure of it.
func (l *Lock) removeStale(writing ...string) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, n := range writing {
		names[n] = true
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isTempName(e.Name(), names) {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.ModTime().After(l.since) {
			continue
		}
		path := filepath.Join(l.dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(path)
		}
		f.Close()
	}
}

// isTempName reports whether name is a temporary file of qmailctl's naming:
// .NAME.qmailctl-DIGITS, or what versions before transactions wrote through
// renameio: .NAME followed by a random non-negative int64 in decimal, where
// NAME is in the directory. That number has 15 to 19 digits but for one
// draw in 100,000; an admin's own .NAME20240101 or .NAME1 is never taken
// for one.
func isTempName(name string, names map[string]bool) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	if base, digits, ok := strings.Cut(rest, tempMark); ok && base != "" && isDigits(digits) {
		return true
	}
	for n := 15; n <= 19 && n < len(rest); n++ {
		base, digits := rest[:len(rest)-n], rest[len(rest)-n:]
		if isDigits(digits) && !isDigits(base[len(base)-1:]) && names[base] {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// syncDir makes the rename durable: without it a power cut can bring back the
// old file after we said the new one is in place.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func resolveDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	r, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	return r, nil
}

// resolveFile follows a symbolic link at path (if any, and also when its
// target does not exist yet) to the file it names, and resolves the
// directory, so the lock check compares like with like.
func resolveFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for range 40 { // as many links as Linux follows
		if r, err := filepath.EvalSymlinks(abs); err == nil {
			return r, nil
		}
		dir, err := resolveDir(filepath.Dir(abs))
		if err != nil {
			return "", err
		}
		link, err := os.Readlink(abs)
		if err != nil { // no link: a new file in an existing directory
			return filepath.Join(dir, filepath.Base(abs)), nil
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(dir, link)
		}
		abs = link
	}
	return "", fmt.Errorf("resolve %s: %w", path, syscall.ELOOP)
}
