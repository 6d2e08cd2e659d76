// Package tcprules reads, compiles, edits and looks up tcprules(1) files, the
// rules that `tcpserver -x rules.cdb` consults for every connection.
//
// The compiler is byte-compatible with Debian's tcprules (ucspi-tcp 0.88) for
// every file that tool accepts, and with ucspi-tcp-ipv6 for IPv6 lines: the
// address ends at the first colon that is followed by "allow" or "deny". It
// adds IndiMail's ",!NAME" (unset a variable) and expands CIDR blocks into the
// dotted-prefix keys every tcpserver understands. Lines that tcprules silently
// skips or that can never match are reported as warnings.
package tcprules

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// Var is one environment item of a rule: NAME="VALUE" sets a variable,
// !NAME (IndiMail) removes it from the environment.
type Var struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Unset bool   `json:"unset,omitempty"`
}

// Rule is one rules-file line that yields cdb records.
type Rule struct {
	Line    int    `json:"line"`
	Text    string `json:"text"` // the line as written, without its newline
	Address string `json:"address"`
	Deny    bool   `json:"deny"`
	Env     []Var  `json:"env"`
}

// Action is "allow" or "deny".
func (r *Rule) Action() string {
	if r.Deny {
		return "deny"
	}
	return "allow"
}

// Data is the cdb value tcprules stores for the rule: "D\0" for deny, then
// "+NAME=VALUE\0" or "-NAME\0" per variable, in order.
func (r *Rule) Data() []byte {
	var b []byte
	if r.Deny {
		b = append(b, 'D', 0)
	}
	for _, v := range r.Env {
		b = appendVar(b, v)
	}
	return b
}

func appendVar(b []byte, v Var) []byte {
	if v.Unset {
		b = append(b, '-')
		b = append(b, v.Name...)
		return append(b, 0)
	}
	b = append(b, '+')
	b = append(b, v.Name...)
	b = append(b, '=')
	b = append(b, v.Value...)
	return append(b, 0)
}

// Keys returns the cdb keys the rule is stored under: one for a plain
// address, one per number for a range like 10.1.1.1-9, and the covering
// dotted prefixes for a CIDR block.
func (r *Rule) Keys() []string {
	var keys []string
	expandAddress([]byte(r.Address), nil, func(k []byte) { keys = append(keys, string(k)) })
	return keys
}

// String formats the rule as a rules-file line.
func (r *Rule) String() string {
	s := r.Address + ":" + r.Action()
	if len(r.Env) > 0 {
		s += "," + FormatVars(r.Env)
	}
	return s
}

// FormatVars writes variables as a rules file does: NAME="VALUE" (with a
// quote byte the value lacks) or !NAME, separated by commas.
func FormatVars(env []Var) string {
	parts := make([]string, len(env))
	for i, v := range env {
		if v.Unset {
			parts[i] = "!" + v.Name
		} else {
			parts[i] = v.Name + "=" + quote(v.Value)
		}
	}
	return strings.Join(parts, ",")
}

// quote picks a quote byte that does not occur in the value, as tcprules
// accepts any byte as the quote.
func quote(v string) string {
	for _, q := range []string{`"`, `'`, `/`, `|`, `%`, `#`} {
		if !bytes.Contains([]byte(v), []byte(q)) {
			return q + v + q
		}
	}
	for c := 0x21; c < 0x7f; c++ {
		if !bytes.ContainsRune([]byte(v), rune(c)) {
			return string(rune(c)) + v + string(rune(c))
		}
	}
	return `"` + v + `"` // unreachable for values that came from a valid line
}

// lineKind classifies a rules-file line.
type lineKind uint8

const (
	kindRule    lineKind = iota
	kindBlank            // empty, or only spaces and tabs: skipped
	kindComment          // '#' in column 1: skipped
	kindNoColon          // text without any colon: tcprules skips it silently
)

// parsed is the result of parsing one line, referring into the line's bytes.
// The compiler reuses one value for every line so that compiling a large
// file allocates almost nothing.
type parsed struct {
	kind    lineKind
	addr    []byte // the address, before the split colon
	deny    bool
	data    []byte // the encoded cdb value
	vars    []Var  // filled only when wantVars is set
	varCols []int  // column of each var, for diagnostics
	key     []byte // scratch space for range keys
}

// parseLine parses one line (without its newline) as Debian's tcprules (with
// ucspi-tcp-ipv6's colon rule) and IndiMail's tcprules do. On a syntax error
// it returns the 1-based column and what was expected there.
func parseLine(line []byte, p *parsed, wantVars bool) (col int, msg, expected string) {
	p.addr, p.deny, p.data = nil, false, p.data[:0]
	p.vars, p.varCols = p.vars[:0], p.varCols[:0]
	if len(line) > 0 && line[0] == '#' {
		p.kind = kindComment
		return 0, "", ""
	}
	n := len(line)
	for n > 0 && (line[n-1] == ' ' || line[n-1] == '\t' || line[n-1] == '\n') {
		n--
	}
	line = line[:n]
	if n == 0 {
		p.kind = kindBlank
		return 0, "", ""
	}
	colon := splitColon(line)
	if colon < 0 {
		if bytes.IndexByte(line, ':') < 0 {
			p.kind = kindNoColon
			return 0, "", ""
		}
		first := bytes.IndexByte(line, ':')
		return first + 2, "no instruction after the address", `"allow" or "deny" after the colon that ends the address`
	}
	p.kind = kindRule
	p.addr = line[:colon]
	rest := line[colon+1:]
	pos := colon + 1 // 0-based index of rest[0] in line
	if bytes.HasPrefix(rest, []byte("allow")) {
		rest, pos = rest[5:], pos+5
	} else {
		p.deny = true
		p.data = append(p.data, 'D', 0)
		rest, pos = rest[4:], pos+4
	}
	for len(rest) > 0 {
		if rest[0] != ',' {
			return pos + 1, "unexpected text after the instruction", `"," and NAME="VALUE", or the end of the line`
		}
		rest, pos = rest[1:], pos+1
		itemCol := pos + 1
		eq := bytes.IndexByte(rest, '=')
		if len(rest) > 1 && rest[0] == '!' {
			// IndiMail: !NAME unsets NAME, when no '=' comes before the next ','.
			end := bytes.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			if eq < 0 || eq > end {
				if end == 1 {
					return itemCol + 1, "empty variable name", "a variable name after '!'"
				}
				name := rest[1:end]
				p.data = append(p.data, '-')
				p.data = append(p.data, name...)
				p.data = append(p.data, 0)
				if wantVars {
					p.vars = append(p.vars, Var{Name: string(name), Unset: true})
					p.varCols = append(p.varCols, itemCol)
				}
				rest, pos = rest[end:], pos+end
				continue
			}
		}
		if eq < 0 {
			return itemCol, "variable without a value", `NAME="VALUE" (or IndiMail's !NAME to unset it)`
		}
		name := rest[:eq]
		rest, pos = rest[eq+1:], pos+eq+1
		if len(rest) == 0 {
			return pos + 1, "missing value after '='", `a quoted value such as "" or "text"`
		}
		q := rest[0]
		rest, pos = rest[1:], pos+1
		end := bytes.IndexByte(rest, q)
		if end < 0 {
			return pos, fmt.Sprintf("value has no closing %s", quoteName(q)),
				fmt.Sprintf("the value to end with the same byte it starts with (%s)", quoteName(q))
		}
		value := rest[:end]
		p.data = append(p.data, '+')
		p.data = append(p.data, name...)
		p.data = append(p.data, '=')
		p.data = append(p.data, value...)
		p.data = append(p.data, 0)
		if wantVars {
			p.vars = append(p.vars, Var{Name: string(name), Value: string(value)})
			p.varCols = append(p.varCols, itemCol)
		}
		rest, pos = rest[end+1:], pos+end+1
	}
	if c, m, e := checkAddress(p.addr); m != "" {
		return c, m, e
	}
	return 0, "", ""
}

func quoteName(q byte) string {
	if q == '"' {
		return `'"'`
	}
	if q < 0x20 || q >= 0x7f || q == ' ' {
		return fmt.Sprintf("byte 0x%02x", q)
	}
	return "'" + string(q) + "'"
}

// splitColon finds the colon that ends the address: the first one directly
// followed by "allow" or "deny" (ucspi-tcp-ipv6). For every line that plain
// tcprules accepts this is also its first colon.
func splitColon(line []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(line[off:], ':')
		if i < 0 {
			return -1
		}
		i += off
		if rest := line[i+1:]; bytes.HasPrefix(rest, []byte("allow")) || bytes.HasPrefix(rest, []byte("deny")) {
			return i
		}
		off = i + 1
	}
}

// checkAddress rejects addresses that tcprules refuses: a malformed range.
// CIDR blocks are checked by expandCIDR.
func checkAddress(addr []byte) (col int, msg, expected string) {
	if bytes.IndexByte(addr, '=') >= 0 || bytes.IndexByte(addr, '@') >= 0 {
		return 0, "", ""
	}
	if isCIDR(addr) {
		if _, err := cidrKeys(addr); err != nil {
			return bytes.IndexByte(addr, '/') + 2, err.Error(), "an IPv4 block a.b.c.d/n (n 1-32), or an IPv6 block with n a multiple of 16 whose prefix groups are not zero"
		}
		return 0, "", ""
	}
	dash := bytes.IndexByte(addr, '-')
	if dash < 0 {
		return 0, "", ""
	}
	left := bytes.LastIndexByte(addr[:dash], '.') + 1
	right := dash + 1 + indexOrLen(addr[dash+1:], '.')
	if !allDigits(addr[left:dash]) {
		return left + 1, "range start is not a number", "a range such as 10.1.1.1-9 or 10.1-3."
	}
	if !allDigits(addr[dash+1 : right]) {
		return dash + 2, "range end is not a number", "a range such as 10.1.1.1-9 or 10.1-3."
	}
	return 0, "", ""
}

func indexOrLen(b []byte, c byte) int {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return i
	}
	return len(b)
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// scanUlong reads decimal digits the way DJB's scan_ulong does, wrapping
// around on overflow as an unsigned long does.
func scanUlong(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n*10 + uint64(c-'0')
	}
	return n
}

// expandAddress calls emit with every cdb key of an address, building range
// keys in buf and returning it for reuse: ranges as tcprules' doaddressdata expands them, CIDR blocks as
// their covering prefixes, anything else as itself. The address must have
// passed checkAddress.
func expandAddress(addr, buf []byte, emit func(key []byte)) []byte {
	if bytes.IndexByte(addr, '=') >= 0 || bytes.IndexByte(addr, '@') >= 0 {
		emit(addr)
		return buf
	}
	if isCIDR(addr) {
		keys, _ := cidrKeys(addr)
		for _, k := range keys {
			emit([]byte(k))
		}
		return buf
	}
	dash := bytes.IndexByte(addr, '-')
	if dash < 0 {
		emit(addr)
		return buf
	}
	left := bytes.LastIndexByte(addr[:dash], '.') + 1
	right := dash + 1 + indexOrLen(addr[dash+1:], '.')
	bot, top := scanUlong(addr[left:dash]), scanUlong(addr[dash+1:right])
	if top > 255 {
		top = 255
	}
	buf = append(buf[:0], addr[:left]...)
	for n := bot; n <= top; n++ {
		buf = strconv.AppendUint(buf[:left], n, 10)
		buf = append(buf, addr[right:]...)
		emit(buf)
	}
	return buf
}

// problem builds a diagnostic for line num of file.
func problem(file string, num int, text []byte, col int, sev diag.Severity, msg, expected, hint string) diag.Problem {
	return diag.Problem{
		Pos:      diag.Pos{File: file, Line: num, Col: col},
		Severity: sev, Msg: msg, Text: string(text), Expected: expected, Hint: hint,
	}
}
