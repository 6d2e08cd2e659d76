package safefile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within runs f and fails the test if it has not returned after a minute:
// a regression that blocks on a FIFO fails instead of hanging the suite
// (the blocked goroutine dies with the test binary).
func within(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("still blocked after a minute")
	}
}

func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "tcp.smtp.cdb")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "tcp.smtp")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "relayclients")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	tests := []struct {
		path, want string
	}{
		{fifo, fifo + " is a FIFO, not a regular file"},
		{zero, zero + " (a link to /dev/zero) is a character device, not a regular file"},
		{dir, dir + " is a directory, not a regular file"},
		{sock, sock + " is a socket, not a regular file"},
	}
	for _, tt := range tests {
		for name, open := range map[string]func(string) error{
			"Open":     func(p string) error { f, err := Open(p); f.Close(); return err },
			"ReadFile": func(p string) error { _, err := ReadFile(p); return err },
			"Stat":     func(p string) error { _, err := Stat(p); return err },
		} {
			t.Run(name+"/"+filepath.Base(tt.path), func(t *testing.T) {
				var err error
				within(t, func() { err = open(tt.path) })
				var nr *NotRegularError
				if !errors.As(err, &nr) {
					t.Fatalf("err = %v, want a *NotRegularError", err)
				}
				if err.Error() != tt.want {
					t.Errorf("err = %q, want %q", err, tt.want)
				}
			})
		}
	}
}

func TestOpenRegularFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tcp.smtp")
	if err := os.WriteFile(path, []byte("10.:allow\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("tcp.smtp", link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, link} {
		data, err := ReadFile(p)
		if err != nil || string(data) != "10.:allow\n" {
			t.Errorf("ReadFile(%s) = %q, %v", p, data, err)
		}
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		flags, err := fcntlFlags(f)
		f.Close()
		if err != nil || flags&syscall.O_NONBLOCK != 0 {
			t.Errorf("Open(%s) left flags %#x (%v): O_NONBLOCK must be cleared", p, flags, err)
		}
	}
	for _, f := range []func(string) error{
		func(p string) error { _, err := Open(p); return err },
		func(p string) error { _, err := ReadFile(p); return err },
		func(p string) error { _, err := Stat(p); return err },
	} {
		if err := f(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
		}
	}
}

func fcntlFlags(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var flags uintptr
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	})
	if err == nil && errno != 0 {
		err = errno
	}
	return int(flags), err
}

func TestWriteRefusesToReplaceASpecialFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "tcp.smtp.cdb")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	l := lock(t, dir)
	err := l.WriteFile(fifo, func(f *os.File) error { _, err := f.WriteString("x"); return err })
	var nr *NotRegularError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "is a FIFO") {
		t.Fatalf("err = %v, want a *NotRegularError naming the FIFO", err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != fs.ModeNamedPipe {
		t.Errorf("the FIFO was replaced: %v, %v", fi, err)
	}
}
