package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// TestDocsUpToDate regenerates the man pages and the completion scripts
// with the hidden __gen-docs command and compares them, byte for byte, with
// docs/man and completions/: a command, flag or help text changed without
// running scripts/gen-docs.sh fails here. The environment is set to odd
// values first: the output must not depend on it.
func TestDocsUpToDate(t *testing.T) {
	t.Setenv("CONTROLDIR", t.TempDir())
	t.Setenv("QMAILCTL_RELAY_DB", "mysql://someone@tcp(db.example)/relay")
	t.Setenv("SOURCE_DATE_EPOCH", "0")
	out := t.TempDir()
	if _, stderr, code := inProcess(t, "__gen-docs", "--man", filepath.Join(out, "man"), "--completions", filepath.Join(out, "completions")); code != 0 {
		t.Fatalf("__gen-docs: exit %d: %s", code, stderr)
	}
	for _, dir := range []string{"docs/man", "completions"} {
		compareDirs(t, filepath.Join("..", "..", dir), filepath.Join(out, filepath.Base(dir)), dir)
	}
}

// compareDirs reports every file of got missing from, extra in or
// different in want.
func compareDirs(t *testing.T, want, got, name string) {
	t.Helper()
	list := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	wantNames, gotNames := list(want), list(got)
	for _, n := range gotNames {
		if !slices.Contains(wantNames, n) {
			t.Errorf("%s/%s is missing: run scripts/gen-docs.sh", name, n)
			continue
		}
		w, err1 := os.ReadFile(filepath.Join(want, n))
		g, err2 := os.ReadFile(filepath.Join(got, n))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(w, g) {
			t.Errorf("%s/%s is out of date (%s): run scripts/gen-docs.sh", name, n, firstDiff(w, g))
		}
	}
	for _, n := range wantNames {
		if !slices.Contains(gotNames, n) {
			t.Errorf("%s/%s is for a command that is gone: run scripts/gen-docs.sh", name, n)
		}
	}
}

// firstDiff names the first line where two files differ.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ": committed " + quoteTrim(w) + ", generated " + quoteTrim(g)
		}
	}
	return "same lines"
}

func quoteTrim(s string) string {
	if len(s) > 70 {
		s = s[:70] + "..."
	}
	return `"` + s + `"`
}

// docsPages renders the man pages of a fresh command tree in memory.
func docsPages(t *testing.T, o docsOptions) map[string][]byte {
	t.Helper()
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	return manPages(a.newRoot(), o)
}

// TestDocsRootPage checks that qmailctl(8) has the sections an admin looks
// for, in the usual order, with the exit statuses, the files and the
// classic tools' pages.
func TestDocsRootPage(t *testing.T) {
	page := string(docsPages(t, docsOptions{})["qmailctl.8"])
	want := []string{`.TH "QMAILCTL" "8" "` + manDate + `" "qmailctl" "System Manager's Manual"`,
		".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH COMMANDS", ".SH OPTIONS", `.SH "EXIT STATUS"`,
		".SH ENVIRONMENT", ".SH FILES", ".SH EXAMPLES", `.SH "SEE ALSO"`}
	at := 0
	for _, w := range want {
		i := strings.Index(page[at:], w)
		if i < 0 {
			t.Fatalf("qmailctl.8 lacks %q after byte %d:\n%s", w, at, page)
		}
		at += i + len(w)
	}
	for _, w := range []string{".B 0\n", ".B 1\n", ".B 100\n", ".B 111\n",
		`\fB/etc/indimail/tcp/tcp.smtp\fR`, `\fB/var/qmail/control\fR`,
		`sudo qmailctl tcp add 10.1.1. allow \-\-relay`, `sudo qmailctl relaymailfrom add joe@example.com`,
		`qmailctl relay test 10.1.1.5 joe@example.com friend@example.net`,
		".BR tcprules (1),", ".BR tcpserver (1),", ".BR qmail\\-smtpd (8)",
		".BR qmailctl\\-exit\\-codes (8),", ".BR qmailctl\\-relaying (8),"} {
		if !strings.Contains(page, w) {
			t.Errorf("qmailctl.8 lacks %q", w)
		}
	}
}

// TestDocsEveryPage checks every page: a NAME line man -k can index, an
// EXIT STATUS (but for help topics), examples for commands that have them,
// nothing that depends on the machine, and a reference back to its parent.
func TestDocsEveryPage(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.newRoot()
	pages := manPages(root, docsOptions{})
	for _, c := range documented(root) {
		name := manName(c) + ".8"
		page := string(pages[name])
		if page == "" {
			t.Errorf("no page %s for %q", name, c.CommandPath())
			continue
		}
		if !strings.Contains(page, ".SH NAME\n"+escape(manName(c))+` \- `) {
			t.Errorf("%s: NAME is not \"%s \\- ...\"", name, manName(c))
		}
		if !isTopic(c) && !strings.Contains(page, `.SH "EXIT STATUS"`) {
			t.Errorf("%s: no EXIT STATUS", name)
		}
		if c.Example != "" && !strings.Contains(page, ".SH EXAMPLES") {
			t.Errorf("%s: no EXAMPLES", name)
		}
		if c.HasParent() && !strings.Contains(page, ".BR "+escape(manName(c.Parent()))+" (8)") {
			t.Errorf("%s: SEE ALSO does not name %s(8)", name, manName(c.Parent()))
		}
		for _, bad := range []string{"/root", os.Getenv("HOME"), "(default: \"/etc\")"} {
			if bad != "" && strings.Contains(page, bad) {
				t.Errorf("%s contains %q, which depends on the machine", name, bad)
			}
		}
	}
	for name := range pages {
		if strings.Contains(name, "__") || strings.HasPrefix(name, "qmailctl-completion") || name == "qmailctl-help.8" {
			t.Errorf("page %s is for a hidden or built-in command", name)
		}
	}
}

// TestDocsOptions: --date and --source reach the header; a bad date is a
// usage error.
func TestDocsOptions(t *testing.T) {
	page := string(docsPages(t, docsOptions{date: "2027-01-02", source: "qmailctl 1.2.0"})["qmailctl-tcp-add.8"])
	if !strings.HasPrefix(page, `.TH "QMAILCTL\-TCP\-ADD" "8" "2027-01-02" "qmailctl 1.2.0" "System Manager's Manual"`+"\n") {
		t.Errorf("header: %q", strings.SplitN(page, "\n", 2)[0])
	}
	_, stderr, code := inProcess(t, "__gen-docs", "--man", t.TempDir(), "--date", "Jan 2027")
	if code != exitPerm || !strings.Contains(stderr, "YYYY-MM-DD") {
		t.Errorf("__gen-docs --date 'Jan 2027': exit %d, %q; want 100 and the expected form", code, stderr)
	}
	if _, _, code := inProcess(t, "__gen-docs"); code != exitPerm {
		t.Errorf("__gen-docs without a directory: exit %d, want 100", code)
	}
}

// TestDocsRemovesStalePages: a page of a command that is gone is removed;
// other files are left alone.
func TestDocsRemovesStalePages(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "qmailctl-gone.8"), "old")
	writeTestFile(t, filepath.Join(dir, "README"), "keep")
	if _, stderr, code := inProcess(t, "__gen-docs", "--man", dir); code != 0 {
		t.Fatal(stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "qmailctl-gone.8")); !os.IsNotExist(err) {
		t.Errorf("qmailctl-gone.8 was not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("README was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "qmailctl.8")); err != nil {
		t.Error(err)
	}
}

// TestDocsRoffText checks how help text becomes roff: prose is filled and
// escaped, lists and the exit status table become items, indented lines
// stay as written.
func TestDocsRoffText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A prose line with --flag and 'quotes'\nwrapped.",
			"A prose line with \\-\\-flag and \\(aqquotes\\(aq wrapped.\n"},
		{".dot first and \\back", "\\&.dot first and \\eback\n"},
		{"Items:\n  - one\n    more\n  - two", "Items:\n.IP \\(bu 2\none more\n.IP \\(bu 2\ntwo\n"},
		{"  0    fine\n  111  not\n       fine", ".TP\n.B 0\nfine\n.TP\n.B 111\nnot fine\n"},
		{"Run:\n  qmailctl cdb\n    --force\nthen", "Run:\n.RS 4\n.nf\nqmailctl cdb\n  \\-\\-force\n.fi\n.RE\nthen\n"},
		{"one\n\ntwo", "one\n.PP\ntwo\n"},
	} {
		w := &roff{fresh: true}
		w.text(tc.in)
		if got := w.String(); got != tc.want {
			t.Errorf("text(%q):\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestDocsSplitSections: a heading in capitals takes its paragraph, and
// "Exit status: ..." is the EXIT STATUS when there is no heading.
func TestDocsSplitSections(t *testing.T) {
	desc, s := splitSections("Intro.\n\nEXIT STATUS\n  0    ok\n\nMore.")
	if desc != "Intro.\n\nMore." || s["EXIT STATUS"] != "  0    ok" {
		t.Errorf("heading: desc %q, sections %q", desc, s)
	}
	desc, s = splitSections("Intro.\n\nExit status: 0 when yes,\n1 when no.")
	if desc != "Intro." || s["EXIT STATUS"] != "0 when yes,\n1 when no." {
		t.Errorf("inline: desc %q, sections %q", desc, s)
	}
	desc, s = splitSections("Intro.\n\nNOTES\n\nFirst.\n\nSecond.")
	if desc != "Intro." || s["NOTES"] != "First.\n\nSecond." {
		t.Errorf("heading alone: desc %q, sections %q", desc, s)
	}
}

// TestDocsManRenders formats every page with groff, as man does, and fails
// on any warning; and reads qmailctl(8) with man -l, as an admin would.
func TestDocsManRenders(t *testing.T) {
	groff := peers.Tool(t, "groff")
	man := peers.Tool(t, "man")
	dir := t.TempDir()
	for name, page := range docsPages(t, docsOptions{}) {
		path := filepath.Join(dir, name)
		writeTestFile(t, path, string(page))
		out, err := testexec.Command(t, groff, "-man", "-ww", "-z", "-Tutf8", path).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff %s: %v\n%s", name, err, out)
		}
	}
	cmd := testexec.Command(t, man, "-l", filepath.Join(dir, "qmailctl.8"))
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l qmailctl.8: %v", err)
	}
	text := regexp.MustCompile(".\b").ReplaceAllString(string(out), "") // no overstrike
	for _, w := range []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO",
		"sudo qmailctl tcp add 10.1.1. allow --relay", "--tcp-dir", "tcprules(1)", "tcpserver(1)", "qmail-smtpd(8)"} {
		if !strings.Contains(text, w) {
			t.Errorf("man -l qmailctl.8 does not show %q (ASCII hyphens and quotes, so that it can be copied)", w)
		}
	}
}
