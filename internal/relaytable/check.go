package relaytable

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// CheckResult is qmail-smtpd's CHECKRELAY decision for one sender and IP, plus why no
// row matched, for a trace. Allowed() is true when Match is set.
type CheckResult struct {
	From   string // the sender as given
	IP     string // the IP as stored (see NormalizeIP)
	Window Window // the window the rows were judged by

	// Match is the live row for From at IP (case-insensitive, whole address).
	Match *Row

	// Diagnosis, filled only when Match is nil:

	// OtherSenders are live rows for IP whose email differs from From.
	OtherSenders []Row
	// Expired is the row for From at IP that is no longer live, and ExpiredAgo how long
	// ago it stopped being live (row time + minutes).
	Expired    *Row
	ExpiredAgo time.Duration
	// OtherIPs are rows (live or expired) for From at other IPs.
	OtherIPs []Row
	// IndiMailPrefix lists the live OtherSenders that IndiMail's qmail-smtpd would still
	// accept: it compares strncasecmp(email, from, strlen(from)), so a MAIL FROM that is a
	// prefix of a stored email (user@dom for user@domain.com; "" for anything) matches.
	// qmailctl matches whole addresses only and reports the difference here.
	IndiMailPrefix []Row
}

// Allowed reports whether a live row lets From relay from IP.
func (c *CheckResult) Allowed() bool { return c.Match != nil }

// Check answers what qmail-smtpd with CHECKRELAY asks: may from relay from ip at now,
// given RELAY_CLEAR_MINUTES minutes? Window decides which rows are live.
//
// from may be "" (the null sender), which never matches. The decision is one lookup on
// index(ipaddr); only when it fails does a second lookup by email (the prefix of the unique
// (email, ipaddr) key) gather the other IPs. No other index is needed.
func (s *Store) Check(ctx context.Context, from, ip string, now time.Time, minutes int) (*CheckResult, error) {
	if from != "" {
		if err := ValidateEmail(from); err != nil {
			return nil, err
		}
	}
	nip, err := NormalizeIP(ip)
	if err != nil {
		return nil, err
	}
	w, err := NewWindow(now, minutes)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{From: from, IP: nip, Window: w}

	forms, err := ipForms(nip)
	if err != nil {
		return nil, err
	}
	var atIP []Row
	err = s.retry(ctx, "check by ipaddr", func() error {
		atIP = atIP[:0]
		rows, err := s.db.QueryContext(ctx, s.q.byIP, forms[:]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := Row{IP: nip}
			var ts sql.NullInt64
			if err := rows.Scan(&r.Email, &ts); err != nil {
				return err
			}
			r.Time = fromUnix(ts)
			atIP = append(atIP, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}

	live := w.Live
	for i := range atIP {
		r := atIP[i]
		if from != "" && strings.EqualFold(r.Email, from) {
			if live(r) {
				res.Match = &r
				return res, nil
			}
			if !r.Time.IsZero() {
				res.Expired = &r
				res.ExpiredAgo = w.ExpiredAgo(r)
			}
			continue
		}
		if live(r) {
			res.OtherSenders = append(res.OtherSenders, r)
			if len(from) < len(r.Email) && strings.EqualFold(r.Email[:len(from)], from) {
				res.IndiMailPrefix = append(res.IndiMailPrefix, r)
			}
		}
	}
	if from == "" {
		return res, nil
	}

	var all []Row
	err = s.retry(ctx, "check by email", func() error {
		others, err := s.db.QueryContext(ctx, s.q.byEmail, from)
		if err != nil {
			return err
		}
		all, err = scanRows(others)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, r := range all {
		if r.IP != nip {
			res.OtherIPs = append(res.OtherIPs, r)
		}
	}
	return res, nil
}
