package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run qmailctl as a command inside the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"qmailctl": func() { os.Exit(Main()) },
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
		// [root]: file modes do not stop root, so tests of unreadable
		// files skip under it.
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
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
