package cli

import (
	"bytes"
	"fmt"
	"testing"
)

// TestOutputs pins what an admin reads, on the example configuration: the
// story relay test tells, explain's answer, the audit's findings and their
// JSON. go test -run TestOutputs -update rewrites testdata/*.golden after a
// deliberate change; review the diff.
func TestOutputs(t *testing.T) {
	ex := []string{"--tcp-dir", "../../examples/tcp", "--control-dir", "../../examples/control"}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"relay-test-relaying", []string{"relay", "test", "10.1.1.5", "joe@example.com", "friend@example.net"}, exitOK},
		{"relay-test-refused", []string{"relay", "test", "203.0.113.9", "joe@example.com", "friend@example.net", "postmaster@example.org"}, exitNo},
		{"relay-test-probe", []string{"relay", "test", "10.1.1.5", "joe@example.com", "friend%example.net@example.com"}, exitNo},
		{"relay-test-json", []string{"relay", "test", "--json", "192.168.5.20", "joe@example.com", "friend@example.net"}, exitOK},
		{"tcp-explain-deny", []string{"tcp", "explain", "10.1.1.66"}, exitOK},
		{"tcp-explain-json", []string{"tcp", "explain", "--json", "192.168.6.1"}, exitOK},
		{"relay-audit", []string{"relay", "audit"}, exitNo},
		{"tcp-list", []string{"tcp", "list"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			a := &app{stdout: &out, stderr: &errb}
			code := a.run(append(append([]string{}, ex...), tt.args...))
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, tt.code, errb.String())
			}
			golden(t, tt.name, []byte(fmt.Sprintf("$ qmailctl %v\n# exit %d\n# stdout:\n%s# stderr:\n%s", tt.args, code, out.String(), errb.String())))
		})
	}
}
