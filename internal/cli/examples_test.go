package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// The README runs qmailctl on examples/: its cdbs must be what the sources
// compile to, and the command it shows must work as it says.
func TestExamplesAreCompiled(t *testing.T) {
	if st, err := tcprules.Stale("../../examples/tcp/tcp.smtp", "../../examples/tcp/tcp.smtp.cdb", nil); err != nil || st.Stale() {
		t.Errorf("examples/tcp/tcp.smtp.cdb is stale (%s, %v): run qmailctl cdb examples/tcp/tcp.smtp", st.Reason, err)
	}
	if st, err := control.Stale(control.MoreRcptHosts, "../../examples/control"); err != nil || st.Stale() {
		t.Errorf("examples/control/morercpthosts.cdb is stale (%s, %v): run qmailctl cdb examples/control/morercpthosts", st.Reason, err)
	}
}

func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "go run ./cmd/qmailctl ") {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatal("README.md has no 'go run ./cmd/qmailctl ...' line")
	}
	args := strings.Fields(strings.TrimPrefix(line, "go run ./cmd/qmailctl "))
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "examples/", "../../examples/")
	}
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb}
	if code := a.run(args); code != exitOK {
		t.Fatalf("README example exited %d:\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "250 ok") {
		t.Errorf("README example does not accept the mail:\n%s", out.String())
	}
}
