package relaytable

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

func TestBasics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		if got := mustList(t, s, Filter{}); len(got) != 0 {
			t.Fatalf("new table has rows:\n%s", fmtRows(got))
		}
		mustAdd(t, s, "alice@example.com", "192.0.2.10", t0.Add(-10*time.Minute))
		mustAdd(t, s, "bob@example.com", "192.0.2.10", t0.Add(-90*time.Minute))
		mustAdd(t, s, "alice@example.com", "198.51.100.7", t0.Add(-5*time.Minute))
		want := fmt.Sprintf("alice@example.com 198.51.100.7 %d\nalice@example.com 192.0.2.10 %d\nbob@example.com 192.0.2.10 %d\n",
			t0.Add(-5*time.Minute).Unix(), t0.Add(-10*time.Minute).Unix(), t0.Add(-90*time.Minute).Unix())
		if got := fmtRows(mustList(t, s, Filter{})); got != want {
			t.Fatalf("List:\n%s\nwant:\n%s", got, want)
		}

		// Replace: same (email, ip) — in another case — updates the row instead of adding one.
		mustAdd(t, s, "Alice@Example.COM", "192.0.2.10", t0.Add(-1*time.Minute))
		rows := mustList(t, s, Filter{IP: "192.0.2.10"})
		if len(rows) != 2 || !strings.EqualFold(rows[0].Email, "alice@example.com") || !rows[0].Time.Equal(t0.Add(-time.Minute)) {
			t.Fatalf("after replace, rows at 192.0.2.10:\n%s", fmtRows(rows))
		}
		if rows[0].Email != "Alice@Example.COM" {
			t.Errorf("replace kept email %q; want the new spelling as REPLACE INTO does", rows[0].Email)
		}
		if n := len(mustList(t, s, Filter{Email: "ALICE@example.com"})); n != 2 {
			t.Errorf("List by email (other case) found %d rows, want 2", n)
		}
		if n := len(mustList(t, s, Filter{Email: "alice@example.com", IP: "198.51.100.7"})); n != 1 {
			t.Errorf("List by email+ip found %d rows, want 1", n)
		}

		// Check at t0 with 60 minutes: alice is live at both IPs, bob expired 30 minutes ago.
		c, err := s.Check(ctx, "alice@EXAMPLE.com", "192.0.2.10", t0, 60)
		if err != nil || !c.Allowed() || c.Match.IP != "192.0.2.10" {
			t.Fatalf("Check alice: %+v, %v", c, err)
		}
		c, err = s.Check(ctx, "bob@example.com", "192.0.2.10", t0, 60)
		if err != nil || c.Allowed() || c.Expired == nil || c.ExpiredAgo != 30*time.Minute {
			t.Fatalf("Check bob: %+v, %v", c, err)
		}
		// Boundaries: live while timestamp > now-60min, cleared when timestamp <= now-60min.
		c, _ = s.Check(ctx, "bob@example.com", "192.0.2.10", t0.Add(-30*time.Minute-time.Second), 60)
		if !c.Allowed() {
			t.Errorf("bob should be live one second before expiry")
		}
		c, _ = s.Check(ctx, "bob@example.com", "192.0.2.10", t0.Add(-30*time.Minute), 60)
		if c.Allowed() || c.ExpiredAgo != 0 {
			t.Errorf("bob should expire exactly at timestamp+60min: %+v", c)
		}

		// Clear at t0 with 60 minutes removes only bob.
		n, err := s.Clear(ctx, t0, 60)
		if err != nil || n != 1 {
			t.Fatalf("Clear = %d, %v; want 1", n, err)
		}
		if n, _ := s.Clear(ctx, t0, 60); n != 0 {
			t.Errorf("second Clear removed %d", n)
		}
		if got := len(mustList(t, s, Filter{})); got != 2 {
			t.Fatalf("after Clear %d rows, want 2", got)
		}

		// Remove: exact row, then by email, then by IP.
		mustAdd(t, s, "carol@example.com", "192.0.2.10", t0)
		if n, err := s.Remove(ctx, "alice@example.com", "198.51.100.7"); err != nil || n != 1 {
			t.Fatalf("Remove exact = %d, %v", n, err)
		}
		if n, err := s.Remove(ctx, "", "192.0.2.10"); err != nil || n != 2 {
			t.Fatalf("Remove by ip = %d, %v", n, err)
		}
		if n, err := s.Remove(ctx, "nobody@example.com", ""); err != nil || n != 0 {
			t.Fatalf("Remove absent = %d, %v", n, err)
		}
		if _, err := s.Remove(ctx, "", ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Remove with no filter: %v; want ErrInvalid", err)
		}
		if got := len(mustList(t, s, Filter{})); got != 0 {
			t.Fatalf("after removes %d rows left", got)
		}
	})
}

// Clear across several batches, and with more than a batch of rows in one second.
func TestClearBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		const n = 2*clearBatchSize + 345 // rows 0..n-1, even ones expired at t0
		loadRows(t, s, 0, n, 1, t0)
		got, err := s.Clear(ctx, t0, 60)
		if want := int64((n + 1) / 2); err != nil || got != want {
			t.Fatalf("Clear = %d, %v; want %d", got, err, want)
		}
		if c := countRows(t, s); c != n/2 {
			t.Fatalf("%d rows left, want %d", c, n/2)
		}
		// 1.5 batches' worth of rows in a single second, just before the cutoff.
		same := t0.Add(-61 * time.Minute)
		q := "INSERT INTO " + s.q.quoted + " (email, ipaddr, timestamp) VALUES (?, ?, ?)"
		tx, err := s.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < clearBatchSize*3/2; i++ {
			if _, err := tx.Exec(q, fmt.Sprintf("same%d@example.com", i), "192.0.2.99", same.Unix()); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, "edge@example.com", "192.0.2.98", t0.Add(-60*time.Minute)) // exactly at the cutoff
		got, err = s.Clear(ctx, t0, 60)
		if want := int64(clearBatchSize*3/2 + 1); err != nil || got != want {
			t.Fatalf("Clear = %d, %v; want %d", got, err, want)
		}
		if c := countRows(t, s); c != n/2 {
			t.Fatalf("%d rows left, want %d", c, n/2)
		}
	})
}

func TestCheckDiagnosis(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustAdd(t, s, "dave@example.com", "192.0.2.20", t0.Add(-75*time.Minute)) // expired 15 min ago
		mustAdd(t, s, "erin@example.com", "192.0.2.20", t0.Add(-5*time.Minute))  // other sender, live
		mustAdd(t, s, "old@example.com", "192.0.2.20", t0.Add(-3*time.Hour))     // other sender, expired
		mustAdd(t, s, "dave@example.com", "203.0.113.5", t0.Add(-1*time.Minute)) // same sender, other IP
		mustAdd(t, s, "dave@example.community", "192.0.2.20", t0)                // IndiMail prefix match for dave@example.com? no: longer
		mustAdd(t, s, "erin@example.com.au", "192.0.2.21", t0)

		c, err := s.Check(ctx, "dave@example.com", "192.0.2.20", t0, 60)
		if err != nil {
			t.Fatal(err)
		}
		if c.Allowed() {
			t.Fatalf("dave allowed: %+v", c.Match)
		}
		if c.Expired == nil || c.ExpiredAgo != 15*time.Minute {
			t.Errorf("Expired = %+v, ago %v; want the dave row, 15m", c.Expired, c.ExpiredAgo)
		}
		if got := fmtRows(c.OtherSenders); !strings.Contains(got, "erin@example.com 192.0.2.20") || strings.Contains(got, "old@") {
			t.Errorf("OtherSenders:\n%s", got)
		}
		if len(c.OtherIPs) != 1 || c.OtherIPs[0].IP != "203.0.113.5" {
			t.Errorf("OtherIPs:\n%s", fmtRows(c.OtherIPs))
		}
		// IndiMail's strncasecmp over len(MAIL FROM) accepts dave@example.com for the
		// stored dave@example.community; we do not, and say so.
		if len(c.IndiMailPrefix) != 1 || c.IndiMailPrefix[0].Email != "dave@example.community" {
			t.Errorf("IndiMailPrefix:\n%s", fmtRows(c.IndiMailPrefix))
		}
		if c.Window.Cutoff() != t0.Add(-time.Hour).Unix() {
			t.Errorf("Cutoff = %v", c.Window.Cutoff())
		}

		// An IP with no rows at all, a sender with no rows at all.
		c, err = s.Check(ctx, "zed@example.com", "2001:db8::99", t0, 60)
		if err != nil || c.Allowed() || c.Expired != nil || len(c.OtherSenders)+len(c.OtherIPs)+len(c.IndiMailPrefix) != 0 {
			t.Errorf("unknown sender/IP: %+v, %v", c, err)
		}
		// The null sender never matches; IndiMail's 0-byte compare would take any live row.
		c, err = s.Check(ctx, "", "192.0.2.20", t0, 60)
		if err != nil || c.Allowed() || len(c.IndiMailPrefix) != 2 {
			t.Errorf("null sender: %+v, %v", c, err)
		}
		// 0 minutes: nothing at or before now is live.
		c, _ = s.Check(ctx, "erin@example.com", "192.0.2.20", t0, 0)
		if c.Allowed() {
			t.Errorf("0 minutes still allowed erin")
		}
	})
}

func TestInjectionStoredLiterally(t *testing.T) {
	values := []string{
		`o'brien@example.com`,
		`x'or'1'='1@example.com`,
		`'--@example.com`,
		`"x\"' or 1=1 --"@example.com`,
		`"a'); DROP TABLE relay; --"@example.com`,
		`"a\\\" OR \"\"=\""@example.com`,
		`%@example.com`,
		`_@example.com`,
		`a_c@example.com`,
		"`x`@example.com",
		`{}|~^$#*/=?&+!@example.com`,
	}
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		const ip = "192.0.2.66"
		mustAdd(t, s, "abc@example.com", ip, t0) // must not be matched by a_c / _ / %
		mustAdd(t, s, "bystander@example.com", "192.0.2.67", t0)
		for _, v := range values {
			mustAdd(t, s, v, ip, t0)
		}
		rows := mustList(t, s, Filter{IP: ip})
		if len(rows) != len(values)+1 {
			t.Fatalf("%d rows at %s, want %d:\n%s", len(rows), ip, len(values)+1, fmtRows(rows))
		}
		got := map[string]bool{}
		for _, r := range rows {
			got[r.Email] = true
		}
		for _, v := range values {
			if !got[v] {
				t.Errorf("%q not stored literally; rows:\n%s", v, fmtRows(rows))
			}
			c, err := s.Check(ctx, v, ip, t0, 60)
			if err != nil || !c.Allowed() || c.Match.Email != v {
				t.Errorf("Check(%q) = %+v, %v", v, c, err)
			}
			if r := mustList(t, s, Filter{Email: v}); len(r) != 1 || r[0].Email != v {
				t.Errorf("List(email=%q):\n%s", v, fmtRows(r))
			}
		}
		for _, v := range []string{`%@example.com`, `_@example.com`, `a_c@example.com`, `'--@example.com`} {
			if n, err := s.Remove(ctx, v, ""); err != nil || n != 1 {
				t.Errorf("Remove(%q) = %d, %v; want exactly 1", v, n, err)
			}
		}
		if n := countRows(t, s); n != len(values)+2-4 {
			t.Errorf("%d rows left, want %d (table intact, nothing else removed)", n, len(values)+2-4)
		}
		if c, _ := s.Check(ctx, "abc@example.com", ip, t0, 60); !c.Allowed() {
			t.Errorf("abc@example.com lost by wildcard removes")
		}
	})
}

func TestLimits(t *testing.T) {
	long96 := strings.Repeat("a", 96-len("@example.com")) + "@example.com"
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustAdd(t, s, long96, "2001:DB8:0:0:0:0:0:1", t0)
		mustAdd(t, s, "v6max@example.com", "FFFF:ffff:ffff:ffff:ffff:ffff:ffff:ffff", t0)
		mustAdd(t, s, "mapped@example.com", "::ffff:192.0.2.9", t0)
		rows := mustList(t, s, Filter{})
		got := fmtRows(rows)
		for _, w := range []string{
			long96 + " 2001:db8::1 ",
			"v6max@example.com ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ",
			"mapped@example.com 192.0.2.9 ",
		} {
			if !strings.Contains(got, w) {
				t.Errorf("missing %q in:\n%s", w, got)
			}
		}
		c, err := s.Check(ctx, long96, "2001:db8:0::1", t0, 60)
		if err != nil || !c.Allowed() || c.Match.Email != long96 {
			t.Errorf("Check 96-byte email over IPv6: %+v, %v", c, err)
		}
		if c, _ := s.Check(ctx, "mapped@example.com", "192.0.2.9", t0, 60); !c.Allowed() {
			t.Errorf("v4-mapped address not stored as dotted quad")
		}

		long97 := "a" + long96
		err = s.Add(ctx, long97, "192.0.2.1", t0)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "email is 97 bytes; the relay table holds at most 96") {
			t.Errorf("97-byte email: %v", err)
		}
		if err := s.Add(ctx, "y2038@example.com", "192.0.2.1", time.Unix(1<<31, 0)); !errors.Is(err, ErrInvalid) {
			t.Errorf("timestamp past 2038: %v; want ErrInvalid", err)
		}
		if n := countRows(t, s); n != 3 {
			t.Errorf("%d rows, want 3", n)
		}
	})
}

// Validation happens before the database: on a closed Store an invalid argument still
// gives ErrInvalid, never a database error.
func TestInvalidRefusedBeforeDB(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		s.Close()
		for name, call := range map[string]func() error{
			"add bad ip":      func() error { return s.Add(ctx, "a@example.com", "192.0.2.300", t0) },
			"add v6 zone":     func() error { return s.Add(ctx, "a@example.com", "fe80::1%eth0", t0) },
			"add host name":   func() error { return s.Add(ctx, "a@example.com", "mail.example.com", t0) },
			"add bad email":   func() error { return s.Add(ctx, "a b@example.com", "192.0.2.1", t0) },
			"add no domain":   func() error { return s.Add(ctx, "a@", "192.0.2.1", t0) },
			"check bad ip":    func() error { _, err := s.Check(ctx, "a@example.com", "1.2.3", t0, 60); return err },
			"list bad ip":     func() error { _, err := s.List(ctx, Filter{IP: "::g"}); return err },
			"remove bad ip":   func() error { _, err := s.Remove(ctx, "", "300.1.1.1"); return err },
			"remove nothing":  func() error { _, err := s.Remove(ctx, "", ""); return err },
			"clear negative":  func() error { _, err := s.Clear(ctx, t0, -1); return err },
			"check bad email": func() error { _, err := s.Check(ctx, `"open@example.com`, "192.0.2.1", t0, 60); return err },
		} {
			err := call()
			var ie *InvalidError
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrDatabase) || !errors.As(err, &ie) {
				t.Errorf("%s: %v; want only ErrInvalid", name, err)
			}
		}
		// A valid call on the closed store does reach the database, and says so.
		if err := s.Add(ctx, "a@example.com", "192.0.2.1", t0); !errors.Is(err, ErrDatabase) {
			t.Errorf("valid Add on closed store: %v; want ErrDatabase", err)
		}
	})
	// Open refuses a bad table name before connecting (port 1 would be refused).
	_, err := Open(context.Background(), "mysql://u:p@tcp(127.0.0.1:1)/x", "relay;drop")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("bad table name: %v; want ErrInvalid", err)
	}
}

// Eight writers each Add and Clear 200 times, then the table must hold exactly the live
// rows, once each: in-process (8 Stores, 8 pools) and as 8 separate processes. No write
// may fail: lock conflicts (SQLITE_BUSY, InnoDB deadlocks) are waited out. The waits end
// only with the test's deadline (testLockWait), so a slow or loaded machine makes the
// test slower, never red.
func TestConcurrentWriters(t *testing.T) {
	for _, mode := range []string{"goroutines", "processes"} {
		t.Run(mode, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, be backendEnv) {
				runWriters(t, be, mode, 8, workerOps)
			})
		})
	}
}

// Many processes at once, as many logins and a cron clear would be: none may see a
// lock conflict, and none may lose its write.
func TestManyProcesses(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backendEnv) {
		runWriters(t, be, "processes", 40, 20)
	})
}

// runWriters runs n workers of ops operations each (goroutines or child processes), then
// a final Clear, and compares the table with the reference model.
func runWriters(t *testing.T, be backendEnv, mode string, n, ops int) {
	s := openTest(t, be)
	ctx := ctxT(t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if mode == "processes" {
				cmd := testexec.CommandContext(t, ctx, os.Args[0])
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %d %s %s", workerEnv, w, ops, be.DSN, be.Table))
				cmd.WaitDelay = time.Second
				if out, err := cmd.CombinedOutput(); err != nil {
					errs <- fmt.Errorf("worker process %d: %v: %s", w, err, out)
				}
				return
			}
			ws, err := Open(ctx, be.DSN, be.Table)
			if err != nil {
				errs <- err
				return
			}
			defer ws.Close()
			if err := runWorker(ctx, ws, w, ops); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if _, err := s.Clear(ctx, t0, 60); err != nil {
		t.Fatal(err)
	}
	got := fmtRows(mustList(t, s, Filter{}))
	if want := expectedAfterWorkers(n, ops); got != want {
		t.Fatalf("final table differs.\ngot:\n%s\nwant:\n%s", got, want)
	}
	t.Logf("%d %s x %d ops on %s: %v", n, mode, ops, be.Name, time.Since(start).Round(time.Millisecond))
}

// A write blocked by another's lock fails with ErrLocked (exit 111 in the CLI) once
// lockWait is spent, and succeeds when the lock is released within it. The test holds
// the lock itself, so nothing depends on timing: it releases the lock only after the
// writer has seen a conflict and retried.
func TestLockWait(t *testing.T) {
	eachBackend(t, func(t *testing.T, be backendEnv) {
		ctx := ctxT(t)
		if be.Name == MySQL {
			// Make InnoDB report a row lock wait after 1 s rather than 50.
			sep := "?"
			if strings.Contains(be.DSN, "?") {
				sep = "&"
			}
			be.DSN += sep + "innodb_lock_wait_timeout=1"
		}
		s := openTest(t, be)
		mustAdd(t, s, "held@example.com", "192.0.2.1", t0)
		holder := openTest(t, be)
		tx, err := holder.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// Take the write lock: SQLite's RESERVED lock for the file (BEGIN IMMEDIATE via
		// _txlock), InnoDB's lock on the row.
		if _, err := tx.ExecContext(ctx, "UPDATE "+holder.q.quoted+" SET timestamp = timestamp WHERE email = ?", "held@example.com"); err != nil {
			t.Fatal(err)
		}

		s.lockWait = 0 // give up at the first conflict
		err = s.Add(ctx, "held@example.com", "192.0.2.1", t0.Add(time.Second))
		if !errors.Is(err, ErrLocked) || !errors.Is(err, ErrDatabase) || errors.Is(err, ErrNotRelayTable) {
			t.Fatalf("Add under a held lock with no wait = %v; want ErrLocked", err)
		}
		t.Logf("%s: %v", be.Name, err)

		s.lockWait = testLockWait
		s.lockRetries.Store(0)
		done := make(chan error, 1)
		go func() { done <- s.Add(ctx, "held@example.com", "192.0.2.1", t0.Add(2*time.Second)) }()
		for s.lockRetries.Load() == 0 {
			select {
			case err := <-done:
				t.Fatalf("Add returned %v while the lock was held", err)
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(10 * time.Millisecond): // poll for the retry; no deadline
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Add after the lock was released: %v", err)
		}
		if got, want := fmtRows(mustList(t, s, Filter{})), fmt.Sprintf("held@example.com 192.0.2.1 %d\n", t0.Unix()+2); got != want {
			t.Errorf("table = %q, want %q", got, want)
		}
	})
}

func TestSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		var ddl string
		if s.backend == MySQL {
			var name string
			if err := s.db.QueryRow("SHOW CREATE TABLE "+s.q.quoted).Scan(&name, &ddl); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{
				"`email` char(96) NOT NULL",
				"`ipaddr` char(46) NOT NULL",
				"`timestamp` int(11) DEFAULT NULL",
				"UNIQUE KEY `email` (`email`,`ipaddr`)",
				"KEY `ipaddr` (`ipaddr`)",
				"KEY `timestamp` (`timestamp`)",
			} {
				if !strings.Contains(ddl, w) {
					t.Errorf("SHOW CREATE TABLE lacks %q:\n%s", w, ddl)
				}
			}
		} else {
			rows, err := s.db.Query("SELECT sql FROM sqlite_master WHERE tbl_name = ? ORDER BY name", s.table)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for rows.Next() {
				var q *string
				if err := rows.Scan(&q); err != nil {
					t.Fatal(err)
				}
				if q != nil {
					parts = append(parts, *q)
				}
			}
			rows.Close()
			ddl = strings.Join(parts, "\n")
			for _, w := range []string{"email char(96) NOT NULL COLLATE NOCASE", "ipaddr char(46) NOT NULL",
				"timestamp int", "UNIQUE (email, ipaddr)", "(ipaddr)", "(timestamp)"} {
				if !strings.Contains(ddl, w) {
					t.Errorf("schema lacks %q:\n%s", w, ddl)
				}
			}
		}
		if strings.Contains(strings.ToUpper(ddl), "PRIMARY KEY") {
			t.Errorf("schema has a primary key; IndiMail's has none:\n%s", ddl)
		}
		t.Logf("%s schema:\n%s", s.backend, ddl)
	})
}

// IndiMail's own statements work on a table qmailctl made, and qmailctl reads a table
// IndiMail made.
// MySQL only: IndiMail speaks nothing else.
func TestIndiMailInterop(t *testing.T) {
	be := mysqlBackend(t)
	ctx := ctxT(t)
	s := openTest(t, be)
	// Drop qmailctl's table and let "IndiMail" create its own, verbatim.
	if _, err := s.db.Exec("DROP TABLE " + s.q.quoted); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("create table " + be.Table + "(email char(96) not null, ipaddr char(46) not null, timestamp int, unique index (email, ipaddr), index(ipaddr), index(timestamp))"); err != nil {
		t.Fatal(err)
	}
	// IndiMail's POP3 login and qmailctl's add.
	if _, err := s.db.Exec(`replace into ` + be.Table + ` (email, ipaddr, timestamp) values ("pop@example.com", "192.0.2.44", UNIX_TIMESTAMP())`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mustAdd(t, s, "ctl@example.com", "192.0.2.44", now)
	// qmailctl's check sees IndiMail's row.
	if c, err := s.Check(ctx, "POP@example.com", "192.0.2.44", now, 60); err != nil || !c.Allowed() {
		t.Errorf("Check of IndiMail row: %+v, %v", c, err)
	}
	// qmail-smtpd's relay_select sees qmailctl's row.
	rows, err := s.db.Query(`select email from ` + be.Table + ` where ipaddr="192.0.2.44" and timestamp > (UNIX_TIMESTAMP() - 60*60) order by email`)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for rows.Next() {
		var e string
		rows.Scan(&e)
		emails = append(emails, e)
	}
	rows.Close()
	if strings.Join(emails, ",") != "ctl@example.com,pop@example.com" {
		t.Errorf("IndiMail's select sees %v", emails)
	}
	// clearopensmtp's delete and ours agree.
	if _, err := s.db.Exec(`delete from `+be.Table+` where timestamp <= ?`, now.Unix()-3600); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s); n != 2 {
		t.Errorf("%d rows after clearopensmtp, want 2", n)
	}
}

func TestCheckUsesIndexes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		loadRows(t, s, 0, 5000, 1, t0)
		if s.backend == MySQL {
			if _, err := s.db.Exec("ANALYZE TABLE " + s.q.quoted); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			query string
			args  []any
			want  string
		}{
			{s.q.byIP, []any{"10.0.0.1", "10.0.0.1", "10.0.0.1"}, "ipaddr"}, // every text form of the IP
			{s.q.byEmail, []any{"user1@d1.example"}, "email"},               // the unique (email, ipaddr) key
		} {
			plan := strings.Join(explain(t, s, tc.query, tc.args...), "; ")
			t.Logf("%s: %s => %s", s.backend, tc.query, plan)
			want := "key=" + tc.want
			if s.backend == SQLite {
				want = "USING INDEX " + s.table + "_ipaddr"
				if tc.want == "email" {
					want = "USING INDEX sqlite_autoindex_" + s.table
				}
			}
			if !strings.Contains(plan, want) {
				t.Errorf("plan for %s lacks %q: %s", tc.query, want, plan)
			}
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dsn  string
		want error
	}{
		{"postgres://u:topsecret@h/db", ErrInvalid},
		{"mysql://u:topsecret@tcp(127.0.0.1:1/x", ErrInvalid},
		{"mysql://u:topsecret@tcp(127.0.0.1:1)/", ErrInvalid},
		{"sqlite:///nonexistent-dir-qmailctl/relay.sqlite", ErrDatabase},
		{"/nonexistent-dir-qmailctl/relay.sqlite", ErrDatabase},
	} {
		_, err := Open(ctx, tc.dsn, "relay")
		if !errors.Is(err, tc.want) {
			t.Errorf("Open(%s): %v; want %v", tc.dsn, err, tc.want)
		} else if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Open(%s) leaks the password: %v", tc.dsn, err)
		}
	}
	// Plain path and sqlite:// relative path both work.
	dir := t.TempDir()
	for _, dsn := range []string{dir + "/plain.db", "sqlite://" + dir + "/uri.db", dir + "/odd?name#x%.db"} {
		s, err := Open(ctx, dsn, "")
		if err != nil {
			t.Errorf("Open(%s): %v", dsn, err)
			continue
		}
		if s.Backend() != SQLite || s.Table() != "relay" {
			t.Errorf("Open(%s): backend %s table %s", dsn, s.Backend(), s.Table())
		}
		s.Close()
		if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite://")); err != nil {
			t.Errorf("Open(%s) made no file there: %v", dsn, err)
		}
	}
}

// An unreachable server fails fast, a silent one within ConnectTimeout; neither hangs or
// shows the password.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() { // accept and never answer
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	for _, dsn := range []string{
		"mysql://u:s3cr3tpw@tcp(127.0.0.1:1)/x",
		"mysql://u:s3cr3tpw@tcp(" + ln.Addr().String() + ")/x",
		"mysql://u:s3cr3tpw@unix(/nonexistent/mysqld.sock)/x",
	} {
		start := time.Now()
		_, err := Open(context.Background(), dsn, "relay")
		took := time.Since(start)
		t.Logf("%v after %v", err, took.Round(time.Millisecond))
		if !errors.Is(err, ErrDatabase) {
			t.Errorf("Open(%s): %v; want ErrDatabase", RedactDSN(dsn), err)
			continue
		}
		if took >= IOTimeout { // ConnectTimeout, however slow the machine, not the read timeout
			t.Errorf("Open(%s) took %v", RedactDSN(dsn), took)
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cr3tpw") || !strings.Contains(msg, "u:xxxxx@") {
			t.Errorf("error must show the redacted DSN, not the password: %s", msg)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	dsn := mysqlDSN(t)
	cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
	if err != nil {
		t.Fatal(err)
	}
	real := cfg.Passwd
	cfg.Passwd = "wrong-" + real
	bad := "mysql://" + cfg.FormatDSN()
	start := time.Now()
	_, err = Open(context.Background(), bad, uniqueTable(t))
	t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
	if !errors.Is(err, ErrDatabase) || errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong password: %v; want ErrDatabase (exit 111)", err)
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1045 {
		t.Errorf("want MySQL error 1045 (access denied) inside: %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, real) || !strings.Contains(msg, "xxxxx") || !strings.Contains(msg, "connect") {
		t.Errorf("error text: %s", msg)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://u:p@tcp(h:3306)/db":                     "mysql://u:xxxxx@tcp(h:3306)/db",
		"mysql://u:p/w@ss@unix(/run/mysqld.sock)/db?x=1": "mysql://u:xxxxx@unix(/run/mysqld.sock)/db?x=1",
		"mysql://u:a:b@tcp(h)/db":                        "mysql://u:xxxxx@tcp(h)/db",
		"mysql://u@tcp(h)/db":                            "mysql://u@tcp(h)/db",
		"mysql://u:@tcp(h)/db":                           "mysql://u:@tcp(h)/db",
		"mysql://tcp(h)/db":                              "mysql://tcp(h)/db",
		"sqlite:///var/lib/x:y@z/relay":                  "sqlite:///var/lib/x:y@z/relay",
		"/plain/path":                                    "/plain/path",
		"postgres://u:pw@host/db":                        "postgres://u:xxxxx@host/db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
	// Agrees with the driver on where the password is.
	for _, dsn := range []string{"u:p/w@ss@unix(/run/s)/db", "u:a:b@tcp(h)/db", "us:er:pw@/db"} {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := RedactDSN("mysql://" + dsn); strings.Contains(got, cfg.Passwd) {
			t.Errorf("RedactDSN(%q) = %q still holds %q", dsn, got, cfg.Passwd)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	good := []string{
		"a@b", "user@example.com", "o'brien@example.com", "first.last+tag@sub.example.co.uk",
		`"a b"@example.com`, `"x\"y"@example.com`, "u@[192.0.2.1]", "u@[IPv6:2001:db8::1]",
		strings.Repeat("a", 84) + "@example.com",
	}
	bad := map[string]string{
		"":                                       "empty",
		"user":                                   "no @",
		"@example.com":                           "local part",
		"user@":                                  "domain after @ is empty",
		"a b@example.com":                        `" "`,
		"a\tb@example.com":                       "control character",
		"a\x00@example.com":                      "control character",
		"ü@example.com":                          "non-ASCII",
		`"open@example.com`:                      "not closed",
		`"a"b"@example.com`:                      "unescaped",
		`"a\"@example.com`:                       "lone backslash",
		"a<b>@example.com":                       `"<"`,
		"a@exa mple.com":                         "domain",
		"a@example..com":                         "empty label",
		"a@[300.1.1.1]":                          "IPv4",
		"a@[IPv6:1.2.3.4]":                       "IPv6",
		"a;b@example.com":                        `";"`,
		"a\\b@example.com":                       `"\\"`,
		strings.Repeat("a", 85) + "@example.com": "email is 97 bytes; the relay table holds at most 96",
	}
	for _, e := range good {
		if err := ValidateEmail(e); err != nil {
			t.Errorf("ValidateEmail(%q) = %v", e, err)
		}
	}
	for e, want := range bad {
		err := ValidateEmail(e)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateEmail(%q) = %v; want ErrInvalid mentioning %q", e, err, want)
		}
	}
}

func TestNormalizeIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"::FFFF:c000:0201":     "192.0.2.1",
		"2001:DB8:0:0:0:0:0:1": "2001:db8::1",
		"2001:db8:0:0:1:0:0:1": "2001:db8::1:0:0:1",
		"::1":                  "::1",
		"::":                   "::",
		"2001:db8::192.0.2.1":  "2001:db8::c000:201",
		"fe80:0000::0001":      "fe80::1",
	} {
		got, err := NormalizeIP(in)
		if err != nil || got != want {
			t.Errorf("NormalizeIP(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4/32", "fe80::1%eth0", "example.com", " 1.2.3.4", "1.2.3.4\n"} {
		if _, err := NormalizeIP(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeIP(%q) = %v; want ErrInvalid", in, err)
		}
	}
}

func TestEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if tb, err := TableFromEnv(env(nil)); tb != "relay" || err != nil {
		t.Errorf("TableFromEnv default = %q, %v", tb, err)
	}
	if tb, err := TableFromEnv(env(map[string]string{"RELAY_TABLE": "relay2"})); tb != "relay2" || err != nil {
		t.Errorf("TableFromEnv = %q, %v", tb, err)
	}
	for _, bad := range []string{"re lay", "relay`", "x;drop", strings.Repeat("t", 65)} {
		if _, err := TableFromEnv(env(map[string]string{"RELAY_TABLE": bad})); !errors.Is(err, ErrInvalid) {
			t.Errorf("TableFromEnv(%q) = %v", bad, err)
		}
	}
	if m, err := ClearMinutesFromEnv(env(nil)); m != 60 || err != nil {
		t.Errorf("ClearMinutesFromEnv default = %d, %v", m, err)
	}
	if m, err := ClearMinutesFromEnv(env(map[string]string{"RELAY_CLEAR_MINUTES": "15"})); m != 15 || err != nil {
		t.Errorf("ClearMinutesFromEnv = %d, %v", m, err)
	}
	if m, err := ClearMinutesFromEnv(env(map[string]string{"RELAY_CLEAR_MINUTES": strconv.Itoa(MaxMinutes)})); m != MaxMinutes || err != nil {
		t.Errorf("ClearMinutesFromEnv(MaxMinutes) = %d, %v", m, err)
	}
	for _, bad := range []string{"abc", "-5", "1.5", "200000000000000000", strconv.Itoa(MaxMinutes + 1), "99999999999999999999"} {
		if _, err := ClearMinutesFromEnv(env(map[string]string{"RELAY_CLEAR_MINUTES": bad})); !errors.Is(err, ErrInvalid) {
			t.Errorf("ClearMinutesFromEnv(%q) = %v", bad, err)
		}
	}
}

// A row IndiMail's login stored from TCP6REMOTEIP, in tcpserver's text for
// the address rather than RFC 5952's, is still found, listed and removed.
func TestIPv6TextForms(t *testing.T) {
	forms, err := ipForms("2001:db8:0:1:0:0:1:1")
	if err != nil {
		t.Fatal(err)
	}
	if want := [3]any{"2001:db8:0:1::1:1", "2001:db8:0:1::1:1", "2001:db8:0:1::1:1"}; forms != want {
		// RFC 5952 and both tcpservers agree here: one run of two zero groups.
		t.Errorf("ipForms = %v, want %v", forms, want)
	}
	forms, _ = ipForms("2001:db8:0:1:1:1:1:1")
	if want := [3]any{"2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"}; forms != want {
		t.Errorf("ipForms = %v, want %v", forms, want)
	}
	forms, _ = ipForms("1:0:0:2:0:0:0:3")
	if want := [3]any{"1:0:0:2::3", "1:0:0:2::3", "1::2:0:0:0:3"}; forms != want {
		t.Errorf("ipForms = %v, want %v", forms, want)
	}
	now := time.Unix(1_800_000_000, 0)
	forEachBackend(t, func(t *testing.T, s *Store) {
		// As IndiMail's login writes it, with ucspi-tcp-ipv6's text.
		if _, err := s.db.Exec("INSERT INTO "+s.q.quoted+" (email, ipaddr, timestamp) VALUES (?, ?, ?)",
			"joe@example.com", "2001:db8::1:1:1:1:1", now.Unix()-60); err != nil {
			t.Fatal(err)
		}
		res, err := s.Check(ctxT(t), "joe@example.com", "2001:db8:0:1:1:1:1:1", now, 60)
		if err != nil || !res.Allowed() {
			t.Fatalf("Check = %+v, %v; want allowed", res, err)
		}
		if rows := mustList(t, s, Filter{IP: "2001:db8:0:1:1:1:1:1"}); len(rows) != 1 {
			t.Errorf("List by IP = %v", rows)
		}
		if n, err := s.Remove(ctxT(t), "", "2001:db8::1:1:1:1:1"); err != nil || n != 1 {
			t.Errorf("Remove = %d, %v", n, err)
		}
		// An IPv4 client as IndiMail built for IPv6 stores it.
		if _, err := s.db.Exec("INSERT INTO "+s.q.quoted+" (email, ipaddr, timestamp) VALUES (?, ?, ?)",
			"ann@example.com", "::ffff:198.51.100.7", now.Unix()-60); err != nil {
			t.Fatal(err)
		}
		if res, err := s.Check(ctxT(t), "ann@example.com", "198.51.100.7", now, 60); err != nil || !res.Allowed() {
			t.Errorf("Check of a ::ffff: row = %+v, %v; want allowed", res, err)
		}
	})
}

// The MySQL driver's own log lines ("[mysql] ... packets.go:58: unexpected EOF") never
// reach stderr; what they say ends up in the error Open returns.
func TestDriverLogNotOnStderr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // a server that hangs up at once
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The driver's default logger holds the os.Stderr of its init: swap descriptor 2.
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup2(int(w.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), "mysql://u:pw@tcp("+ln.Addr().String()+")/x", "relay")
	syscall.Dup2(saved, 2)
	syscall.Close(saved)
	w.Close()
	leaked, _ := io.ReadAll(r)
	r.Close()
	if len(leaked) > 0 {
		t.Errorf("the driver wrote on stderr: %q", leaked)
	}
	if !errors.Is(err, ErrDatabase) || !strings.Contains(err.Error(), "(driver: ") {
		t.Errorf("Open = %v; want ErrDatabase with the driver's explanation", err)
	}
	t.Log(err)
}

// A database that cannot be a relay table is ErrNotRelayTable (bad input, exit 100), not
// a database failure to retry: a file that is not SQLite, a table of that name with
// other columns or without the unique (email, ipaddr) key. Nothing is written to it.
func TestNotRelayTable(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "relay.txt")
	junk := []byte("this is not an SQLite database\n" + strings.Repeat("x", 200) + "\n")
	if err := os.WriteFile(notDB, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNotRelayTable) || errors.Is(err, ErrDatabase) {
			t.Errorf("%s: %v; want ErrNotRelayTable and not ErrDatabase", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	_, err := Open(context.Background(), notDB, "relay")
	check("not an SQLite file", err)
	if got, _ := os.ReadFile(notDB); !bytes.Equal(got, junk) {
		t.Errorf("Open changed the file that is not a database")
	}

	for name, ddl := range map[string]string{
		"other columns": "CREATE TABLE relay (user text, ip text, ts int)",
		"no unique key": "CREATE TABLE relay (email char(96), ipaddr char(46), timestamp int)",
	} {
		dsn := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".sqlite")
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = Open(context.Background(), dsn, "relay")
		check("SQLite, "+name, err)
	}

	t.Run(MySQL, func(t *testing.T) {
		be := mysqlBackend(t)
		s := openTest(t, be)
		if _, err := s.db.Exec("DROP TABLE " + s.q.quoted); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec("CREATE TABLE " + s.q.quoted + " (user char(96), ip char(46), ts int)"); err != nil {
			t.Fatal(err)
		}
		_, err := Open(context.Background(), be.DSN, be.Table)
		check("MySQL, other columns", err)
		if _, err := s.db.Exec("DROP TABLE " + s.q.quoted); err != nil { // dropTable cannot Open it
			t.Error(err)
		}
	})
}
