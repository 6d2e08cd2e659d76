package control

import (
	"regexp"
	"strings"
	"testing"
)

func TestWildmat(t *testing.T) {
	tests := []struct {
		pattern, text string
		want          bool
	}{
		{"*", "", true},
		{"*", "anything@example.com", true},
		{"**", "x", true},
		{"", "", true},
		{"", "x", false},
		{"x", "", false},
		{"joe@example.com", "joe@example.com", true},
		{"joe@example.com", "joe@example.co", false},
		{"joe@example.com", "joe@example.comx", false},
		{"*@example.com", "joe@example.com", true},
		{"*@example.com", "@example.com", true},
		{"*@example.com", "joe@sub.example.com", false},
		{"*@*.example.com", "joe@sub.example.com", true},
		{"*@*.example.com", "joe@example.com", false},
		{"*@example.com", "joe@EXAMPLE.com", false}, // case-sensitive
		{"j?e@x", "joe@x", true},
		{"j?e@x", "je@x", false},
		{"?", "", false},
		{"*a*b*c*d", "abcxxxxx", false},
		{"*a*b*c*d", "xaxbxcxd", true},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", true},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", false},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{`a\`, "a", false},  // trailing backslash: C reads past the end; we say no
		{`a\`, "ab", false}, // idem
		{`\\`, `\`, true},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[a-c]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[^a-c]", "d", true},
		{"[^a-c]", "b", false},
		{"[]]", "]", true},
		{"[]a]", "a", true},
		{"[^]]", "]", false},
		{"[^]]", "x", true},
		{"[-a]", "-", true},
		{"[a-]", "-", true},
		{"[a-]", "a", true},
		{"[a-]", "b", false},
		{"[a-cx-z]", "y", true},
		{"[a-cx-z]", "m", false},
		{"[a-c-e]", "d", true}, // after the range a-c, last is 'c', so "-e" is the range c-e
		{"[a-c-e]", "f", false},
		{"[", "x", false}, // unclosed: C reads past the end; we say no
		{"[a", "a", false},
		{"[a-", "a", false},
		{"[^", "a", false},
		{"x[", "", false},
		{"[*]", "*", true},
		{"[\\]]", "\\]", true}, // backslash is a plain member inside a class
	}
	for _, tt := range tests {
		if got := Wildmat(tt.pattern, tt.text); got != tt.want {
			t.Errorf("Wildmat(%q, %q) = %v, want %v", tt.pattern, tt.text, got, tt.want)
		}
	}
}

// wildmatRegexp translates a pattern without classes into an anchored
// regexp, the oracle for the fuzz test.
func wildmatRegexp(p string) (*regexp.Regexp, bool) {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '[':
			return nil, false
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 >= len(p) {
				return nil, false
			}
			i++
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	return re, err == nil
}

func FuzzWildmat(f *testing.F) {
	for _, s := range [][2]string{
		{"*@example.com", "joe@example.com"}, {"[a-", "a"}, {`a\`, "a"}, {"*a*b", "aab"},
		{"[^]x]*", "]"}, {"?*?", "ab"}, {"", ""}, {"[]", "]"}, {"*[", "x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if len(pattern) > 64 || len(text) > 256 {
			return
		}
		got := Wildmat(pattern, text) // must not panic
		if !isASCII(pattern) || !isASCII(text) {
			return // the regexp oracle works on runes
		}
		if re, ok := wildmatRegexp(pattern); ok {
			if want := re.MatchString(text); got != want {
				t.Fatalf("Wildmat(%q, %q) = %v, regexp %s says %v", pattern, text, got, re, want)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
