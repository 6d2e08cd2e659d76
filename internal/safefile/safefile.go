// Package safefile replaces files the way a mail server's configuration must
// be replaced: under an exclusive lock, through a temporary file in the same
// directory that is fsynced and renamed over the target, so that a reader
// (tcpserver opens its cdb for every connection) sees the old complete file or
// the new complete file and nothing in between.
//
// The result keeps the mode and owner of the file it replaces. A new file gets
// a fixed mode whatever the umask, because `sudo` with umask 077 would
// otherwise leave a cdb that qmaild cannot read, and every connection would be
// dropped.
package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
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
	dir string
	f   *os.File
}

// LockDir takes the lock on dir, waiting up to timeout for another holder.
func LockDir(dir string, timeout time.Duration) (*Lock, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	dir, err := resolveDir(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &Lock{dir: dir, f: f}, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: waited %v: %w", dir, timeout, ErrLocked)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	l.removeLitter(target)

	var owner *syscall.Stat_t
	if fi, err := os.Stat(target); err == nil {
		owner, _ = fi.Sys().(*syscall.Stat_t)
	}
	pf, err := renameio.NewPendingFile(target,
		renameio.WithTempDir(l.dir),
		renameio.WithStaticPermissions(DefaultMode),
		renameio.WithExistingPermissions())
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	defer pf.Cleanup()
	if owner != nil && (int(owner.Uid) != os.Geteuid() || int(owner.Gid) != os.Getegid()) {
		// Only root may give a file away; anyone else keeps the file as theirs,
		// as tcprules does.
		if err := pf.Chown(int(owner.Uid), int(owner.Gid)); err != nil && !errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("write %s: keep owner: %w", target, err)
		}
	}
	if err := write(pf.File); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return syncDir(l.dir)
}

// removeLitter deletes temporary files that an earlier run left behind when it
// was killed between creating and renaming them. Holding the lock proves no
// other qmailctl is writing them now.
func (l *Lock) removeLitter(target string) {
	prefix := "." + filepath.Base(target)
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		os.Remove(filepath.Join(l.dir, name))
	}
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

// resolveFile follows a symbolic link at path (if any) to the file it names,
// and resolves the directory, so the lock check compares like with like.
func resolveFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := resolveDir(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}
