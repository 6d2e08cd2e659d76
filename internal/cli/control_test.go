package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestControlHelp checks that every control-file command documents itself
// the same way: a one-line Short, examples, an EXIT STATUS section with the
// four statuses, and help text that fits an 80-column terminal.
func TestControlHelp(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, group := range a.newControlCmds() {
		cmds := append([]*cobra.Command{group}, group.Commands()...)
		for _, c := range cmds {
			name := c.CommandPath()
			if c.Short == "" || strings.Contains(c.Short, "\n") {
				t.Errorf("%s: Short must be one line: %q", name, c.Short)
			}
			if c.Example == "" {
				t.Errorf("%s: no Example", name)
			}
			for _, want := range []string{"\nEXIT STATUS\n", "\n  0    ", "\n  1    ", "\n  100  ", "\n  111  "} {
				if !strings.Contains(c.Long, want) {
					t.Errorf("%s: Long lacks %q", name, want)
				}
			}
			for _, text := range []string{c.Long, c.Example} {
				for _, l := range strings.Split(text, "\n") {
					if len([]rune(l)) > 80 {
						t.Errorf("%s: help line longer than 80 columns: %q", name, l)
					}
				}
			}
		}
	}
}

// TestControlListTable checks the terminal form of list, which testscript
// cannot see (its stdout is never a terminal): a table with line numbers and
// notes on what IndiMail really does.
func TestControlListTable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "relayclients"), []byte("# office\n10.1.1.\n192.0.2.25:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, tty: true}
	if code := a.run([]string{"--control-dir", dir, "relayclients", "list"}); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{"LINE", "ENTRY", "NOTES", "10.1.1.", `IndiMail appends "192.0.2.25:"`, "colon form: never matches in IndiMail"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("warnings belong on stderr:\n%s", out.String())
	}
}

func TestRemovedLines(t *testing.T) {
	old := splitLines([]byte("# c\na\nb\na\nc \n"))
	got := removedLines(old, splitLines([]byte("# c\nb\n")))
	want := []numberedLine{{2, "a"}, {4, "a"}, {5, "c"}}
	if len(got) != len(want) {
		t.Fatalf("removedLines = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("removedLines[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap(strings.Repeat("word ", 30), 7, "       ")
	for i, l := range strings.Split(got, "\n") {
		n := len(l)
		if i == 0 {
			n += 7 // the first line starts at column 7
		}
		if n > helpWidth {
			t.Errorf("line %d is %d columns: %q", i+1, n, l)
		}
		if i > 0 && !strings.HasPrefix(l, "       word") {
			t.Errorf("line %d lacks the hanging indent: %q", i+1, l)
		}
	}
}
