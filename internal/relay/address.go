package relay

import (
	"fmt"
	"strings"
)

// maxAddrLen is the longest address qmail-smtpd's addrparse accepts (it
// answers "555 syntax error" to a longer one).
const maxAddrLen = 900

// Address is an envelope address read the way qmail-smtpd's addrparse reads
// the argument of MAIL FROM or RCPT TO.
type Address struct {
	// Raw is the text as given on the command line.
	Raw string `json:"raw"`
	// Addr is the address qmail-smtpd works with: the text between < and >
	// (or up to the first space without brackets), with a source route
	// (@a,@b:) dropped, quotes removed and backslash escapes resolved. The
	// case is kept: qmail queues the address as given.
	Addr string `json:"address"`
	// Local is the text before the last @ (all of Addr without an @).
	Local string `json:"local"`
	// Domain is the text after the last @, as given (rcpthosts compares it
	// in lower case); HasAt is false for an address without @.
	Domain string `json:"domain"`
	HasAt  bool   `json:"has_at"`
	// Notes say where qmail-smtpd reads the text differently from what an
	// admin may expect (no closing >, a source route, quotes).
	Notes []string `json:"notes,omitempty"`
}

// Null reports the null sender <> (a bounce).
func (a Address) Null() bool { return a.Addr == "" }

// ParseAddress reads s as qmail-smtpd's addrparse does: angle brackets are
// optional (without them the address ends at the first space), <> is the
// null sender, a source route is dropped, "..." quotes are removed and \x
// stands for x. It refuses what no SMTP client can send (CR, LF, NUL), text
// after an unbracketed address, and addresses longer than qmail-smtpd's 900
// bytes; the error says what is wrong and where.
func ParseAddress(s string) (Address, error) {
	a := Address{Raw: s}
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return a, fmt.Errorf("address %q: byte %d is a control character (%q) that no SMTP command line can carry", s, i+1, s[i])
	}
	arg := s
	terminator := byte('>')
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		if i > 0 {
			a.Notes = append(a.Notes, fmt.Sprintf("text before '<' (%q) is ignored", arg[:i]))
		}
		arg = arg[i+1:]
	} else {
		terminator = ' '
		arg = strings.TrimLeft(arg, " ")
	}
	if strings.HasPrefix(arg, "@") {
		route := arg
		if c := strings.IndexByte(arg, ':'); c >= 0 {
			route, arg = arg[:c+1], arg[c+1:]
		} else {
			arg = ""
		}
		a.Notes = append(a.Notes, fmt.Sprintf("source route %q is dropped", route))
	}
	var b strings.Builder
	esc, quoted, ended := false, false, false
	i := 0
	for ; i < len(arg); i++ {
		c := arg[i]
		if esc {
			b.WriteByte(c)
			esc = false
			continue
		}
		if !quoted && c == terminator {
			ended = true
			break
		}
		switch c {
		case '\\':
			esc = true
		case '"':
			quoted = !quoted
		default:
			b.WriteByte(c)
		}
	}
	a.Addr = b.String()
	switch {
	case terminator == '>' && !ended:
		a.Notes = append(a.Notes, "no closing '>': qmail-smtpd takes the rest of the line as the address")
	case terminator == ' ' && ended:
		if rest := strings.TrimSpace(arg[i:]); rest != "" {
			return a, fmt.Errorf("address %q: %q after the first space is not part of an address (qmail-smtpd would read only %q); write <...> around an address with spaces", s, rest, a.Addr)
		}
	}
	if strings.ContainsAny(arg[:i], "\"\\") {
		a.Notes = append(a.Notes, fmt.Sprintf("quotes and backslashes are removed: qmail-smtpd reads %q", a.Addr))
	}
	if len(a.Addr) > maxAddrLen {
		return a, fmt.Errorf("address %q is %d bytes; qmail-smtpd refuses addresses longer than %d with 555 syntax error", abbreviate(s, 40), len(a.Addr), maxAddrLen)
	}
	if at := strings.LastIndexByte(a.Addr, '@'); at >= 0 {
		a.Local, a.Domain, a.HasAt = a.Addr[:at], a.Addr[at+1:], true
	} else {
		a.Local = a.Addr
	}
	return a, nil
}

// relayProbe reports the character that makes IndiMail's addrrelay() refuse
// the recipient with "550 we don't relay": an @, % or ! before the last @
// (anywhere, for an address without @). ok is false when there is none.
func relayProbe(a Address) (c byte, ok bool) {
	if i := strings.IndexAny(a.Local, "@%!"); i >= 0 {
		return a.Local[i], true
	}
	return 0, false
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
