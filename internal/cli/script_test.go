package cli

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the tests hermetic (see hermeticMain) and lets testscript
// run qmailctl as a command: the scripts' "exec qmailctl", and the tests that
// need a real process (qmailctlBinary), run a copy of this test binary that
// testscript puts first on $PATH.
func TestMain(m *testing.M) {
	testscript.Main(hermeticMain(m), map[string]func(){
		"qmailctl": func() { os.Exit(childMain()) },
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
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status": cmdStatus,
		},
		Setup: func(env *testscript.Env) error {
			// testscript starts from an empty environment (HOME=/no-home);
			// the machine's defaults are under $WORK/host, which a script
			// may populate to test them.
			env.Setenv(testHostEnv, env.WorkDir+"/host")
			env.Setenv("CONTROLDIR", env.WorkDir+"/control")
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
