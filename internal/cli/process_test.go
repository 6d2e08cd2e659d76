package cli

import (
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
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// qmailctlBinary builds qmailctl once for the tests that need a real
// process: ones that kill it or run several at once.
func qmailctlBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qmailctl-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "qmailctl")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/qmailctl/qmailctl/cmd/qmailctl").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
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

// TestKilledCompileLeavesOldOrNewCdb kills `qmailctl cdb` with SIGKILL at
// random moments, many times, alternating between two sources: the cdb is
// always one of the two complete files, never a mix, a truncation or gone.
// The next successful run removes the temporary files the kills left.
func TestKilledCompileLeavesOldOrNewCdb(t *testing.T) {
	if testing.Short() {
		t.Skip("kills many processes")
	}
	bin := qmailctlBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	sources := [2][]byte{bigRules(150000, 1), bigRules(150000, 2)}
	var want [2][]byte
	for i, s := range sources {
		if err := os.WriteFile(src, s, 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if out, err := exec.Command(bin, "cdb", src).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Logf("compile %d takes %v", i, time.Since(start))
		want[i], _ = os.ReadFile(src + ".cdb")
	}
	r := rand.New(rand.NewPCG(3, 3))
	outcomes := map[string]int{}
	for i := 0; i < 60; i++ {
		next := 0 // always ask for the file the cdb does not hold now
		if cur, _ := os.ReadFile(src + ".cdb"); bytes.Equal(cur, want[0]) {
			next = 1
		}
		if err := os.WriteFile(src, sources[next], 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "cdb", src)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(r.IntN(1200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		got, err := os.ReadFile(src + ".cdb")
		if err != nil {
			t.Fatalf("kill %d: the cdb is gone: %v", i, err)
		}
		switch {
		case bytes.Equal(got, want[next]):
			outcomes["new"]++
		case bytes.Equal(got, want[1-next]):
			outcomes["old"]++
		default:
			t.Fatalf("kill %d: the cdb is neither the old nor the new file (%d bytes)", i, len(got))
		}
	}
	t.Logf("after SIGKILL the cdb was: %v", outcomes)
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Errorf("kills never landed both before and after the rename (%v): adjust the timing", outcomes)
	}
	if out, err := exec.Command(bin, "cdb", "--force", src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "tcp.smtp" && e.Name() != "tcp.smtp.cdb" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
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
			out, err := exec.Command(bin, "--tcp-dir", dir, "tcp", "add", fmt.Sprintf("10.0.%d.", i), "allow", "--relay").CombinedOutput()
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
