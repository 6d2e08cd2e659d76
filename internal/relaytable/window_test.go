package relaytable

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A window too long for a time.Duration is refused before the database is touched; the
// overflowed cutoff once lay in the future and made Clear delete live rows.
func TestWindowOverflow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		mustAdd(t, s, "live@example.com", "192.0.2.1", t0.Add(-time.Minute))
		for _, m := range []int{200000000000000000, MaxMinutes + 1, -1} {
			if n, err := s.Clear(ctx, t0, m); !errors.Is(err, ErrInvalid) || n != 0 {
				t.Errorf("Clear(%d minutes) = %d, %v; want ErrInvalid", m, n, err)
			}
			if _, err := s.Check(ctx, "live@example.com", "192.0.2.1", t0, m); !errors.Is(err, ErrInvalid) {
				t.Errorf("Check(%d minutes) = %v; want ErrInvalid", m, err)
			}
		}
		// The longest window is computed exactly: the row stays and is live.
		if n, err := s.Clear(ctx, t0, MaxMinutes); err != nil || n != 0 {
			t.Errorf("Clear(MaxMinutes) = %d, %v; want 0 rows", n, err)
		}
		if c, err := s.Check(ctx, "live@example.com", "192.0.2.1", t0, MaxMinutes); err != nil || !c.Allowed() {
			t.Errorf("Check(MaxMinutes) = %+v, %v; want allowed", c, err)
		}
		if n := countRows(t, s); n != 1 {
			t.Errorf("%d rows left, want 1", n)
		}
	})
}

// Check, Clear and Window.Live agree on every row around the cutoff: Clear deletes
// exactly the rows Live calls expired, Check allows exactly the live ones.
func TestWindowOneRule(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := ctxT(t)
		now := t0.Add(700 * time.Millisecond) // a fraction of a second must not shift the rule
		w, err := NewWindow(now, 60)
		if err != nil {
			t.Fatal(err)
		}
		var rows []Row
		for _, off := range []int64{-2, -1, 0, 1, 2} {
			r := Row{Email: fmt.Sprintf("u%d@example.com", off+2), IP: "192.0.2.9", Time: time.Unix(w.Cutoff()+off, 0)}
			rows = append(rows, r)
			mustAdd(t, s, r.Email, r.IP, r.Time)
		}
		wantLeft := 0
		for _, r := range rows {
			c, err := s.Check(ctx, r.Email, r.IP, now, 60)
			if err != nil {
				t.Fatal(err)
			}
			if c.Allowed() != w.Live(r) {
				t.Errorf("row at cutoff%+d: Check allowed %v, Live %v", r.Time.Unix()-w.Cutoff(), c.Allowed(), w.Live(r))
			}
			if w.Live(r) {
				wantLeft++
			} else if want := time.Duration(w.Cutoff()-r.Time.Unix()) * time.Second; c.ExpiredAgo != want {
				t.Errorf("row at cutoff%+d: ExpiredAgo %v, want %v", r.Time.Unix()-w.Cutoff(), c.ExpiredAgo, want)
			}
		}
		if wantLeft != 2 {
			t.Fatalf("Live calls %d of the rows at cutoff-2..+2 live, want 2 (only those after the cutoff)", wantLeft)
		}
		if _, err := s.Clear(ctx, now, 60); err != nil {
			t.Fatal(err)
		}
		for _, r := range mustList(t, s, Filter{}) {
			if !w.Live(r) {
				t.Errorf("Clear kept %s at cutoff%+d, which Live calls expired", r.Email, r.Time.Unix()-w.Cutoff())
			}
		}
		if n := countRows(t, s); n != wantLeft {
			t.Errorf("Clear left %d rows, want %d", n, wantLeft)
		}
	})
}
