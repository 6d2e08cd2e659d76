package site

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/tcprules"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// TestUnreadableSourceAnswersFromCDB: with tcp.smtp mode 600 (owned by
// someone else) and its cdb 644, a non-root admin gets the answer from the
// cdb, with a warning that line numbers are unknown, as tcprulescheck
// answers. Under root, the test runs itself again as nobody (uid 65534).
func TestUnreadableSourceAnswersFromCDB(t *testing.T) {
	if dir := os.Getenv("QMAILCTL_SITE_UNREADABLE_DIR"); dir != "" {
		checkUnreadable(t, dir)
		return
	}
	dir, err := os.MkdirTemp("", "qmailctl-site-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	writeFiles(t, dir, map[string]string{"control/rcpthosts": "example.com\n"})
	src := filepath.Join(dir, "tcp.smtp")
	// An open relay: relay audit must find it in the cdb.
	os.WriteFile(src, []byte("10.1.1.:allow,RELAYCLIENT=\"\"\n:allow,RELAYCLIENT=\"\"\n"), 0o644)
	compileTo(t, src+".cdb", "10.1.1.:allow,RELAYCLIENT=\"\"\n:allow,RELAYCLIENT=\"\"\n")
	os.Chmod(src+".cdb", 0o644)
	if os.Geteuid() != 0 {
		os.Chmod(src, 0o000)
		checkUnreadable(t, dir)
		return
	}
	os.Chmod(src, 0o600)
	// Root reads every file: run this test again as nobody, from a copy
	// of the test binary nobody may execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "site.test")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, in)
	in.Close()
	out.Close()
	for _, d := range []string{"control"} {
		os.Chmod(filepath.Join(dir, d), 0o755)
	}
	cmd := testexec.Command(t, bin, "-test.run=^TestUnreadableSourceAnswersFromCDB$", "-test.v")
	cmd.Env = []string{"QMAILCTL_SITE_UNREADABLE_DIR=" + dir, "PATH=/usr/bin:/bin"}
	cmd.Dir = dir
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 65534, Gid: 65534}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS") {
		t.Fatalf("as nobody: %v\n%s", err, b)
	}
}

func checkUnreadable(t *testing.T, dir string) {
	src := filepath.Join(dir, "tcp.smtp")
	if _, err := os.ReadFile(src); err == nil {
		t.Fatal("the source is readable: the test proves nothing")
	}
	rs, err := RulesStaleness(src, src+".cdb")
	if err != nil || !rs.SourceUnreadable || !rs.CDBExists || rs.Staleness != nil {
		t.Fatalf("RulesStaleness = %+v, %v; want an unreadable source, no staleness verdict", rs, err)
	}
	c := &Config{RulesSource: src, RulesCDB: src + ".cdb", ControlDir: filepath.Join(dir, "control"), Env: map[string]string{}}
	o, err := c.OpenRelay()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if len(o.Warnings) == 0 || !strings.Contains(o.Warnings[0], "answering from") || !strings.Contains(o.Warnings[0], "line numbers are unknown") {
		t.Errorf("warnings %q; want one saying the answer comes from the cdb", o.Warnings)
	}
	d, err := tcprules.Lookup(o.Relay.Rules, tcprules.Query{IP: "10.1.1.5"})
	if err != nil || !d.Matched || d.Key != "10.1.1." {
		t.Errorf("lookup from the cdb: %+v, %v", d, err)
	}

	// relay audit judges the cdb, and says why it could not read the source.
	in, err := c.LoadAudit(nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]diag.Severity{}
	for _, f := range relay.Audit(in) {
		checks[f.Check] = f.Severity
	}
	if checks["tcp-relay-default"] != diag.Error || checks["tcp-unreadable"] != diag.Warning {
		t.Errorf("audit findings %v; want the open-relay default rule found in the cdb, and the unreadable source", checks)
	}
}
