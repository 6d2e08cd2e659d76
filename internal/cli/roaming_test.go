package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/relaytable"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// TestExplainNamesRelayTableRow: tcp explain names the relay table row behind
// an IndiMail roaming-user record, on both back ends (MySQL with
// QMAILCTL_TEST_MYSQL_DSN, from scripts/mariadb-test.sh; under CI it must be
// set), and keeps the generic wording when the IP has no row.
func TestExplainNamesRelayTableRow(t *testing.T) {
	backends := map[string]func(t *testing.T) (dsn, table string){
		"sqlite": func(t *testing.T) (string, string) {
			return "sqlite://" + filepath.Join(t.TempDir(), "relay.sqlite"), ""
		},
		"mysql": func(t *testing.T) (string, string) {
			dsn := os.Getenv("QMAILCTL_TEST_MYSQL_DSN")
			if dsn == "" {
				if os.Getenv("CI") != "" {
					t.Fatal("QMAILCTL_TEST_MYSQL_DSN is unset; CI must run the MySQL tests")
				}
				t.Skip("QMAILCTL_TEST_MYSQL_DSN is unset; run: eval \"$(scripts/mariadb-test.sh start DIR)\"")
			}
			return dsn, fmt.Sprintf("roam%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
		},
	}
	for name, setup := range backends {
		t.Run(name, func(t *testing.T) {
			dsn, table := setup(t)
			ctx := context.Background()
			s, err := relaytable.Open(ctx, dsn, table)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			for _, r := range []struct {
				email string
				at    time.Time
			}{{"ann@example.com", at.Add(-time.Hour)}, {"joe@example.com", at}} {
				if err := s.Add(ctx, r.email, "203.0.113.5", r.at); err != nil {
					t.Fatal(err)
				}
			}

			dir := t.TempDir()
			src := filepath.Join(dir, "tcp.smtp")
			// update_rules' layout: the row's IP first, then tcp.smtp.
			rules := "10.1.1.:allow,RELAYCLIENT=\"\"\n:allow\n"
			f, err := os.Create(src + ".cdb")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := tcprules.WriteCDB(f, src, strings.NewReader("203.0.113.5:allow,RELAYCLIENT=\"\"\n"+rules), nil); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(src, []byte(rules), 0o644); err != nil {
				t.Fatal(err)
			}

			getenv := func(k string) string {
				if k == "RELAY_TABLE" {
					return table
				}
				return ""
			}
			a := &app{relayDB: dsn}
			tests := []struct {
				ip, rule string
				email    string
			}{
				{"203.0.113.5", `^203\.0\.113\.5:allow,RELAYCLIENT="" \(roaming-user entry: relay table row for joe@example\.com at ` + regexp.QuoteMeta(at.Local().Format("2006-01-02 15:04:05 -0700")) + `, and 1 other row\(s\) for this IP\)$`, "joe@example.com"},
				{"10.1.1.5", `^10\.1\.1\.:allow,RELAYCLIENT=""$`, ""},
			}
			for _, tc := range tests {
				out, err := explain(src, tcprules.Query{IP: tc.ip}, a.roamingRowFor(ctx, getenv))
				if err != nil {
					t.Fatal(err)
				}
				if !regexp.MustCompile(tc.rule).MatchString(out.Rule) {
					t.Errorf("%s: rule %q, want %s", tc.ip, out.Rule, tc.rule)
				}
				switch {
				case tc.email == "" && out.Roaming != nil:
					t.Errorf("%s: roaming %+v, want none", tc.ip, out.Roaming)
				case tc.email != "" && (out.Roaming == nil || out.Roaming.Email != tc.email || !out.Roaming.Time.Equal(at)):
					t.Errorf("%s: roaming %+v, want %s at %s", tc.ip, out.Roaming, tc.email, at)
				}
			}

			// The row cleared since the build: the generic wording.
			if _, err := s.Remove(ctx, "", "203.0.113.5"); err != nil {
				t.Fatal(err)
			}
			out, err := explain(src, tcprules.Query{IP: "203.0.113.5"}, a.roamingRowFor(ctx, getenv))
			if err != nil {
				t.Fatal(err)
			}
			if out.Roaming != nil || !strings.Contains(out.Rule, "roaming-user entry: IndiMail's") {
				t.Errorf("after removal: rule %q, roaming %+v; want the generic wording", out.Rule, out.Roaming)
			}
		})
	}
}
