package relay

import (
	"fmt"
	"strconv"
	"strings"
)

// RBL is an rblsmtpd that a service runs between tcpserver and qmail-smtpd,
// with its options. What the real program (ucspi-tcp 0.88, as Debian ships
// it) does, checked against it by the tests:
//
//   - RBLSMTPD set and empty: it runs qmail-smtpd at once.
//   - RBLSMTPD="-TEXT": it blocks with "553 TEXT"; RBLSMTPD="TEXT" blocks
//     with "451 TEXT". The -r and -a lists are then not asked.
//   - RBLSMTPD unset: each -r ZONE and -a ZONE is asked in command-line
//     order until one decides: a TXT record in a -r zone blocks (553 with -b
//     in effect at that point, else 451, with the record's text); an A record
//     in an -a zone lets the client through. Debian's build has no default
//     list (upstream asked rbl.maps.vix.com without -r): with no -r and no
//     -a it runs qmail-smtpd. A DNS failure lets the client through, or with
//     -c blocks with "451 temporary RBL lookup error", and makes any block
//     451 (from its source; the tests have no DNS).
//   - Blocking, it answers "220 rblsmtpd.local", then "250 rblsmtpd.local"
//     to HELO, EHLO, MAIL and anything else, the block text to RCPT and DATA,
//     and "221 rblsmtpd.local" to QUIT; with -t 0 it sends the block text
//     instead of the greeting and hangs up. The text is cut to 200 bytes and
//     bytes outside 32..126 become '?'. qmail-smtpd never runs.
type RBL struct {
	Path    string
	Timeout int
	// Lists are the -r (Anti false) and -a (Anti true) zones in order, each
	// with the -b and -c settings in effect when getopt reached it.
	Lists []RBLList
	// Assume says how the DNS lists answer, which qmailctl does not ask:
	// "" (say that they decide), "listed" or "not-listed".
	Assume string
}

// RBLList is one DNS list of rblsmtpd.
type RBLList struct {
	Zone       string
	Anti       bool
	Bounce     bool // -b in effect: a listing is 553, not 451
	FailClosed bool // -c in effect
}

// ParseRBL reads rblsmtpd's options as its getopt does ("bBcCt:r:a:").
func ParseRBL(path string, args []string) (*RBL, error) {
	r := &RBL{Path: path, Timeout: 60}
	bounce, failClosed := false, false
	for i := 0; i < len(args); i++ {
		w := args[i]
		if w == "--" || len(w) < 2 || w[0] != '-' {
			break
		}
		for j := 1; j < len(w); j++ {
			c := w[j]
			switch c {
			case 'b':
				bounce = true
			case 'B':
				bounce = false
			case 'c':
				failClosed = true
			case 'C':
				failClosed = false
			case 't', 'r', 'a':
				arg := w[j+1:]
				if arg == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("rblsmtpd -%c needs an argument", c)
					}
					i++
					arg = args[i]
				}
				switch c {
				case 't':
					n, err := strconv.Atoi(arg)
					if err != nil {
						return nil, fmt.Errorf("rblsmtpd -t %q: not a number", arg)
					}
					r.Timeout = n
				case 'r':
					r.Lists = append(r.Lists, RBLList{Zone: arg, Bounce: bounce, FailClosed: failClosed})
				case 'a':
					r.Lists = append(r.Lists, RBLList{Zone: arg, Anti: true, Bounce: bounce, FailClosed: failClosed})
				}
				j = len(w)
			default:
				return nil, fmt.Errorf("rblsmtpd: unknown option -%c (it prints its usage and exits 100)", c)
			}
		}
	}
	return r, nil
}

// RBLOutcome is what rblsmtpd does with one client.
type RBLOutcome struct {
	// Pass: rblsmtpd runs qmail-smtpd. Undecided: the DNS lists decide
	// and Assume is empty (the verdict that follows assumes Pass).
	Pass, Undecided bool
	// Message is the block reply ("553 Blocked"), when not Pass.
	Message string
	// Detail says why, for the trace.
	Detail string
}

// Decide says what rblsmtpd does for a client whose environment (after the
// tcp.smtp rule) is env; ip is for the DNS names.
func (r *RBL) Decide(env map[string]string, ip string) RBLOutcome {
	if v, ok := env["RBLSMTPD"]; ok {
		switch {
		case v == "":
			return RBLOutcome{Pass: true, Detail: `RBLSMTPD="" is set: rblsmtpd asks no DNS list and runs qmail-smtpd`}
		case v[0] == '-':
			return RBLOutcome{Message: rblMessage("553 ", v[1:]), Detail: fmt.Sprintf("RBLSMTPD=%q starts with '-': rblsmtpd blocks permanently", v)}
		default:
			return RBLOutcome{Message: rblMessage("451 ", v), Detail: fmt.Sprintf("RBLSMTPD=%q is set: rblsmtpd blocks temporarily (451; a '-' in front makes it 553)", v)}
		}
	}
	if len(r.Lists) == 0 {
		return RBLOutcome{Pass: true, Detail: "RBLSMTPD is unset and rblsmtpd has no -r or -a list: it runs qmail-smtpd"}
	}
	var zones []string
	for _, l := range r.Lists {
		z := l.Zone
		if l.Anti {
			z = "-a " + z
		}
		zones = append(zones, z)
	}
	switch r.Assume {
	case "listed":
		l := r.Lists[0]
		if l.Anti {
			return RBLOutcome{Pass: true, Detail: fmt.Sprintf("RBLSMTPD is unset; assuming %s is listed in %s (-a, asked first): rblsmtpd runs qmail-smtpd", ip, l.Zone)}
		}
		code := "451 "
		if l.Bounce {
			code = "553 "
		}
		return RBLOutcome{Message: code + "<the TXT record of " + ip + " in " + l.Zone + ">",
			Detail: fmt.Sprintf("RBLSMTPD is unset; assuming %s is listed in %s (asked first): rblsmtpd blocks with its TXT record", ip, l.Zone)}
	case "not-listed":
		return RBLOutcome{Pass: true, Detail: fmt.Sprintf("RBLSMTPD is unset; assuming %s is in none of the DNS lists %s: rblsmtpd runs qmail-smtpd", ip, strings.Join(zones, ", "))}
	}
	return RBLOutcome{Pass: true, Undecided: true,
		Detail: fmt.Sprintf("RBLSMTPD is unset: decided by the DNS lists %s, which qmailctl does not ask (the rest assumes %s is not listed; --rbl-assume listed shows the other answer)", strings.Join(zones, ", "), ip)}
}

// rblMessage builds rblsmtpd's reply: the text cut to 200 bytes, bytes
// outside 32..126 replaced by '?'.
func rblMessage(code, text string) string {
	if len(text) > 200 {
		text = text[:200]
	}
	b := []byte(code + text)
	for i, c := range b {
		if c < 32 || c > 126 {
			b[i] = '?'
		}
	}
	return string(b)
}

// Replies returns rblsmtpd's reply lines, without CRLF, to the SMTP commands
// cmds when it blocks with o (the session ends at QUIT); with -t 0 the one
// line it sends before hanging up.
func (r *RBL) Replies(o RBLOutcome, cmds []string) []string {
	if o.Pass {
		return nil
	}
	if r.Timeout == 0 {
		return []string{o.Message}
	}
	out := []string{"220 rblsmtpd.local"}
	for _, c := range cmds {
		verb, _, _ := strings.Cut(strings.ToLower(c), " ")
		verb, _, _ = strings.Cut(verb, ":")
		switch verb {
		case "quit":
			return append(out, "221 rblsmtpd.local")
		case "rcpt", "data":
			out = append(out, o.Message)
		default:
			out = append(out, "250 rblsmtpd.local")
		}
	}
	return out
}

// rblsmtpd is the step between tcpserver and qmail-smtpd when the service
// runs rblsmtpd: a block refuses every recipient with its message.
func (e *engine) rblsmtpd(s *runState, w *warnings) {
	r := e.cfg.RBL
	if r == nil {
		if v, ok := s.env["RBLSMTPD"]; ok {
			if src := s.varSource("RBLSMTPD"); src.Source == "tcp.smtp" && v != "" {
				w.add(fmt.Sprintf("the tcp.smtp rule sets RBLSMTPD=%q, but no rblsmtpd is known to run before qmail-smtpd, so it has no effect (give --service DIR to read the run script)", v))
			}
		}
		return
	}
	o := r.Decide(s.env, e.q.IP)
	st := Step{Phase: "connect", Number: 1, Step: "rblsmtpd", Detail: o.Detail}
	src := Source{Source: "rblsmtpd", File: r.Path}
	if _, ok := s.env["RBLSMTPD"]; ok {
		src = s.varSource("RBLSMTPD")
		st.File, st.Line = src.File, src.Line
	}
	switch {
	case o.Undecided:
		st.Result = "unknown"
		w.add(o.Detail)
		s.add(st)
	case o.Pass:
		st.Result = "pass"
		s.add(st)
	default:
		st.Result, st.Matched = "refuse", true
		if r.Timeout == 0 {
			st.Detail += fmt.Sprintf(" (-t 0: it sends %q instead of the greeting and hangs up)", o.Message)
		} else {
			st.Detail += fmt.Sprintf(": 220 rblsmtpd.local, 250 rblsmtpd.local to HELO and MAIL, then %q to every RCPT; qmail-smtpd never runs", o.Message)
		}
		idx := s.add(st)
		s.refusal = &refusal{reply: o.Message, src: src, step: idx}
	}
}
