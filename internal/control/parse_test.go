package control

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// dump renders a parse result for golden files.
func dump(f *File, problems []diag.Problem, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind %s, exists %v, %d entries\n", f.Kind, f.Exists, len(f.Entries))
	for _, e := range f.Entries {
		fmt.Fprintf(&b, "line %d: key=%q cr=%v indimail=%v", e.Line, e.Key, e.CR, e.IndiMailMatches())
		switch f.Kind {
		case RelayClients, RelayDomains:
			app, known := e.IndiMailAppend()
			fmt.Fprintf(&b, " colon=%v value=%q indimail-append=%q known=%v", e.Colon, e.Value, app, known)
		case RelayMailFrom:
			fmt.Fprintf(&b, " negate=%v pattern=%v", e.Negate, e.Pattern())
		}
		b.WriteString("\n")
	}
	for _, p := range problems {
		b.WriteString(p.Long())
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, kind := range []Kind{RelayClients, RelayDomains, RelayMailFrom, RcptHosts} {
		t.Run(kind.Name(), func(t *testing.T) {
			in := filepath.Join("testdata", kind.Name()+".txt")
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			f, problems, perr := Parse(kind, kind.Name(), data)
			got := dump(f, problems, perr)
			golden := filepath.Join("testdata", kind.Name()+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) differs from %s (go test -update rewrites it):\n%s", in, golden, got)
			}
			if !bytes.Equal(f.Bytes(), data) {
				t.Errorf("Bytes() does not give back the file")
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	data := "# comment\n\n   \t\n10.1.1.\t \n#10.2.2.\n10.3.3.#x\n10.4.4."
	f, problems, err := Parse(RelayClients, "rc", []byte(data))
	if f == nil {
		t.Fatal("no File")
	}
	var keys []string
	for _, e := range f.Entries {
		keys = append(keys, fmt.Sprintf("%d:%s", e.Line, e.Text))
	}
	if got, want := strings.Join(keys, " "), "4:10.1.1. 7:10.4.4."; got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
	// "#" after column 1 is literal: 10.3.3.#x is an invalid entry, not a comment.
	var p *diag.Problem
	if !errors.As(err, &p) || p.Line != 6 || p.Col != 8 || p.File != "rc" || p.Text != "10.3.3.#x" {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(p.Hint, "qmailctl relayclients remove '10.3.3.#x'") {
		t.Errorf("hint %q", p.Hint)
	}
	for i := 1; i < len(problems); i++ {
		if problems[i].Line < problems[i-1].Line {
			t.Errorf("problems not in line order: %v", problems)
		}
	}
	if string(f.Bytes()) != data {
		t.Errorf("Bytes() = %q", f.Bytes())
	}
}

func TestParseFirstErrorAndHint(t *testing.T) {
	f, problems, err := Parse(RelayClients, "/etc/indimail/control/relayclients", []byte("10.1.1.\n10.1.1\n300.1.1.\n"))
	var p *diag.Problem
	if !errors.As(err, &p) {
		t.Fatalf("err = %v", err)
	}
	if got := p.Error(); got != "/etc/indimail/control/relayclients:2:7: a prefix must end with a dot: 10.1.1." {
		t.Errorf("Error() = %q", got)
	}
	if p.Hint != "qmailctl relayclients remove 10.1.1" {
		t.Errorf("Hint = %q", p.Hint)
	}
	errs := 0
	for _, q := range problems {
		if q.Severity == diag.Error {
			errs++
		}
	}
	if errs != 2 || len(f.Entries) != 1 {
		t.Errorf("%d errors, %d entries; want 2, 1", errs, len(f.Entries))
	}
}

func TestParseCRLF(t *testing.T) {
	f, problems, err := Parse(RcptHosts, "rcpthosts", []byte("example.com\r\n\r\nexample.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 2 || !f.Entries[0].CR || f.Entries[0].Key != "example.com" || f.Entries[1].CR {
		t.Fatalf("entries %+v", f.Entries)
	}
	if len(problems) != 2 || !strings.Contains(problems[0].Msg, "CRLF line ending") || problems[0].Col != 12 || problems[1].Line != 2 {
		t.Errorf("problems %v", problems)
	}
	if f.Entries[0].IndiMailMatches() {
		t.Error("a CRLF line matches in IndiMail")
	}
}

func TestLoadMissingAndEmpty(t *testing.T) {
	dir := t.TempDir()
	f, problems, err := Load(RcptHosts, dir)
	if err != nil || problems != nil || f.Exists || f.Path != filepath.Join(dir, "rcpthosts") {
		t.Fatalf("missing: %+v %v %v", f, problems, err)
	}
	os.WriteFile(filepath.Join(dir, "rcpthosts"), nil, 0o644)
	f, _, err = Load(RcptHosts, dir)
	if err != nil || !f.Exists || len(f.Entries) != 0 {
		t.Fatalf("empty: %+v %v", f, err)
	}
	os.Mkdir(filepath.Join(dir, "relayclients"), 0o755)
	if _, _, err := Load(RelayClients, dir); err == nil {
		t.Error("Load of a directory succeeded")
	}
	if _, _, err := Parse(Kind(9), "x", nil); err == nil {
		t.Error("Parse accepted Kind(9)")
	}
}

func TestParseDuplicateAndMailFromWarnings(t *testing.T) {
	_, problems, err := Parse(RelayMailFrom, "rmf", []byte("@example.org\nJoe@x.com\njoe@x.com\n!bad@example.org\n!spam*@example.org\n!*@y.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		3: "duplicate of line 2",
		4: "cannot override line 1",
		5: "cannot override line 1",
	}
	for line, msg := range want {
		found := false
		for _, p := range problems {
			if p.Line == line && strings.Contains(p.Msg, msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning %q on line %d in %v", msg, line, problems)
		}
	}
	for _, p := range problems {
		if p.Line == 6 {
			t.Errorf("unexpected warning on line 6: %v", p)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range Kinds() {
		if k == MoreRcptHosts {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", k.Name()+".txt"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(k), data)
	}
	f.Add(uint8(RelayClients), []byte("::ffff:10.1.\n:\n1:2:3\n10.1.1.5:a:b"))
	f.Fuzz(func(t *testing.T, k uint8, data []byte) {
		kind := Kind(k%5 + 1)
		file, problems, err := Parse(kind, "f", data)
		if !bytes.Equal(file.Bytes(), data) {
			t.Fatalf("Bytes() = %q, want %q", file.Bytes(), data)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range file.Entries {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("entry line %d of %d", e.Line, lines)
			}
			// Every parsed entry passes the validator on its own.
			if _, verr := ValidateEntry(kind, e.body()); verr != nil && !e.Colon {
				t.Fatalf("entry %q passes Parse but not ValidateEntry: %v", e.Text, verr)
			}
		}
		for _, p := range problems {
			if p.Line < 1 || p.Line > lines || p.Col < 1 || p.Col > len(p.Text)+1 {
				t.Fatalf("problem position out of range: %+v", p)
			}
		}
		if (err != nil) != hasError(problems) {
			t.Fatalf("err %v but problems %v", err, problems)
		}
		// Removing an entry and adding it back keeps the other lines.
		if len(file.Entries) > 0 {
			e := file.Entries[0]
			out, rerr := file.Remove(e.Text)
			if rerr != nil {
				t.Fatalf("Remove(%q): %v", e.Text, rerr)
			}
			g, _, _ := Parse(kind, "f", out)
			for _, ge := range g.Entries {
				if equalFoldASCII(ge.identity(kind), e.identity(kind)) {
					t.Fatalf("Remove(%q) left %q", e.Text, ge.Text)
				}
			}
		}
	})
}

func hasError(ps []diag.Problem) bool {
	for _, p := range ps {
		if p.Severity == diag.Error {
			return true
		}
	}
	return false
}
