package site

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// compileTo writes text compiled as tcprules does into path.
func compileTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, _ := cdb.NewWriter(f)
	if _, _, err := tcprules.Compile(path, strings.NewReader(text), w); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestFindRoaming(t *testing.T) {
	const rules = "10.1.1.:allow,RELAYCLIENT=\"\"\n:allow\n"
	cases := []struct {
		name, cdbText string
		layout        string
		n             int
	}{
		{"none", rules, "", 0},
		{"vpopmail", "192.0.2.7:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n198.51.100.2:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n" + rules, LayoutOpenSMTP, 2},
		{"indimail", "203.0.113.5:allow,RELAYCLIENT=\"\"\n" + rules, LayoutRelayTable, 1},
		{"ipv6 row", "2001:db8::5:allow,RELAYCLIENT=\"\"\n" + rules, LayoutRelayTable, 1},
		{"not an IP", "10.9.:allow,RELAYCLIENT=\"\"\n" + rules, "", 0},
		{"other data", "192.0.2.7:allow,RELAYCLIENT=\"x\"\n" + rules, "", 0},
		{"mixed layouts", "192.0.2.7:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n203.0.113.5:allow,RELAYCLIENT=\"\"\n" + rules, "", 0},
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	os.WriteFile(src, []byte(rules), 0o644)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := filepath.Join(dir, c.name+".cdb")
			compileTo(t, db, c.cdbText)
			ro, err := FindRoaming(src, db)
			if err != nil {
				t.Fatal(err)
			}
			if c.n == 0 {
				if ro != nil {
					t.Fatalf("found %+v; want none", ro)
				}
				return
			}
			if ro == nil || ro.Layout != c.layout || len(ro.Records) != c.n {
				t.Fatalf("FindRoaming = %+v; want %s with %d records", ro, c.layout, c.n)
			}
			// With them recognised, the cdb is up to date with its source.
			rs, err := RulesStaleness(src, db)
			if err != nil || rs.Stale() || rs.Roaming == nil {
				t.Errorf("RulesStaleness = %+v, %v; want fresh with roaming records", rs, err)
			}
		})
	}
}

// TestUpdateRulesFilter: the rules file as IndiMail's update_rules copies it
// to tcprules: lines with only C whitespace before the first '#' (or NUL)
// dropped, that '#' made a NUL byte, the rest of the line kept.
func TestUpdateRulesFilter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"# c\n:allow\n", ":allow\n"},
		{"\n \t\v\f\r\n:allow", ":allow"},
		{"  # c\n1.2.3.:deny\n", "1.2.3.:deny\n"},
		{"1.:allow # office\n", "1.:allow \x00 office\n"},
		{"1.:allow#a#b\n", "1.:allow\x00a#b\n"},
		{" \x00#x\n:allow\n", ":allow\n"},
		{"1.:allow\x00#x\n", "1.:allow\x00#x\n"},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := io.ReadAll(UpdateRulesFilter(strings.NewReader(tc.in)))
		if err != nil || string(got) != tc.want {
			t.Errorf("UpdateRulesFilter(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
