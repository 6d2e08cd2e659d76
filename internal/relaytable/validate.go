package relaytable

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// ErrInvalid is matched (errors.Is) by every error that rejects an argument before the
// database is touched; the CLI maps it to exit 100.
var ErrInvalid = errors.New("invalid argument")

// InvalidError says which argument was refused and why; it matches ErrInvalid.
type InvalidError struct {
	Field  string // "ip", "email", "table", "dsn", "time", "minutes", ...
	Value  string // the value as given (a DSN is redacted)
	Reason string // one line, no trailing period
}

// Error says which value was refused and why, e.g. `invalid ip "1.2.3": not an IPv4 or IPv6 address`.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Field, e.Value, e.Reason)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, value, format string, args ...any) error {
	return &InvalidError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// Limits of IndiMail's relay table: email char(96), ipaddr char(46), timestamp int.
const (
	MaxEmailLen = 96
	MaxIPLen    = 46
)

// Defaults IndiMail uses when RELAY_TABLE and RELAY_CLEAR_MINUTES are unset.
const (
	DefaultTable        = "relay"
	DefaultClearMinutes = 60
)

// ValidateTable accepts a table name of 1 to 64 characters from [A-Za-z0-9_]; the name is
// spliced into SQL (identifiers cannot be placeholders), so nothing else is allowed.
func ValidateTable(name string) error {
	if name == "" {
		return invalid("table", name, "table name is empty")
	}
	if len(name) > 64 {
		return invalid("table", name, "table name is %d bytes; at most 64 are allowed", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return invalid("table", name, "table name may hold only A-Z, a-z, 0-9 and _")
		}
	}
	return nil
}

// TableFromEnv returns the relay table name from RELAY_TABLE, as IndiMail does, or
// DefaultTable when it is unset or empty; getenv is usually os.Getenv.
func TableFromEnv(getenv func(string) string) (string, error) {
	t := getenv("RELAY_TABLE")
	if t == "" {
		t = DefaultTable
	}
	if err := ValidateTable(t); err != nil {
		return "", err
	}
	return t, nil
}

// ClearMinutesFromEnv returns RELAY_CLEAR_MINUTES, or DefaultClearMinutes when it is unset
// or empty; see ParseMinutes.
func ClearMinutesFromEnv(getenv func(string) string) (int, error) {
	v := getenv("RELAY_CLEAR_MINUTES")
	if v == "" {
		return DefaultClearMinutes, nil
	}
	return ParseMinutes("RELAY_CLEAR_MINUTES", v)
}

// NormalizeIP checks an IPv4 or IPv6 address and returns the text the relay table holds:
// IPv4 and v4-mapped IPv6 as a dotted quad (what tcpserver reports in TCPREMOTEIP), other
// IPv6 in RFC 5952 canonical form. Zones (fe80::1%eth0) are refused.
func NormalizeIP(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", invalid("ip", s, "not an IPv4 or IPv6 address")
	}
	if a.Zone() != "" {
		return "", invalid("ip", s, "an IPv6 zone (%%%s) cannot be stored", a.Zone())
	}
	a = a.Unmap()
	out := a.String()
	if len(out) > MaxIPLen { // cannot happen: the longest IPv6 text is 45 bytes
		return "", invalid("ip", s, "address text is %d bytes; the relay table holds at most %d", len(out), MaxIPLen)
	}
	return out, nil
}

// ValidateEmail accepts a plausible local@domain address of at most MaxEmailLen bytes,
// printable ASCII only. The local part is an RFC 5322 dot-atom (letters, digits, '.', and
// !#$%&'*+-/=?^_`{|}~, so o'brien works) or an RFC 5321 quoted string ("a b"@x, with \" and
// \\ escapes); the domain is dot-separated labels of letters, digits and '-', or an address
// literal [192.0.2.1] / [IPv6:2001:db8::1]. Quotes and such are safe: all SQL uses
// placeholders.
func ValidateEmail(s string) error {
	if s == "" {
		return invalid("email", s, "email is empty")
	}
	if len(s) > MaxEmailLen {
		return invalid("email", s, "email is %d bytes; the relay table holds at most %d", len(s), MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return invalid("email", s, "control character at byte %d", i+1)
		case c >= 0x80:
			return invalid("email", s, "non-ASCII byte at byte %d", i+1)
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return invalid("email", s, "no @ in the address")
	}
	local, domain := s[:at], s[at+1:]
	if local == "" {
		return invalid("email", s, "the local part before @ is empty")
	}
	if domain == "" {
		return invalid("email", s, "the domain after @ is empty")
	}
	if local[0] == '"' {
		if why := checkQuoted(local); why != "" {
			return invalid("email", s, "%s", why)
		}
	} else {
		for i := 0; i < len(local); i++ {
			if c := local[i]; !isAtext(c) && c != '.' {
				return invalid("email", s, "%q is not allowed in an unquoted local part", string(c))
			}
		}
	}
	if why := checkDomain(domain); why != "" {
		return invalid("email", s, "%s", why)
	}
	return nil
}

// isAtext reports whether c is RFC 5322 atext.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkQuoted checks an RFC 5321 Quoted-string: qtextSMTP is 32-33, 35-91, 93-126 and
// quoted-pairSMTP is a backslash followed by 32-126.
func checkQuoted(q string) string {
	if len(q) < 2 || q[len(q)-1] != '"' {
		return "the quoted local part is not closed by \" before @"
	}
	in := q[1 : len(q)-1]
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\\':
			if i+1 == len(in) {
				return "the quoted local part ends in a lone backslash"
			}
			i++
		case '"':
			return "an unescaped \" inside the quoted local part"
		}
	}
	return ""
}

func checkDomain(d string) string {
	if d[0] == '[' {
		if d[len(d)-1] != ']' {
			return "the address literal after @ is not closed by ]"
		}
		lit := d[1 : len(d)-1]
		if v6, ok := strings.CutPrefix(lit, "IPv6:"); ok {
			if a, err := netip.ParseAddr(v6); err == nil && a.Is6() && a.Zone() == "" {
				return ""
			}
			return "the address literal after @ is not an IPv6 address"
		}
		if a, err := netip.ParseAddr(lit); err == nil && a.Is4() {
			return ""
		}
		return "the address literal after @ is not an IPv4 address"
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return "the domain has an empty label"
		}
		if len(label) > 63 {
			return "a domain label is longer than 63 bytes"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("%q is not allowed in a domain", string(c))
			}
		}
	}
	return ""
}

// unixSeconds converts t for the int (signed 32-bit) timestamp column.
func unixSeconds(field string, t time.Time) (int64, error) {
	u := t.Unix()
	if t.IsZero() || u < 0 || u > 1<<31-1 {
		return 0, invalid(field, t.UTC().Format(time.RFC3339), "outside the relay table's int timestamp range (1970 to 2038-01-19)")
	}
	return u, nil
}

// ipForms returns every text under which a row for ip may have been stored:
// for IPv4 the dotted quad and its ::ffff: form, for IPv6 the RFC 5952 form qmailctl writes plus
// the forms tcpserver prints into TCP6REMOTEIP, which IndiMail's login
// stores: ucspi-tcp-ipv6 compresses the longest zero run even when it is a
// single group, IndiMail's tcpserver the first run of two or more. Lookups
// match any of them, always three placeholders long.
func ipForms(s string) ([3]any, error) {
	norm, err := NormalizeIP(s)
	if err != nil {
		return [3]any{}, err
	}
	a := netip.MustParseAddr(norm)
	if a.Is4() {
		// IndiMail built for IPv6 stores an IPv4 client as TCP6REMOTEIP does.
		return [3]any{norm, "::ffff:" + norm, norm}, nil
	}
	return [3]any{norm, tcprules.FormatIPv6(a.As16(), 1, false), tcprules.FormatIPv6(a.As16(), 2, true)}, nil
}
