package peers

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// outcome records how a helper ended a test, without ending this one.
type outcome struct {
	testing.TB
	failed, skipped string
}

func (o *outcome) Helper() {}
func (o *outcome) Fatal(args ...any) {
	o.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcome) Fatalf(format string, args ...any) { o.Fatal(fmt.Sprintf(format, args...)) }
func (o *outcome) Skip(args ...any) {
	o.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcome) Skipf(format string, args ...any) { o.Skip(fmt.Sprintf(format, args...)) }

// run calls f with a recording TB in a goroutine of its own, as the testing
// package runs a test, so that Fatal and Skip can end it.
func run(t *testing.T, f func(tb testing.TB)) *outcome {
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(o)
	}()
	<-done
	return o
}

// TestMissing: a missing peer fails the test under CI and skips it on a
// developer's machine.
func TestMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		o := run(t, func(tb testing.TB) { Missing(tb, "%s is not installed", "cdbmake") })
		got, other := o.skipped, o.failed
		if ci != "" {
			got, other = o.failed, o.skipped
		}
		if got != "cdbmake is not installed" || other != "" {
			t.Errorf("CI=%q: failed %q, skipped %q", ci, o.failed, o.skipped)
		}
	}
}

// TestToolUnderCI: a tool that is not on $PATH (man, as gen_docs_test.go
// asks for it) fails the test under CI.
func TestToolUnderCI(t *testing.T) {
	t.Setenv("CI", "true")
	t.Setenv("PATH", t.TempDir())
	for _, tool := range []func(testing.TB){
		func(tb testing.TB) { Tool(tb, "man") },
		func(tb testing.TB) { IPv6Tool(tb, "no-such-tool") },
	} {
		o := run(t, tool)
		if !strings.Contains(o.failed, "not installed") || o.skipped != "" {
			t.Errorf("failed %q, skipped %q; want a failure", o.failed, o.skipped)
		}
	}
}
