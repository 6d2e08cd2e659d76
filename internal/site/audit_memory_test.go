package site

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"

	"github.com/qmailctl/qmailctl/internal/relay"
)

// TestAuditStreamsRules: relay audit reads tcp.smtp a line at a time. It
// used to read and parse the whole file, holding about 400 bytes a rule
// (400 MiB for 1,000,000 lines) for the whole audit; with 300,000 rules that
// is over 100 MiB of live heap, where streaming stays under 32 MiB. A
// sampler reads the live heap while the audit runs: the old code held its
// parsed file from the first read to the end, so any sample saw it.
func TestAuditStreamsRules(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 300,000-line tcp.smtp")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const n = 300_000
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "10.%d.%d.%d:allow,RBLSMTPD=\"\"\n", i>>16&255, i>>8&255, i&255)
	}
	fmt.Fprintf(w, "192.168.:allow,RELAYCLIENT=\"\"\n:allow,RBLSMTPD=\"-no\"\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := &Config{RulesSource: src, RulesCDB: src + ".cdb", ControlDir: filepath.Join(dir, "control")}

	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	in, err := c.LoadAudit(nil)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// The findings are still made: the private range that relays, and the
	// default rule's RBLSMTPD that no rblsmtpd reads.
	got := map[string]bool{}
	for _, x := range append(relay.Audit(in), c.Findings()...) {
		got[x.Check] = true
	}
	for _, want := range []string{"tcp-relay-private", "rblsmtpd"} {
		if !got[want] {
			t.Errorf("no %s finding; got %v", want, got)
		}
	}
	if grown := peak.Load() - min(base, peak.Load()); grown > 32<<20 {
		t.Errorf("relay audit's heap grew by %d MiB over a %d-line tcp.smtp: it must read the file a line at a time", grown>>20, n)
	}
}
