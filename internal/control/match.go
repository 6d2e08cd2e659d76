package control

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/cdb"
)

// Match is the answer of one lookup, with what a trace needs to explain it.
type Match struct {
	// Matched is the documented meaning: the file lets the client or sender
	// relay (for rcpthosts: the recipient is accepted as local).
	Matched bool
	// Entry is the deciding line; nil when nothing matched, when the file is
	// missing, or when a cdb decided.
	Entry *Entry
	// Source is the file that decided ("relayclients", "morercpthosts.cdb",
	// ...); "" when nothing matched.
	Source string
	// Probe is the key that hit; Probes every key tried, in order.
	Probe  string
	Probes []string
	// Append is the documented string appended to every recipient
	// (relayclients and relaydomains: the text after the colon).
	Append string
	// Reason is one sentence for a trace.
	Reason string
	// IndiMail is what IndiMail's qmail-smtpd code really does.
	IndiMail Actual
	// Warnings explain where IndiMail differs from the documented meaning,
	// or what is risky about the match.
	Warnings []string
}

// Actual is IndiMail's real result for a lookup. It differs from the
// documented one for colon lines (never matched), CRLF lines (never matched)
// and the string appended to recipients (the next line's text).
type Actual struct {
	// Matched: IndiMail grants relaying (rcpthosts: accepts as local).
	Matched bool
	// Entry is the line IndiMail matched; nil when a cdb decided or
	// nothing matched.
	Entry *Entry
	// Append is the string IndiMail appends to every recipient; when
	// AppendUnknown is set it is whatever lies past the file's data in
	// memory, which cannot be predicted.
	Append        string
	AppendUnknown bool
}

// ClientProbes are the keys qmail-smtpd looks up in relayclients for a
// client IP: the whole address, then each shorter prefix ending just after a
// dot (10.1.1.5, 10.1.1., 10.1., 10.).
func ClientProbes(ip string) []string {
	var out []string
	for i := len(ip); i > 0; i-- {
		if i == len(ip) || ip[i-1] == '.' {
			out = append(out, ip[:i])
		}
	}
	return out
}

// HostProbes are the keys qmail-smtpd looks up in relaydomains for a client
// host name: the whole name, each suffix starting at a dot, then the empty
// string (a.b.example.com, .b.example.com, .example.com, .com, "").
func HostProbes(host string) []string {
	var out []string
	for i := 0; i <= len(host); i++ {
		if i == 0 || i == len(host) || host[i] == '.' {
			out = append(out, host[i:])
		}
	}
	return out
}

// DomainProbes are the keys qmail-smtpd looks up in rcpthosts and
// morercpthosts.cdb for a recipient domain (already lower-cased): the whole
// domain, then each suffix starting at a dot.
func DomainProbes(domain string) []string {
	var out []string
	for i := 0; i < len(domain); i++ {
		if i == 0 || domain[i] == '.' {
			out = append(out, domain[i:])
		}
	}
	return out
}

// MatchClient looks the client IP up in relayclients (f may be nil or
// missing). ip is TCPREMOTEIP (TCP6REMOTEIP on IPv6 builds), as given.
func (f *File) MatchClient(ip string) Match {
	return f.matchWhole(RelayClients, ip, ClientProbes(ip))
}

// MatchHost looks the client host name up in relaydomains (f may be nil or
// missing). host is TCPREMOTEHOST; an empty host is "unknown", as in
// qmail-smtpd.
func (f *File) MatchHost(host string) Match {
	if host == "" {
		host = "unknown"
	}
	return f.matchWhole(RelayDomains, host, HostProbes(host))
}

// matchWhole runs the constmap lookup of relayclients or relaydomains.
func (f *File) matchWhole(kind Kind, subject string, probes []string) Match {
	m := Match{Probes: probes}
	name := kind.Name()
	if f == nil || !f.Exists {
		m.Reason = name + " does not exist"
		return m
	}
	name = f.Kind.Name()
	doc, docProbe := f.lookup(probes, docKey)
	real, _ := f.lookup(probes, func(e *Entry) string {
		if !e.IndiMailMatches() {
			return "\x00" // never equal to a probe
		}
		return e.Text
	})
	if doc == nil {
		m.Warnings = append(m.Warnings, crWarning(f, probes)...)
	}
	if doc != nil {
		m.Matched, m.Entry, m.Source, m.Probe, m.Append = true, doc, name, docProbe, doc.Value
		m.Reason = fmt.Sprintf("%s line %d %s matches %s (key %s)", name, doc.Line, quoteText(doc.Text), subject, quoteText(docProbe))
		if doc.Value != "" {
			m.Warnings = append(m.Warnings, fmt.Sprintf("the documented meaning of %s line %d appends %s to every recipient", name, doc.Line, quoteText(doc.Value)))
		}
	} else {
		m.Reason = fmt.Sprintf("%s has no entry for %s", name, listProbes(probes))
	}
	if real != nil {
		m.IndiMail = Actual{Matched: true, Entry: real}
		m.IndiMail.Append, _ = real.IndiMailAppend()
		m.IndiMail.AppendUnknown = real.pastEnd
	}
	switch {
	case doc != nil && real == nil:
		m.Warnings = append(m.Warnings, fmt.Sprintf("IndiMail's qmail-smtpd never matches %s line %d %s (%s), so it does not relay for this client",
			name, doc.Line, quoteText(doc.Text), whyNever(doc)))
	case doc != nil && real != doc:
		m.Warnings = append(m.Warnings, fmt.Sprintf("IndiMail's qmail-smtpd never matches %s line %d %s (%s); it matches line %d %s instead",
			name, doc.Line, quoteText(doc.Text), whyNever(doc), real.Line, quoteText(real.Text)))
	}
	if real != nil {
		if real.pastEnd {
			m.Warnings = append(m.Warnings, fmt.Sprintf("IndiMail appends unpredictable bytes to every recipient when %s line %d matches (it is the last line; its \"value\" lies past the file's data)", name, real.Line))
		} else {
			m.Warnings = append(m.Warnings, fmt.Sprintf("IndiMail appends the next line's text %s to every recipient when %s line %d matches", quoteText(real.next), name, real.Line))
		}
	}
	return m
}

// docKey is an entry's key in the documented meaning. A line ending in "\r"
// (a CRLF file) has the "\r" in its key in every qmail, documented or not,
// so it never matches.
func docKey(e *Entry) string {
	if e.CR {
		return "\x00"
	}
	return e.Key
}

// crWarning says which line would have matched but for its "\r".
func crWarning(f *File, probes []string) []string {
	cr, _ := f.lookup(probes, func(e *Entry) string {
		if e.CR {
			return e.Key
		}
		return "\x00"
	})
	if cr == nil {
		return nil
	}
	return []string{fmt.Sprintf("%s line %d %s ends in \"\\r\" (a CRLF file), so qmail never matches it: convert the file with dos2unix",
		f.Kind.Name(), cr.Line, quoteText(cr.Text))}
}

func whyNever(e *Entry) string {
	if e.CR {
		return `it ends in "\r"`
	}
	return "the colon is part of its key"
}

// lookup returns the entry whose key (as given by keyOf) equals the first
// probe that has one, and that probe. Among equal keys the last line wins,
// as in constmap, whose hash chains put later lines first.
func (f *File) lookup(probes []string, keyOf func(*Entry) string) (*Entry, string) {
	for _, p := range probes {
		var hit *Entry
		for i := range f.Entries {
			if equalFoldASCII(keyOf(&f.Entries[i]), p) {
				hit = &f.Entries[i]
			}
		}
		if hit != nil {
			return hit, p
		}
	}
	return nil, ""
}

// CDB is a cdb lookup (*cdb.Reader is one); a nil CDB is a missing cdb.
type CDB interface {
	Get(key []byte) (data []byte, ok bool, err error)
}

// MatchRcptHost decides whether the recipient address rcpt is local, as
// qmail-smtpd's rcpthosts() does: an address without @ is always allowed;
// otherwise the text after the last @, lower-cased, is probed whole and then
// by each suffix starting at a dot, first in rcpthosts, then in
// morercpthosts.cdb (more, nil when absent). A missing rcpthosts (nil or
// Exists false) allows everything (an open relay) and more is not
// consulted; an empty one allows nothing but addresses without @. The error
// is a cdb read error.
func MatchRcptHost(rcpthosts *File, more CDB, rcpt string) (Match, error) {
	m := Match{}
	if rcpthosts == nil || !rcpthosts.Exists {
		m.Matched, m.Source, m.IndiMail.Matched = true, "rcpthosts", true
		m.Reason = "rcpthosts does not exist: every recipient is accepted, the server is an open relay"
		m.Warnings = append(m.Warnings, "rcpthosts is missing: this server is an open relay (IndiMail's run script refuses to start without it)")
		return m, nil
	}
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		m.Matched, m.IndiMail.Matched = true, true
		m.Reason = fmt.Sprintf("%s has no @: a local address is always allowed", quoteText(rcpt))
		return m, nil
	}
	domain := LowerASCII(rcpt[at+1:])
	m.Probes = DomainProbes(domain)
	doc, docProbe := rcpthosts.lookup(m.Probes, docKey)
	real, _ := rcpthosts.lookup(m.Probes, func(e *Entry) string {
		if !e.IndiMailMatches() {
			return "\x00"
		}
		return e.Key
	})
	if doc == nil {
		m.Warnings = append(m.Warnings, crWarning(rcpthosts, m.Probes)...)
	}
	if real != nil {
		m.IndiMail = Actual{Matched: true, Entry: real}
	}
	if doc != nil {
		m.Matched, m.Entry, m.Source, m.Probe = true, doc, "rcpthosts", docProbe
		m.Reason = fmt.Sprintf("rcpthosts line %d %s matches %s", doc.Line, quoteText(doc.Text), domain)
	}
	if doc == nil || real == nil {
		why := fmt.Sprintf("rcpthosts has no entry for %s", listProbes(m.Probes))
		hit := ""
		if more != nil {
			for _, p := range m.Probes {
				_, ok, err := more.Get([]byte(p))
				if err != nil {
					return m, fmt.Errorf("morercpthosts.cdb: %w", err)
				}
				if ok {
					hit = p
					break
				}
			}
			if hit == "" {
				why += "; nor has morercpthosts.cdb"
			}
		}
		if hit != "" {
			m.IndiMail.Matched = true
			if doc == nil {
				m.Matched, m.Source, m.Probe = true, "morercpthosts.cdb", hit
				m.Reason = fmt.Sprintf("morercpthosts.cdb has the key %s for %s", hit, domain)
			}
		} else if doc == nil {
			m.Reason = why
		}
	}
	if m.Matched != m.IndiMail.Matched {
		m.Warnings = append(m.Warnings, fmt.Sprintf("IndiMail's qmail-smtpd never matches rcpthosts line %d %s (it ends in \"\\r\"), so it treats %s as remote", doc.Line, quoteText(doc.Text), domain))
	}
	if !m.Matched && domain != "" {
		if sub := rcpthosts.lookupSubdomainOnly(domain); sub != nil {
			m.Warnings = append(m.Warnings, fmt.Sprintf("rcpthosts line %d %s matches only subdomains of %s, not %s itself", sub.Line, quoteText(sub.Text), domain, domain))
		}
	}
	return m, nil
}

// lookupSubdomainOnly finds a ".domain" line for domain, the classic reason
// why mail to the bare domain is refused.
func (f *File) lookupSubdomainOnly(domain string) *Entry {
	for i := range f.Entries {
		if equalFoldASCII(f.Entries[i].Key, "."+domain) {
			return &f.Entries[i]
		}
	}
	return nil
}

// OpenCDB opens kind's cdb (relaymailfrom.cdb or morercpthosts.cdb) in the
// control directory dir for MatchSender and MatchRcptHost. A missing cdb is
// not an error: the Reader is nil.
func OpenCDB(kind Kind, dir string) (*cdb.Reader, error) {
	name := kind.CDBName()
	if name == "" {
		return nil, fmt.Errorf("%s is not compiled into a cdb", kind.Name())
	}
	r, err := cdb.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return r, nil
}

// listProbes renders probe keys for a trace: "10.1.1.5, 10.1.1., 10.1., 10.".
func listProbes(probes []string) string {
	if len(probes) == 0 {
		return "no key"
	}
	out := make([]string, len(probes))
	for i, p := range probes {
		if p == "" {
			p = `"" (the empty key)`
		}
		out[i] = p
	}
	return strings.Join(out, ", ")
}
