package relaytable

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/peers"
)

// The MySQL back end is tested against a real server named by QMAILCTL_TEST_MYSQL_DSN
// (scripts/mariadb-test.sh start DIR prints it). Without it the MySQL half of each test is
// skipped, except under CI (CI non-empty), where that is a failure.
const mysqlEnv = "QMAILCTL_TEST_MYSQL_DSN"

// t0 is the fixed "now" of the tests: 2026-01-02 03:04:05 UTC.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// backendEnv names one back end to test: a DSN and a table of its own.
type backendEnv struct {
	Name  string
	DSN   string
	Table string
}

func mysqlDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(mysqlEnv)
	if dsn == "" {
		peers.Missing(t, "%s is unset; run: eval \"$(scripts/mariadb-test.sh start /tmp/qmailctl-mariadb)\"", mysqlEnv)
	}
	return dsn
}

var tableSeq atomic.Int64

// uniqueTable makes a MySQL table name unique to this test run and test.
func uniqueTable(t testing.TB) string {
	re := regexp.MustCompile(`[^A-Za-z0-9_]+`)
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), tableSeq.Add(1), re.ReplaceAllString(t.Name(), "_"))
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

// eachBackend runs fn once per back end, as subtests "sqlite" and "mysql".
func eachBackend(t *testing.T, fn func(t *testing.T, be backendEnv)) {
	t.Helper()
	t.Run(SQLite, func(t *testing.T) {
		dsn := "sqlite://" + filepath.Join(t.TempDir(), "relay.sqlite")
		fn(t, backendEnv{Name: SQLite, DSN: dsn, Table: DefaultTable})
	})
	t.Run(MySQL, func(t *testing.T) { fn(t, mysqlBackend(t)) })
}

// mysqlBackend names the test server and a table for this test, dropped when it ends.
func mysqlBackend(t testing.TB) backendEnv {
	dsn := mysqlDSN(t)
	table := uniqueTable(t)
	t.Cleanup(func() { dropTable(t, dsn, table) })
	return backendEnv{Name: MySQL, DSN: dsn, Table: table}
}

// forEachBackend runs fn once per back end with a freshly opened Store on an empty table.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	eachBackend(t, func(t *testing.T, be backendEnv) {
		fn(t, openTest(t, be))
	})
}

func openTest(t testing.TB, be backendEnv) *Store {
	t.Helper()
	s, err := Open(context.Background(), be.DSN, be.Table)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", RedactDSN(be.DSN), be.Table, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dropTable(t testing.TB, dsn, table string) {
	s, err := Open(context.Background(), dsn, table)
	if err != nil {
		t.Logf("drop %s: %v", table, err)
		return
	}
	defer s.Close()
	if _, err := s.db.Exec("DROP TABLE IF EXISTS " + s.q.quoted); err != nil {
		t.Logf("drop %s: %v", table, err)
	}
}

// ctxT is a context that ends shortly before the test binary's own deadline (go test
// -timeout), never earlier: no test here fails because the machine is slow.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
		}
	}
	t.Cleanup(cancel)
	return ctx
}

// testLockWait replaces LockWait in every Store the tests open (see TestMain): longer
// than any test may run, so that waits end only with the test's context. The concurrency
// tests check that no write is lost or fails whatever the machine's speed; TestLockWait
// tests the bound itself, with a lock it holds.
const testLockWait = time.Hour

func mustAdd(t testing.TB, s *Store, email, ip string, at time.Time) {
	t.Helper()
	if err := s.Add(ctxT(t), email, ip, at); err != nil {
		t.Fatalf("Add(%q, %q): %v", email, ip, err)
	}
}

func mustList(t testing.TB, s *Store, f Filter) []Row {
	t.Helper()
	rows, err := s.List(ctxT(t), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return rows
}

// fmtRows renders rows as "email ip unix" lines for comparison.
func fmtRows(rows []Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s %s %d\n", r.Email, r.IP, r.Time.Unix())
	}
	return b.String()
}

func countRows(t testing.TB, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM " + s.q.quoted).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}

// explain returns what the planner says about query: MySQL's key column per table, or
// SQLite's EXPLAIN QUERY PLAN detail lines.
func explain(t testing.TB, s *Store, query string, args ...any) []string {
	t.Helper()
	prefix := "EXPLAIN "
	if s.backend == SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	}
	rows, err := s.db.Query(prefix+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("explain scan: %v", err)
		}
		var parts []string
		for i, c := range cols {
			if s.backend == SQLite && c != "detail" {
				continue
			}
			parts = append(parts, c+"="+vals[i].String)
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// Worker for the concurrency tests, run in-process or as a child process (see TestMain).

const workerOps = 200

// worker is one writer of the concurrency tests: worker number w doing ops operations.
type worker struct{ w, ops int }

// workerKey is the (email, ip) of worker w's op k; the shared key is written by all.
func workerKey(w, k int) (email, ip string) {
	return fmt.Sprintf("w%d-%d@example.com", w, k%13), fmt.Sprintf("10.%d.0.%d", w, k%5)
}

func workerTime(k int) time.Time {
	if (k/7)%2 == 0 {
		return t0.Add(-2*time.Hour + time.Duration(k)*time.Second) // expired at t0 with 60 minutes
	}
	return t0.Add(-30*time.Minute + time.Duration(k)*time.Second) // live
}

func runWorker(ctx context.Context, s *Store, w, ops int) error {
	for k := 0; k < ops; k++ {
		var err error
		switch k % 10 {
		case 9:
			_, err = s.Clear(ctx, t0, 60)
		case 8:
			err = s.Add(ctx, "shared@example.com", "192.0.2.1", t0)
		default:
			email, ip := workerKey(w, k)
			err = s.Add(ctx, email, ip, workerTime(k))
		}
		if err != nil {
			return fmt.Errorf("worker %d op %d: %w", w, k, err)
		}
	}
	return nil
}

// expectedAfterWorkers is the table after n workers of ops operations each and a final
// Clear(t0, 60).
func expectedAfterWorkers(n, ops int) string {
	cutoff := t0.Add(-60 * time.Minute).Unix()
	last := map[[2]string]int64{{"shared@example.com", "192.0.2.1"}: t0.Unix()}
	for w := 0; w < n; w++ {
		for k := 0; k < ops; k++ {
			if k%10 < 8 {
				email, ip := workerKey(w, k)
				last[[2]string{email, ip}] = workerTime(k).Unix()
			}
		}
	}
	var rows []Row
	for k, ts := range last {
		if ts > cutoff {
			rows = append(rows, Row{Email: k[0], IP: k[1], Time: time.Unix(ts, 0)})
		}
	}
	sortRows(rows)
	return fmtRows(rows)
}

// sortRows orders like List: timestamp desc, email, ip.
func sortRows(rows []Row) {
	less := func(a, b Row) bool {
		if !a.Time.Equal(b.Time) {
			return a.Time.After(b.Time)
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.IP < b.IP
	}
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && less(rows[j], rows[j-1]); j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

const workerEnv = "RELAYTABLE_TEST_WORKER" // "index ops dsn table" for a child process

func TestMain(m *testing.M) {
	defaultLockWait = testLockWait
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(childWorker(spec))
	}
	os.Exit(m.Run())
}

func childWorker(spec string) int {
	f := strings.SplitN(spec, " ", 4)
	w, _ := strconv.Atoi(f[0])
	ops, _ := strconv.Atoi(f[1])
	// No deadline of its own: the parent test kills it when the test's context ends.
	ctx := context.Background()
	s, err := Open(ctx, f[2], f[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 111
	}
	defer s.Close()
	if err := runWorker(ctx, s, w, ops); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 111
	}
	return 0
}
