package relaytable

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxMinutes is the longest relay window qmailctl accepts: the most minutes a
// time.Duration holds (about 292 years). Longer windows are refused rather than
// computed, because minutes*60 seconds would overflow and wrap round: a huge
// window must never turn into a cutoff in the future that expires every row.
const MaxMinutes = int(math.MaxInt64 / int64(time.Minute))

// Window is the relay window (RELAY_CLEAR_MINUTES) applied at one moment. It is the one
// place that says which rows are live: Check, Clear and the CLI's list all ask it.
type Window struct {
	Now     time.Time
	Minutes int
}

// NewWindow checks minutes (0 to MaxMinutes) and returns the window ending at now.
func NewWindow(now time.Time, minutes int) (Window, error) {
	if err := CheckMinutes("minutes", minutes); err != nil {
		return Window{}, err
	}
	return Window{Now: now, Minutes: minutes}, nil
}

// CheckMinutes refuses a relay window below 0 or above MaxMinutes; field names the
// setting in the error ("--minutes", "RELAY_CLEAR_MINUTES").
func CheckMinutes(field string, minutes int) error {
	if minutes < 0 || minutes > MaxMinutes {
		return invalid(field, strconv.Itoa(minutes), "want a whole number of minutes from 0 to %d (about 292 years)", MaxMinutes)
	}
	return nil
}

// ParseMinutes reads a relay window given as text (RELAY_CLEAR_MINUTES) and checks it
// like CheckMinutes. IndiMail uses atoi and so reads junk as 0 (expire everything);
// qmailctl refuses it.
func ParseMinutes(field, v string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > int64(MaxMinutes) {
		return 0, invalid(field, v, "want a whole number of minutes from 0 to %d (about 292 years)", MaxMinutes)
	}
	return int(n), nil
}

// Cutoff is the Unix second at or before which a row has expired: now - minutes*60,
// with now truncated to the second as IndiMail's time(0) is. It cannot overflow: the
// window is at most MaxMinutes.
func (w Window) Cutoff() int64 { return w.Now.Unix() - int64(w.Minutes)*60 }

// Live reports whether row r still grants relaying: its timestamp is after Cutoff. A
// NULL timestamp (the zero time) is never live.
func (w Window) Live(r Row) bool { return !r.Time.IsZero() && r.Time.Unix() > w.Cutoff() }

// ExpiredAgo is how long ago row r stopped being live (row time + minutes), 0 while it
// is live. An expired row's time is at most a few billion seconds before now, so the
// Duration cannot overflow.
func (w Window) ExpiredAgo(r Row) time.Duration {
	d := w.Cutoff() - r.Time.Unix()
	if d <= 0 || r.Time.IsZero() {
		return 0
	}
	return time.Duration(d) * time.Second
}

// String describes the window for messages: "60 minutes".
func (w Window) String() string { return fmt.Sprintf("%d minutes", w.Minutes) }
