package testexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its parent has).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// waitGone waits, up to the test's own deadline, for pid to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for alive(pid) {
		if d, ok := t.Deadline(); ok && time.Until(d) < time.Second {
			t.Fatalf("process %d is still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGrandchildrenDieWithTheTest: the child of a script, which ignores
// SIGQUIT and so outlives the script, is killed when the test that started
// the script ends.
func TestGrandchildrenDieWithTheTest(t *testing.T) {
	var grandchild int
	t.Run("start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cmd := CommandContext(t, ctx, "sh", "-c", `(trap "" QUIT; exec sh -c 'echo $$; exec sleep 1000') & wait`)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The grandchild prints its pid once it ignores SIGQUIT.
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if grandchild, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
			t.Fatal(err)
		}
		cancel() // SIGQUIT to the group: sh dies, sleep ignores it
		if err := cmd.Wait(); err == nil {
			t.Error("the script was not stopped")
		}
		if !alive(grandchild) {
			t.Fatal("sleep died before the test ended: this test proves nothing")
		}
	})
	waitGone(t, grandchild)
}

// deadlineTB is a test whose deadline is near.
type deadlineTB struct {
	*testing.T
	deadline time.Time
	errors   []string
}

func (d *deadlineTB) Deadline() (time.Time, bool) { return d.deadline, true }
func (d *deadlineTB) Errorf(format string, args ...any) {
	d.errors = append(d.errors, fmt.Sprintf(format, args...))
}

// TestStopsBeforeTheDeadline: a command that would run past the test's
// deadline is stopped before it, and the test fails with its own message
// instead of the test binary being killed by go test's -timeout.
func TestStopsBeforeTheDeadline(t *testing.T) {
	tb := &deadlineTB{T: t, deadline: time.Now().Add(2 * time.Second)}
	cmd := Command(tb, "sleep", "1000")
	if err := cmd.Run(); err == nil {
		t.Fatal("sleep 1000 was not stopped")
	}
	if time.Now().After(tb.deadline) {
		t.Errorf("stopped after the deadline")
	}
	if len(tb.errors) != 1 || !strings.Contains(tb.errors[0], "deadline") {
		t.Errorf("the test was not failed for its deadline: %q", tb.errors)
	}
}
