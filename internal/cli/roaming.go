package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relaytable"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/site"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// roamingFlag registers --roaming on a command that rebuilds a rules cdb
// (qmailctl cdb, tcp add, tcp remove): every such rebuild goes through
// keepRoaming, so they all take the same choice.
func (a *app) roamingFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.roaming, "roaming", "", "roaming-user records ahead of the rules: open-smtp=FILE (vpopmail) or relay-table (IndiMail) to rebuild them, or drop")
}

// keepRoaming makes a rules job keep the roaming-user records
// (POP/IMAP-before-SMTP) that IndiMail's update_rules or vpopmail put ahead
// of the rules in the cdb: rebuilt from the source --roaming names, dropped
// with --roaming drop, and otherwise the build is refused (exit 100, nothing
// written) rather than silently taking relaying away from those users. It is
// the one rebuild path of a rules cdb: qmailctl cdb and the edit transaction
// of tcp add/remove both build through it. again is the command to run
// again with a --roaming choice, with %s where the choice goes.
func (a *app) keepRoaming(j cdbJob, again string) cdbJob {
	if j.kind != "tcprules" {
		return j
	}
	src, dst, roaming := j.src, j.dst, a.roaming
	switch {
	case roaming == "drop":
		return j
	case strings.HasPrefix(roaming, "open-smtp="):
		file := strings.TrimPrefix(roaming, "open-smtp=")
		prefix := func() ([]byte, error) {
			f, err := safefile.Open(file)
			if err != nil {
				return nil, badInput(fmt.Errorf("--roaming open-smtp=%s: %w", file, err), "name vpopmail's open-smtp file, e.g. ~vpopmail/etc/open-smtp")
			}
			defer f.Close()
			return site.RoamingLines(f)
		}
		j.stale = func() (cdb.Staleness, error) {
			p, err := prefix()
			if err != nil {
				return cdb.Staleness{}, err
			}
			return site.CompareRoaming(site.LayoutOpenSMTP, src, dst, p)
		}
		j.build = func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
			p, err := prefix()
			if err != nil {
				return tcprules.Stats{}, nil, err
			}
			return site.BuildRoaming(t, site.LayoutOpenSMTP, src, dst, p)
		}
		return j
	case roaming == site.LayoutRelayTable:
		// IndiMail's update_rules: the relay table's rows, then tcp.smtp
		// filtered as it copies it.
		prefix := func() ([]byte, error) {
			ctx := context.Background()
			table, err := relaytable.TableFromEnv(os.Getenv)
			if err != nil {
				return nil, err
			}
			s, err := relaytable.Open(ctx, a.relayDB, table)
			if err != nil {
				return nil, err
			}
			defer s.Close()
			ips, err := s.RuleIPs(ctx)
			return site.RelayTableLines(ips), err
		}
		j.stale = func() (cdb.Staleness, error) {
			p, err := prefix()
			if err != nil {
				return cdb.Staleness{}, err
			}
			return site.CompareRoaming(site.LayoutRelayTable, src, dst, p)
		}
		j.build = func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
			p, err := prefix()
			if err != nil {
				return tcprules.Stats{}, nil, err
			}
			return site.BuildRoaming(t, site.LayoutRelayTable, src, dst, p)
		}
		return j
	case roaming != "":
		j.build = func(*safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
			return tcprules.Stats{}, nil, usageErrorf("--roaming %q: expected open-smtp=FILE, relay-table or drop", roaming)
		}
		return j
	}
	build := j.build
	j.build = func(t *safefile.Txn) (tcprules.Stats, []diag.Problem, error) {
		ro, err := site.FindRoaming(src, dst)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			var p *diag.Problem
			if !errors.As(err, &p) { // a syntax error is reported by the build itself
				return tcprules.Stats{}, nil, err
			}
		}
		if ro != nil {
			hint := "keep them: " + fmt.Sprintf(again, "open-smtp=FILE") + " (vpopmail's open-smtp); drop them (or, if you removed these rules from the top of " + src + " yourself): " + fmt.Sprintf(again, "drop")
			if ro.Layout == site.LayoutRelayTable {
				hint = "keep them: " + fmt.Sprintf(again, "relay-table") + " (IndiMail's relay table, --relay-db; what update_rules writes); drop them (or, if you removed these rules from the top of " + src + " yourself): " + fmt.Sprintf(again, "drop")
			}
			// The hint goes in the message: qmailctl cdb prints one error
			// line per file.
			return tcprules.Stats{}, nil, badInput(fmt.Errorf("%w\n  hint: %s", &site.RoamingRefusal{CDB: dst, Roaming: ro}, hint), "")
		}
		return build(t)
	}
	return j
}

// roamingRowFor looks roaming-user records up in the relay table relay test
// uses (--relay-db or $QMAILCTL_RELAY_DB, else the default SQLite file when
// it exists; RELAY_TABLE from getenv), so that relay test and tcp explain
// name the row behind an IndiMail record. It never creates a table, and
// any failure leaves the generic wording: naming the row is a courtesy, the
// verdict comes from the cdb.
func (a *app) roamingRowFor(ctx context.Context, getenv func(string) string) func(ip string) (*site.RoamingRow, error) {
	return func(ip string) (*site.RoamingRow, error) {
		dsn := a.relayDB
		path := dsn
		switch {
		case dsn == "":
			path = relaytable.DefaultSQLitePath
		case strings.HasPrefix(dsn, "sqlite:"):
			path = strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		}
		if !strings.HasPrefix(path, "mysql://") {
			if _, err := os.Stat(path); err != nil {
				return nil, err // relaytable.Open would create the file
			}
		}
		table, err := relaytable.TableFromEnv(getenv)
		if err != nil {
			return nil, err
		}
		s, err := relaytable.Open(ctx, dsn, table)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		rows, err := s.List(ctx, relaytable.Filter{IP: ip}) // newest first
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		return &site.RoamingRow{Email: rows[0].Email, Time: rows[0].Time, Others: len(rows) - 1}, nil
	}
}
