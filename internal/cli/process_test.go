package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/tcprules"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// qmailctlBinary is qmailctl as a program, for the tests that need a real
// process (to kill it, to run several at once, to complete from bash): the
// copy of this test binary that testscript.Main put first on $PATH, which
// runs childMain. It needs no build, and it is as hermetic as the tests.
func qmailctlBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qmailctl")
	if err != nil || !strings.Contains(p, "testscript-main") {
		t.Fatalf("qmailctl on $PATH is %q (%v), not testscript's copy of the test binary", p, err)
	}
	return p
}

// bigRules makes a rules file large enough that compiling it takes a while.
func bigRules(lines int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "10.%d.%d.%d:allow,RELAYCLIENT=\"\",N=\"%d\"\n", r.IntN(256), r.IntN(256), r.IntN(256), seed)
	}
	return b.Bytes()
}

// TestKilledCompileLeavesOldOrNewCdb kills `qmailctl cdb` with SIGKILL,
// alternating between two sources, at the points the test chooses: stopped
// with the lock held before anything is written (the cdb must be the old
// one), stopped after the new cdb is renamed into place (the new one), and as
// soon as its temporary file appears, mid-write (either, never a mix, a
// truncation or nothing). The next successful run removes the temporary
// files the kills left. No kill depends on the machine's speed.
func TestKilledCompileLeavesOldOrNewCdb(t *testing.T) {
	bin := qmailctlBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	sources := [2][]byte{bigRules(100000, 1), bigRules(100000, 2)}
	var want [2][]byte
	for i, s := range sources {
		if err := os.WriteFile(src, s, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := testexec.Command(t, bin, "cdb", src).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want[i], _ = os.ReadFile(src + ".cdb")
	}
	outcomes := map[string]int{}
	for round := 0; round < 3; round++ {
		for _, tc := range []struct{ step, want string }{
			{"cdb: building", "old"},
			{"cdb: built", "new"},
			{"", "old or new"}, // mid-write
		} {
			next := 0 // always ask for the file the cdb does not hold now
			if cur, _ := os.ReadFile(src + ".cdb"); bytes.Equal(cur, want[0]) {
				next = 1
			}
			if err := os.WriteFile(src, sources[next], 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.step != "" {
				killAtStep(t, bin, tc.step, "cdb", src)
			} else {
				killMidWrite(t, bin, dir, "cdb", src)
			}
			got, err := os.ReadFile(src + ".cdb")
			if err != nil {
				t.Fatalf("killed at %q: the cdb is gone: %v", tc.step, err)
			}
			var is string
			switch {
			case bytes.Equal(got, want[next]):
				is = "new"
			case bytes.Equal(got, want[1-next]):
				is = "old"
			default:
				t.Fatalf("killed at %q: the cdb is neither the old nor the new file (%d bytes)", tc.step, len(got))
			}
			if !strings.Contains(tc.want, is) {
				t.Errorf("killed at %q: the cdb is the %s file, want the %s", tc.step, is, tc.want)
			}
			outcomes[fmt.Sprintf("%q: %s", tc.step, is)]++
		}
	}
	t.Logf("after SIGKILL the cdb was: %v", outcomes)
	if out, err := testexec.Command(t, bin, "cdb", "--force", src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, name := range litter(t, dir) {
		t.Errorf("left behind: %s", name)
	}
}

// killAtStep runs qmailctl with args, stopped at step (see childMain), and
// kills it with SIGKILL there.
func killAtStep(t *testing.T, bin, step string, args ...string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := testexec.Command(t, bin, args...)
	cmd.Env = append(os.Environ(), stopAtEnv+"="+step)
	cmd.ExtraFiles = []*os.File{w} // fd 3
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n') // EOF if it exits first
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if strings.TrimSpace(line) != step {
		t.Fatalf("qmailctl %q never got to %q: %s", args, step, stderr.String())
	}
}

// killMidWrite runs qmailctl with args and kills it with SIGKILL as soon as
// a temporary file appears in dir (or not at all, if it finishes first).
func killMidWrite(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := testexec.Command(t, bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		select {
		case <-exited:
			return
		default:
		}
		if len(litter(t, dir)) > 0 {
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// litter lists what is in dir besides tcp.smtp and its cdb.
func litter(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "tcp.smtp" && e.Name() != "tcp.smtp.cdb" {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestConcurrentAddsLoseNothing runs eight `qmailctl tcp add` at once on one
// file: every rule lands, and the cdb matches the final file.
func TestConcurrentAddsLoseNothing(t *testing.T) {
	bin := qmailctlBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	if err := os.WriteFile(src, []byte("# office networks\n127.:allow,RELAYCLIENT=\"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := testexec.Command(t, bin, "--tcp-dir", dir, "tcp", "add", fmt.Sprintf("10.0.%d.", i), "allow", "--relay").CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, out)
			}
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tcprules.Parse(src, data)
	if got := len(f.Rules()); got != writers+1 {
		t.Fatalf("%d rules after %d adds:\n%s", got, writers, data)
	}
	if !strings.HasPrefix(string(data), "# office networks\n127.:allow") {
		t.Errorf("the first lines changed:\n%s", data)
	}
	r, err := cdb.Open(src + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < writers; i++ {
		if _, ok, _ := r.Get([]byte(fmt.Sprintf("10.0.%d.", i))); !ok {
			t.Errorf("10.0.%d. is not in the cdb", i)
		}
	}
	if st, err := tcprules.Stale(src, src+".cdb", nil); err != nil || st.Stale() {
		t.Errorf("cdb stale after the adds: %s %v", st.Reason, err)
	}
}
