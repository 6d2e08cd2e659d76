// Package testexec starts the processes of qmailctl's tests (the qmailctl
// binary, the real peers, shell scripts) tied to the test that starts them,
// as Go's own internal/testenv.Command does: a process never outlives its
// test, never eats the whole package's -timeout, and takes its children with
// it when it dies.
//
// Every test that starts a process uses Command or CommandContext.
package testexec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
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
//   - and its whole process group get SIGKILL when the test ends, if the
//     test did not wait for it (which fails the test) or stopped it through
//     ctx: then the children that survived their parent die too.
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
	// Pdeathsig: the command dies with the test binary, also when go test
	// kills the binary for its -timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var cancelled atomic.Bool
	cmd.Cancel = func() error {
		cancelled.Store(true)
		if cancelCtx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("the test's deadline is near: stopping %v", cmd)
		} else {
			t.Logf("%v: stopping %v", ctx.Err(), cmd)
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT)
	}
	cmd.WaitDelay = grace
	t.Cleanup(func() {
		if cancelCtx != nil {
			cancelCtx()
		}
		if cmd.Process == nil {
			return
		}
		if cmd.ProcessState == nil {
			// Not reaped: the pid, and so the group's id, is still ours.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("%v was started, but the test did not wait for it", cmd)
		} else if cancelled.Load() {
			killOrphans(cmd.Process.Pid)
		}
	})
	return cmd
}

// killOrphans kills what is left of the process group pgid after its
// leader was stopped and reaped: children that ignored SIGQUIT. The leader's
// pid may be reused once it is reaped and its group is empty (pid_max can be
// as low as 32768), so the group is not signalled as a whole: each member,
// found in /proc, in this process's session, is killed by its pid.
func killOrphans(pgid int) {
	if syscall.Kill(-pgid, 0) != nil {
		return // the group is empty: the usual case
	}
	_, sid := groupAndSession("self")
	if sid == "" {
		return
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if g, s := groupAndSession(p.Name()); g == strconv.Itoa(pgid) && s == sid {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// groupAndSession reads a process's group and session ids from
// /proc/PID/stat: "pid (comm) state ppid pgrp session ...", where comm may
// hold spaces and parentheses.
func groupAndSession(pid string) (pgrp, session string) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", ""
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 4 {
		return "", ""
	}
	return f[2], f[3]
}
