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

// fakeClock is a clock that moves only when the test fires a wait. The
// progress goroutine registers each wait on waits after it has rendered the
// line, so receiving a wait also tells the test that the line is written:
// nothing depends on how fast the machine is.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d time.Duration
	c chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), waits: make(chan fakeWait, 1)}
}

func (f *fakeClock) clock() clock { return clock{now: f.now, after: f.after} }

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.waits <- fakeWait{d, c}
	return c
}

// next is the wait the progress goroutine is in now; it fails the test
// if that wait is not for d.
func (f *fakeClock) next(t *testing.T, d time.Duration) fakeWait {
	t.Helper()
	w := <-f.waits
	if w.d != d {
		t.Fatalf("progress waits %v, want %v", w.d, d)
	}
	return w
}

// fire ends the wait w, moving the clock on by its duration, and returns
// once the goroutine has rendered and waits again.
func (f *fakeClock) fire(t *testing.T, w fakeWait, nextWait time.Duration) fakeWait {
	t.Helper()
	f.mu.Lock()
	f.t = f.t.Add(w.d)
	now := f.t
	f.mu.Unlock()
	w.c <- now
	return f.next(t, nextWait)
}

// TestProgressOnTerminal: on a (fake) terminal, a long operation gets a
// line after the delay that counts and shows the elapsed seconds, rewritten
// in place only when it changes, and erased by stop.
func TestProgressOnTerminal(t *testing.T) {
	var w lockedBuffer
	var n atomic.Int64
	fc := newFakeClock()
	p := newProgress(&w, true, 80, "compiling tcp.smtp", "lines", n.Load, time.Second, 400*time.Millisecond, fc.clock())
	wait := fc.next(t, time.Second)
	n.Store(1000)
	if w.String() != "" {
		t.Fatalf("shown before the delay: %q", w.String())
	}
	var want strings.Builder
	for _, step := range []struct {
		count int64
		line  string // "" when nothing changes
	}{
		{1000, "compiling tcp.smtp: 1000 lines (1s)"},     // 1.0s
		{123456, "compiling tcp.smtp: 123456 lines (1s)"}, // 1.4s
		{123456, ""}, // 1.8s: same line, not rewritten
		{123456, "compiling tcp.smtp: 123456 lines (2s)"}, // 2.2s
	} {
		n.Store(step.count)
		wait = fc.fire(t, wait, 400*time.Millisecond)
		if step.line != "" {
			want.WriteString("\r\x1b[K" + step.line)
		}
		if got := w.String(); got != want.String() {
			t.Fatalf("after %d lines:\n got %q\nwant %q", step.count, got, want.String())
		}
	}
	p.stop()
	p.stop() // twice is fine
	if got, want := w.String(), want.String()+"\r\x1b[K"; got != want {
		t.Errorf("stop did not erase the line: %q, want %q", got, want)
	}
	select {
	case w := <-fc.waits:
		t.Errorf("progress waits for %v after stop", w.d)
	default:
	}
}

// TestProgressQuick: an operation shorter than the delay shows nothing.
func TestProgressQuick(t *testing.T) {
	var w lockedBuffer
	fc := newFakeClock()
	p := newProgress(&w, true, 80, "compiling tcp.smtp", "lines", func() int64 { return 1 }, time.Second, time.Millisecond, fc.clock())
	fc.next(t, time.Second)
	p.stop()
	if w.String() != "" {
		t.Errorf("a quick operation showed %q", w.String())
	}
}

// TestProgressNotATerminal: without a terminal nothing is shown, however
// long it takes; a.startProgress sees that a pipe or a buffer is not one.
func TestProgressNotATerminal(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, false, 0, "compiling tcp.smtp", "lines", func() int64 { return 1 }, 0, time.Millisecond, realClock)
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
	for _, tc := range []struct {
		width       int
		label, unit string
		count       func() int64
		want        string
	}{
		{20, "compiling /etc/indimail/tcp/tcp.smtp", "lines", nil, "\r\x1b[Kcompiling /etc/indi\r\x1b[K"},
		{80, "clearing the relay table", "", nil, "\r\x1b[Kclearing the relay table (0s)\r\x1b[K"},
	} {
		var w lockedBuffer
		fc := newFakeClock()
		p := newProgress(&w, true, tc.width, tc.label, tc.unit, tc.count, 0, time.Hour, fc.clock())
		fc.fire(t, fc.next(t, 0), time.Hour)
		p.stop()
		if got := w.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
