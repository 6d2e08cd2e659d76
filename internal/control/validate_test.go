package control

import (
	"errors"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

type validateCase struct {
	line string
	col  int    // 0: valid
	msg  string // substring of the error, or of a warning when col is 0
}

func runValidate(t *testing.T, kind Kind, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			warns, err := ValidateEntry(kind, tt.line)
			if tt.col == 0 {
				if err != nil {
					t.Fatalf("ValidateEntry(%q) = %v, want valid", tt.line, err)
				}
				if tt.msg != "" && !hasMsg(warns, tt.msg) {
					t.Errorf("warnings %v, want one containing %q", warns, tt.msg)
				}
				if tt.msg == "" && len(warns) > 0 {
					t.Errorf("unexpected warnings %v", warns)
				}
				return
			}
			var p *diag.Problem
			if !errors.As(err, &p) {
				t.Fatalf("ValidateEntry(%q) = %v, want a *diag.Problem", tt.line, err)
			}
			if p.Col != tt.col || !strings.Contains(p.Msg, tt.msg) || p.Severity != diag.Error {
				t.Errorf("ValidateEntry(%q) = col %d %s %q, want col %d error containing %q", tt.line, p.Col, p.Severity, p.Msg, tt.col, tt.msg)
			}
			if p.Expected == "" {
				t.Errorf("no Expected in %+v", p)
			}
		})
	}
}

func hasMsg(ps []diag.Problem, sub string) bool {
	for _, p := range ps {
		if strings.Contains(p.Msg, sub) {
			return true
		}
	}
	return false
}

func TestValidateRelayClients(t *testing.T) {
	runValidate(t, RelayClients, []validateCase{
		{line: "10.1.1.5"},
		{line: "10.1.1."},
		{line: "10.1."},
		{line: "10."},
		{line: "0.0.0.0"},
		{line: "255.255.255.255"},
		{line: "10.1.1.:"},
		{line: "10.1.1.5:"},
		{line: "10.1.1.5:x"},
		{line: "10.1.1.5:a:b"},
		{line: "::1"},
		{line: "2001:db8::1"},
		{line: "2001:db8::1:"},
		{line: "::ffff:10.1.1.5"},
		{line: "::ffff:10.1.1."},
		{line: "::ffff:10.1.1.:"},
		{line: "10.1.1.5 \t"}, // trailing blanks are ignored
		{line: "2001:DB8::1"},
		{line: "2001:0db8::1", msg: "tcpserver writes this address as 2001:db8::1"},
		{line: "10.1.1", col: 7, msg: "a prefix must end with a dot: 10.1.1."},
		{line: "10.1.1:", col: 7, msg: "a prefix must end with a dot: 10.1.1."},
		{line: "10", col: 3, msg: "a prefix must end with a dot: 10."},
		{line: "10.0.0.0/8", col: 9, msg: "CIDR is not understood by qmail-smtpd; write 10."},
		{line: "10.0.0.0/16", col: 9, msg: "write 10.0."},
		{line: "192.168.4.0/22", col: 12, msg: "write 4 lines: 192.168.4. 192.168.5. 192.168.6. 192.168.7."},
		{line: "10.0.0.0/12", col: 9, msg: "write 16 lines, 10.0. to 10.15."},
		{line: "10.1.1.7/32", col: 9, msg: "write 10.1.1.7"},
		{line: "300.1.1.", col: 1, msg: "octet 300 is out of range"},
		{line: "10.1.256.", col: 6, msg: "octet 256 is out of range"},
		{line: "10.1.1.1234", col: 8, msg: "out of range"},
		{line: "010.1.1.", col: 1, msg: "leading zero"},
		{line: "10.01.", col: 4, msg: "tcpserver writes this octet as 1"},
		{line: "10..1.", col: 4, msg: "empty octet"},
		{line: ".10.1.", col: 1, msg: "empty octet"},
		{line: "10.1.1.5.", col: 9, msg: "an address has no trailing dot: write 10.1.1.5"},
		{line: "1.2.3.4.5", col: 1, msg: "too many octets"},
		{line: "10.1.*", col: 6, msg: "wildcards are not understood"},
		{line: "10.1.1.1-20", col: 9, msg: "ranges are not understood"},
		{line: "10.1.1.x", col: 8, msg: `unexpected character 'x'`},
		{line: "mail.example.com", col: 1, msg: "host names belong in relaydomains"},
		{line: "mail.example.com:", col: 1, msg: "host names belong in relaydomains"},
		{line: ":", col: 1, msg: "empty address"},
		{line: "fe80::1%eth0", col: 8, msg: "zone"},
		{line: "2001:db8::/32", col: 11, msg: "CIDR"},
		{line: "2001:db8::zz", col: 1, msg: "not an IP address"},
		{line: "::ffff:10.1.300.", col: 13, msg: "octet 300"},
		{line: " 10.1.1.", col: 1, msg: "leading white space"},
		{line: "\t# comment", col: 1, msg: "a comment must start with # in the first column"},
		{line: "10.1\x001.", col: 5, msg: "NUL byte"},
		{line: "10.1.\x01", col: 6, msg: "control character 0x01"},
		{line: "", col: 1, msg: "empty entry"},
		{line: "# x", col: 1, msg: "comment"},
		{line: "10.1.1.\n10.2.", col: 8, msg: "single line"},
	})
}

func TestValidateRelayDomains(t *testing.T) {
	runValidate(t, RelayDomains, []validateCase{
		{line: "mail.example.com"},
		{line: ".example.com"},
		{line: "Mail.Example.COM"},
		{line: ".example.com:"},
		{line: "host:value"},
		{line: "localhost"},
		{line: "a-b.example.com"},
		{line: "xn--bcher-kva.example"},
		{line: "unknown", msg: "host name unknown for every client"},
		{line: strings.Repeat("a", 63) + ".com"},
		{line: ":", col: 1, msg: "empty host name"},
		{line: "*.example.com", col: 1, msg: "a leading dot (.example.com) matches every name under example.com"},
		{line: "example.com.", col: 12, msg: "a trailing dot never matches: write example.com"},
		{line: "a..example.com", col: 3, msg: "empty label"},
		{line: "..example.com", col: 2, msg: "empty label"},
		{line: ".", col: 1, msg: "a dot alone"},
		{line: "-a.example.com", col: 1, msg: "cannot start with a hyphen"},
		{line: "a-.example.com", col: 2, msg: "cannot end with a hyphen"},
		{line: "my_host.example.com", col: 3, msg: `unexpected character '_'`},
		{line: "bücher.example", col: 2, msg: "unexpected character"},
		{line: strings.Repeat("a", 64) + ".com", col: 1, msg: "at most 63"},
		{line: strings.Repeat("abcdefghi.", 26), col: 254, msg: "at most 253"},
		{line: "10.1.1.5", col: 1, msg: "IP addresses belong in relayclients"},
		{line: "10.1.", col: 1, msg: "IP addresses belong in relayclients"},
		{line: "*", col: 1, msg: "wildcards are not understood"},
	})
}

func TestValidateRcptHosts(t *testing.T) {
	for _, kind := range []Kind{RcptHosts, MoreRcptHosts} {
		t.Run(kind.Name(), func(t *testing.T) {
			runValidate(t, kind, []validateCase{
				{line: "example.com"},
				{line: ".example.com"},
				{line: "EXAMPLE.com"},
				{line: "localhost"},
				{line: "[10.1.1.5]"},
				{line: "*.example.com", col: 1, msg: "a leading dot (.example.com)"},
				{line: "@example.com", col: 1, msg: "write example.com"},
				{line: "user@example.com", col: 5, msg: "write example.com"},
				// Both servers match these lines literally (proven live).
				{line: "example.com.", msg: "only for recipients written with the dot"},
				{line: "ex_ample.com", msg: "still matches this line literally"},
				{line: "example.com:", col: 12, msg: `unexpected character ':'`},
				{line: "exa mple.com", col: 4, msg: `unexpected character ' '`},
				{line: "[10.1.1.5", col: 10, msg: "unclosed ["},
				{line: "[10.1.1]", col: 2, msg: "not an IPv4 address literal"},
			})
		})
	}
}

func TestValidateRelayMailFrom(t *testing.T) {
	runValidate(t, RelayMailFrom, []validateCase{
		{line: "joe@example.com"},
		{line: "Joe@Example.com"},
		{line: "@example.com"},
		{line: "joe@[10.1.1.5]"},
		{line: "*@example.com"},
		{line: "*@*.example.com"},
		{line: "joe+*@example.com"},
		{line: "user?@example.com"},
		{line: "[a-m]*@example.com"},
		{line: "[^a-m]*@example.com"},
		{line: "[]x]*@example.com"},
		{line: `a\*b@example.com`},
		{line: "!joe@example.com"},
		{line: "!*@spam.example.com"},
		{line: "*", msg: "matches every sender"},
		{line: "**", msg: "matches every sender"},
		{line: "!@example.com", msg: "negated @domain"},
		{line: "*@Example.com", msg: "upper-case letter in a pattern"},
		{line: "!Joe@example.com", msg: "upper-case letter"},
		{line: "!", col: 2, msg: "nothing after !"},
		{line: "example.com", col: 1, msg: "write @example.com"},
		{line: "!example.com", col: 2, msg: "write @example.com"},
		{line: "joe", col: 4, msg: "missing @domain"},
		{line: "joe@", col: 5, msg: "missing domain"},
		{line: "@", col: 2, msg: "missing domain"},
		{line: "joe@exa_mple.com", col: 8, msg: `unexpected character '_'`},
		{line: "@example.com.", col: 13, msg: "trailing dot"},
		{line: "!@example..com", col: 11, msg: "empty label"},
		{line: "@.example.com", col: 2, msg: "*@*.example.com"},
		{line: "a@b@example.com", col: 2, msg: "more than one @"},
		{line: "joe doe@example.com", col: 4, msg: "white space"},
		{line: "[a-*@example.com", col: 1, msg: "unclosed ["},
		{line: "!x[", col: 3, msg: "unclosed ["},
		{line: `joe@example.com\`, col: 16, msg: "backslash"},
	})
}

func TestKindNames(t *testing.T) {
	for _, k := range Kinds() {
		got, ok := ParseKind(k.Name())
		if !ok || got != k || k.String() != k.Name() {
			t.Errorf("ParseKind(%q) = %v, %v", k.Name(), got, ok)
		}
	}
	if _, ok := ParseKind("tcp.smtp"); ok {
		t.Error("ParseKind(tcp.smtp) succeeded")
	}
	if RelayMailFrom.CDBName() != "relaymailfrom.cdb" || MoreRcptHosts.CDBName() != "morercpthosts.cdb" || RcptHosts.CDBName() != "" {
		t.Error("CDBName")
	}
	if _, err := ValidateEntry(Kind(0), "x"); err == nil {
		t.Error("ValidateEntry accepted Kind(0)")
	}
}
