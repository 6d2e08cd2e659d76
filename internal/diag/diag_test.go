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

// TestLongEscapesFileContent: nothing a file holds reaches the terminal
// unescaped, in any part of a problem (issue 8, item 4).
func TestLongEscapesFileContent(t *testing.T) {
	bad := "\x1b[31mred\u202e\x9b\xc2\x85é"
	p := Problem{Pos: Pos{File: "relaydomains\x1b]0;x\a", Line: 1, Col: 1}, Severity: Error,
		Msg: "bad " + bad, Text: bad, Expected: "a host " + bad, Hint: "qmailctl relaydomains remove " + bad}
	const esc = `\x1b[31mred\u202e\x9b\u0085é`
	want := `relaydomains\x1b]0;x\x07:1:1: error: bad ` + esc + "\n    " + esc + "\n    ^\n" +
		"  expected a host " + esc + "\n  hint: qmailctl relaydomains remove " + esc + "\n"
	if got := p.Long(); got != want {
		t.Errorf("Long() =\n%s\nwant\n%s", got, want)
	}
	if got := p.Error(); strings.ContainsAny(got, "\x1b\x07\u202e") {
		t.Errorf("Error() = %q: control characters unescaped", got)
	}
}

// TestLongBinaryLineFits: a line of NUL bytes is cut so that its escaped
// form still fits on a line.
func TestLongBinaryLineFits(t *testing.T) {
	p := Problem{Pos: Pos{File: "f", Line: 1, Col: 500}, Severity: Warning, Msg: "m", Text: strings.Repeat("\x00", 1000)}
	for _, l := range strings.Split(p.Long(), "\n") {
		if len(l) > maxShown+16 {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
}

func TestExcerpt(t *testing.T) {
	prob := func(file string, line int, sev Severity, text string) Problem {
		return Problem{Pos: Pos{File: file, Line: line}, Severity: sev, Msg: "m", Text: text}
	}
	var passwd []Problem
	for i := 1; i <= 21; i++ {
		passwd = append(passwd, prob("relaydomains", i, Error, "user:x:1:1::/:/bin/sh"))
	}
	tests := []struct {
		name string
		in   []Problem
		want []string // Pos and message of each problem kept
	}{
		{"a rules file with typos is shown whole",
			[]Problem{prob("tcp.smtp", 1, Error, "a"), prob("tcp.smtp", 2, Warning, "b"), prob("rcpthosts", 1, Error, "c")},
			[]string{"tcp.smtp:1: m", "tcp.smtp:2: m", "rcpthosts:1: m"}},
		{"a binary file shows its first problem only",
			[]Problem{prob("tcp.smtp", 1, Warning, "a\x00b"), prob("tcp.smtp", 2, Warning, "c"), prob("tcp.smtp", 3, Error, "d"), prob("rcpthosts", 1, Error, "e")},
			[]string{"tcp.smtp:1: m", "tcp.smtp: 2 more problems not shown: the file does not look like the kind of file expected here", "rcpthosts:1: m"}},
		{"invalid UTF-8 counts as binary",
			[]Problem{prob("x", 1, Warning, "ok"), prob("x", 2, Warning, "\xff")},
			[]string{"x:1: m", "x: 1 more problem not shown: the file does not look like the kind of file expected here"}},
		{"more than 20 lines in error",
			passwd,
			[]string{"relaydomains:1: m", "relaydomains: 20 more problems not shown: the file does not look like the kind of file expected here"}},
		{"20 lines in error are shown", passwd[:20], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Excerpt(tt.in) {
				got = append(got, p.Error())
			}
			if tt.want == nil {
				if len(got) != len(tt.in) {
					t.Errorf("kept %d of %d", len(got), len(tt.in))
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestEscape(t *testing.T) {
	in := "tcp.smtp:3: the rule is already there: 10.\x1b[2J:allow\u202e\nsecond line\t\xff"
	want := `tcp.smtp:3: the rule is already there: 10.\x1b[2J:allow\u202e` + "\n" + `second line\t\xff`
	if got := Escape(in); got != want {
		t.Errorf("Escape = %q, want %q", got, want)
	}
}
