package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relaytable"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/site"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Exit statuses, as qmail admins know them from DJB's tools.
const (
	exitOK   = 0   // success, or "yes"
	exitNo   = 1   // a clean "no": relay refused, findings reported
	exitPerm = 100 // bad input or usage; nothing was written
	exitTemp = 111 // temporary failure: I/O, lock, database
)

// exitError carries an exit status and a hint through cobra to Main.
type exitError struct {
	code  int
	err   error
	hint  string
	quiet bool // the command has already told the admin
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the admin's mistake (exit 100), with the command that fixes it.
func badInput(err error, hint string) error { return &exitError{code: exitPerm, err: err, hint: hint} }

// usageErrorf is a bad command line (exit 100).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitPerm, err: fmt.Errorf(format, args...)}
}

// errNo ends a command with exit 1 after it has printed its answer.
var errNo = &exitError{code: exitNo, err: errors.New("no"), quiet: true}

// exitCode maps an error to the exit status. This is the only place that
// decides it: domain packages return plain errors and the types below.
func exitCode(err error) int {
	var ee *exitError
	var p *diag.Problem
	var me *site.MissingError
	switch {
	case err == nil:
		return exitOK
	case safefile.Refused(err):
		// Before exitError: a command that calls an unreadable file
		// temporary cannot make a FIFO or a planted link worth a retry.
		return exitPerm
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &me):
		// A directory the admin named is a typo (100); a default one
		// that is missing is a broken installation or the wrong host (111).
		if me.Given {
			return exitPerm
		}
		return exitTemp
	case errors.As(err, &p),
		errors.Is(err, tcprules.ErrDuplicate),
		errors.Is(err, tcprules.ErrConflict),
		errors.Is(err, tcprules.ErrNotFound),
		errors.Is(err, control.ErrDuplicate),
		errors.Is(err, control.ErrNotFound),
		errors.Is(err, relaytable.ErrInvalid),
		errors.Is(err, relaytable.ErrNotRelayTable):
		return exitPerm
	}
	return exitTemp // I/O, locks, the database: try again later
}

// hintFor suggests the command that fixes a known error.
func hintFor(err error) string {
	var nr *safefile.NotRegularError
	var ue *safefile.UntrustedError
	switch {
	case errors.As(err, &nr):
		return "replace it with a regular file (or a link to one)"
	case errors.As(err, &ue):
		return "as root, qmailctl follows only links owned by root or by their target's owner, and writes only where no other login user can write (qmailctl help exit-codes)"
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.hint != "" {
		return ee.hint
	}
	var me *site.MissingError
	switch {
	case errors.As(err, &me) && !me.Given:
		return "this default directory should exist on a qmail server; name the right one with --tcp-dir, --control-dir or --service"
	case errors.Is(err, tcprules.ErrDuplicate):
		return "nothing to do: the rule is already there (qmailctl tcp list)"
	case errors.Is(err, tcprules.ErrConflict):
		return "add --replace to replace it, or qmailctl tcp remove ADDRESS first"
	case errors.Is(err, tcprules.ErrNotFound):
		return "qmailctl tcp list shows the addresses in the file"
	case errors.Is(err, tcprules.ErrChanged):
		return "something else changed the file while qmailctl edited it; nothing was written: run the command again"
	case errors.Is(err, control.ErrDuplicate):
		return "nothing to do: the entry is already in the file"
	case errors.Is(err, control.ErrNotFound):
		return "the list command of the file's group (qmailctl rcpthosts list, ...) shows its entries"
	case errors.Is(err, relaytable.ErrNotRelayTable):
		return "point --relay-db (or $QMAILCTL_RELAY_DB) or RELAY_TABLE at the relay table, or move this one aside"
	case errors.Is(err, relaytable.ErrLocked):
		return "other writers kept the relay table locked (a long relay table clear?); try again"
	case errors.Is(err, relaytable.ErrDatabase):
		var dbe *relaytable.DBError
		if errors.As(err, &dbe) && dbe.Backend == relaytable.SQLite {
			return "check --relay-db (or $QMAILCTL_RELAY_DB): the SQLite file's directory must exist and the file be readable (writable to change the table)"
		}
		return "check --relay-db (or $QMAILCTL_RELAY_DB) and that the database server is up"
	case errors.Is(err, safefile.ErrLocked):
		return "another qmailctl is editing this directory; try again, or raise --lock-timeout"
	}
	return ""
}

// report prints err for a person on w: diagnostics in full, others on one
// line, each followed by its hint.
func report(w io.Writer, err error) {
	var ee *exitError
	if err == nil || errors.As(err, &ee) && ee.quiet {
		return
	}
	var p *diag.Problem
	if errors.As(err, &p) {
		fmt.Fprint(w, p.Long())
		return
	}
	msg := diag.Escape(err.Error()) // it may quote a file's line
	fmt.Fprintf(w, "qmailctl: error: %s\n", strings.TrimPrefix(msg, "qmailctl: "))
	if h := hintFor(err); h != "" {
		fmt.Fprintf(w, "  hint: %s\n", h)
	}
}

// worst combines per-file results: a temporary failure outranks bad input,
// which outranks "no".
func worst(codes ...int) int {
	best := exitOK
	rank := map[int]int{exitOK: 0, exitNo: 1, exitPerm: 2, exitTemp: 3}
	for _, c := range codes {
		if rank[c] > rank[best] {
			best = c
		}
	}
	return best
}
