package cli

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// TestMain makes the tests hermetic (see hermeticMain) and lets testscript
// run qmailctl as a command: the scripts' "exec qmailctl", and the tests that
// need a real process (qmailctlBinary), run a copy of this test binary that
// testscript puts first on $PATH.
func TestMain(m *testing.M) {
	testscript.Main(hermeticMain(m), map[string]func(){
		"qmailctl": func() { limitTestRun(); os.Exit(childMain()) },
	})
}

// TestScript runs the end-to-end tests in testdata/script/*.txtar. Each
// script is a shell-like session with qmailctl and its expected output;
// go test -run TestScript -update rewrites the expected files.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Condition:           scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":    cmdStatus,
			"lockdir":   cmdLockDir,
			"unlockdir": cmdUnlockDir,
			"mkfifo":    cmdMkfifo,
			"lchown":    cmdLchown,
			"sqlite":    cmdSQLite, // relaytable_script_test.go
		},
		Setup: func(env *testscript.Env) error {
			// testscript starts from an empty environment (HOME=/no-home);
			// the machine's defaults are under $WORK/host, which a script
			// may populate to test them.
			env.Setenv(testHostEnv, env.WorkDir+"/host")
			env.Setenv("CONTROLDIR", env.WorkDir+"/control")
			// Service discovery looks here, never in the host's /service.
			env.Setenv("QMAILCTL_SERVICE_ROOTS", env.WorkDir+"/service")
			return nil
		},
	})
}

// cmdStatus runs a program and checks its exact exit status, which is part
// of qmailctl's contract: status 100 qmailctl cdb bad.smtp.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("status: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdLockDir takes the directory lock every qmailctl edit takes, and holds
// it until unlockdir or the end of the script, so that a test of a lock
// wait needs no timing: lockdir tcp.
func cmdLockDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: lockdir DIR")
	}
	dir := ts.MkAbs(args[0])
	l, err := safefile.LockDir(dir, 0)
	ts.Check(err)
	heldLocks.Store(dir, l)
	ts.Defer(func() { l.Unlock() })
}

// cmdUnlockDir releases a lock taken by lockdir: unlockdir tcp.
func cmdUnlockDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: unlockdir DIR")
	}
	l, ok := heldLocks.LoadAndDelete(ts.MkAbs(args[0]))
	if !ok {
		ts.Fatalf("unlockdir %s: not locked by lockdir", args[0])
	}
	ts.Check(l.(*safefile.Lock).Unlock())
}

// heldLocks are the locks lockdir holds, by absolute directory.
var heldLocks sync.Map
