package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// This file holds the help that is not tied to one command: the root
// command's description and examples, the help topics (qmailctl help
// exit-codes, qmailctl help relaying), and setupRoot, which registers them
// together with the version template, shell completion of the global flags
// and the hidden documentation generator.

// rootLong is qmailctl --help and the DESCRIPTION of qmailctl(8).
const rootLong = `qmailctl edits and compiles the files that decide who may relay mail through a
qmail or IndiMail server (tcp.smtp and its cdb, control/relayclients,
relaydomains, relaymailfrom, rcpthosts, morercpthosts), and explains whether a
message would be accepted and which rule, in which file, at which line,
decided it.

It writes the same bytes as tcprules and qmail-cdb, so it can replace them or
work beside them. Every edit is atomic, waits for the directory's lock rather
than racing another qmailctl, and keeps the other lines byte for byte. Data
goes to stdout, warnings and errors to stderr.

The exit status is 0 for success or "yes", 1 for a clean "no" (a refused relay,
audit findings), 100 for bad input or usage (nothing was written) and 111 for a
temporary failure: see qmailctl help exit-codes. qmailctl help relaying
compares the six ways to let a client relay.`

// rootExample is the EXAMPLES of qmailctl --help and qmailctl(8): the tasks
// of IndiMail's "How does IndiMail handle relaying securely".
const rootExample = `  # let every host on 10.1.1.* relay (and recompile tcp.smtp.cdb)
  sudo qmailctl tcp add 10.1.1. allow --relay

  # let one sender relay from anywhere (but see qmailctl relaymailfrom --help)
  sudo qmailctl relaymailfrom add joe@example.com

  # would 10.1.1.5 be allowed to send joe's mail to example.net, and why?
  qmailctl relay test 10.1.1.5 joe@example.com friend@example.net

  # which tcp.smtp rule does tcpserver apply to a client?
  qmailctl tcp explain 10.1.1.5

  # after editing tcp.smtp or control/morercpthosts by hand
  sudo qmailctl cdb

  # look for open-relay risks in the whole configuration
  sudo qmailctl relay audit`

// exitMeanings are the exit statuses every command shares, in order, with
// what they mean; exit.go's constants are the codes.
var exitMeanings = []struct {
	code int
	text string
}{
	{exitOK, `success, or "yes": the command did what was asked, relay test accepted every recipient, check found nothing to report`},
	{exitNo, `a clean "no": relay test refused a recipient, or audit or check reported findings; the command itself worked`},
	{exitPerm, `permanent failure: bad input or usage (an unknown flag, an invalid address, a syntax error in a rules file); nothing was written, and the same command fails the same way until the input is fixed`},
	{exitTemp, `temporary failure: a file or directory could not be read or written, another qmailctl held the lock for --lock-timeout, or the relay database did not answer; the files are as they were, so the command can be run again`},
}

// exitStatusTable is the standard EXIT STATUS section: a heading and one
// hanging-indented entry per code, in the layout the commands use.
func exitStatusTable() string {
	const indent = "       "
	lines := []string{"EXIT STATUS"}
	for _, m := range exitMeanings {
		lines = append(lines, fmt.Sprintf("  %-5d%s", m.code, hangingFill(m.text, len(indent), 79)))
	}
	return strings.Join(lines, "\n")
}

// hangingFill fills the words of text to width columns, the first line
// starting at column indent (after a label), the others indented by indent.
func hangingFill(text string, indent, width int) string {
	var b strings.Builder
	col := indent
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
		case col+1+len(w) > width:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// newExitCodesTopic is qmailctl help exit-codes.
func newExitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What qmailctl's exit statuses mean (0, 1, 100, 111)",
		Long: `qmailctl's exit status follows DJB's tools (tcprules, tcpserver, qmail-smtpd):
100 is a permanent failure and 111 a temporary one, so scripts and run files
written for them read it the same way. Warnings and errors go to stderr, data
to stdout, so a script can test the status and still parse the output.

` + exitStatusTable() + `

Some files are refused with 100 whoever runs qmailctl: a configuration file
that is not a regular file (a FIFO would block, /dev/zero would never end).
Run as root (sudo), qmailctl also refuses, with 100, to follow a symbolic link
owned by neither root nor the owner of the file it points to, and to write
into a directory that another user who can log in may write (world- or
group-writable without the sticky bit): another user could otherwise make root
change or print any file. The message names the link or directory and owners.

A command's own EXIT STATUS (in its --help and man page) says which of these
it uses and when. Any other status (2 is a Go runtime crash) is a bug: treat it
as a failure, and please report it.

  # in a script: relay test answers with its exit status
  if qmailctl relay test "$ip" "$from" "$rcpt" >/dev/null; then
      echo "$ip may relay for $from"
  fi

  # try again later only when it may then succeed
  sudo qmailctl cdb
  if [ $? -eq 111 ]; then sleep 10; sudo qmailctl cdb; fi`,
	}
}

// newRelayingTopic is qmailctl help relaying: the six relay mechanisms of
// IndiMail's "How does IndiMail handle relaying securely", in qmailctl terms.
func newRelayingTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "relaying",
		Short: "The six ways to let a client relay, and the qmailctl commands for each",
		Long: `A client relays when it sends mail to a domain this server does not receive mail
for, one that is neither in control/rcpthosts nor in morercpthosts.cdb. Mail
for those domains is accepted from anyone; relaying is refused ("553 sorry,
that domain isn't allowed to be relayed thru this MTA without authentication")
unless one of six mechanisms allows it. They are numbered as in IndiMail's
documentation, which recommends 3 and 4: they tie relaying to a password, not
to something a client can claim.

1. tcp.smtp. A rule for the client's address that sets RELAYCLIENT lets every
user of every host it matches relay. Use it only for hosts you control.
tcpserver -x reads tcp.smtp.cdb for every connection; tcp add recompiles it,
and qmailctl cdb does after a hand edit.
  sudo qmailctl tcp add 10.1.1. allow --relay
  sudo qmailctl cdb

2. control/relayclients. Client addresses and prefixes that may relay when
tcp.smtp did not set RELAYCLIENT (netqmail with the relayclients patch). On
IndiMail, give relaying in tcp.smtp instead: qmailctl relayclients --help says
why.
  sudo qmailctl relayclients add 10.1.1.:

3. The relay table (POP/IMAP-before-SMTP). A user who logged in over POP3 or
IMAP may relay, as that address and from that IP, for RELAY_CLEAR_MINUTES
(default 60) when qmail-smtpd runs with CHECKRELAY set. The table is IndiMail's
MySQL relay table, or an SQLite file (--relay-db); clearopensmtp, run from
cron, removes old rows. relay test replays it:
  qmailctl relay test 10.1.1.5 joe@example.com friend@example.net --env CHECKRELAY=1

4. SMTP AUTH. The client authenticates (AUTH PLAIN, LOGIN or CRAM-MD5) and
qmail-smtpd sets RELAYCLIENT for the session. There is no file to edit; test
it with --auth:
  qmailctl relay test 203.0.113.9 joe@example.com friend@example.net --auth joe@example.com

5. control/relaydomains. Client HOST NAMES (from the client's PTR record, not
the recipient's domain) that may relay. Whoever owns the client's address
block chooses its PTR record: use tcpserver -p.
  sudo qmailctl relaydomains add .partner.example

6. control/relaymailfrom. Envelope senders (MAIL FROM) that may relay from
anywhere. Anyone can write any MAIL FROM, so use it only on a server that is
closed to the outside.
  sudo qmailctl relaymailfrom add joe@example.com

Whatever you change, check the decision and the whole configuration:
  qmailctl relay test 10.1.1.5 joe@example.com friend@example.net
  sudo qmailctl relay audit`,
	}
}

// newHelpCmd replaces cobra's help command, which prints "Unknown help
// topic" on stdout and exits 0: here an unknown command or topic is bad
// usage (exit 100, on stderr), and TAB completes the topics as well as the
// commands.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command | topic]",
		Short: "Help about any command or topic",
		Long: `Print the help of a command (qmailctl help tcp add is qmailctl tcp add --help)
or of a help topic (exit-codes, relaying). Without an argument, the overview.`,
		Example: `  qmailctl help relaying
  qmailctl help tcp add`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var comps []cobra.Completion
			for _, sub := range parent.Commands() {
				if (sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand()) && sub.Name() != "help" &&
					strings.HasPrefix(sub.Name(), toComplete) {
					comps = append(comps, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return comps, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || len(rest) > 0 {
				return usageErrorf("help: no command or topic %q (qmailctl help lists them)", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// docDefaultAnnotation on a flag is the default its documentation shows, for
// flags whose real default depends on the machine or the environment (the
// man pages must not).
const docDefaultAnnotation = "qmailctl_doc_default"

// setDocDefault records the default the man pages show for a flag.
func setDocDefault(cmd *cobra.Command, flag, text string) {
	_ = cmd.PersistentFlags().SetAnnotation(flag, docDefaultAnnotation, []string{text})
}

// setupRoot finishes the root command: the version line, help topics,
// completion of the global flags, the documented defaults of the flags whose
// default depends on the machine, and the hidden __gen-docs command.
func (a *app) setupRoot(root *cobra.Command) {
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.AddCommand(newExitCodesTopic(), newRelayingTopic(), a.newGenDocsCmd())

	root.SetHelpCommand(newHelpCmd())

	dirs := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	for _, name := range []string{"tcp-dir", "control-dir"} {
		if root.PersistentFlags().Lookup(name) != nil {
			_ = root.RegisterFlagCompletionFunc(name, dirs)
		}
	}
	setDocDefault(root, "tcp-dir", "/etc/indimail/tcp if it exists, else /etc")
	setDocDefault(root, "control-dir", "/etc/indimail/control if it exists, else /var/qmail/control")
	setDocDefault(root, "relay-db", "") // the usage names $QMAILCTL_RELAY_DB
}
