// Package testexec starts the processes of qmailctl's tests (the qmailctl
// binary, the real peers, shell scripts) tied to the test that starts them,
// as Go's own internal/testenv.Command does: a process never outlives its
// test, never eats the whole package's -timeout, and takes its children with
// it when it dies.
//
// Every test that starts a process uses Command or CommandContext.
package testexec

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// minGrace is how long a process has, after SIGQUIT, to exit and to
// flush its output before it and its process group get SIGKILL.
const minGrace = 100 * time.Millisecond

// Command is exec.Command for a test: see CommandContext.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return CommandContext(t, context.Background(), name, args...)
}

// CommandContext is exec.CommandContext for a test. The command
//
//   - runs in a process group of its own, so that the grandchildren it
//     starts (a script's commands, tcpserver's children) can be killed with
//     it;
//   - is stopped when ctx ends, and at the latest shortly before the test's
//     deadline (go test -timeout), so that the test fails with its own name
//     and output instead of the whole test binary dying: it gets SIGQUIT
//     (a Go program prints its goroutines), then, after a grace period of 5%
//     of the test's remaining time (at least 100ms), SIGKILL;
//   - and its whole process group get SIGKILL when the test ends, whatever
//     state they are in. A test that starts the command but does not wait for
//     it fails.
func CommandContext(t testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	t.Helper()
	grace := minGrace
	var cancelCtx context.CancelFunc
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := dt.Deadline(); ok {
			left := time.Until(td)
			if g := left / 20; g > grace {
				grace = g
			}
			// One grace period for the process to die after SIGQUIT, one for
			// the test to report what it printed.
			limit := left - 2*grace
			if cd, ok := ctx.Deadline(); !ok || time.Until(cd) > limit {
				ctx, cancelCtx = context.WithTimeout(ctx, limit)
			}
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cancelCtx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("the test's deadline is near: stopping %v", cmd)
		} else {
			t.Logf("%v: stopping %v", ctx.Err(), cmd)
		}
		return killGroup(cmd, syscall.SIGQUIT)
	}
	cmd.WaitDelay = grace
	t.Cleanup(func() {
		if cancelCtx != nil {
			cancelCtx()
		}
		if cmd.Process == nil {
			return
		}
		killGroup(cmd, syscall.SIGKILL) // grandchildren outlive their parent
		if cmd.ProcessState == nil {
			t.Errorf("%v was started, but the test did not wait for it", cmd)
		}
	})
	return cmd
}

// killGroup sends sig to the command's process group. The group's id is the
// leader's pid, which the kernel does not reuse while any member lives.
func killGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return cmd.Process.Signal(sig)
	}
	return nil
}
