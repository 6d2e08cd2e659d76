// Package cli is qmailctl's command line: one file per command group, and
// exit.go, the one place that maps errors to exit statuses. The logic lives
// in the domain packages; this package parses flags and prints.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/qmailctl/qmailctl/internal/site"
)

// app holds what every command shares: streams and global flags.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	tty            bool // stdout is a terminal: tables instead of plain lines

	tcpDir      string
	controlDir  string
	relayDB     string
	lockTimeout time.Duration
	roaming     string // qmailctl cdb --roaming (roaming.go)
}

// Main runs qmailctl with os.Args and returns the exit status.
func Main() int {
	a := &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, tty: term.IsTerminal(int(os.Stdout.Fd()))}
	return a.run(os.Args[1:])
}

func (a *app) run(args []string) int {
	root := a.newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	report(a.stderr, err)
	return exitCode(err)
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "qmailctl",
		Short:         "Control relaying on qmail and IndiMail mail servers",
		Long:          rootLong,    // help.go
		Example:       rootExample, // help.go
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see %s --help)", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.tcpDir, "tcp-dir", defaultTCPDir(), "directory of the tcprules files (tcp.smtp, ...)")
	pf.StringVar(&a.controlDir, "control-dir", defaultControlDir(), "qmail control directory (also $CONTROLDIR)")
	pf.StringVar(&a.relayDB, "relay-db", os.Getenv("QMAILCTL_RELAY_DB"), "relay table: mysql://... DSN or SQLite file (also $QMAILCTL_RELAY_DB)")
	pf.DurationVar(&a.lockTimeout, "lock-timeout", 30*time.Second, "how long to wait for another qmailctl editing the same directory")

	root.AddCommand(a.newCdbCmd(), a.newTCPCmd(), a.newRelayCmd())
	root.AddCommand(a.newControlCmds()...)
	usageArgs(root)
	a.setupRoot(root) // help.go: help topics, version template, completion, __gen-docs
	return root
}

// defaultTCPDir follows IndiMail (/etc/indimail/tcp), then classic qmail (/etc).
func defaultTCPDir() string {
	if d := hostPath("/etc/indimail/tcp"); isDir(d) {
		return d
	}
	return hostPath("/etc")
}

// defaultControlDir is $CONTROLDIR, then IndiMail's, then classic qmail's.
func defaultControlDir() string {
	if d := os.Getenv("CONTROLDIR"); d != "" {
		return d
	}
	if d := hostPath("/etc/indimail/control"); isDir(d) {
		return d
	}
	return hostPath("/var/qmail/control")
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// checkTCPDir reports a --tcp-dir that is not a directory as every command
// does (site.CheckDir): exit 100 naming it when the admin gave it, 111 when
// the default is missing.
func (a *app) checkTCPDir(cmd *cobra.Command) error {
	return site.CheckDir("--tcp-dir", a.tcpDir, cmd.Flags().Changed("tcp-dir"))
}

// rulesFile is the rules file a tcp command works on: --file, or tcp.smtp in --tcp-dir.
func (a *app) rulesFile(file string) string {
	if file != "" {
		return file
	}
	return filepath.Join(a.tcpDir, "tcp.smtp")
}

// usageArgs makes cobra's argument errors bad usage (exit 100) in every
// command, not the temporary failure an unknown error would be. A command
// group shows its help when called alone and refuses an unknown subcommand,
// where cobra would print help and exit 0: a typo in a script must not look
// like success.
func usageArgs(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		if c.Args == nil {
			c.Args = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usageErrorf("%s: unknown command %q (see %s --help)", cmd.CommandPath(), args[0], cmd.CommandPath())
				}
				return nil
			}
		}
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					return err
				}
				return usageErrorf("%s: %v (see %s --help)", cmd.CommandPath(), err, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}
