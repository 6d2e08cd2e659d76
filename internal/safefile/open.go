package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// NotRegularError reports a configuration file that is not a regular file:
// a FIFO would block the reader forever, /dev/zero would fill the memory,
// and neither is configuration. It is bad input.
type NotRegularError struct {
	Path   string      // the path as given
	Target string      // what a symbolic link at Path resolves to, or ""
	Mode   fs.FileMode // the file's type
}

func (e *NotRegularError) Error() string {
	at := e.Path
	if e.Target != "" && e.Target != e.Path {
		at = fmt.Sprintf("%s (a link to %s)", e.Path, e.Target)
	}
	return fmt.Sprintf("%s is %s, not a regular file", at, kindOf(e.Mode))
}

// kindOf names a file type for a person.
func kindOf(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "not a file qmailctl reads"
	}
}

func notRegular(path, target string, mode fs.FileMode) error {
	if abs, err := filepath.Abs(path); err == nil && abs == target {
		target = "" // no link on the way
	}
	return &NotRegularError{Path: path, Target: target, Mode: mode}
}

// Open opens the configuration file at path for reading. It is the one way
// qmailctl opens a rules file, a control file, a cdb or a service's files:
//
//   - only a regular file is opened: anything else is a *NotRegularError,
//     found without blocking (the file is opened with O_NONBLOCK, so a FIFO
//     with no writer cannot hang the command, and checked with fstat before
//     a byte is read; O_NONBLOCK is then cleared);
//   - as root, the links on the way must pass the link rule (see
//     UntrustedError), and the file opened must be the one checked.
//
// A missing file is an error that matches fs.ErrNotExist, as from os.Open.
func Open(path string) (*os.File, error) {
	return system().open(path)
}

func (c *checker) open(path string) (*os.File, error) {
	name, flags := path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY
	var want *node
	if c.root {
		target, err := c.resolve(path)
		if err != nil {
			return nil, err
		}
		n, err := c.lstat(target)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: errors.Unwrap(err)}
		}
		if !n.mode.IsRegular() {
			return nil, notRegular(path, target, n.mode)
		}
		// The path is now free of links: one planted after the check makes
		// open fail rather than be followed.
		name, flags, want = target, flags|syscall.O_NOFOLLOW, &n
	} else if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		// Refused before opening: opening some devices has effects.
		target, _ := filepath.EvalSymlinks(path)
		return nil, notRegular(path, target, fi.Mode())
	}
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, flags, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	got := nodeOf(&st)
	switch {
	case !got.mode.IsRegular():
		syscall.Close(fd)
		return nil, notRegular(path, name, got.mode)
	case want != nil && (got.dev != want.dev || got.ino != want.ino):
		syscall.Close(fd)
		return nil, &UntrustedError{Path: path, Why: fmt.Sprintf("%s was replaced while qmailctl opened it", name)}
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads the whole configuration file at path, opened by Open.
func ReadFile(path string) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 512
	if fi, err := f.Stat(); err == nil && fi.Size() < 1<<30 {
		size += int(fi.Size())
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, fmt.Errorf("read %s: %w", path, err)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// Stat returns the FileInfo of the configuration file at path with Open's
// checks, without opening it: as root, the links on the way must pass the
// link rule; and it must be a regular file. A missing file matches
// fs.ErrNotExist.
func Stat(path string) (fs.FileInfo, error) {
	c := system()
	name := path
	if c.root {
		target, err := c.resolve(path)
		if err != nil {
			return nil, err
		}
		name = target
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: errors.Unwrap(err)}
	}
	if !fi.Mode().IsRegular() {
		target, _ := filepath.EvalSymlinks(path)
		return nil, notRegular(path, target, fi.Mode())
	}
	return fi, nil
}

// Refused reports whether err is one of Open's, Stat's or the write checks'
// refusals (a *NotRegularError or an *UntrustedError): the layout is wrong,
// and trying again will not help. Code that would otherwise treat a failed
// read as "stale" or "temporary" passes these on.
func Refused(err error) bool {
	var nr *NotRegularError
	var ue *UntrustedError
	return errors.As(err, &nr) || errors.As(err, &ue)
}
