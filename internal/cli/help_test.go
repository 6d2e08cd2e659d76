package cli

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelpTextsComplete walks the whole command tree and fails for every
// command without a Short, a Long, or (when it runs something) an Example:
// the man pages and --help are made from them, and an admin learns from the
// examples. Commands being written fail here until they have their texts.
func TestHelpTextsComplete(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	var lacking []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || isBuiltin(sub) {
				continue
			}
			var missing []string
			if strings.TrimSpace(sub.Short) == "" {
				missing = append(missing, "Short")
			}
			if strings.TrimSpace(sub.Long) == "" {
				missing = append(missing, "Long")
			}
			if sub.Runnable() && strings.TrimSpace(sub.Example) == "" {
				missing = append(missing, "Example")
			}
			if !sub.Runnable() && !sub.HasAvailableSubCommands() && !isHelpTopic(sub) {
				missing = append(missing, "Run (it is neither a command nor a help topic)")
			}
			if len(missing) > 0 {
				lacking = append(lacking, fmt.Sprintf("%s: no %s", sub.CommandPath(), strings.Join(missing, ", ")))
			}
			if strings.Contains(sub.Short, "\n") || strings.HasSuffix(sub.Short, ".") {
				lacking = append(lacking, fmt.Sprintf("%s: Short must be one line without a full stop: %q", sub.CommandPath(), sub.Short))
			}
			walk(sub)
		}
	}
	root := a.newRoot()
	if root.Long == "" || root.Example == "" {
		lacking = append(lacking, "qmailctl: no Long or Example")
	}
	walk(root)
	for _, l := range lacking {
		t.Error(l)
	}
}

// helpTopics are the commands that are only text: qmailctl help NAME.
var helpTopics = map[string]bool{"exit-codes": true, "relaying": true}

func isHelpTopic(c *cobra.Command) bool {
	return c.Parent() != nil && !c.Parent().HasParent() && helpTopics[c.Name()]
}

// TestHelpExitCodes: qmailctl help exit-codes lists the four statuses with
// the codes of exit.go, on stdout, and exits 0.
func TestHelpExitCodes(t *testing.T) {
	out, stderr, code := inProcess(t, "help", "exit-codes")
	if code != 0 || stderr != "" {
		t.Fatalf("help exit-codes: exit %d, stderr %q", code, stderr)
	}
	for _, w := range []string{
		"\n  0    success, or \"yes\"",
		"\n  1    a clean \"no\": relay test refused",
		"\n  100  permanent failure: bad input or usage",
		"nothing was written",
		"\n  111  temporary failure:",
		"lock", "relay database",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("help exit-codes lacks %q:\n%s", w, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("help exit-codes: line longer than 80 columns: %q", l)
		}
	}
	// The topic is listed where an admin looks.
	out, _, _ = inProcess(t, "--help")
	if !regexp.MustCompile(`Additional help topics:\n(.*\n)*  qmailctl exit-codes +What`).MatchString(out) {
		t.Errorf("qmailctl --help does not list the exit-codes topic:\n%s", out)
	}
}

// TestHelpRelaying: qmailctl help relaying covers the six mechanisms, in
// IndiMail's order, with the seed's recipes.
func TestHelpRelaying(t *testing.T) {
	out, _, code := inProcess(t, "help", "relaying")
	if code != 0 {
		t.Fatalf("help relaying: exit %d", code)
	}
	at := 0
	for _, w := range []string{"1. tcp.smtp", "2. control/relayclients", "3. The relay table", "4. SMTP AUTH",
		"5. control/relaydomains", "6. control/relaymailfrom", "qmailctl relay test"} {
		i := strings.Index(out[at:], w)
		if i < 0 {
			t.Fatalf("help relaying lacks %q after byte %d:\n%s", w, at, out)
		}
		at += i
	}
	for _, w := range []string{"sudo qmailctl tcp add 10.1.1. allow --relay", "sudo qmailctl relaymailfrom add joe@example.com"} {
		if !strings.Contains(out, w) {
			t.Errorf("help relaying lacks %q", w)
		}
	}
}

// TestHelpCommandLines checks every qmailctl command line in the help
// texts: the examples of every command, and the indented lines of the
// descriptions and help topics. Each must name a command that exists, with
// flags it has and arguments it accepts, so that an admin who copies it
// gets what the text promises.
func TestHelpCommandLines(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, text := range []string{c.Example, c.Long} {
			for _, line := range strings.Split(text, "\n") {
				words, ok := commandLine(line)
				if !ok {
					continue
				}
				if err := checkCommandLine(words); err != nil {
					t.Errorf("%s: %q: %v", c.CommandPath(), strings.TrimSpace(line), err)
				}
			}
		}
		for _, sub := range c.Commands() {
			if !sub.Hidden && !isBuiltin(sub) {
				walk(sub)
			}
		}
	}
	walk(a.newRoot())
}

// commandLine returns the words of an indented line that runs qmailctl
// (possibly under sudo), up to a pipe, redirection or comment.
func commandLine(line string) ([]string, bool) {
	if !strings.HasPrefix(line, " ") {
		return nil, false
	}
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "if ")
	line = strings.TrimPrefix(line, "sudo ")
	if !strings.HasPrefix(line, "qmailctl ") {
		return nil, false
	}
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("|;&>#", r):
			if inWord {
				words = append(words, cur.String())
			}
			return words[1:], true
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words[1:], true
}

// checkCommandLine resolves args (after "qmailctl") on a fresh command tree
// and parses its flags and arguments as cobra would, without running it.
func checkCommandLine(args []string) error {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.newRoot()
	if len(args) > 0 && args[0] == "help" {
		c, rest, err := root.Find(args[1:])
		if err != nil || len(rest) > 0 || c == root && len(args) > 1 {
			return fmt.Errorf("no help for %q", args[1:])
		}
		return nil
	}
	c, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if !c.Runnable() {
		return fmt.Errorf("%s is not a command (a group or a help topic)", c.CommandPath())
	}
	if err := c.ParseFlags(rest); err != nil {
		return err
	}
	if c.Flags().Changed("help") || c.Flags().Changed("version") {
		return nil
	}
	if c.HasAvailableSubCommands() && len(c.Flags().Args()) > 0 {
		return fmt.Errorf("%s has no subcommand %q", c.CommandPath(), c.Flags().Args()[0])
	}
	return c.ValidateArgs(c.Flags().Args())
}

// TestHelpCommandLineParser checks the small shell word splitter above.
func TestHelpCommandLineParser(t *testing.T) {
	for line, want := range map[string]string{
		"  sudo qmailctl relaymailfrom add '*@example.com' '!info@example.com'": "relaymailfrom|add|*@example.com|!info@example.com",
		"  qmailctl tcp list --json | jq -r .":                                  "tcp|list|--json",
		`  qmailctl relay test 203.0.113.9 '<>' postmaster@example.com`:         "relay|test|203.0.113.9|<>|postmaster@example.com",
		`  if qmailctl relay test a b c >/dev/null; then`:                       "relay|test|a|b|c",
	} {
		words, ok := commandLine(line)
		if got := strings.Join(words, "|"); !ok || got != want {
			t.Errorf("commandLine(%q) = %q, want %q", line, got, want)
		}
	}
	if _, ok := commandLine("qmailctl in prose"); ok {
		t.Error("a prose line is not a command line")
	}
	if err := checkCommandLine([]string{"tcp", "add", "10.1.1.", "allow", "--relay"}); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{{"tcp", "add", "10.1.1.", "permit"}, {"tcp", "add", "10.1.1.", "allow", "--relays"}, {"tcq", "list"}, {"help", "nonsense"}} {
		if checkCommandLine(bad) == nil {
			t.Errorf("checkCommandLine(%q) accepted it", bad)
		}
	}
}

// TestHelpUnknownTopic: asking for help on something that does not exist is
// bad usage, not a successful run.
func TestHelpUnknownTopic(t *testing.T) {
	for _, args := range [][]string{{"help", "nonsense"}, {"help", "tcp", "nonsense"}} {
		out, stderr, code := inProcess(t, args...)
		if code != exitPerm || out != "" || !strings.Contains(stderr, "no command or topic") {
			t.Errorf("qmailctl %q: exit %d, stdout %q, stderr %q; want 100 and a message on stderr", args, code, out, stderr)
		}
	}
	for _, args := range [][]string{{"help"}, {"help", "tcp", "add"}, {"help", "relaying"}} {
		if out, _, code := inProcess(t, args...); code != 0 || out == "" {
			t.Errorf("qmailctl %q: exit %d, stdout %q", args, code, out)
		}
	}
}
