package control

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// SenderHit is the relaymailfrom line that decided, for one reading of the
// file (as documented, or as IndiMail's code reads it).
type SenderHit struct {
	Matched bool
	Line    int // 0: no line decided
	Text    string
	How     string // "address", "domain", "pattern", "negation"
}

// SenderText is the text-file part of relaymailfrom for one sender.
type SenderText struct {
	Doc, Real  SenderHit // the documented reading, and IndiMail's code's
	Probes     []string
	Overridden *SenderHit // a negation that the address or @domain step made moot
	CRLines    int        // lines ending in "\r", which IndiMail never matches
}

// MatchSenderText is the relaymailfrom matcher the relay engine uses: it
// runs IndiMail's wildmat_match (QREGEX unset) over the
// relaymailfrom text for the lower-cased sender a, in one pass without
// allocating per line: an exact line (case-insensitive) wins, then @domain
// taken from the last @, then the wildmat patterns, where the last matching
// line decides and "!" negates. Lines that can match neither way (no
// pattern byte and the wrong length) are skipped without a comparison. The documented reading ignores a trailing
// "\r"; IndiMail's code keeps it, so such lines never match there.
func MatchSenderText(data []byte, a string) SenderText {
	var r SenderText
	r.Probes = []string{a}
	domain := ""
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		domain = a[at:]
		r.Probes = append(r.Probes, domain)
	}
	type tracker struct{ exact, dom, wild SenderHit }
	var doc, real tracker
	metas := metaOffsets(data)
	for num, start := 1, 0; start < len(data); num++ {
		end := len(data)
		if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
			end = start + i
		}
		line := data[start:end]
		lineStart := start
		start = end + 1
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
			line = line[:len(line)-1]
		}
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		cr := line[len(line)-1] == '\r'
		if cr {
			r.CRLines++
		}
		// Most lines cannot match: no pattern byte, and not the length
		// of the address, of @domain, or of !address.
		for len(metas) > 0 && metas[0] < lineStart {
			metas = metas[1:]
		}
		hasMeta := len(metas) > 0 && metas[0] < end
		if n := len(line); !hasMeta && !cr && n != len(a) && n != len(domain) && n != len(a)+1 {
			continue
		}
		body := line
		if cr {
			body = bytes.TrimRight(line[:len(line)-1], " \t")
			if len(body) == 0 {
				continue
			}
		}
		exact := len(body) == len(a) && equalFoldBytes(body, a)
		dom := domain != "" && len(body) == len(domain) && equalFoldBytes(body, domain)
		key, neg := body, false
		if len(body) > 1 && body[0] == '!' {
			key, neg = body[1:], true
		}
		var wild bool
		if hasMeta {
			wild = Wildmat(string(key), a)
		} else {
			wild = string(key) == a
		}
		if !exact && !dom && !wild {
			continue
		}
		hit := SenderHit{Line: num, Text: string(body)}
		set := func(t *tracker) {
			if exact {
				h := hit
				h.Matched, h.How = true, "address"
				t.exact = h
			}
			if dom {
				h := hit
				h.Matched, h.How = true, "domain"
				t.dom = h
			}
			if wild {
				h := hit
				h.Matched, h.How = !neg, "pattern"
				if neg {
					h.How = "negation"
				}
				t.wild = h
			}
		}
		set(&doc)
		if !cr {
			set(&real)
		}
	}
	pick := func(t tracker) SenderHit {
		switch {
		case t.exact.Line > 0:
			return t.exact
		case t.dom.Line > 0:
			return t.dom
		}
		return t.wild
	}
	r.Doc, r.Real = pick(doc), pick(real)
	if r.Doc.How == "address" || r.Doc.How == "domain" {
		if doc.wild.How == "negation" {
			w := doc.wild
			r.Overridden = &w
		}
	}
	return r
}

// metaOffsets returns, in order, the offsets of the wildmat metacharacters
// * ? [ \ in data, found with one memchr-speed pass per character.
func metaOffsets(data []byte) []int {
	var out []int
	for _, c := range []byte{'*', '?', '[', '\\'} {
		for from := 0; ; {
			i := bytes.IndexByte(data[from:], c)
			if i < 0 {
				break
			}
			out = append(out, from+i)
			from += i + 1
		}
	}
	slices.Sort(out)
	return out
}

// Describe says, for a trace, how a relaymailfrom line decided.
func (h SenderHit) Describe(a string) string {
	switch h.How {
	case "address":
		return fmt.Sprintf("line %d %q is the address %s", h.Line, h.Text, a)
	case "domain":
		return fmt.Sprintf("line %d %q matches the domain of %s", h.Line, h.Text, a)
	case "pattern":
		return fmt.Sprintf("line %d %q is the last pattern matching %s", h.Line, h.Text, a)
	case "negation":
		return fmt.Sprintf("the last matching pattern, line %d %q, is a negation: %s may not relay", h.Line, h.Text, a)
	}
	return ""
}

// equalFoldBytes compares as constmap does: ASCII case folded.
func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// LookupSenderCDB is relaymailfrom.cdb's half of the relaymailfrom
// matcher: IndiMail looks up only the full lower-cased sender a (never ""),
// so hit says whether that key is there; domainKey says that the cdb has
// the key @domain of a, which never matches (a trap worth a warning). The
// error is a cdb read error.
func LookupSenderCDB(db CDB, a string) (hit, domainKey bool, err error) {
	if a != "" {
		if _, hit, err = db.Get([]byte(a)); err != nil {
			return false, false, fmt.Errorf("look up %q in relaymailfrom.cdb: %w", a, err)
		}
	}
	if at := strings.LastIndexByte(a, '@'); at >= 0 && !hit {
		if _, domainKey, err = db.Get([]byte(a[at:])); err != nil {
			return false, false, fmt.Errorf("look up %q in relaymailfrom.cdb: %w", a[at:], err)
		}
	}
	return hit, domainKey, nil
}
