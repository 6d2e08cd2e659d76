package diag

import (
	"strings"
	"testing"
)

func TestLong(t *testing.T) {
	tests := []struct {
		name string
		p    Problem
		want string
	}{
		{
			name: "caret under the column",
			p: Problem{
				Pos: Pos{File: "tcp.smtp", Line: 3, Col: 9}, Severity: Error,
				Msg: "unknown instruction", Text: "1.2.3.4:alow", Expected: "allow or deny",
				Hint: "qmailctl tcp check",
			},
			want: "tcp.smtp:3:9: error: unknown instruction\n    1.2.3.4:alow\n            ^\n  expected allow or deny\n  hint: qmailctl tcp check\n",
		},
		{
			name: "control bytes are shown and the caret follows them",
			p: Problem{
				Pos: Pos{File: "f", Line: 1, Col: 3}, Severity: Warning,
				Msg: "m", Text: "\tx\r",
			},
			want: "f:1:3: warning: m\n    \\tx\\r\n       ^\n",
		},
		{
			name: "a long line is cut around the column",
			p: Problem{
				Pos: Pos{File: "f", Line: 1, Col: 1003}, Severity: Error,
				Msg: "m", Text: strings.Repeat("a", 1000) + `"x` + strings.Repeat("b", 1000),
			},
			want: "f:1:1003: error: m\n    ..." + strings.Repeat("a", 58) + `"x` + strings.Repeat("b", 60) + "...\n" +
				"    " + strings.Repeat(" ", 63) + "^\n", // under the first b, column 1003
		},
		{
			name: "no line",
			p:    Problem{Pos: Pos{File: "rcpthosts"}, Severity: Error, Msg: "missing"},
			want: "rcpthosts: error: missing\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Long(); got != tt.want {
				t.Errorf("Long() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	p := &Problem{Pos: Pos{File: "a", Line: 2, Col: 5}, Msg: "bad"}
	if got, want := p.Error(), "a:2:5: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.1.":          "10.1.1.",
		"joe@example.com":  "joe@example.com",
		"":                 "''",
		"*@example.com":    "'*@example.com'",
		"o'brien@x":        `'o'\''brien@x'`,
		"=.example.com":    "=.example.com",
		"a b":              "'a b'",
		"2001:db8::/32":    "2001:db8::/32",
		"$(rm -rf /)@evil": "'$(rm -rf /)@evil'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
