package relaytable

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// LockWait bounds how long one operation waits in total for locks other writers hold:
// SQLite's busy timeout on each try plus the retries of the whole statement.
//
// SQLite's busy handler polls (it sleeps up to 100 ms between tries) and grants the lock
// to whichever connection tries first after it is released, so under heavy contention a
// writer can lose every try for a whole busy timeout while others keep writing: with
// 150 concurrent `relay table add` a few failed with SQLITE_BUSY. Retrying the statement
// after a random pause until LockWait is spent bounds the wait instead by the time all
// the other writers need to finish, which LockWait is far above. The MySQL path
// retries an InnoDB deadlock or lock wait timeout the same way. Every statement retried
// is a read or idempotent (REPLACE, DELETE of a range, CREATE ... IF NOT EXISTS).
const LockWait = time.Minute

// defaultLockWait is the lockWait of every Store Open returns: LockWait, except in tests.
var defaultLockWait = LockWait

// sqliteBusyTimeout is SQLite's busy timeout for one try of one statement.
const sqliteBusyTimeout = 5 * time.Second

// ErrLocked is matched (errors.Is) by a failure because other writers held the table's
// lock for the whole of LockWait; it is also an ErrDatabase (exit 111: try again).
var ErrLocked = errors.New("relay table locked by other writers")

// ErrNotRelayTable is matched (errors.Is) when the database is there but cannot be a
// relay table: a file that is not an SQLite database (or is damaged), or a table whose
// columns are not IndiMail's (email, ipaddr, timestamp). Trying again cannot help, so
// unlike ErrDatabase the CLI maps it to exit 100, bad input.
var ErrNotRelayTable = errors.New("not a relay table")

// errKind sorts driver errors into what the caller can do about them.
type errKind int

const (
	kindTemporary   errKind = iota // server down, I/O error, ...: try again later
	kindLocked                     // another writer holds the lock: retry now
	kindNotRelayTab                // wrong file or schema: the admin must fix the DSN or table
)

// schemaError is a table that exists without the relay table's columns.
type schemaError struct{ err error }

func (e *schemaError) Error() string {
	return "not laid out as a relay table (email, ipaddr, timestamp, unique on email and ipaddr): " + e.err.Error()
}
func (e *schemaError) Unwrap() error { return e.err }

func classify(err error) errKind {
	var se *sqlite.Error
	var me *mysql.MySQLError
	var sch *schemaError
	switch {
	case errors.As(err, &sch):
		return kindNotRelayTab
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return kindLocked
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return kindNotRelayTab
		}
	case errors.As(err, &me):
		switch me.Number {
		case 1213, 1205: // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
			return kindLocked
		}
	}
	return kindTemporary
}

// retry runs f, and again while it fails on a lock conflict (see LockWait), until
// s.lockWait has passed since the first try or ctx ends. It returns f's last error as a
// DBError for op.
func (s *Store) retry(ctx context.Context, op string, f func() error) error {
	start := time.Now()
	s.driverLog.take() // only lines about this operation explain its error
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if classify(err) != kindLocked {
			return s.dbErr(op, err)
		}
		s.lockRetries.Add(1)
		if waited := time.Since(start); waited >= s.lockWait {
			return s.dbErr(op, fmt.Errorf("other writers held the lock for %v: %w", waited.Round(time.Second), err))
		}
		t := time.NewTimer(backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return s.dbErr(op, fmt.Errorf("%w while waiting for the lock: %w", ctx.Err(), err))
		case <-t.C:
		}
	}
}

// backoff is a random pause before retry number attempt+1: up to 5 ms doubling to
// 200 ms, random so that the waiting writers do not retry in step.
func backoff(attempt int) time.Duration {
	d := 5 * time.Millisecond << min(attempt, 6)
	if d > 200*time.Millisecond {
		d = 200 * time.Millisecond
	}
	return d/2 + rand.N(d/2+1)
}
