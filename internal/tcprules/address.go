package tcprules

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// isCIDR reports whether addr is meant as a CIDR block: an IP address, a
// slash and a number. Anything else with a slash is a literal key.
func isCIDR(addr []byte) bool {
	slash := bytes.IndexByte(addr, '/')
	if slash < 0 || slash == len(addr)-1 || !allDigits(addr[slash+1:]) {
		return false
	}
	_, err := netip.ParseAddr(string(addr[:slash]))
	return err == nil
}

// cidrKeys expands a CIDR block into the keys tcpserver can match: exact
// addresses and prefixes ending in "." (IPv4), or textual prefixes ending in
// ":" (IPv6, as ucspi-tcp-ipv6 prints addresses).
func cidrKeys(addr []byte) ([]string, error) {
	pfx, err := netip.ParsePrefix(string(addr))
	if err != nil {
		return nil, fmt.Errorf("not a CIDR block: %v", errors.Unwrap(err))
	}
	if pfx.Addr().Is4In6() {
		return nil, errors.New("IPv4-mapped block: tcpserver reports these clients as plain IPv4; write the IPv4 block")
	}
	if pfx.Bits() == 0 {
		return nil, errors.New("/0 covers every client: write the default rule (an empty address, \":allow\") instead")
	}
	if pfx.Addr().Is6() && pfx.Bits()%16 != 0 {
		return nil, fmt.Errorf("/%d is not a multiple of 16: ucspi-tcp-ipv6 matches IPv6 prefixes only group by group", pfx.Bits())
	}
	if pfx.Masked() != pfx {
		return nil, fmt.Errorf("host bits set: the block is %s", pfx.Masked())
	}
	if pfx.Addr().Is4() {
		return cidr4Keys(pfx), nil
	}
	return cidr6Keys(pfx)
}

// cidr4Keys covers an IPv4 block with the fewest keys at octet boundaries:
// a /22 becomes four "a.b.c." prefixes, a /30 four exact addresses.
func cidr4Keys(pfx netip.Prefix) []string {
	a := pfx.Addr().As4()
	bits := pfx.Bits()
	octets := (bits + 7) / 8 // octets the key spells out
	if bits == 32 {
		return []string{pfx.Addr().String()}
	}
	span := 1 << (octets*8 - bits)
	keys := make([]string, 0, span)
	for i := 0; i < span; i++ {
		var b strings.Builder
		for o := 0; o < octets; o++ {
			v := int(a[o])
			if o == octets-1 {
				v += i
			}
			b.WriteString(strconv.Itoa(v))
			if o < 3 {
				b.WriteByte('.')
			}
		}
		keys = append(keys, b.String())
	}
	return keys
}

// cidr6Keys turns an IPv6 block into one textual prefix. ucspi-tcp-ipv6
// matches IPv6 prefixes as text ending in ':', so only whole groups that are
// not zero can be spelled reliably: a zero group may be printed as "::".
func cidr6Keys(pfx netip.Prefix) ([]string, error) {
	if pfx.Bits() == 128 {
		return []string{FormatIP(pfx.Addr())}, nil
	}
	a := pfx.Addr().As16()
	var b strings.Builder
	n := pfx.Bits() / 16
	for g := 0; g < n; g++ {
		v := uint16(a[2*g])<<8 | uint16(a[2*g+1])
		if v == 0 && g == n-1 && g > 0 {
			// Only the last group is zero: tcpserver prints it as "0:"
			// or, when the zero run starting there is compressed, as
			// "::". Both texts say the group is zero, so the two keys
			// cover the block exactly (2001:db8:3::/64 is 2001:db8:3:0:
			// and 2001:db8:3::).
			base := b.String()
			return []string{base + "0:", base + ":"}, nil
		}
		if v == 0 {
			return nil, fmt.Errorf("group %d of the prefix is zero, and tcpserver may print it as \"::\": no textual prefix matches every address in the block (only a zero last group can be covered)", g+1)
		}
		b.WriteString(strconv.FormatUint(uint64(v), 16))
		b.WriteByte(':')
	}
	return []string{b.String()}, nil
}

// FormatIP prints an address the way tcpserver sets TCPREMOTEIP and looks it
// up: IPv4 and IPv4-mapped clients as a dotted quad; IPv6 as ucspi-tcp-ipv6
// prints it, lower-case hex without leading zeros, the longest run of zero
// groups (the first on a tie, even a single group) written as "::".
func FormatIP(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4() || ip.Is4In6() {
		return ip.Unmap().String()
	}
	return FormatIPv6(ip.As16(), 1, false)
}

// FormatIPv6 writes an IPv6 address in lower-case hex without leading zeros,
// writing one run of at least minRun zero groups as "::": the longest run
// (the first on a tie), or with first set the first run. The tcpservers
// differ here: ucspi-tcp-ipv6 uses (1, false), IndiMail's (2, true), and
// RFC 5952 (2, false).
func FormatIPv6(a [16]byte, minRun int, first bool) string {
	var g [8]uint16
	for i := range g {
		g[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	start, length := -1, 0
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i >= minRun && j-i > length {
			start, length = i, j-i
			if first {
				break
			}
		}
		i = j
	}
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == start {
			b.WriteString("::")
			i += length - 1
			continue
		}
		if i > 0 && i != start+length {
			b.WriteByte(':')
		}
		b.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return b.String()
}

// NormalizeIP parses a client address and returns it as tcpserver would
// report it (see FormatIP).
func NormalizeIP(s string) (string, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an IP address", s)
	}
	return FormatIP(ip), nil
}

// addressWarning says why an address (already accepted by the parser) can
// never match a connection, or returns "" when it can.
func addressWarning(addr []byte) (msg, hint string) {
	s := string(addr)
	switch {
	case s == "":
		return "", ""
	case strings.TrimSpace(s) != s:
		return "the address has leading or trailing white space, which becomes part of the key, so the rule never matches",
			"remove the spaces: " + strings.TrimSpace(s)
	}
	host := s
	if at := strings.IndexByte(s, '@'); at >= 0 {
		host = s[at+1:]
	}
	if strings.HasPrefix(host, "=") {
		if strings.ToLower(host) != host {
			return "host names are matched as tcpserver's resolver prints them, in lower case, so this rule never matches",
				"write " + strings.ToLower(s)
		}
		return "", ""
	}
	if isCIDR(addr) {
		return "", ""
	}
	if strings.IndexByte(host, '-') >= 0 && strings.IndexByte(s, '@') < 0 {
		left := strings.LastIndexByte(host[:strings.IndexByte(host, '-')], '.') + 1
		dash := strings.IndexByte(host, '-')
		right := dash + 1 + indexOrLen([]byte(host[dash+1:]), '.')
		bot, top := scanUlong([]byte(host[left:dash])), scanUlong([]byte(host[dash+1:right]))
		if top > 255 {
			top = 255
		}
		if bot > top {
			return "the range is empty (its start is after its end), so tcprules stores nothing for this line", ""
		}
		host = host[:left] + strconv.FormatUint(bot, 10) + host[right:]
	}
	if strings.Contains(host, "/") {
		return "a slash is not understood by tcpserver; this address is stored as written and never matches",
			"write a CIDR block as a.b.c.d/n, or a prefix ending in a dot such as 10.1."
	}
	if strings.IndexByte(host, ':') >= 0 {
		return ipv6Warning(host)
	}
	return ipv4Warning(host)
}

func ipv4Warning(host string) (msg, hint string) {
	parts := strings.Split(host, ".")
	prefix := strings.HasSuffix(host, ".")
	if prefix {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 || (prefix && len(parts) > 3) {
		return "not an IPv4 address or prefix, so the rule never matches", ""
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || !allDigits([]byte(p)) {
			return "not an IPv4 address or prefix (tcpserver compares the text), so the rule never matches",
				"write an address such as 10.1.1.5, a prefix such as 10.1.1., or a host rule starting with ="
		}
		if n > 255 || (len(p) > 1 && p[0] == '0') {
			return fmt.Sprintf("octet %q is never printed by tcpserver, so the rule never matches", p),
				"write octets in decimal without leading zeros"
		}
	}
	if !prefix && len(parts) < 4 {
		return "a prefix must end with a dot: tcpserver tries 10.1.1., 10.1., 10., never 10.1.1",
			"write " + host + "."
	}
	return "", ""
}

func ipv6Warning(host string) (msg, hint string) {
	if strings.HasSuffix(host, ":") {
		if strings.ToLower(host) != host {
			return "tcpserver prints IPv6 addresses in lower case, so this prefix never matches", "write " + strings.ToLower(host)
		}
		return ipv6PrefixWarning(host)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "not an IPv6 address or prefix ending in ':', so the rule never matches", ""
	}
	if f := FormatIP(ip); f != host {
		return fmt.Sprintf("tcpserver prints this client as %s and compares text, so the rule never matches", f),
			"write " + f
	}
	return "", ""
}

// ipv6PrefixWarning explains what an IPv6 prefix key really matches:
// ucspi-tcp-ipv6 tries the client's printed text cut after each ':', so
// "2001:db8:1::" matches only clients printed with "::" right there (such as
// 2001:db8:1::5), never 2001:db8:1:2::5, and a group with leading zeros
// never matches at all.
func ipv6PrefixWarning(host string) (msg, hint string) {
	if host == ":" || host == "::" {
		return "", ""
	}
	base := strings.TrimSuffix(host, ":")
	compressed := strings.HasSuffix(base, ":")
	base = strings.TrimSuffix(base, ":")
	groups := strings.Split(base, ":")
	var canon []string
	for _, g := range groups {
		v, err := strconv.ParseUint(g, 16, 16)
		if err != nil || g == "" {
			return "not an IPv6 prefix tcpserver prints (groups of 1 to 4 hex digits, each followed by ':'), so the rule never matches", ""
		}
		canon = append(canon, strconv.FormatUint(v, 16))
	}
	want := strings.Join(canon, ":") + ":"
	block := fmt.Sprintf("%s::/%d", strings.Join(canon, ":"), 16*len(canon))
	if len(canon) == 8 {
		block = strings.Join(canon, ":")
	}
	switch {
	case compressed:
		return fmt.Sprintf("tcpserver compares text cut after each ':': %s matches only clients printed with \"::\" right after %s (such as %s5), never %s1::5; for every client in %s write %s",
				host, strings.Join(canon, ":"), host, want, block, want),
			"write " + want + " (or " + block + ")"
	case want != host:
		return fmt.Sprintf("tcpserver prints groups without leading zeros, so %s never matches; for every client in %s write %s", host, block, want),
			"write " + want
	}
	return "", ""
}
