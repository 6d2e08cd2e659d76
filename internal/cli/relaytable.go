package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qmailctl/qmailctl/internal/relaytable"
)

func (a *app) newRelayTableCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Manage the POP/IMAP-before-SMTP relay table",
		Long: `The relay table lets a user who logged in by POP3 or IMAP relay from that IP
for RELAY_CLEAR_MINUTES (default 60): IndiMail's login writes a row (email,
ipaddr, timestamp), and qmail-smtpd with CHECKRELAY set looks for a live row for
the envelope sender and the client's IP.

--relay-db (or $QMAILCTL_RELAY_DB) selects the table: a MySQL/MariaDB DSN such
as mysql://indimail:secret@unix(/run/mysqld/mysqld.sock)/indimail, shared with
IndiMail's own programs (the schema is IndiMail's, the table name comes from
RELAY_TABLE, default relay), or an SQLite file, ` + relaytable.DefaultSQLitePath + `
by default. The table is created when missing, as IndiMail does.

EXIT STATUS
  0   done; for check, the sender may relay
  1   check: the sender may not relay; remove: no row matched
  100 bad input (an invalid IP, email or --minutes), refused before the database
      is touched, or a database that cannot be a relay table (a file that is not
      SQLite, a table of that name with other columns)
  111 the database cannot be reached or fails, or other writers kept it locked
      for a minute; the DSN is shown without its password`,
		Example: `  # what clearopensmtp does, from cron every 30 minutes
  qmailctl relay table clear

  # may joe relay from the address he read his mail from?
  qmailctl relay table check joe@example.com 192.0.2.7`,
	}
	cmd.AddCommand(a.newTableAddCmd(), a.newTableListCmd(), a.newTableRemoveCmd(),
		a.newTableClearCmd(), a.newTableCheckCmd())
	return cmd
}

// openTable opens the relay table named by --relay-db and RELAY_TABLE.
func (a *app) openTable(ctx context.Context) (*relaytable.Store, error) {
	table, err := relaytable.TableFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	dsn := a.relayDB
	if dsn == "" {
		// The embedded default: its directory is ours to create.
		var path string
		dsn, path = defaultRelayDSN()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("relay table: %w", err)
		}
	}
	return relaytable.Open(ctx, dsn, table)
}

// openTableWindow opens the table and reads the relay window: --minutes
// when given, else RELAY_CLEAR_MINUTES, else 60. The window is checked
// first, so a bad value never touches the database.
func (a *app) openTableWindow(cmd *cobra.Command, minutes int) (*relaytable.Store, int, error) {
	window, err := clearMinutes(cmd, minutes)
	if err != nil {
		return nil, 0, err
	}
	s, err := a.openTable(cmd.Context())
	return s, window, err
}

// clearMinutes is --minutes when given, else RELAY_CLEAR_MINUTES, else 60.
func clearMinutes(cmd *cobra.Command, flag int) (int, error) {
	if cmd.Flags().Changed("minutes") {
		if err := relaytable.CheckMinutes("--minutes", flag); err != nil {
			return 0, err
		}
		return flag, nil
	}
	return relaytable.ClearMinutesFromEnv(os.Getenv)
}

const minutesUsage = "the relay window in minutes (default $RELAY_CLEAR_MINUTES, or 60)"

// parseTime reads --at: RFC 3339, "2006-01-02 15:04:05" (local time) or Unix seconds.
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErrorf("--at %q: expected RFC 3339 (2026-11-25T10:00:00Z), \"2026-11-25 10:00:00\" or Unix seconds", s)
}

func (a *app) newTableAddCmd() *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "add EMAIL IP",
		Short: "Let EMAIL relay from IP, as a POP3/IMAP login does",
		Long: `Write the row IndiMail's POP3/IMAP login writes: EMAIL may relay from IP for
RELAY_CLEAR_MINUTES from now (or from --at). An existing row for the same EMAIL
and IP is replaced, as IndiMail's "replace into" does.`,
		Example: `  qmailctl relay table add joe@example.com 192.0.2.7
  qmailctl relay table add joe@example.com 2001:db8::7 --at 2026-11-25T10:00:00Z`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			when := time.Now()
			if at != "" {
				t, err := parseTime(at)
				if err != nil {
					return err
				}
				when = t
			}
			s, err := a.openTable(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Add(cmd.Context(), args[0], args[1], when); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s may relay from %s (row time %s)\n", args[0], args[1], when.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "the login time: RFC 3339, \"YYYY-MM-DD hh:mm:ss\" or Unix seconds (default now)")
	return cmd
}

type tableRowJSON struct {
	Email   string    `json:"email"`
	IP      string    `json:"ip"`
	Time    time.Time `json:"time"`
	AgeSecs int64     `json:"age_seconds"`
	Live    bool      `json:"live"` // still grants relaying
}

func (a *app) newTableListCmd() *cobra.Command {
	var (
		ip, email string
		minutes   int
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the rows of the relay table, with their age",
		Long: `List the rows, newest first, with how long ago each login was and whether it
still lets its user relay (younger than the relay window). Rows are printed as
they are read, so a table of millions lists in a few MiB of memory: one line
each on a pipe, a table every 500 rows on a terminal, a JSON array with --json.`,
		Example: `  qmailctl relay table list --ip 192.0.2.7
  qmailctl relay table list --json | jq -r '.[] | select(.live) | .email'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, window, err := a.openTableWindow(cmd, minutes)
			if err != nil {
				return err
			}
			defer s.Close()
			w, err := relaytable.NewWindow(time.Now(), window)
			if err != nil {
				return err
			}
			return a.streamRows(cmd.Context(), s, relaytable.Filter{IP: ip, Email: email}, w, asJSON)
		},
	}
	cmd.Flags().StringVar(&ip, "ip", "", "only rows for this IP")
	cmd.Flags().StringVar(&email, "email", "", "only rows for this email")
	cmd.Flags().IntVar(&minutes, "minutes", 0, minutesUsage)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rows as a JSON array")
	return cmd
}

// tablePage is how many rows one terminal table of relay table list holds.
const tablePage = 500

// streamRows prints the rows as the table gives them, so that memory does not grow with
// the table: tab-separated lines on a pipe, a terminal table every tablePage rows, or
// one JSON array written element by element (the same bytes printJSON would write).
func (a *app) streamRows(ctx context.Context, s *relaytable.Store, f relaytable.Filter, w relaytable.Window, asJSON bool) error {
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	header := []string{"email", "ip", "login", "age", "state"}
	var page [][]string
	arr := newJSONArray(out, 0)
	err := s.Each(ctx, f, func(r relaytable.Row) error {
		j := tableRowJSON{Email: r.Email, IP: r.IP, Time: r.Time, AgeSecs: int64(w.Now.Sub(r.Time).Seconds()), Live: w.Live(r)}
		if asJSON {
			return arr.Add(j)
		}
		state := "expired"
		if j.Live {
			state = "relays"
		}
		cells := []string{r.Email, r.IP, r.Time.Format("2006-01-02 15:04:05 MST"), (time.Duration(j.AgeSecs) * time.Second).String(), state}
		if !a.tty {
			_, err := out.WriteString(strings.Join(cells, "\t") + "\n")
			return err
		}
		if page = append(page, cells); len(page) == tablePage {
			err := a.printTable(header, page)
			page = page[:0]
			return err
		}
		return nil
	})
	if err != nil {
		out.Flush()
		return err
	}
	switch {
	case asJSON:
		if err = arr.Close(); err == nil {
			_, err = out.WriteString("\n")
		}
	case a.tty && len(page) > 0:
		err = a.printTable(header, page)
	}
	if err != nil {
		return err
	}
	return out.Flush()
}

func (a *app) newTableRemoveCmd() *cobra.Command {
	var ip string
	cmd := &cobra.Command{
		Use:     "remove [EMAIL] [--ip IP]",
		Aliases: []string{"rm"},
		Short:   "Remove rows: one user's, one IP's, or one user's at one IP",
		Long: `Remove the rows of EMAIL (at every IP, or only at --ip), or with --ip alone
every row of that IP: what to do when a password was stolen.`,
		Example: `  qmailctl relay table remove joe@example.com
  qmailctl relay table remove --ip 192.0.2.7`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			email := ""
			if len(args) == 1 {
				email = args[0]
			}
			if email == "" && ip == "" {
				return usageErrorf("relay table remove: give EMAIL, --ip IP, or both")
			}
			s, err := a.openTable(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Remove(cmd.Context(), email, ip)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed %d row(s)\n", n)
			if n == 0 {
				fmt.Fprintln(a.stderr, "qmailctl: no row matched; qmailctl relay table list shows the rows")
				return errNo
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ip, "ip", "", "remove only rows for this IP")
	return cmd
}

func (a *app) newTableClearCmd() *cobra.Command {
	var minutes int
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "Drop rows older than the relay window, as clearopensmtp does",
		Long: `Delete every row whose login is RELAY_CLEAR_MINUTES (or --minutes) old or
older: what IndiMail's clearopensmtp does from cron every 30 minutes. qmailctl
does not rebuild any cdb afterwards; relay test consults the table directly.`,
		Example: `  # crontab: */30 * * * * /usr/sbin/qmailctl relay table clear
  qmailctl relay table clear --minutes 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, window, err := a.openTableWindow(cmd, minutes)
			if err != nil {
				return err
			}
			defer s.Close()
			var n int64
			p := a.startProgress("clearing "+s.Table(), "", nil)
			n, err = s.Clear(cmd.Context(), time.Now(), window)
			p.stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "cleared %d row(s) older than %d minutes\n", n, window)
			return nil
		},
	}
	cmd.Flags().IntVar(&minutes, "minutes", 0, minutesUsage)
	return cmd
}

type tableCheckJSON struct {
	From    string         `json:"from"`
	IP      string         `json:"ip"`
	Allowed bool           `json:"allowed"`
	Row     *tableRowJSON  `json:"row"`
	Reason  string         `json:"reason"`
	Minutes int            `json:"minutes"`
	Others  []tableRowJSON `json:"other_rows"`
}

func (a *app) newTableCheckCmd() *cobra.Command {
	var (
		minutes int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "check FROM IP",
		Short: "Say whether the relay table lets FROM relay from IP now",
		Long: `Answer what qmail-smtpd with CHECKRELAY asks: is there a row for the envelope
sender FROM at IP younger than the relay window? When there is none, say why:
the row expired (and how long ago), other users logged in from that IP, or FROM
logged in from other IPs. The lookup uses the table's index on ipaddr.

Exit 0 when FROM may relay, 1 when not.`,
		Example: `  qmailctl relay table check joe@example.com 192.0.2.7`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, window, err := a.openTableWindow(cmd, minutes)
			if err != nil {
				return err
			}
			defer s.Close()
			now := time.Now()
			res, err := s.Check(cmd.Context(), args[0], args[1], now, window)
			if err != nil {
				return err
			}
			out := tableCheckJSON{From: args[0], IP: res.IP, Allowed: res.Allowed(), Minutes: window, Others: []tableRowJSON{}}
			rowJSON := func(r relaytable.Row) tableRowJSON {
				return tableRowJSON{Email: r.Email, IP: r.IP, Time: r.Time, AgeSecs: int64(now.Sub(r.Time).Seconds()),
					Live: res.Window.Live(r)}
			}
			switch {
			case res.Match != nil:
				j := rowJSON(*res.Match)
				out.Row = &j
				out.Reason = fmt.Sprintf("%s logged in from %s at %s, %s ago, within the %d-minute window",
					res.Match.Email, res.IP, res.Match.Time.Format(time.RFC3339), now.Sub(res.Match.Time).Round(time.Second), window)
			case res.Expired != nil:
				j := rowJSON(*res.Expired)
				out.Row = &j
				out.Reason = fmt.Sprintf("the row for %s at %s expired %s ago", res.Expired.Email, res.IP, res.ExpiredAgo.Round(time.Second))
			case len(res.OtherSenders) > 0:
				out.Reason = fmt.Sprintf("no row for %s at %s; %d other user(s) logged in from that IP", args[0], res.IP, len(res.OtherSenders))
			case len(res.OtherIPs) > 0:
				out.Reason = fmt.Sprintf("no row for %s at %s; it logged in from %d other IP(s)", args[0], res.IP, len(res.OtherIPs))
			default:
				out.Reason = fmt.Sprintf("no row for %s at %s", args[0], res.IP)
			}
			for _, r := range append(res.OtherSenders, res.OtherIPs...) {
				out.Others = append(out.Others, rowJSON(r))
			}
			if len(res.IndiMailPrefix) > 0 {
				fmt.Fprintf(a.stderr, "qmailctl: warning: IndiMail's qmail-smtpd compares only the length of MAIL FROM, so it would let %s relay through the row for %s\n",
					args[0], res.IndiMailPrefix[0].Email)
			}
			if asJSON {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				verdict := "may not relay"
				if out.Allowed {
					verdict = "may relay"
				}
				fmt.Fprintf(a.stdout, "%s %s from %s: %s\n", args[0], verdict, res.IP, out.Reason)
			}
			if !out.Allowed {
				return errNo
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&minutes, "minutes", 0, minutesUsage)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON")
	return cmd
}
