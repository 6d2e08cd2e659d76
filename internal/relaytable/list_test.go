package relaytable

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Each gives every row once, in List's order, whatever the size of its chunks: rows
// sharing a second, emails differing only in case, one email at several IPs, NULL
// timestamps last.
func TestEachChunks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		var want []Row
		add := func(email, ip string, ts *time.Time) {
			if ts == nil {
				if _, err := s.db.Exec("INSERT INTO "+s.q.quoted+" (email, ipaddr, timestamp) VALUES (?, ?, NULL)", email, ip); err != nil {
					t.Fatal(err)
				}
				want = append(want, Row{Email: email, IP: ip})
				return
			}
			mustAdd(t, s, email, ip, *ts)
			want = append(want, Row{Email: email, IP: ip, Time: time.Unix(ts.Unix(), 0)})
		}
		for i := 0; i < 23; i++ {
			at := t0.Add(-time.Duration(i%4) * time.Second) // 4 distinct seconds
			email := fmt.Sprintf("user%d@example.com", i%5)
			if i%2 == 1 {
				email = strings.ToUpper(email[:1]) + email[1:] // User3@... sorts among user*@
			}
			add(email, fmt.Sprintf("192.0.2.%d", i), &at)
		}
		add("null1@example.com", "192.0.2.1", nil)
		add("Null0@example.com", "192.0.2.2", nil)
		add("null0@example.com", "192.0.2.3", nil)
		// The reference order: newest first, NULL last, then email without case, then IP.
		sort.SliceStable(want, func(i, j int) bool {
			a, b := want[i], want[j]
			if a.Time.IsZero() != b.Time.IsZero() {
				return b.Time.IsZero()
			}
			if !a.Time.Equal(b.Time) {
				return a.Time.After(b.Time)
			}
			if ea, eb := strings.ToLower(a.Email), strings.ToLower(b.Email); ea != eb {
				return ea < eb
			}
			return a.IP < b.IP
		})
		defer func(n int) { listChunk = n }(listChunk)
		for _, chunk := range []int{1, 2, 3, 5, 26, 27, 1000} {
			listChunk = chunk
			if got := fmtRows(mustList(t, s, Filter{})); got != fmtRows(want) {
				t.Errorf("chunks of %d:\ngot:\n%s\nwant:\n%s", chunk, got, fmtRows(want))
			}
		}
		// A filter applies in every chunk.
		listChunk = 2
		got := mustList(t, s, Filter{Email: "USER1@example.com"})
		var wantF []Row
		for _, r := range want {
			if strings.EqualFold(r.Email, "user1@example.com") {
				wantF = append(wantF, r)
			}
		}
		if fmtRows(got) != fmtRows(wantF) || len(got) == 0 {
			t.Errorf("filtered:\ngot:\n%s\nwant:\n%s", fmtRows(got), fmtRows(wantF))
		}
		// fn's error ends Each and comes back as it was.
		stop := errors.New("stop")
		n := 0
		err := s.Each(ctxT(t), Filter{}, func(Row) error {
			if n++; n == 4 {
				return stop
			}
			return nil
		})
		if err != stop || n != 4 {
			t.Errorf("Each after fn failed: %v after %d rows; want stop after 4", err, n)
		}
	})
}

// While Each's caller is busy with a row (writing to a pager nobody reads), an SQLite
// writer is not kept waiting: no query is open between chunks.
func TestEachHoldsNoLock(t *testing.T) {
	be := backendEnv{Name: SQLite, DSN: "sqlite://" + t.TempDir() + "/relay.sqlite", Table: DefaultTable}
	s := openTest(t, be)
	for i := 0; i < 5; i++ {
		mustAdd(t, s, fmt.Sprintf("u%d@example.com", i), "192.0.2.1", t0)
	}
	w := openTest(t, be)
	w.lockWait = 0 // a lock conflict would fail the write
	defer func(n int) { listChunk = n }(listChunk)
	listChunk = 2
	n := 0
	err := s.Each(ctxT(t), Filter{}, func(r Row) error {
		n++
		return w.Add(ctxT(t), fmt.Sprintf("w%d@example.com", n), "192.0.2.2", t0.Add(time.Hour)) // before the keyset: never listed
	})
	if err != nil {
		t.Fatalf("a write during Each, after %d rows: %v", n, err)
	}
	if n != 5 {
		t.Errorf("Each gave %d rows, want the 5 there before", n)
	}
}
