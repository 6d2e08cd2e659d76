package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer the progress goroutine and the test can
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgressOnTerminal: on a (fake) terminal, a long operation gets a
// line that counts, rewritten in place, and erased by stop.
func TestProgressOnTerminal(t *testing.T) {
	var w lockedBuffer
	var n atomic.Int64
	p := newProgress(&w, true, 80, "compiling tcp.smtp", "lines", n.Load, 20*time.Millisecond, 5*time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(w.String(), "lines") && time.Now().Before(deadline); {
		n.Add(1000)
		time.Sleep(2 * time.Millisecond)
	}
	n.Store(123456)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(w.String(), ": 123456 lines") && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	p.stop()
	p.stop() // twice is fine
	out := w.String()
	if !strings.HasPrefix(out, "\r\x1b[Kcompiling tcp.smtp: ") || !strings.Contains(out, "\r\x1b[Kcompiling tcp.smtp: 123456 lines (0s)") {
		t.Errorf("progress output %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("stop did not erase the line: %q", out)
	}
	if strings.Contains(out, "\n") {
		t.Errorf("progress wrote a newline, which scrolls: %q", out)
	}
	after := w.String()
	time.Sleep(20 * time.Millisecond)
	if w.String() != after {
		t.Error("progress wrote after stop")
	}
}

// TestProgressQuick: an operation shorter than the delay shows nothing.
func TestProgressQuick(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, true, 80, "compiling tcp.smtp", "lines", func() int64 { return 1 }, time.Hour, time.Millisecond)
	p.stop()
	if w.String() != "" {
		t.Errorf("a quick operation showed %q", w.String())
	}
}

// TestProgressNotATerminal: without a terminal nothing is shown, however
// long it takes; a.startProgress sees that a pipe or a buffer is not one.
func TestProgressNotATerminal(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, false, 0, "compiling tcp.smtp", "lines", func() int64 { return 1 }, 0, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	p.stop()
	if w.String() != "" {
		t.Errorf("progress without a terminal showed %q", w.String())
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	for _, stderr := range []io.Writer{pw, &bytes.Buffer{}} {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: stderr}
		if tty, _ := terminalWidth(a.stderr); tty {
			t.Errorf("%T taken for a terminal", stderr)
		}
		p := a.startProgress("compiling tcp.smtp", "lines", nil)
		if p.done != nil {
			t.Errorf("%T: progress started without a terminal", stderr)
		}
		p.stop()
		if out.Len() != 0 {
			t.Errorf("progress wrote on stdout: %q", out.String())
		}
	}
	var nilProgress *progress
	nilProgress.stop()
}

// TestProgressWidth: the line is cut to the terminal's width, so that a
// carriage return can erase it; without a count it shows the time.
func TestProgressWidth(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, true, 20, "compiling /etc/indimail/tcp/tcp.smtp", "lines", nil, 0, time.Hour)
	for deadline := time.Now().Add(5 * time.Second); w.String() == "" && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	p.stop()
	if got, want := w.String(), "\r\x1b[Kcompiling /etc/indi\r\x1b[K"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	w = lockedBuffer{}
	p = newProgress(&w, true, 80, "clearing the relay table", "", nil, 0, time.Hour)
	for deadline := time.Now().Add(5 * time.Second); w.String() == "" && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	p.stop()
	if got, want := w.String(), "\r\x1b[Kclearing the relay table (0s)\r\x1b[K"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
