package cli

import (
	"fmt"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/rogpeppe/go-internal/testscript"
)

// Script commands and limits for the tests of special files and of root's
// link and directory rules (issue 8, items 4 and 5).

// cmdMkfifo makes FIFOs: mkfifo PATH...
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: mkfifo PATH...")
	}
	for _, p := range args {
		ts.Check(syscall.Mkfifo(ts.MkAbs(p), 0o644))
	}
}

// cmdLchown sets the owner of files and links themselves, not of what links
// point to: lchown UID[:GID] PATH... (as root only).
func cmdLchown(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: lchown UID[:GID] PATH...")
	}
	u, g, _ := strings.Cut(args[0], ":")
	uid, err := strconv.Atoi(u)
	ts.Check(err)
	gid := -1
	if g != "" {
		gid, err = strconv.Atoi(g)
		ts.Check(err)
	}
	for _, p := range args[1:] {
		ts.Check(os.Lchown(ts.MkAbs(p), uid, gid))
	}
}

// scriptCondition adds [root]: the process runs as root, as under sudo and in
// CI; the root-only scripts skip on a laptop.
//
// [missing:PROG] is true when the peer PROG is not on $PATH, so that
// "[missing:tcprules] skip" skips on a laptop; under CI a missing peer fails
// the script instead, as peers.Missing fails a Go test.
func scriptCondition(cond string) (bool, error) {
	if cond == "root" {
		return os.Geteuid() == 0, nil
	}
	if prog, ok := strings.CutPrefix(cond, "missing:"); ok {
		if _, err := exec.LookPath(prog); err == nil {
			return false, nil
		}
		if peers.UnderCI() {
			return false, fmt.Errorf("%s is not installed; run scripts/install-test-deps.sh", prog)
		}
		return true, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// limitTestRun bounds a qmailctl started by a script that sets
// QMAILCTL_TEST_TIMEOUT: it exits 124 after that long, or when its heap
// passes 256 MiB, so a regression that blocks on a FIFO or reads /dev/zero
// fails the script quickly instead of hanging the suite or the machine.
func limitTestRun() {
	d, err := time.ParseDuration(os.Getenv("QMAILCTL_TEST_TIMEOUT"))
	if err != nil {
		return
	}
	deadline := time.Now().Add(d)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			time.Sleep(10 * time.Millisecond)
			metrics.Read(sample)
			if heap := sample[0].Value.Uint64(); heap > 256<<20 {
				fmt.Fprintf(os.Stderr, "qmailctl: test limit: heap of %d MiB\n", heap>>20)
				os.Exit(124)
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "qmailctl: test limit: still running after %v\n", d)
				os.Exit(124)
			}
		}
	}()
}
