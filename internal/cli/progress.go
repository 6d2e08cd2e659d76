package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Progress for the few operations that can take a while (compiling a rules
// file of a million lines, clearing a large relay table): after a second, a
// line on stderr that counts what has been done, rewritten in place and
// erased at the end. It is shown only when stderr is a terminal: never on
// stdout, never in a pipe, a log or a cron mail.
//
//	var lines atomic.Int64
//	p := a.startProgress("compiling "+filepath.Base(src), "lines", lines.Load)
//	defer p.stop()
//
// Nothing else may write to stderr between startProgress and stop: stop
// first, then print warnings and errors.

const (
	progressDelay    = time.Second            // quiet for operations shorter than this
	progressInterval = 200 * time.Millisecond // how often the line is rewritten
)

// progress is a running progress line; stop ends it.
type progress struct {
	w         io.Writer
	label     string
	unit      string
	count     func() int64 // may be nil: elapsed time only
	width     int          // the terminal's columns
	clock     clock
	done      chan struct{}
	finished  chan struct{}
	stopOnce  sync.Once
	shown     bool   // written only by the ticker goroutine, read after it ends
	lastShown string // the line on screen
}

// startProgress starts a progress line on a.stderr for label ("compiling
// tcp.smtp"), showing count() followed by unit ("lines") and the elapsed
// time. It shows nothing unless stderr is a terminal.
func (a *app) startProgress(label, unit string, count func() int64) *progress {
	tty, width := terminalWidth(a.stderr)
	return newProgress(a.stderr, tty, width, label, unit, count, progressDelay, progressInterval, realClock)
}

// clock is the time a progress line reads: the real one, or a fake one in
// tests, which decide when each wait ends and so what every line shows.
type clock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

var realClock = clock{now: time.Now, after: time.After}

// terminalWidth reports whether w is a terminal, and its width in columns.
func terminalWidth(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		cols = 80
	}
	return true, cols
}

// newProgress is startProgress with the terminal test, the width, the
// timing and the clock given, for tests.
func newProgress(w io.Writer, tty bool, width int, label, unit string, count func() int64, delay, every time.Duration, clk clock) *progress {
	p := &progress{w: w, label: label, unit: unit, count: count, width: width, clock: clk}
	if !tty {
		return p
	}
	if p.width <= 0 {
		p.width = 80
	}
	p.done, p.finished = make(chan struct{}), make(chan struct{})
	go p.run(delay, every)
	return p
}

func (p *progress) run(delay, every time.Duration) {
	defer close(p.finished)
	start := p.clock.now()
	wait := delay
	for {
		select {
		case <-p.done:
			return
		case <-p.clock.after(wait):
		}
		p.render(p.clock.now().Sub(start))
		wait = every
	}
}

// render rewrites the line: "compiling tcp.smtp: 120000 lines (3s)", cut to
// the terminal's width so that it never wraps (a wrapped line cannot be
// erased with a carriage return).
func (p *progress) render(elapsed time.Duration) {
	var b strings.Builder
	b.WriteString(p.label)
	if p.count != nil {
		fmt.Fprintf(&b, ": %d %s", p.count(), p.unit)
	}
	fmt.Fprintf(&b, " (%ds)", int(elapsed/time.Second))
	line := []rune(b.String())
	if len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	if s := string(line); s != p.lastShown {
		fmt.Fprint(p.w, "\r\x1b[K"+s)
		p.lastShown, p.shown = s, true
	}
}

// stop ends the progress line and erases it, leaving the cursor at the
// start of an empty line. It is safe to call more than once, and on nil.
func (p *progress) stop() {
	if p == nil || p.done == nil {
		return
	}
	p.stopOnce.Do(func() {
		close(p.done)
		<-p.finished
		if p.shown {
			fmt.Fprint(p.w, "\r\x1b[K")
		}
	})
}
