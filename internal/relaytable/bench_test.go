package relaytable

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks over a big table (QMAILCTL_BENCH_ROWS, default 1,000,000; half expired):
//
//	go test ./internal/relaytable/ -run '^$' -bench . -benchtime 3x   # Clear: 3 purges of 500,000
//	go test ./internal/relaytable/ -run '^$' -bench Check               # Check: per lookup
//
// Both back ends run; MySQL needs QMAILCTL_TEST_MYSQL_DSN as for the tests.

func benchRows(b *testing.B) int {
	if v := os.Getenv("QMAILCTL_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("QMAILCTL_BENCH_ROWS=%q: want a number >= 1000", v)
		}
		return n
	}
	return 1_000_000
}

// rowAt is synthetic row i: 4 users per IP (a NAT or a shared office), 1000 domains; even
// rows expired (older than 60 minutes at now), odd rows live.
func rowAt(i int, now time.Time) (email, ip string, ts int64) {
	n := i / 4
	email = fmt.Sprintf("user%d@d%d.example", i, i%1000)
	ip = fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
	if i%2 == 0 {
		ts = now.Unix() - 7200 - int64(i%3600)
	} else {
		ts = now.Unix() - int64(i%3000)
	}
	return
}

// loadRows inserts rows from, from+step, ... below to with multi-row INSERTs in one
// transaction.
func loadRows(tb testing.TB, s *Store, from, to, step int, now time.Time) {
	tb.Helper()
	per := 1000 // 3000 placeholders per statement
	if s.backend == SQLite {
		per = 500
	}
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	args := make([]any, 0, 3*per)
	flush := func() {
		if len(args) == 0 {
			return
		}
		q := "INSERT INTO " + s.q.quoted + " (email, ipaddr, timestamp) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(args)/3), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tb.Fatalf("bulk insert: %v", err)
		}
		args = args[:0]
	}
	for i := from; i < to; i += step {
		e, ip, ts := rowAt(i, now)
		args = append(args, e, ip, ts)
		if len(args) == 3*per {
			flush()
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// benchStore opens a back end's store with n rows loaded, keeping the MySQL table only
// for the benchmark's life.
func benchStore(b *testing.B, be backendEnv, n int) *Store {
	s := openTest(b, be)
	start := time.Now()
	loadRows(b, s, 0, n, 1, t0)
	if s.backend == MySQL {
		if _, err := s.db.Exec("ANALYZE TABLE " + s.q.quoted); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: loaded %d rows in %v", be.Name, n, time.Since(start).Round(time.Millisecond))
	return s
}

func eachBenchBackend(b *testing.B, fn func(b *testing.B, be backendEnv)) {
	b.Run(SQLite, func(b *testing.B) {
		fn(b, backendEnv{Name: SQLite, DSN: "sqlite://" + b.TempDir() + "/relay.sqlite", Table: DefaultTable})
	})
	b.Run(MySQL, func(b *testing.B) { fn(b, mysqlBackend(b)) })
}

// BenchmarkClear times one Clear purging the expired half of the table; between
// iterations the purged rows are put back (untimed). b.Loop runs the body once per
// back end, so the table is loaded once.
func BenchmarkClear(b *testing.B) {
	n := benchRows(b)
	eachBenchBackend(b, func(b *testing.B, be backendEnv) {
		s := benchStore(b, be, n)
		// The plans of Clear's first batch: its bound, then its DELETE.
		cutoff := t0.Unix() - 3600
		var hi int64
		if err := s.db.QueryRow(s.q.clearBound, int64(math.MinInt64), cutoff).Scan(&hi); err != nil {
			b.Fatal(err)
		}
		b.Logf("%s clear plan: bound: %s; delete: %s", be.Name,
			strings.Join(explain(b, s, s.q.clearBound, int64(math.MinInt64), cutoff), "; "),
			strings.Join(explain(b, s, s.q.clearRange, int64(math.MinInt64), hi), "; "))
		ctx := context.Background()
		for b.Loop() {
			got, err := s.Clear(ctx, t0, 60)
			if err != nil {
				b.Fatal(err)
			}
			if want := int64((n + 1) / 2); got != want {
				b.Fatalf("Clear removed %d, want %d", got, want)
			}
			b.StopTimer()
			loadRows(b, s, 0, n, 2, t0)
			b.StartTimer()
		}
		b.ReportMetric(float64(n/2)/(b.Elapsed().Seconds()/float64(b.N)), "rows/s")
	})
}

// BenchmarkCheck times Check against the full table: a hit (one ipaddr lookup) and a
// miss whose diagnosis adds the email lookup.
func BenchmarkCheck(b *testing.B) {
	n := benchRows(b)
	eachBenchBackend(b, func(b *testing.B, be backendEnv) {
		s := benchStore(b, be, n)
		b.Logf("%s check plan: by ipaddr: %s; by email: %s", be.Name,
			strings.Join(explain(b, s, s.q.byIP, "10.0.1.2", "10.0.1.2", "10.0.1.2"), "; "),
			strings.Join(explain(b, s, s.q.byEmail, "user7@d7.example"), "; "))
		ctx := context.Background()
		b.Run("hit", func(b *testing.B) {
			i := 0
			for b.Loop() {
				k := (i*7919)%(n/2)*2 + 1 // a live (odd) row
				e, ip, _ := rowAt(k, t0)
				c, err := s.Check(ctx, e, ip, t0, 60)
				if err != nil || !c.Allowed() {
					b.Fatalf("Check(%s, %s) = %+v, %v", e, ip, c, err)
				}
				i++
			}
		})
		b.Run("miss-diagnosed", func(b *testing.B) {
			i := 0
			for b.Loop() {
				k := (i * 7919) % (n / 2) * 2 // an expired (even) row
				e, ip, _ := rowAt(k, t0)
				c, err := s.Check(ctx, e, ip, t0, 60)
				if err != nil || c.Allowed() || c.Expired == nil {
					b.Fatalf("Check(%s, %s) = %+v, %v", e, ip, c, err)
				}
				i++
			}
		})
	})
}
