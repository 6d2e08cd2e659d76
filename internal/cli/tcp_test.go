package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A long tcp list on a terminal is printed as one table per listPage rules,
// each with its header, so that it never holds more than a page.
func TestTCPListTablePages(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	for i := 0; i < 2*listPage+1; i++ {
		fmt.Fprintf(&src, "10.1.%d.%d:allow\n", i/250, i%250)
	}
	if err := os.WriteFile(filepath.Join(dir, "tcp.smtp"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, tty: true}
	if code := a.run([]string{"--tcp-dir", dir, "tcp", "list"}); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
	if n := strings.Count(out.String(), "ADDRESS"); n != 3 {
		t.Errorf("%d headers for %d rules, want 3", n, 2*listPage+1)
	}
	for _, want := range []string{"10.1.0.0", "10.1.1.249", "10.1.4.0"} {
		if !strings.Contains(out.String(), " "+want+" ") {
			t.Errorf("table lacks %s", want)
		}
	}
	// A file without rules still shows the header, as one table did.
	if err := os.WriteFile(filepath.Join(dir, "tcp.smtp"), []byte("# nothing yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := a.run([]string{"--tcp-dir", dir, "tcp", "list"}); code != exitOK || strings.Count(out.String(), "ADDRESS") != 1 {
		t.Errorf("empty file: exit %d, table:\n%s", code, out.String())
	}
}

// jsonArray writes what printJSON writes for the whole slice, at the top
// level and nested in an object.
func TestJSONArrayMatchesPrintJSON(t *testing.T) {
	type item struct {
		A string            `json:"a"`
		B []int             `json:"b"`
		M map[string]string `json:"m"`
	}
	for _, items := range [][]item{nil, {{A: "x<&>"}}, {{A: "1", B: []int{1, 2}}, {M: map[string]string{"k": "v"}}, {}}} {
		var want, got bytes.Buffer
		all := items
		if all == nil {
			all = []item{}
		}
		(&app{stdout: &want}).printJSON(struct {
			N     int    `json:"n"`
			Items []item `json:"items"`
		}{len(all), all})
		(&app{stdout: &want}).printJSON(all)

		got.WriteString(fmt.Sprintf("{\n  \"n\": %d,\n  \"items\": ", len(all)))
		arr := newJSONArray(&got, 1)
		for _, it := range items {
			if err := arr.Add(it); err != nil {
				t.Fatal(err)
			}
		}
		arr.Close()
		got.WriteString("\n}\n")
		arr = newJSONArray(&got, 0)
		for _, it := range items {
			arr.Add(it)
		}
		arr.Close()
		got.WriteString("\n")
		if got.String() != want.String() {
			t.Errorf("streamed:\n%s\nprintJSON:\n%s", got.String(), want.String())
		}
	}
}

// tcp check --json streams a document that parses, with the rule count
// before the problems and every problem in line order.
func TestTCPCheckJSONStream(t *testing.T) {
	dir := t.TempDir()
	src := "10.1.1.:allow\n10.1.1.:deny\n  \n10.0.0.0/30:allow\n10.1.1.:deny\n"
	if err := os.WriteFile(filepath.Join(dir, "tcp.smtp"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut}
	if code := a.run([]string{"--tcp-dir", dir, "tcp", "check", "--json"}); code != exitNo {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
	var got struct {
		Rules    int  `json:"rules"`
		Stale    bool `json:"stale"`
		Problems []struct {
			Line     int    `json:"line"`
			Severity string `json:"severity"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	var lines []int
	for _, p := range got.Problems {
		lines = append(lines, p.Line)
	}
	// The missing cdb (line 0), the shadowed rule on line 2, the white
	// space on 3, the CIDR note on 4, the shadowed rule on 5.
	if got.Rules != 4 || !got.Stale || fmt.Sprint(lines) != "[0 2 3 4 5]" || got.Problems[1].Severity != "warning" {
		t.Errorf("check --json = rules %d, stale %v, problem lines %v:\n%s", got.Rules, got.Stale, lines, out.String())
	}
}
