package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// inProcess runs qmailctl in-process with args and returns what it printed and
// its exit status.
func inProcess(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, stdin: strings.NewReader("")}
	code = a.run(args)
	return out.String(), errOut.String(), code
}

// completeArgs asks cobra's hidden __complete command, as the shell scripts do,
// and returns the candidates (without their descriptions) and the directive.
func completeArgs(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	out, stderr, code := inProcess(t, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	var d cobra.ShellCompDirective
	if _, err := fmt.Sscanf(last, ":%d", &d); err != nil {
		t.Fatalf("__complete %q: no directive line in %q", args, out)
	}
	var cands []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		cands = append(cands, name)
	}
	return cands, d
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCompleteSubcommands: the first word completes to the commands and
// help topics, without the hidden ones.
func TestCompleteSubcommands(t *testing.T) {
	cands, _ := completeArgs(t, "tc")
	if !slices.Equal(cands, []string{"tcp"}) {
		t.Errorf("qmailctl tc<TAB> = %q, want [tcp]", cands)
	}
	cands, _ = completeArgs(t, "")
	for _, want := range []string{"cdb", "tcp", "relay", "help"} {
		if !slices.Contains(cands, want) {
			t.Errorf("qmailctl <TAB> lacks %q: %q", want, cands)
		}
	}
	for _, c := range cands {
		if strings.HasPrefix(c, "__") {
			t.Errorf("qmailctl <TAB> offers the hidden %q", c)
		}
	}
	cands, _ = completeArgs(t, "help", "")
	for _, want := range []string{"exit-codes", "relaying"} {
		if !slices.Contains(cands, want) {
			t.Errorf("qmailctl help <TAB> lacks the topic %q: %q", want, cands)
		}
	}
}

// TestCompleteTCPRemove: tcp remove completes the addresses of the rules
// in the file, and nothing else.
func TestCompleteTCPRemove(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "tcp.smtp"), "127.:allow,RELAYCLIENT=\"\"\n10.1.1.:allow,RELAYCLIENT=\"\"\n192.0.2.7:deny\n:allow\n")
	cands, d := completeArgs(t, "--tcp-dir", dir, "tcp", "remove", "")
	if want := []string{"127.", "10.1.1.", "192.0.2.7"}; !slices.Equal(cands[:min(3, len(cands))], want) {
		t.Errorf("tcp remove <TAB> = %q, want %q first", cands, want)
	}
	// The default rule's address is "": a shell cannot offer an empty word,
	// and cobra then prints its description (":allow") as the candidate.
	for _, c := range cands {
		if c == "" || strings.HasPrefix(c, ":") {
			t.Errorf("tcp remove <TAB> offers %q for the default rule; skip it, or offer '\"\"' (tcp.go)", c)
		}
	}
	if d&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("tcp remove <TAB>: directive %v offers files", d)
	}
	// The rule's text is the description the shell shows beside it.
	out, _, _ := inProcess(t, cobra.ShellCompRequestCmd, "--tcp-dir", dir, "tcp", "remove", "10.")
	if !strings.Contains(out, "10.1.1.\t10.1.1.:allow,RELAYCLIENT=\"\"\n") {
		t.Errorf("tcp remove 10.<TAB>: want the rule as description, got\n%s", out)
	}
	// --file names the rules file.
	other := filepath.Join(dir, "tcp.other")
	writeTestFile(t, other, "192.0.2.99:deny\n")
	if cands, _ := completeArgs(t, "tcp", "remove", "--file", other, ""); !slices.Equal(cands, []string{"192.0.2.99"}) {
		t.Errorf("tcp remove --file %s <TAB> = %q", other, cands)
	}
	// Only one address.
	if cands, _ := completeArgs(t, "--tcp-dir", dir, "tcp", "remove", "127.", ""); len(cands) != 0 {
		t.Errorf("tcp remove 127. <TAB> = %q, want nothing", cands)
	}
}

// TestCompleteTCPAdd: after the address, tcp add completes the action.
func TestCompleteTCPAdd(t *testing.T) {
	cands, d := completeArgs(t, "tcp", "add", "10.1.1.", "")
	if !slices.Equal(cands, []string{"allow", "deny"}) {
		t.Errorf("tcp add 10.1.1. <TAB> = %q, want [allow deny]", cands)
	}
	if d&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("tcp add 10.1.1. <TAB>: directive %v offers files", d)
	}
	if cands, _ := completeArgs(t, "tcp", "add", "10.1.1.", "d"); !slices.Contains(cands, "deny") {
		t.Errorf("tcp add 10.1.1. d<TAB> = %q", cands)
	}
}

// TestCompleteCdb: cdb completes the rules files of --tcp-dir, not their
// cdbs or backups.
func TestCompleteCdb(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"tcp.smtp", "tcp.smtp.cdb", "tcp.pop3", "tcp.smtp~", "tcp.smtp.bak", "hosts"} {
		writeTestFile(t, filepath.Join(dir, name), "")
	}
	cands, _ := completeArgs(t, "--tcp-dir", dir, "cdb", "")
	want := []string{filepath.Join(dir, "tcp.pop3"), filepath.Join(dir, "tcp.smtp")}
	if !slices.Equal(cands, want) {
		t.Errorf("cdb <TAB> = %q, want %q", cands, want)
	}
}

// TestCompleteDirFlags: --tcp-dir and --control-dir complete directories.
func TestCompleteDirFlags(t *testing.T) {
	for _, flag := range []string{"--tcp-dir", "--control-dir"} {
		for _, args := range [][]string{{flag, ""}, {"tcp", "list", flag, ""}} {
			_, d := completeArgs(t, args...)
			if d != cobra.ShellCompDirectiveFilterDirs {
				t.Errorf("%q<TAB>: directive %d, want %d (directories)", args, d, cobra.ShellCompDirectiveFilterDirs)
			}
		}
	}
}

// TestCompletionScriptsGenerated: qmailctl completion SHELL prints the
// scripts in completions/ (the packages install those).
func TestCompletionScriptsGenerated(t *testing.T) {
	for shell, file := range map[string]string{"bash": "qmailctl.bash", "zsh": "_qmailctl", "fish": "qmailctl.fish"} {
		out, stderr, code := inProcess(t, "completion", shell)
		if code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, stderr)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "completions", file))
		if err != nil {
			t.Fatalf("%v: run scripts/gen-docs.sh", err)
		}
		if out != string(want) {
			t.Errorf("qmailctl completion %s differs from completions/%s: run scripts/gen-docs.sh", shell, file)
		}
	}
}

// completionBinary is the directory of qmailctl for $PATH (qmailctlBinary).
func completionBinary(t *testing.T) string {
	t.Helper()
	return filepath.Dir(qmailctlBinary(t))
}

// bashCompletionLib is bash-completion's library, which
// scripts/install-test-deps.sh installs. Under CI its absence fails the
// test; on a developer's machine it skips.
func bashCompletionLib(t *testing.T) string {
	t.Helper()
	const lib = "/usr/share/bash-completion/bash_completion"
	_, err := os.Stat(lib)
	_, bashErr := exec.LookPath("bash")
	if err == nil && bashErr == nil {
		return lib
	}
	peers.Missing(t, "bash and bash-completion are needed (run scripts/install-test-deps.sh)")
	return ""
}

// bashComplete completes line in a real bash that has loaded
// bash-completion and completions/qmailctl.bash, with the built qmailctl
// first on $PATH, the way pressing TAB at the end of line does.
func bashComplete(t *testing.T, line string, env ...string) []string {
	t.Helper()
	lib := bashCompletionLib(t)
	script, err := filepath.Abs(filepath.Join("..", "..", "completions", "qmailctl.bash"))
	if err != nil {
		t.Fatal(err)
	}
	bin := completionBinary(t)
	prog := `source "$LIB"; source "$SCRIPT"
COMP_LINE=$LINE; COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
[ "${COMP_LINE: -1}" = " " ] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
__start_qmailctl qmailctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := testexec.Command(t, "bash", "--norc", "--noprofile", "-c", prog)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"LIB="+lib, "SCRIPT="+script, "LINE="+line)
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash completing %q: %v\n%s", line, err, stderr.Bytes())
	}
	var reply []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			reply = append(reply, l)
		}
	}
	return reply
}

// TestCompletionBash loads completions/qmailctl.bash into a real bash with
// bash-completion, and completes a subcommand, the action of tcp add, and
// the addresses of tcp remove.
func TestCompletionBash(t *testing.T) {
	if got := bashComplete(t, "qmailctl tc"); !slices.Equal(got, []string{"tcp"}) {
		t.Errorf("bash: qmailctl tc<TAB> = %q, want [tcp]", got)
	}
	if got := bashComplete(t, "qmailctl tcp add 10.1.1. "); !slices.Equal(got, []string{"allow", "deny"}) {
		t.Errorf("bash: qmailctl tcp add 10.1.1. <TAB> = %q, want [allow deny]", got)
	}
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "tcp.smtp"), "10.1.1.:allow,RELAYCLIENT=\"\"\n192.0.2.7:deny\n")
	got := bashComplete(t, "qmailctl --tcp-dir "+dir+" tcp remove 19")
	if !slices.Equal(got, []string{"192.0.2.7"}) {
		t.Errorf("bash: qmailctl tcp remove 19<TAB> = %q, want [192.0.2.7]", got)
	}
}
