package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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

// TestCdbRoamingRelayTableMySQL: on IndiMail's own back end, qmailctl cdb
// --roaming relay-table writes byte for byte what update_rules does: the
// lines of `select high_priority ipaddr from TABLE` in the order the server
// returns them (with IndiMail's layout, the (email, ipaddr) index's order:
// case-insensitive email order here; expired rows and repeated IPs kept),
// then tcp.smtp without its comment and blank lines, compiled by Debian's
// tcprules.
func TestCdbRoamingRelayTableMySQL(t *testing.T) {
	dsn := os.Getenv("QMAILCTL_TEST_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("QMAILCTL_TEST_MYSQL_DSN is unset; CI must run the MySQL tests")
		}
		t.Skip("QMAILCTL_TEST_MYSQL_DSN is unset; run: eval \"$(scripts/mariadb-test.sh start DIR)\"")
	}
	tcprulesBin, err := exec.LookPath("tcprules")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Debian's tcprules is missing (ucspi-tcp)")
		}
		t.Skip("Debian's tcprules builds the reference cdb")
	}
	ctx := context.Background()
	table := fmt.Sprintf("roamcdb%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	s, err := relaytable.Open(ctx, dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	for _, r := range []struct{ email, ip string }{
		{"zed@example.com", "198.51.100.3"},
		{"joe@example.com", "192.0.2.7"},
		{"Carl@example.com", "192.0.2.7"},
		{"ann@example.com", "203.0.113.9"},
		{"bob@example.com", "198.51.100.77"},
	} {
		at := now
		if r.email == "ann@example.com" {
			at = now.Add(-24 * time.Hour) // expired: update_rules keeps it
		}
		if err := s.Add(ctx, r.email, r.ip, at); err != nil {
			t.Fatal(err)
		}
	}
	rows := `203.0.113.9:allow,RELAYCLIENT=""
198.51.100.77:allow,RELAYCLIENT=""
192.0.2.7:allow,RELAYCLIENT=""
192.0.2.7:allow,RELAYCLIENT=""
198.51.100.3:allow,RELAYCLIENT=""
`
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	rules := "# the office\n10.1.1.:allow,RELAYCLIENT=\"\"\n\n \t\n  # local\n127.:allow,RELAYCLIENT=\"\",QMAILQUEUE=\"bin/qq\"\n:allow\n"
	if err := os.WriteFile(src, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	// The reference: what update_rules pipes into tcprules.
	kept := "10.1.1.:allow,RELAYCLIENT=\"\"\n127.:allow,RELAYCLIENT=\"\",QMAILQUEUE=\"bin/qq\"\n:allow\n"
	ref := filepath.Join(dir, "reference.cdb")
	cmd := exec.Command(tcprulesBin, ref, ref+".tmp")
	cmd.Stdin = strings.NewReader(rows + kept)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tcprules: %v\n%s", err, out)
	}

	t.Setenv("RELAY_TABLE", table)
	var out, errb strings.Builder
	a := &app{stdout: &out, stderr: &errb}
	if code := a.run([]string{"--relay-db", dsn, "cdb", "--roaming", "relay-table", src}); code != exitOK {
		t.Fatalf("qmailctl cdb: exit %d\n%s", code, errb.String())
	}
	got, err := os.ReadFile(src + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("qmailctl cdb --roaming relay-table wrote %d bytes that differ from update_rules' %d (tcprules fed the server's rows, then tcp.smtp)", len(got), len(want))
	}
}
