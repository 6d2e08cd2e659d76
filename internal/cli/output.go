package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/olekukonko/tablewriter"
	"golang.org/x/term"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printTable writes rows as a table on a terminal, and as tab-separated lines
// (no header) when stdout is a pipe, so that scripts can cut and awk them.
func (a *app) printTable(header []string, rows [][]string) error {
	if !a.tty {
		for _, r := range rows {
			fmt.Fprintln(a.stdout, strings.Join(r, "\t"))
		}
		return nil
	}
	t := tablewriter.NewWriter(a.stdout)
	if f, ok := a.stdout.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			t.Options(tablewriter.WithMaxWidth(w - 2)) // wrap cells, not the terminal (tablewriter overshoots by a border)
		}
	}
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	return t.Render()
}

// warn prints diagnostics of warning severity and above on stderr.
func (a *app) warn(problems []diag.Problem) {
	printProblems(a.stderr, problems, diag.Warning)
}

func printProblems(w io.Writer, problems []diag.Problem, min diag.Severity) {
	problems = diag.Excerpt(problems)
	for i := range problems {
		if problems[i].Severity >= min {
			fmt.Fprint(w, problems[i].Long())
		}
	}
}

// problemsOrEmpty keeps JSON lists as [] rather than null.
func problemsOrEmpty(p []diag.Problem) []diag.Problem {
	if p == nil {
		return []diag.Problem{}
	}
	return p
}
