package relay

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/qmailctl/qmailctl/internal/control"
)

// TextFile is a control file's content, handed to the engine so that it
// does no I/O itself; nil means the file does not exist.
type TextFile struct {
	Path string
	Data []byte
}

// senderHit is the relaymailfrom line that decided, for one reading of the
// file (as documented, or as IndiMail's code reads it).
type senderHit struct {
	matched bool
	line    int
	text    string
	how     string // "address", "domain", "pattern", "negation"
}

// senderResult is the text-file part of relaymailfrom for one sender.
type senderResult struct {
	doc, real  senderHit
	probes     []string
	overridden *senderHit // a negation that the address or @domain step made moot
	crLines    int        // lines ending in "\r", which IndiMail never matches
}

// matchSenderText runs IndiMail's wildmat_match (QREGEX unset) over the
// relaymailfrom text for the lower-cased sender a, in one pass without
// allocating per line: an exact line (case-insensitive) wins, then @domain
// taken from the last @, then the wildmat patterns, where the last matching
// line decides and "!" negates. Lines that can match neither way (no
// pattern byte and the wrong length) are skipped without a comparison. The documented reading ignores a trailing
// "\r"; IndiMail's code keeps it, so such lines never match there.
func matchSenderText(f *TextFile, a string) senderResult {
	var r senderResult
	r.probes = []string{a}
	domain := ""
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		domain = a[at:]
		r.probes = append(r.probes, domain)
	}
	type tracker struct{ exact, dom, wild senderHit }
	var doc, real tracker
	data := f.Data
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
			r.crLines++
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
			wild = control.Wildmat(string(key), a)
		} else {
			wild = string(key) == a
		}
		if !exact && !dom && !wild {
			continue
		}
		hit := senderHit{line: num, text: string(body)}
		set := func(t *tracker) {
			if exact {
				h := hit
				h.matched, h.how = true, "address"
				t.exact = h
			}
			if dom {
				h := hit
				h.matched, h.how = true, "domain"
				t.dom = h
			}
			if wild {
				h := hit
				h.matched, h.how = !neg, "pattern"
				if neg {
					h.how = "negation"
				}
				t.wild = h
			}
		}
		set(&doc)
		if !cr {
			set(&real)
		}
	}
	pick := func(t tracker) senderHit {
		switch {
		case t.exact.line > 0:
			return t.exact
		case t.dom.line > 0:
			return t.dom
		}
		return t.wild
	}
	r.doc, r.real = pick(doc), pick(real)
	if r.doc.how == "address" || r.doc.how == "domain" {
		if doc.wild.how == "negation" {
			w := doc.wild
			r.overridden = &w
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

// describe says, for a trace, how a relaymailfrom line decided.
func (h senderHit) describe(path, a string) string {
	switch h.how {
	case "address":
		return fmt.Sprintf("line %d %q is the address %s", h.line, h.text, a)
	case "domain":
		return fmt.Sprintf("line %d %q matches the domain of %s", h.line, h.text, a)
	case "pattern":
		return fmt.Sprintf("line %d %q is the last pattern matching %s", h.line, h.text, a)
	case "negation":
		return fmt.Sprintf("the last matching pattern, line %d %q, is a negation: %s may not relay", h.line, h.text, a)
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
