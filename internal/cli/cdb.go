package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// buildResult is what `qmailctl cdb` reports for one file.
type buildResult struct {
	Source   string         `json:"source"`
	CDB      string         `json:"cdb"`
	Built    bool           `json:"built"`
	Reason   string         `json:"reason,omitempty"` // why it was (re)built, or why not
	Stats    tcprules.Stats `json:"stats"`
	Problems []diag.Problem `json:"problems"`
	Error    string         `json:"error,omitempty"`
	code     int
}

func (a *app) newCdbCmd() *cobra.Command {
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "cdb [FILE...]",
		Short: "Compile rules files into the cdb tcpserver reads",
		Long: `Compile each tcprules file FILE into FILE.cdb, byte for byte what Debian's
tcprules writes, atomically: tcpserver, which opens the cdb for every
connection, sees the old complete file or the new one, never a mix, and needs
no restart. The cdb keeps the mode and owner of the one it replaces; a new cdb
is mode 0644 whatever the umask, so qmaild can read it under sudo.

With no FILE, rebuild every rules file named tcp.* in --tcp-dir whose cdb is
stale: its records differ from what the source compiles to (an edit in the same
second, or a restored older file, is still caught). --force rebuilds them all.

A syntax error leaves the old cdb exactly as it was and names the file, line
and column.`,
		Example: `  # after editing /etc/indimail/tcp/tcp.smtp by hand
  sudo qmailctl cdb

  # compile one file
  qmailctl cdb /etc/tcp.smtp`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			files, _ := a.rulesFiles()
			return files, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			explicit := len(args) > 0
			files := args
			if !explicit {
				var err error
				if files, err = a.rulesFiles(); err != nil {
					return err
				}
				if len(files) == 0 {
					fmt.Fprintf(a.stderr, "qmailctl: no tcp.* rules files in %s\n", a.tcpDir)
				}
			}
			var results []buildResult
			var codes []int
			for _, f := range files {
				r := a.build(f, force || explicit)
				results = append(results, r)
				codes = append(codes, r.code)
			}
			if asJSON {
				if err := a.printJSON(results); err != nil {
					return err
				}
			} else {
				a.printBuilds(results)
			}
			if c := worst(codes...); c != exitOK {
				return &exitError{code: c, err: errors.New("not every file was compiled"), quiet: true}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "rebuild even when the cdb is up to date")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per file")
	return cmd
}

// build compiles one rules file under the lock of its directory.
func (a *app) build(src string, always bool) buildResult {
	dst := src + ".cdb"
	r := buildResult{Source: src, CDB: dst, Problems: []diag.Problem{}}
	fail := func(err error) buildResult {
		r.code = exitCode(err)
		if p, ok := err.(*diag.Problem); ok {
			r.Problems = append(r.Problems, *p)
		}
		r.Error = err.Error()
		return r
	}
	l, err := safefile.LockDir(filepath.Dir(src), a.lockTimeout)
	if err != nil {
		return fail(err)
	}
	defer l.Unlock()
	r.Reason = "requested"
	if !always {
		stale, why, err := tcprules.Stale(src, dst)
		if err != nil {
			return fail(err)
		}
		if !stale {
			r.Reason = "up to date"
			return r
		}
		r.Reason = why
	}
	st, warns, err := tcprules.Build(l, src, dst)
	r.Stats, r.Problems = st, append(r.Problems, warns...)
	if err != nil {
		return fail(err)
	}
	r.Built = true
	return r
}

func (a *app) printBuilds(results []buildResult) {
	for _, r := range results {
		for i := range r.Problems {
			if r.Problems[i].Severity >= diag.Warning {
				fmt.Fprint(a.stderr, r.Problems[i].Long())
			}
		}
		switch {
		case r.Error != "" && len(r.Problems) > 0 && r.Problems[len(r.Problems)-1].Severity == diag.Error:
			fmt.Fprintf(a.stderr, "qmailctl: %s: not compiled; %s is unchanged\n", r.Source, r.CDB)
		case r.Error != "":
			fmt.Fprintf(a.stderr, "qmailctl: error: %s\n", r.Error)
		case r.Built:
			fmt.Fprintf(a.stdout, "%s: %d rules, %d records (%s)\n", r.CDB, r.Stats.Rules, r.Stats.Records, r.Reason)
		default:
			fmt.Fprintf(a.stdout, "%s: up to date\n", r.CDB)
		}
	}
}

// rulesFiles lists the tcprules sources in --tcp-dir: tcp.* and tcp*.*
// (IndiMail's tcp.smtp, tcp.imap, tcp.pop3, ...), not cdbs, temporary or
// backup files.
func (a *app) rulesFiles() ([]string, error) {
	entries, err := os.ReadDir(a.tcpDir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "tcp") || !strings.Contains(name, ".") || !e.Type().IsRegular() {
			continue
		}
		ext := name[strings.LastIndexByte(name, '.')+1:]
		switch ext {
		case "cdb", "tmp", "bak", "old", "orig", "lock", "swp", "rpmnew", "rpmsave", "dpkg-old", "dpkg-dist", "dpkg-new":
			continue
		}
		if strings.HasSuffix(name, "~") || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, filepath.Join(a.tcpDir, name))
	}
	sort.Strings(files)
	return files, nil
}
