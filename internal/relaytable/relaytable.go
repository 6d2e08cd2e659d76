// Package relaytable keeps IndiMail's POP/IMAP-before-SMTP relay table: rows of (email,
// ipaddr, timestamp) written when a user logs in by POP3/IMAP and read by qmail-smtpd
// (CHECKRELAY) to let that IP relay for RELAY_CLEAR_MINUTES.
//
// Two back ends sit behind database/sql: MySQL/MariaDB (go-sql-driver/mysql), using
// IndiMail's schema exactly so qmailctl and IndiMail's own programs share one table, and an
// embedded SQLite file (modernc.org/sqlite, pure Go) with the same logical schema, the
// default when no DSN is given.
//
// Every argument is validated before the database is touched (errors match ErrInvalid);
// every database failure names the redacted DSN and the operation (errors match
// ErrDatabase). All SQL uses placeholders, so any stored value is matched literally.
//
// Decisions:
//   - Emails are stored as given, like IndiMail, and compared case-insensitively
//     everywhere: MySQL's default _ci collations, COLLATE NOCASE on SQLite,
//     strings.EqualFold in Go. User@x and user@x at one IP are therefore one row.
//   - Check matches the whole address. IndiMail's qmail-smtpd compares only
//     strlen(MAIL FROM) bytes, so a prefix matches there; Check reports such rows apart.
//   - Times are Unix seconds in a signed 32-bit int column, as IndiMail has it: times
//     after 2038-01-19 are refused. "now" is the caller's clock, not the server's.
//   - A row is live while timestamp > now - minutes*60 (Window, the one place of that
//     rule); Clear removes the others. A NULL timestamp (IndiMail never writes one) is
//     never live and never cleared. Windows longer than a time.Duration are refused.
package relaytable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Default timeouts, applied unless the MySQL DSN sets its own (timeout=, readTimeout=,
// writeTimeout=): Open gives up after ConnectTimeout, a statement after IOTimeout. Waits
// for other writers' locks are bounded by LockWait.
const (
	ConnectTimeout = 5 * time.Second
	IOTimeout      = 30 * time.Second
)

// DefaultSQLitePath is the SQLite file used when Open is given an empty DSN.
const DefaultSQLitePath = "/var/lib/qmailctl/relay.sqlite"

// Backend names, as returned by Store.Backend.
const (
	MySQL  = "mysql"
	SQLite = "sqlite"
)

// ErrDatabase is matched (errors.Is) by every failure of the database itself (cannot
// connect, login refused, statement failed, locked by others); the CLI maps it to exit
// 111. A database that cannot be a relay table matches ErrNotRelayTable instead.
var ErrDatabase = errors.New("relay table database failure")

// DBError is a database failure with the redacted DSN, the table and the operation.
type DBError struct {
	DSN     string // redacted: never holds the password
	Table   string
	Backend string // MySQL or SQLite
	Op      string // what failed: "connect", "create table", "add", ...
	Err     error

	kind   errKind
	secret string // the password, scrubbed from Err's text as a second line of defence
}

// Error names the table, the redacted DSN, the operation and the driver's message.
func (e *DBError) Error() string {
	msg := e.Err.Error()
	if len(e.secret) >= 4 {
		msg = strings.ReplaceAll(msg, e.secret, "xxxxx")
	}
	return fmt.Sprintf("relay table %s at %s: %s: %s", e.Table, e.DSN, e.Op, msg)
}

// Unwrap gives the driver's error, e.g. for errors.Is(err, context.DeadlineExceeded).
func (e *DBError) Unwrap() error { return e.Err }

// Is matches ErrDatabase (a failure worth retrying later), ErrLocked (a part of those:
// other writers held the lock too long) or ErrNotRelayTable (the DSN names a database or
// table that cannot be a relay table).
func (e *DBError) Is(target error) bool {
	switch target {
	case ErrDatabase:
		return e.kind != kindNotRelayTab
	case ErrLocked:
		return e.kind == kindLocked
	case ErrNotRelayTable:
		return e.kind == kindNotRelayTab
	}
	return false
}

// Row is one relay grant: Email may relay from IP until Time + RELAY_CLEAR_MINUTES.
// Time is the zero time for a NULL timestamp, which IndiMail never writes.
type Row struct {
	Email string
	IP    string
	Time  time.Time
}

// Filter selects rows for List; an empty field matches any value.
type Filter struct {
	IP    string
	Email string
}

// Store is an open relay table. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	backend  string
	table    string
	dsn      string // redacted
	secret   string
	q        queries
	lockWait time.Duration // see LockWait

	lockRetries atomic.Int64 // lock conflicts met, for tests
	driverLog   *driverLog   // MySQL only
}

// queries holds the statements of one back end for one table.
type queries struct {
	add, byIP, byEmail, clearBound, clearRange string
	quoted                                     string // the table name quoted for this back end
}

// clearBatchSize bounds how many rows one DELETE of Clear removes (give or take rows that
// share the boundary second), so a big purge never holds the write lock (SQLite) or long
// InnoDB row locks against concurrent logins.
const clearBatchSize = 5000

// Open connects to the relay table named table (see ValidateTable; "" means DefaultTable)
// and creates it when missing. dsn is one of:
//
//	mysql://user:pass@tcp(host:port)/db[?params]   the part after mysql:// is a go-sql-driver DSN
//	mysql://user:pass@unix(/path/sock)/db[?params]
//	sqlite:///path/to/file  or  sqlite://relative/path  or a plain path
//	""                      DefaultSQLitePath
//
// Open fails within about ConnectTimeout when the server is unreachable or silent.
func Open(ctx context.Context, dsn, table string) (*Store, error) {
	if table == "" {
		table = DefaultTable
	}
	if err := ValidateTable(table); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(dsn, "mysql://"):
		return openMySQL(ctx, dsn, table)
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		return openSQLite(ctx, dsn, path, table)
	case strings.Contains(dsn, "://"):
		return nil, invalid("dsn", RedactDSN(dsn), "unknown scheme; want mysql://, sqlite:// or a file path")
	case dsn == "":
		return openSQLite(ctx, "sqlite://"+DefaultSQLitePath, DefaultSQLitePath, table)
	default:
		return openSQLite(ctx, dsn, dsn, table)
	}
}

func openMySQL(ctx context.Context, dsn, table string) (*Store, error) {
	red := RedactDSN(dsn)
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		return nil, invalid("dsn", red, "%v", err)
	}
	if cfg.DBName == "" {
		return nil, invalid("dsn", red, "no database named after the /")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = ConnectTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = IOTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = IOTimeout
	}
	dl := &driverLog{}
	cfg.Logger = dl
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, invalid("dsn", red, "%v", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(5 * time.Minute)
	qt := "`" + table + "`"
	s := &Store{db: db, backend: MySQL, table: table, dsn: red, secret: cfg.Passwd, lockWait: defaultLockWait, driverLog: dl, q: queries{
		quoted:     qt,
		add:        "REPLACE INTO " + qt + " (email, ipaddr, timestamp) VALUES (?, ?, ?)",
		byIP:       "SELECT email, timestamp FROM " + qt + " WHERE ipaddr IN (?, ?, ?)",
		byEmail:    "SELECT email, ipaddr, timestamp FROM " + qt + " WHERE email = ?",
		clearBound: clearBound(qt),
		clearRange: clearRange(qt),
	}}

	octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := db.PingContext(octx); err != nil {
		db.Close()
		if ctx.Err() == nil && octx.Err() != nil {
			err = fmt.Errorf("no answer within %v: %w", cfg.Timeout, err)
		}
		return nil, s.dbErr("connect", err)
	}
	// Probe first and create only on ER_NO_SUCH_TABLE, as IndiMail does, so a user without
	// the CREATE privilege can still use an existing table.
	_, err = db.ExecContext(octx, "SELECT email, ipaddr, timestamp FROM "+qt+" LIMIT 0")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1054 { // ER_BAD_FIELD_ERROR: another table of that name
		err = &schemaError{err}
	}
	if errors.As(err, &me) && me.Number == 1146 {
		// IndiMail's RELAY_TABLE_LAYOUT, verbatim, so both programs can share the table.
		_, err = db.ExecContext(octx, "CREATE TABLE IF NOT EXISTS "+qt+
			" (email char(96) not null, ipaddr char(46) not null, timestamp int,"+
			" unique index (email, ipaddr), index(ipaddr), index(timestamp))")
		if err != nil {
			db.Close()
			return nil, s.dbErr("create table", err)
		}
	} else if err != nil {
		db.Close()
		return nil, s.dbErr("check table columns (email, ipaddr, timestamp)", err)
	}
	return s, nil
}

func openSQLite(ctx context.Context, dsn, path, table string) (*Store, error) {
	red := RedactDSN(dsn)
	if path == "" {
		return nil, invalid("dsn", red, "no SQLite file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, invalid("dsn", red, "%v", err)
	}
	s := &Store{backend: SQLite, table: table, dsn: red, lockWait: defaultLockWait}
	if fi, err := os.Stat(filepath.Dir(abs)); err != nil {
		return nil, s.dbErr("open", fmt.Errorf("directory %s: %w", filepath.Dir(abs), err))
	} else if !fi.IsDir() {
		return nil, s.dbErr("open", fmt.Errorf("%s is not a directory", filepath.Dir(abs)))
	}
	// A new file is 0644 whatever the umask, like every file qmailctl creates,
	// so that the admins who may read the table can (sudo with umask 077 would
	// otherwise leave it root's alone); SQLite gives its -wal and -shm files
	// the same mode.
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
		f.Chmod(0o644)
		f.Close()
	}
	// A FIFO or a device would block SQLite or feed it forever; as root, a
	// link another user planted is not followed (safefile's rules).
	if _, err := safefile.Stat(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// A rollback journal, not WAL: a reader then needs no write access at all
	// (relay table list, relay test as an ordinary admin), where WAL needs
	// the -shm file writable. busy_timeout makes concurrent writers (other
	// qmailctl processes) wait for the lock instead of failing; _txlock=
	// immediate takes the write lock at BEGIN.
	uri := "file:" + escapeURIPath(abs) + fmt.Sprintf("?_busy_timeout=%d&_txlock=immediate", sqliteBusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return nil, s.dbErr("open", err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(2)
	qt := `"` + table + `"`
	s.db = db
	s.q = queries{
		quoted: qt,
		add: "INSERT INTO " + qt + " (email, ipaddr, timestamp) VALUES (?, ?, ?)" +
			" ON CONFLICT(email, ipaddr) DO UPDATE SET email = excluded.email, timestamp = excluded.timestamp",
		byIP:       "SELECT email, timestamp FROM " + qt + " WHERE ipaddr IN (?, ?, ?)",
		byEmail:    "SELECT email, ipaddr, timestamp FROM " + qt + " WHERE email = ?",
		clearBound: clearBound(qt),
		// Deleting by rowid in rowid order touches the table's pages in sequence: about
		// 3x faster than deleting in timestamp order when the expired rows are scattered.
		clearRange: "DELETE FROM " + qt + " WHERE rowid IN (SELECT rowid FROM " + qt +
			" WHERE timestamp >= ? AND timestamp <= ?)",
	}
	// The same logical schema as IndiMail's; NOCASE makes the unique key and email lookups
	// case-insensitive like MySQL's default collation. SQLite index names are per database,
	// so they carry the table name.
	ddl := []string{
		"CREATE TABLE IF NOT EXISTS " + qt + " (email char(96) NOT NULL COLLATE NOCASE," +
			" ipaddr char(46) NOT NULL, timestamp int, UNIQUE (email, ipaddr))",
		`CREATE INDEX IF NOT EXISTS "` + table + `_ipaddr" ON ` + qt + " (ipaddr)",
		`CREATE INDEX IF NOT EXISTS "` + table + `_timestamp" ON ` + qt + " (timestamp)",
	}
	octx, cancel := context.WithTimeout(ctx, s.lockWait+ConnectTimeout)
	defer cancel()
	// Create the table only when it is missing, so that a reader without
	// write permission (list, check, relay test) can use an existing file;
	// when it is there, compiling the upsert checks its columns and unique key.
	err = s.retry(octx, "open", func() error {
		var n int
		if err := db.QueryRowContext(octx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return checkSQLiteSchema(octx, db, s.q.add)
		}
		for _, q := range ddl {
			if _, err := db.ExecContext(octx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkSQLiteSchema compiles the upsert of Add against an existing table: SQLite
// refuses it when a column or the unique (email, ipaddr) key is missing.
func checkSQLiteSchema(ctx context.Context, db *sql.DB, add string) error {
	st, err := db.PrepareContext(ctx, add)
	if err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_ERROR {
			return &schemaError{err}
		}
		return err
	}
	return st.Close()
}

// escapeURIPath escapes a file path for an SQLite URI ('?', '#' and '%' would otherwise be
// read as URI syntax).
func escapeURIPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '?' || c == '#' || c == '%' || c < 0x21 || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (s *Store) dbErr(op string, err error) error {
	if msg := s.driverLog.take(); msg != "" && !strings.Contains(err.Error(), msg) {
		err = fmt.Errorf("%w (driver: %s)", err, msg)
	}
	return &DBError{DSN: s.dsn, Table: s.table, Backend: s.backend, Op: op, Err: err, kind: classify(err), secret: s.secret}
}

// Backend returns MySQL or SQLite.
func (s *Store) Backend() string { return s.backend }

// Table returns the table name in use.
func (s *Store) Table() string { return s.table }

// DSN returns the DSN with its password replaced, fit for messages.
func (s *Store) DSN() string { return s.dsn }

// Close releases the connections.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return s.dbErr("close", err)
	}
	return nil
}

// exec runs a write, retried while other writers hold the lock (see LockWait).
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.retry(ctx, op, func() (err error) {
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// Add grants email relaying from ip as of at, replacing any row for the same (email, ip)
// — what IndiMail's POP3/IMAP login does with REPLACE INTO.
func (s *Store) Add(ctx context.Context, email, ip string, at time.Time) error {
	if err := ValidateEmail(email); err != nil {
		return err
	}
	ip, err := NormalizeIP(ip)
	if err != nil {
		return err
	}
	ts, err := unixSeconds("time", at)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "add", s.q.add, email, ip, ts)
	return err
}

// Remove deletes the rows matching email and ip and returns how many went. An empty
// email means every sender at ip, an empty ip every IP of email; one must be set.
func (s *Store) Remove(ctx context.Context, email, ip string) (int64, error) {
	where, args, err := whereClause(Filter{Email: email, IP: ip})
	if err != nil {
		return 0, err
	}
	if len(args) == 0 {
		return 0, invalid("filter", "", "give an email, an IP or both; refusing to remove every row")
	}
	res, err := s.exec(ctx, "remove", "DELETE FROM "+s.q.quoted+where, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.dbErr("remove", err)
	}
	return n, nil
}

func whereClause(f Filter) (string, []any, error) {
	conds, args, err := filterConds(f)
	if err != nil || len(conds) == 0 {
		return "", nil, err
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// filterConds returns the SQL conditions (to be joined by AND) and their arguments that
// select the rows of f.
func filterConds(f Filter) ([]string, []any, error) {
	var conds []string
	var args []any
	if f.Email != "" {
		if err := ValidateEmail(f.Email); err != nil {
			return nil, nil, err
		}
		conds = append(conds, "email = ?")
		args = append(args, f.Email)
	}
	if f.IP != "" {
		forms, err := ipForms(f.IP)
		if err != nil {
			return nil, nil, err
		}
		conds = append(conds, "ipaddr IN (?, ?, ?)")
		args = append(args, forms[:]...)
	}
	return conds, args, nil
}

// scanRows appends the rows of a SELECT email, ipaddr, timestamp to out.
func scanRows(rows *sql.Rows, out ...Row) ([]Row, error) {
	defer rows.Close()
	for rows.Next() {
		var r Row
		var ts sql.NullInt64
		if err := rows.Scan(&r.Email, &r.IP, &ts); err != nil {
			return nil, err
		}
		r.Time = fromUnix(ts)
		out = append(out, r)
	}
	return out, rows.Err()
}

func fromUnix(ts sql.NullInt64) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return time.Unix(ts.Int64, 0)
}

// Clear deletes the rows that are not live in the window of minutes ending at now (their
// timestamp <= Window.Cutoff), as IndiMail's clearopensmtp does, and returns how many
// went. It deletes in batches so logins are never blocked long.
func (s *Store) Clear(ctx context.Context, now time.Time, minutes int) (int64, error) {
	w, err := NewWindow(now, minutes)
	if err != nil {
		return 0, err
	}
	cutoff := w.Cutoff()
	// Keyset batches over index(timestamp): find the timestamp of the clearBatchSize-th
	// oldest expired row, delete [lo, that], go on above it. Each DELETE seeks straight to
	// lo and locks only its own range, so a POP/IMAP login's REPLACE waits at most one
	// batch. clearopensmtp's single DELETE is faster for a huge purge on InnoDB but scans
	// and locks the whole table meanwhile. SQLite lacks DELETE ... LIMIT; this form suits
	// both back ends.
	lo := int64(math.MinInt64)
	var total int64
	for {
		hi, more := cutoff, false
		err := s.retry(ctx, "clear", func() error {
			err := s.db.QueryRowContext(ctx, s.q.clearBound, lo, cutoff).Scan(&hi)
			switch {
			case err == nil:
				more = true
			case errors.Is(err, sql.ErrNoRows):
				hi, err = cutoff, nil
			}
			return err
		})
		if err != nil {
			return total, err
		}
		res, err := s.exec(ctx, "clear", s.q.clearRange, lo, hi)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.dbErr("clear", err)
		}
		total += n
		if !more || hi >= cutoff {
			return total, nil
		}
		lo = hi + 1
	}
}

// clearBound finds the upper timestamp of the next Clear batch (args: lo, cutoff).
func clearBound(qt string) string {
	return "SELECT timestamp FROM " + qt + " WHERE timestamp >= ? AND timestamp <= ?" +
		" ORDER BY timestamp LIMIT 1 OFFSET " + fmt.Sprint(clearBatchSize-1)
}

// clearRange deletes one Clear batch (args: lo, hi) on MySQL.
func clearRange(qt string) string {
	return "DELETE FROM " + qt + " WHERE timestamp >= ? AND timestamp <= ?"
}
