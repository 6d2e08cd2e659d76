package control

import (
	"fmt"
	"strings"

	"github.com/qmailctl/qmailctl/internal/cdb"
)

// matchSenderRef is the reference model of relaymailfrom that the fast
// matcher (MatchSenderText, LookupSenderCDB) is tested against: it decides relaymailfrom for the envelope sender addr the way
// IndiMail's address_match does with QREGEX unset: the sender is
// lower-cased; relaymailfrom.cdb (rmfCDB, nil when absent) is searched first
// and only with the full address; then, if the text file exists (rmf may be
// nil or missing), an exact line, then @domain from the last @, then the
// wildmat patterns in order, where "!" negates and the last matching line
// wins. relaymailfrom.sql is not modelled. The error is a cdb read error.
func matchSenderRef(rmf *File, rmfCDB *cdb.Reader, addr string) (Match, error) {
	a := LowerASCII(addr)
	m := Match{}
	var why []string
	if rmfCDB != nil {
		m.Probes = append(m.Probes, a)
		if a != "" {
			_, ok, err := rmfCDB.Get([]byte(a))
			if err != nil {
				return m, fmt.Errorf("relaymailfrom.cdb: %w", err)
			}
			if ok {
				m.Matched, m.Source, m.Probe = true, "relaymailfrom.cdb", a
				m.Reason = fmt.Sprintf("relaymailfrom.cdb has the address %s", a)
				m.IndiMail = Actual{Matched: true}
				return m, nil
			}
		}
		why = append(why, "relaymailfrom.cdb has no key "+quoteText(a))
		if at := strings.LastIndexByte(a, '@'); at >= 0 {
			if _, ok, err := rmfCDB.Get([]byte(a[at:])); err != nil {
				return m, fmt.Errorf("relaymailfrom.cdb: %w", err)
			} else if ok {
				m.Warnings = append(m.Warnings, fmt.Sprintf("relaymailfrom.cdb has the key %s, but IndiMail looks up only the full address in the cdb, so it never matches there", a[at:]))
			}
		}
	}
	if rmf == nil || !rmf.Exists {
		why = append(why, "relaymailfrom does not exist")
		if rmfCDB != nil {
			m.Warnings = append(m.Warnings, "relaymailfrom is missing (qmail-cdb -m moves it to relaymailfrom.bak): its @domain lines and patterns are not used")
		}
		m.Reason = strings.Join(why, "; ")
		return m, nil
	}
	doc := rmf.senderLookup(a, false)
	real := rmf.senderLookup(a, true)
	for _, p := range doc.probes {
		if len(m.Probes) == 0 || m.Probes[0] != p {
			m.Probes = append(m.Probes, p)
		}
	}
	m.Matched, m.Entry, m.Probe = doc.matched, doc.entry, doc.probe
	if doc.entry != nil {
		m.Source = "relaymailfrom"
	}
	m.IndiMail = Actual{Matched: real.matched, Entry: real.entry}
	m.Reason = strings.Join(append(why, doc.reason), "; ")
	if doc.matched != real.matched || doc.entry != real.entry {
		m.Warnings = append(m.Warnings, "IndiMail's qmail-smtpd decides differently because of CRLF line endings: "+real.reason)
	}
	if o := doc.overridden; o != nil && doc.matched {
		m.Warnings = append(m.Warnings, fmt.Sprintf("relaymailfrom line %d %s would refuse this sender, but the exact-address and @domain lines are checked before patterns", o.Line, quoteText(o.Text)))
	}
	if doc.matched {
		m.Warnings = append(m.Warnings, "relaymailfrom trusts the MAIL FROM, which anyone can forge; the grant lasts for the rest of the SMTP session")
	}
	return m, nil
}

type senderResult struct {
	matched    bool
	entry      *Entry
	probe      string
	probes     []string
	reason     string
	overridden *Entry // a negated pattern matching the sender that an earlier step made moot
}

// senderLookup is IndiMail's wildmat_match on the lower-cased sender a.
// indimail drops lines that IndiMail can never match (CRLF).
func (f *File) senderLookup(a string, indimail bool) senderResult {
	usable := func(e *Entry) bool { return !indimail || e.IndiMailMatches() }
	r := senderResult{probes: []string{a}}
	exact := func(key string) *Entry {
		var hit *Entry
		for i := range f.Entries {
			if e := &f.Entries[i]; usable(e) && equalFoldASCII(e.body(), key) {
				hit = e
			}
		}
		return hit
	}
	// The wildmat step: the last matching line decides.
	var last *Entry
	for i := range f.Entries {
		if e := &f.Entries[i]; usable(e) && Wildmat(e.Key, a) {
			last = e
		}
	}
	var refusing *Entry // what the wildmat step alone would decide, if a negation
	if last != nil && last.Negate {
		refusing = last
	}
	if e := exact(a); e != nil {
		r.matched, r.entry, r.probe = true, e, a
		r.reason = fmt.Sprintf("relaymailfrom line %d %s is the address %s", e.Line, quoteText(e.Text), a)
		r.overridden = refusing
		return r
	}
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		d := a[at:]
		r.probes = append(r.probes, d)
		if e := exact(d); e != nil {
			r.matched, r.entry, r.probe = true, e, d
			r.reason = fmt.Sprintf("relaymailfrom line %d %s matches the domain of %s", e.Line, quoteText(e.Text), a)
			r.overridden = refusing
			return r
		}
	}
	r.entry = last
	switch e := r.entry; {
	case e == nil:
		r.reason = fmt.Sprintf("relaymailfrom has no line for %s and no pattern matches", listProbes(r.probes))
	case e.Negate:
		r.reason = fmt.Sprintf("the last matching pattern, relaymailfrom line %d %s, is a negation: %s may not relay", e.Line, quoteText(e.Text), a)
	default:
		r.matched, r.probe = true, a
		r.reason = fmt.Sprintf("relaymailfrom line %d %s is the last pattern matching %s", e.Line, quoteText(e.Text), a)
	}
	return r
}
