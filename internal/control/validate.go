package control

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// lineResult is a valid line taken apart.
type lineResult struct {
	key, value    string
	colon, negate bool
	warns         []finding
}

func (r *lineResult) identity() string {
	if r.negate {
		return "!" + r.key
	}
	return r.key
}

// What each kind expects, for error messages.
const (
	expectClient = "an IPv4 address (10.1.1.5), a prefix ending in a dot (10.1.1.), or an IPv6 address, optionally followed by a colon"
	expectHost   = "a host name (mail.example.com) or a domain with a leading dot (.example.com), optionally followed by a colon"
	expectSender = "an address (user@example.com), @example.com, or a wildmat pattern (*@*.example.com), optionally after !"
	expectDomain = "a domain (example.com) or a leading dot for its subdomains (.example.com)"
)

// ValidateEntry checks one entry s for a file of the given kind, with the
// validators Parse uses. The error is a *diag.Problem whose column counts
// from the start of s; its Pos names the file but has no line (the entry is
// not in a file yet). The warnings are the ones Parse would give for s alone.
// Trailing spaces and TABs are ignored.
func ValidateEntry(kind Kind, s string) ([]diag.Problem, error) {
	if kind < RelayClients || kind > MoreRcptHosts {
		return nil, fmt.Errorf("validate: unknown kind %d", int(kind))
	}
	res, fd := checkEntry(kind, s)
	if fd != nil {
		p := fd.problem(kind.Name(), 0, s, diag.Error)
		return nil, &p
	}
	var warns []diag.Problem
	for i := range res.warns {
		warns = append(warns, res.warns[i].problem(kind.Name(), 0, s, diag.Warning))
	}
	return warns, nil
}

// checkEntry validates an entry given on its own (a command-line argument):
// it must be one non-empty line that is not a comment. Trailing spaces and
// TABs are ignored, as qmail-smtpd ignores them.
func checkEntry(kind Kind, s string) (lineResult, *finding) {
	if i := strings.IndexAny(s, "\n\r"); i >= 0 {
		return lineResult{}, &finding{col: i + 1, msg: "an entry is a single line", expected: expectFor(kind)}
	}
	if trimBlanks(s) == "" {
		return lineResult{}, &finding{col: 1, msg: "empty entry", expected: expectFor(kind)}
	}
	if s[0] == '#' {
		return lineResult{}, &finding{col: 1, msg: "a line starting with # is a comment, not an entry", expected: expectFor(kind)}
	}
	return check(kind, trimBlanks(s))
}

func expectFor(kind Kind) string {
	switch kind {
	case RelayClients:
		return expectClient
	case RelayDomains:
		return expectHost
	case RelayMailFrom:
		return expectSender
	}
	return expectDomain
}

// check validates one stored line s (trailing blanks and CR already removed,
// not empty, not a comment).
func check(kind Kind, s string) (lineResult, *finding) {
	if s[0] == ' ' || s[0] == '\t' {
		if strings.HasPrefix(strings.TrimLeft(s, " \t"), "#") {
			return lineResult{}, &finding{col: 1, msg: "a comment must start with # in the first column: qmail-smtpd reads this line as an entry",
				expected: "# in column 1", hint: "delete the white space before #"}
		}
		return lineResult{}, &finding{col: 1, msg: "leading white space: qmail-smtpd keeps it as part of the entry, so this line never matches",
			expected: expectFor(kind), hint: "delete the white space"}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			return lineResult{}, &finding{col: i + 1, msg: "NUL byte: qmail-smtpd splits the line here", expected: expectFor(kind)}
		case c < 0x20 || c == 0x7f:
			return lineResult{}, &finding{col: i + 1, msg: fmt.Sprintf("control character 0x%02x", c), expected: expectFor(kind)}
		}
	}
	switch kind {
	case RelayClients:
		return checkClientLine(s)
	case RelayDomains:
		return checkHostLine(s)
	case RelayMailFrom:
		return checkSenderLine(s)
	default:
		return checkRcptLine(s)
	}
}

// ---- relayclients ----

// checkClientLine splits "KEY" or "KEY:VALUE" and validates the key. A line
// that is a valid key as a whole (an IPv6 address) has no colon part; for
// IPv6 with a colon part, the key is the longest valid address before a colon.
func checkClientLine(s string) (lineResult, *finding) {
	key, value, colon := s, "", false
	if !validClientKey(s) {
		if i := splitClientKey(s); i >= 0 {
			key, value, colon = s[:i], s[i+1:], true
		}
	}
	var fd *finding
	if strings.IndexByte(key, ':') >= 0 {
		fd = checkIPv6Key(key)
	} else {
		fd = checkIPv4Key(key)
	}
	if fd != nil {
		return lineResult{}, fd
	}
	res := lineResult{key: key, value: value, colon: colon}
	if strings.IndexByte(key, ':') >= 0 && !strings.HasSuffix(key, ".") {
		if a, err := netip.ParseAddr(key); err == nil && a.String() != LowerASCII(key) {
			res.warns = append(res.warns, finding{col: 1,
				msg:  fmt.Sprintf("qmail-smtpd compares text, and tcpserver writes this address as %s", a.String()),
				hint: "write " + a.String()})
		}
	}
	return res, nil
}

// splitClientKey returns the index of the colon that ends the key, or -1.
func splitClientKey(s string) int {
	first := strings.IndexByte(s, ':')
	if first < 0 {
		return -1
	}
	if k := s[:first]; validClientKey(k) || strings.IndexByte(k, '.') >= 0 {
		return first // an IPv4 key, or one with a mistake to report
	}
	if isMappedPrefix(s) {
		return -1 // ::ffff:a.b.c. with a mistake in a.b.c.
	}
	for i := len(s) - 1; i > first; i-- {
		if s[i] == ':' && validClientKey(s[:i]) {
			return i
		}
	}
	if strings.IndexByte(s[first+1:], ':') < 0 {
		return first // "10:" or ":"
	}
	return -1 // an IPv6 key with a mistake
}

// isMappedPrefix reports whether k has the form of an IPv4-mapped prefix,
// ::ffff:a.b.c. (valid or not).
func isMappedPrefix(k string) bool {
	return strings.HasSuffix(k, ".") && len(k) > 7 && equalFoldASCII(k[:7], "::ffff:")
}

func validClientKey(k string) bool {
	if strings.IndexByte(k, ':') >= 0 {
		return checkIPv6Key(k) == nil
	}
	return checkIPv4Key(k) == nil
}

// checkIPv4Key accepts a full IPv4 address or a prefix of 1-3 octets ending
// in a dot, each octet 0-255 without leading zeros.
func checkIPv4Key(k string) *finding {
	if k == "" {
		return &finding{col: 1, msg: "empty address: with a colon after it, this would mean every client", expected: expectClient}
	}
	if i := strings.IndexByte(k, '/'); i >= 0 {
		return &finding{col: i + 1, msg: cidrMessage(k), expected: expectClient}
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= '0' && c <= '9' || c == '.':
		case c == '*':
			return &finding{col: i + 1, msg: "wildcards are not understood by qmail-smtpd; a prefix ending in a dot (10.1.) matches every address under it", expected: expectClient}
		case c == '-':
			return &finding{col: i + 1, msg: "ranges are not understood by qmail-smtpd (only tcprules expands them); list the addresses or use a prefix ending in a dot", expected: expectClient}
		case isLetter(c) && i == 0:
			return &finding{col: 1, msg: "not an IP address: client host names belong in relaydomains", expected: expectClient}
		default:
			return &finding{col: i + 1, msg: fmt.Sprintf("unexpected character %q in an IP address", c), expected: expectClient}
		}
	}
	parts := strings.Split(k, ".")
	prefix := parts[len(parts)-1] == ""
	if prefix {
		parts = parts[:len(parts)-1]
	}
	col := 1
	for _, p := range parts {
		switch {
		case p == "":
			return &finding{col: col, msg: "empty octet", expected: expectClient}
		case len(p) > 1 && p[0] == '0':
			n, _ := strconv.Atoi(p)
			return &finding{col: col, msg: fmt.Sprintf("leading zero: qmail-smtpd compares text, and tcpserver writes this octet as %d", n), expected: expectClient}
		case len(p) > 3 || mustAtoi(p) > 255:
			return &finding{col: col, msg: fmt.Sprintf("octet %s is out of range (0-255)", p), expected: expectClient}
		}
		col += len(p) + 1
	}
	switch {
	case prefix && len(parts) > 3:
		return &finding{col: len(k), msg: fmt.Sprintf("an address has no trailing dot: write %s", strings.TrimSuffix(k, ".")), expected: expectClient}
	case !prefix && len(parts) < 4:
		return &finding{col: len(k) + 1, msg: fmt.Sprintf("a prefix must end with a dot: %s.", k), expected: expectClient}
	case !prefix && len(parts) > 4:
		return &finding{col: 1, msg: "too many octets for an IPv4 address", expected: expectClient}
	}
	return nil
}

// cidrMessage explains what to write instead of a CIDR block.
func cidrMessage(k string) string {
	const base = "CIDR is not understood by qmail-smtpd"
	pfx, err := netip.ParsePrefix(k)
	if err != nil || !pfx.Addr().Is4() {
		return base + "; write prefixes ending in a dot (10.1.)"
	}
	pfx = pfx.Masked()
	bits := pfx.Bits()
	if bits == 0 {
		return base + "; /0 would be every client"
	}
	if bits == 32 {
		return base + "; write " + pfx.Addr().String()
	}
	octets := (bits + 7) / 8
	n := 1 << (octets*8 - bits)
	a := pfx.Addr().As4()
	key := func(i int) string {
		var b strings.Builder
		for j := 0; j < octets; j++ {
			v := int(a[j])
			if j == octets-1 {
				v += i
			}
			fmt.Fprintf(&b, "%d.", v)
		}
		return b.String()
	}
	switch {
	case n == 1:
		return base + "; write " + key(0)
	case n <= 8:
		keys := make([]string, n)
		for i := range keys {
			keys[i] = key(i)
		}
		return fmt.Sprintf("%s; write %d lines: %s", base, n, strings.Join(keys, " "))
	default:
		return fmt.Sprintf("%s; write %d lines, %s to %s", base, n, key(0), key(n-1))
	}
}

// checkIPv6Key accepts an IPv6 address (matched exactly) or an IPv4-mapped
// prefix such as ::ffff:10.1.1. (what an IPv6 tcpserver reports for IPv4
// clients).
func checkIPv6Key(k string) *finding {
	if i := strings.IndexByte(k, '%'); i >= 0 {
		return &finding{col: i + 1, msg: "a zone (%...) never appears in TCP6REMOTEIP", expected: expectClient}
	}
	if isMappedPrefix(k) {
		if fd := checkIPv4Key(k[7:]); fd != nil {
			fd.col += 7
			return fd
		}
		return nil
	}
	if strings.IndexByte(k, '/') >= 0 {
		return &finding{col: strings.IndexByte(k, '/') + 1, msg: "CIDR is not understood by qmail-smtpd; IPv6 addresses match only exactly", expected: expectClient}
	}
	if _, err := netip.ParseAddr(k); err != nil {
		return &finding{col: 1, msg: "not an IP address", expected: expectClient}
	}
	return nil
}

// ---- relaydomains ----

func checkHostLine(s string) (lineResult, *finding) {
	key, value, colon := s, "", false
	if i := strings.IndexByte(s, ':'); i >= 0 {
		key, value, colon = s[:i], s[i+1:], true
	}
	if key == "" {
		return lineResult{}, &finding{col: 1, msg: "empty host name: in the documented format it lets every client relay, and IndiMail never matches it", expected: expectHost}
	}
	if allDigitsDots(key) && strings.IndexByte(key, '.') >= 0 && strings.Trim(key, ".") != "" {
		return lineResult{}, &finding{col: 1, msg: "an IP address or prefix: relaydomains matches the client's host name; IP addresses belong in relayclients", expected: expectHost}
	}
	if fd := checkDomain(key, true, expectHost); fd != nil {
		return lineResult{}, fd
	}
	res := lineResult{key: key, value: value, colon: colon}
	if equalFoldASCII(key, "unknown") {
		res.warns = append(res.warns, finding{col: 1,
			msg:  "qmail-smtpd uses the host name unknown for every client whose name it does not know (tcpserver -H, or no PTR record): they may all relay",
			hint: "qmailctl relaydomains remove unknown"})
	}
	return res, nil
}

// ---- rcpthosts, morercpthosts ----

func checkRcptLine(s string) (lineResult, *finding) {
	switch {
	case s[0] == '@':
		return lineResult{}, &finding{col: 1, msg: fmt.Sprintf("rcpthosts lists domains, not addresses: write %s", s[1:]), expected: expectDomain}
	case strings.IndexByte(s, '@') >= 0:
		return lineResult{}, &finding{col: strings.IndexByte(s, '@') + 1, msg: fmt.Sprintf("rcpthosts lists domains, not addresses: write %s", s[strings.LastIndexByte(s, '@')+1:]), expected: expectDomain}
	case s[0] == '[':
		if fd := checkLiteral(s); fd != nil {
			return lineResult{}, fd
		}
		return lineResult{key: s}, nil
	}
	if fd := checkDomain(s, true, expectDomain); fd != nil {
		// qmail-smtpd compares the line with the recipient's domain
		// byte for byte (after lower-casing): a trailing dot or an
		// underscore is odd but still matches a recipient written so.
		switch {
		case strings.HasPrefix(fd.msg, "a trailing dot"):
			fd.msg = "a trailing dot: qmail-smtpd matches this line only for recipients written with the dot (user@" + strings.TrimPrefix(s, ".") + "), not for " + strings.TrimSuffix(strings.TrimPrefix(s, "."), ".")
			fd.hint = "write " + strings.TrimSuffix(s, ".") + " if the domain is meant"
		case strings.HasPrefix(fd.msg, "unexpected character '_'"):
			fd.msg = "an underscore is not valid in a host name, but qmail-smtpd still matches this line literally"
		default:
			return lineResult{}, fd
		}
		return lineResult{key: s, warns: []finding{*fd}}, nil
	}
	return lineResult{key: s}, nil
}

// checkLiteral accepts a domain literal [1.2.3.4].
func checkLiteral(s string) *finding {
	if !strings.HasSuffix(s, "]") {
		return &finding{col: len(s) + 1, msg: "unclosed [ in an address literal", expected: "[1.2.3.4]"}
	}
	a, err := netip.ParseAddr(s[1 : len(s)-1])
	if err != nil || !a.Is4() {
		return &finding{col: 2, msg: "not an IPv4 address literal", expected: "[1.2.3.4]"}
	}
	return nil
}

// checkDomain validates a host or domain name: labels of letters, digits
// and hyphens, not starting or ending with a hyphen, at most 63 bytes each
// and 253 in all. leadingDot allows ".example.com" (subdomains).
func checkDomain(k string, leadingDot bool, expected string) *finding {
	name := k
	off := 0
	if strings.HasPrefix(k, ".") && leadingDot {
		name, off = k[1:], 1
		if name == "" {
			return &finding{col: 1, msg: "a dot alone is not a domain", expected: expected}
		}
	}
	if i := strings.IndexByte(k, '*'); i >= 0 {
		rest := strings.TrimLeft(k[i+1:], ".")
		if rest == "" || strings.IndexByte(rest, '*') >= 0 {
			return &finding{col: i + 1, msg: "wildcards are not understood here", expected: expected}
		}
		return &finding{col: i + 1, msg: fmt.Sprintf("wildcards are not understood here; a leading dot (.%s) matches every name under %s", rest, rest), expected: expected}
	}
	if len(name) > 253 {
		return &finding{col: off + 254, msg: "a domain name has at most 253 characters", expected: expected}
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !(isLetter(c) || c >= '0' && c <= '9' || c == '-') {
				return &finding{col: off + i + 1, msg: fmt.Sprintf("unexpected character %q in a domain name", c), expected: expected}
			}
			continue
		}
		label := name[start:i]
		switch {
		case label == "" && i == len(name) && i > 0:
			return &finding{col: off + i, msg: "a trailing dot never matches: write " + strings.TrimSuffix(k, "."), expected: expected}
		case label == "" && start == 0 && !leadingDot:
			return &finding{col: off + 1, msg: "a leading dot is not allowed here", expected: expected}
		case label == "":
			return &finding{col: off + i + 1, msg: "empty label (two dots in a row)", expected: expected}
		case len(label) > 63:
			return &finding{col: off + start + 1, msg: "a label has at most 63 characters", expected: expected}
		case label[0] == '-':
			return &finding{col: off + start + 1, msg: "a label cannot start with a hyphen", expected: expected}
		case label[len(label)-1] == '-':
			return &finding{col: off + i, msg: "a label cannot end with a hyphen", expected: expected}
		}
		start = i + 1
	}
	return nil
}

// ---- relaymailfrom ----

func checkSenderLine(s string) (lineResult, *finding) {
	res := lineResult{key: s}
	off := 0
	if s[0] == '!' {
		res.negate, res.key, off = true, s[1:], 1
		if res.key == "" {
			return lineResult{}, &finding{col: 2, msg: "nothing after !", expected: expectSender}
		}
	}
	k := res.key
	shift := func(fd *finding) *finding {
		if fd != nil {
			fd.col += off
		}
		return fd
	}
	if i := strings.IndexAny(k, " \t"); i >= 0 {
		return lineResult{}, &finding{col: off + i + 1, msg: "white space inside an address", expected: expectSender}
	}
	switch {
	case hasWildmatMeta(k):
		if fd := checkPattern(k); fd != nil {
			return lineResult{}, shift(fd)
		}
		if strings.Trim(k, "*") == "" {
			res.warns = append(res.warns, finding{col: off + 1,
				msg:  "this pattern matches every sender, and anyone can give any MAIL FROM: the server relays for everybody",
				hint: "require SMTP AUTH instead, or: qmailctl relaymailfrom remove " + diag.ShellQuote(s)})
		}
	case k[0] == '@':
		if fd := checkDomainOrLiteral(k[1:]); fd != nil {
			return lineResult{}, shift(shift1(fd))
		}
		if res.negate {
			res.warns = append(res.warns, finding{col: 1,
				msg:  fmt.Sprintf("a negated @domain is only a wildmat pattern, which matches nothing but the literal address %s", k),
				hint: "write !*" + k})
		}
	default:
		at := strings.LastIndexByte(k, '@')
		if at < 0 {
			if checkDomain(k, false, expectSender) == nil && strings.IndexByte(k, '.') >= 0 {
				return lineResult{}, &finding{col: off + 1, msg: fmt.Sprintf("a bare domain never matches a sender: write @%s for every address at %s", k, k), expected: expectSender}
			}
			return lineResult{}, &finding{col: off + len(k) + 1, msg: "missing @domain", expected: expectSender}
		}
		if i := strings.IndexByte(k, '@'); i < at {
			return lineResult{}, &finding{col: off + i + 1, msg: "more than one @ in an address", expected: expectSender}
		}
		if fd := checkDomainOrLiteral(k[at+1:]); fd != nil {
			fd.col += at + 1
			return lineResult{}, shift(fd)
		}
	}
	// Patterns and negations are matched only by wildmat, against the
	// lower-cased sender, and wildmat is case-sensitive.
	if hasWildmatMeta(k) || res.negate {
		if i := strings.IndexFunc(k, func(r rune) bool { return r >= 'A' && r <= 'Z' }); i >= 0 {
			res.warns = append(res.warns, finding{col: off + i + 1,
				msg:  "upper-case letter in a pattern: IndiMail lower-cases the sender before wildmat matching, which is case-sensitive, so this never matches",
				hint: "write " + diag.ShellQuote(s[:off]+LowerASCII(k))})
		}
	}
	return res, nil
}

func shift1(fd *finding) *finding { fd.col++; return fd }

func checkDomainOrLiteral(d string) *finding {
	if d == "" {
		return &finding{col: 1, msg: "missing domain after @", expected: expectSender}
	}
	if d[0] == '[' {
		return checkLiteral(d)
	}
	if d[0] == '.' {
		return &finding{col: 1, msg: "a leading dot is not understood after @: write a pattern such as *@*" + d, expected: expectSender}
	}
	return checkDomain(d, false, expectSender)
}

// checkPattern checks that a wildmat pattern is well formed: every [ is
// closed and no backslash ends the pattern. (IndiMail's wildmat reads past
// the end of a malformed pattern.)
func checkPattern(p string) *finding {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			if i+1 >= len(p) {
				return &finding{col: i + 1, msg: "a backslash at the end of a pattern escapes nothing", expected: expectSender}
			}
			i++
		case '[':
			end := classEnd(p, i)
			if end < 0 {
				return &finding{col: i + 1, msg: "unclosed [ in a pattern", expected: "a class such as [a-z] closed by ]"}
			}
			i = end
		}
	}
	return nil
}

// classEnd returns the index of the ] that closes the class opening at
// p[open], following wildmat's rules (a ] or - right after [ or [^ is a
// member), or -1.
func classEnd(p string, open int) int {
	i := open + 1
	if i < len(p) && p[i] == '^' {
		i++
	}
	if i < len(p) && (p[i] == ']' || p[i] == '-') {
		i++
	}
	for ; i < len(p); i++ {
		if p[i] == ']' {
			return i
		}
	}
	return -1
}

func hasWildmatMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func allDigitsDots(s string) bool { return strings.Trim(s, "0123456789.") == "" }

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1 << 30
	}
	return n
}
