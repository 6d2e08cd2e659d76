package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// buildResult is what `qmailctl cdb` reports for one file.
type buildResult struct {
	// Kind is "tcprules" for a rules file, or the control file's name
	// ("morercpthosts", "relaymailfrom").
	Kind     string         `json:"kind"`
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
		Short: "Compile rules files and control files into the cdbs the servers read",
		Long: `Compile each tcprules file FILE into FILE.cdb, byte for byte what Debian's
tcprules writes, atomically: tcpserver, which opens the cdb for every
connection, sees the old complete file or the new one, never a mix, and needs
no restart. The cdb keeps the mode and owner of the one it replaces; a new cdb
is mode 0644 whatever the umask, so qmaild can read it under sudo. A FILE named
morercpthosts or relaymailfrom is a control file: it is compiled as qmail-cdb
does (lower-cased lines, empty values), byte for byte what cdbmake writes.

With no FILE, rebuild the rules files in --tcp-dir whose cdb is stale: those
of the tcpserver services (tcp.smtp, tcp.qmtp, tcp.qmqp, tcp.imap, tcp.pop3,
tcp.poppass), and any other tcp.NAME whose cdb is already there; copies such
as tcp.smtp.bak or tcp.smtp.2023-01-01 are left alone, and a rules file that
is not a regular file (a FIFO, a link to a device) is an error. Then, under the control directory's lock, morercpthosts.cdb and
relaymailfrom.cdb in --control-dir when they are stale. Stale means the cdb's
records differ from what the source compiles to (an edit in the same second,
or a restored older file, is still caught). --force rebuilds them all. A
control file without its text source is skipped (qmail-cdb -m moves the source
to .bak and leaves the cdb in use). relaymailfrom.cdb is rebuilt only when it
exists: IndiMail reads the text file without it, and creating one is a choice
(qmailctl cdb CONTROLDIR/relaymailfrom). A control directory that does not
exist is skipped when it comes from $CONTROLDIR or the default, and is an error
when --control-dir names it.

A syntax error leaves the old cdb exactly as it was and names the file, line
and column.

Roaming users: vpopmail (open-smtp) and IndiMail built with
POP_AUTH_OPEN_RELAY (update_rules, from the relay table) compile one record
per POP/IMAP user's IP ahead of the rules. When a rules cdb starts with such
records that its source does not have, qmailctl cdb refuses to rebuild it from
the source alone (exit 100, the records named, nothing written): --roaming
open-smtp=FILE rebuilds them from vpopmail's open-smtp file (each line cut at
its TAB, then the rules file: byte for byte what vpopmail writes), --roaming
relay-table rebuilds them from IndiMail's relay table (--relay-db, RELAY_TABLE:
one IP:allow,RELAYCLIENT="" line per row, expired ones too, then the rules file
as update_rules copies it: byte for byte what update_rules writes), --roaming
drop drops them.

EXIT STATUS
  0    every cdb is up to date or was rebuilt
  1    not used
  100  a source has a syntax error, or --tcp-dir or --control-dir names no
       directory, or bad usage; that cdb was left as it was
  111  a file could not be read or written, a directory lock was not
       obtained within --lock-timeout, or the default --tcp-dir does not
       exist`,
		Example: `  # after editing /etc/indimail/tcp/tcp.smtp or control/morercpthosts by hand
  sudo qmailctl cdb

  # compile one file
  qmailctl cdb /etc/tcp.smtp

  # start using relaymailfrom.cdb (IndiMail then looks senders up there first)
  sudo qmailctl cdb /etc/indimail/control/relaymailfrom`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			files, _ := a.rulesFiles()
			return files, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			explicit := len(args) > 0
			files := args
			controlDir := ""
			if !explicit {
				var err error
				if controlDir, err = a.cdbControlDir(cmd.Flags().Changed("control-dir")); err != nil {
					return err
				}
				if err = a.checkTCPDir(cmd); err != nil {
					return err
				}
				if files, err = a.rulesFiles(); err != nil {
					return err
				}
				if len(files) == 0 {
					fmt.Fprintf(a.stderr, "qmailctl: no rules files (tcp.smtp, tcp.pop3, ...) in %s\n", a.tcpDir)
				}
			}
			var results []buildResult
			for _, f := range files {
				results = append(results, a.build(f, force || explicit))
			}
			if controlDir != "" {
				results = append(results, a.buildControlDir(controlDir, force)...)
			}
			var codes []int
			for _, r := range results {
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
	a.roamingFlag(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array with one object per file")
	return cmd
}

// testStep marks where a test may stop `qmailctl cdb` to kill it: "cdb:
// building" with the directories locked and nothing written yet, "cdb:
// built" once the transaction committed (the new cdb renamed into place, if
// it succeeded) and the locks are still held. It does nothing outside the tests.
var testStep = func(step string) {}

// cdbJob is one cdb that `qmailctl cdb` brings up to date: how to tell
// whether it is stale and how to stage it in a transaction that holds the
// locks of the directories of its source and its cdb.
type cdbJob struct {
	kind, src, dst string
	stale          func() (cdb.Staleness, error)
	build          func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error)
	read           *atomic.Int64 // bytes of src read, for the progress line; nil if not counted
}

// tcpJob compiles a tcprules file into FILE.cdb.
func tcpJob(src string) cdbJob {
	dst := src + ".cdb"
	read := new(atomic.Int64)
	return cdbJob{kind: "tcprules", src: src, dst: dst, read: read,
		stale: func() (cdb.Staleness, error) { return tcprules.Stale(src, dst, read) },
		build: func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
			return tcprules.Build(t, src, dst, read)
		},
	}
}

// controlJob compiles the control file kind in dir into its cdb.
func controlJob(kind control.Kind, dir string) cdbJob {
	src, dst := filepath.Join(dir, kind.Name()), filepath.Join(dir, kind.CDBName())
	return cdbJob{kind: kind.Name(), src: src, dst: dst,
		stale: func() (cdb.Staleness, error) { return control.Stale(kind, dir) },
		build: func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
			n, warns, err := control.Compile(t, kind, dir)
			return tcprules.Stats{Rules: n, Records: n}, warns, unwrapProblem(err)
		},
	}
}

// jobFor is the job for a FILE named on the command line: a control file
// compiled into a cdb when its name says so, else a tcprules file.
func jobFor(src string) cdbJob {
	if k, ok := control.ParseKind(filepath.Base(src)); ok && k.CDBName() != "" {
		return controlJob(k, filepath.Dir(src))
	}
	return tcpJob(src)
}

// build compiles one file named on the command line (or found in
// --tcp-dir) under the locks of the directories of the source (which may be
// a link to another directory) and of its cdb.
func (a *app) build(src string, always bool) buildResult {
	j := a.keepRoaming(jobFor(src), "qmailctl cdb --roaming %s "+src)
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return j.failed(badInput(err, "name an existing rules file, or run qmailctl cdb alone to rebuild those in --tcp-dir"))
	}
	txn, err := safefile.Begin(a.lockTimeout, j.src, j.dst)
	if err != nil {
		return j.failed(err)
	}
	defer txn.Close()
	return a.runJob(j, txn, always)
}

// cdbControlDir is the control directory `qmailctl cdb` scans, or "" to
// skip it: a directory that does not exist is skipped when it comes from
// $CONTROLDIR or the default (a host with tcp rules only), and is bad input
// when --control-dir names it.
func (a *app) cdbControlDir(explicit bool) (string, error) {
	if !explicit && !isDir(a.controlDir) {
		return "", nil
	}
	return a.controlDirectory()
}

// buildControlDir rebuilds the stale control-file cdbs in dir, all under the
// directory's lock: morercpthosts.cdb whenever its source exists, and
// relaymailfrom.cdb only when both it and its source exist.
func (a *app) buildControlDir(dir string, force bool) []buildResult {
	var jobs []cdbJob
	for _, k := range control.Kinds() {
		j := controlJob(k, dir)
		if k.CDBName() == "" || !exists(j.src) || k == control.RelayMailFrom && !exists(j.dst) {
			continue
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return nil
	}
	var (
		out   []buildResult
		paths []string
	)
	for _, j := range jobs {
		paths = append(paths, j.src, j.dst)
	}
	txn, err := safefile.Begin(a.lockTimeout, paths...)
	if err != nil {
		for _, j := range jobs {
			out = append(out, j.failed(err))
		}
		return out
	}
	defer txn.Close()
	for _, j := range jobs {
		out = append(out, a.runJob(j, txn, force))
	}
	return out
}

// failed is the result of a job that could not run or build.
func (j cdbJob) failed(err error) buildResult {
	r := buildResult{Kind: j.kind, Source: j.src, CDB: j.dst, Problems: []diag.Problem{}}
	return r.fail(err)
}

// fail records err in the result. A compiler may return its error among
// its problems too (control.Compile does); it is listed once.
func (r buildResult) fail(err error) buildResult {
	r.code = exitCode(err)
	if p, ok := err.(*diag.Problem); ok && !slices.Contains(r.Problems, *p) {
		r.Problems = append(r.Problems, *p)
	}
	r.Error = err.Error()
	return r
}

// runJob builds the job's cdb in txn (which holds the locks of its
// directories) when it is stale, or always, and commits it.
func (a *app) runJob(j cdbJob, txn *safefile.Txn, always bool) buildResult {
	var count func() int64
	if j.read != nil {
		count = func() int64 { return j.read.Load() >> 20 }
	}
	p := a.startProgress("compiling "+j.src, "MiB read", count)
	defer p.stop()
	r := buildResult{Kind: j.kind, Source: j.src, CDB: j.dst, Problems: []diag.Problem{}}
	r.Reason = "requested"
	if !always {
		st, err := j.stale()
		if err != nil {
			return r.fail(err)
		}
		if !st.Stale() {
			r.Reason = "up to date"
			return r
		}
		r.Reason = st.Reason
	}
	testStep("cdb: building")
	st, warns, err := j.build(txn)
	r.Stats, r.Problems = st, append(r.Problems, warns...)
	if err == nil {
		err = txn.Commit()
	}
	testStep("cdb: built")
	if err != nil {
		return r.fail(err)
	}
	r.Built = true
	return r
}

func (a *app) printBuilds(results []buildResult) {
	for _, r := range results {
		printProblems(a.stderr, r.Problems, diag.Warning)
		switch {
		case r.Error != "" && len(r.Problems) > 0 && r.Problems[len(r.Problems)-1].Severity == diag.Error:
			fmt.Fprintf(a.stderr, "qmailctl: %s: not compiled; %s is unchanged\n", r.Source, r.CDB)
		case r.Error != "":
			fmt.Fprintf(a.stderr, "qmailctl: error: %s\n", r.Error)
		case r.Built && r.Kind != "tcprules":
			fmt.Fprintf(a.stdout, "%s: %d records (%s)\n", r.CDB, r.Stats.Records, r.Reason)
		case r.Built:
			fmt.Fprintf(a.stdout, "%s: %d rules, %d records (%s)\n", r.CDB, r.Stats.Rules, r.Stats.Records, r.Reason)
		default:
			fmt.Fprintf(a.stdout, "%s: up to date\n", r.CDB)
		}
	}
}

// tcpServices are the names after "tcp." of the rules files the tcpserver
// services of qmail and IndiMail read: tcp.smtp (qmail-smtpd), tcp.qmtp and
// tcp.qmqp (qmail-qmtpd, qmail-qmqpd), tcp.imap, tcp.pop3 and tcp.poppass
// (IndiMail's IMAP, POP3 and password services).
var tcpServices = []string{"smtp", "qmtp", "qmqp", "imap", "pop3", "poppass"}

// rulesFiles lists the tcprules sources `qmailctl cdb` rebuilds in
// --tcp-dir: tcp.NAME where NAME is one of tcpServices, or any other tcp.NAME
// (no further dot) whose cdb already exists beside it, an admin's own
// service compiled once. Backups and copies (tcp.smtp.bak,
// tcp.smtp.2023-01-01, tcp.smtp.real) never match, so no stray cdb is made
// beside them. A matching name that is not a regular file (a link to
// /dev/zero, a FIFO, a directory, a dangling link) is listed all the same:
// its build reports it (exit 100) rather than skipping it in silence.
func (a *app) rulesFiles() ([]string, error) {
	entries, err := os.ReadDir(a.tcpDir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		svc, ok := strings.CutPrefix(e.Name(), "tcp.")
		if !ok || svc == "" || strings.ContainsAny(svc, ".~") {
			continue
		}
		path := filepath.Join(a.tcpDir, e.Name())
		if slices.Contains(tcpServices, svc) || exists(path+".cdb") {
			files = append(files, path)
		}
	}
	sort.Strings(files)
	return files, nil
}

// unwrapProblem returns the syntax error in err as it is: its position says
// it all, and a "write X:" wrapping would only repeat the file's name.
func unwrapProblem(err error) error {
	var p *diag.Problem
	if errors.As(err, &p) {
		return p
	}
	return err
}
