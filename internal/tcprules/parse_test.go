package tcprules

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// record is one cdb record, as the tests compare them.
type record struct{ key, data string }

type recorder struct{ recs []record }

func (r *recorder) Add(k, d []byte) error {
	r.recs = append(r.recs, record{string(k), string(d)})
	return nil
}

func compileString(t *testing.T, src string) ([]record, []diag.Problem, error) {
	t.Helper()
	var rec recorder
	_, warns, err := Compile("tcp.smtp", strings.NewReader(src), &rec)
	return rec.recs, warns, err
}

// Facts about tcprules' records (the address keys, the instruction's
// encoding), each checked against Debian's tcprules (compat_test.go proves
// them on random files).
func TestCompileRecords(t *testing.T) {
	tests := []struct {
		src  string
		want []record
	}{
		{"1.2.3.4:allow\n1.2.3.:deny\n:allow,RELAYCLIENT=\"\"\n",
			[]record{{"1.2.3.4", ""}, {"1.2.3.", "D\x00"}, {"", "+RELAYCLIENT=\x00"}}},
		{"1.2.3.4:allow\n5.6.7.8:deny", []record{{"1.2.3.4", ""}, {"5.6.7.8", "D\x00"}}},
		{"# comment\n\n   \n\t\n1.2.3.4\n", nil},
		{" #x:allow\n", []record{{" #x", ""}}},
		{" 1.2.3.4 :allow\n", []record{{" 1.2.3.4 ", ""}}},
		{"1.2.3.4:allow  \t \n", []record{{"1.2.3.4", ""}}},
		{",=xax:allow,=xax\n", []record{{",=xax", "+=a\x00"}}},
		{"a:allow,A B=\"c\"\n", []record{{"a", "+A B=c\x00"}}},
		{"a:allow,,X=\"a\"\n", []record{{"a", "+,X=a\x00"}}},
		{"a:allow,X=abca\n", []record{{"a", "+X=bc\x00"}}},
		{"a:allow,X=,a,\n", []record{{"a", "+X=a\x00"}}},
		{"a:allow,X=/@fix.me/\n", []record{{"a", "+X=@fix.me\x00"}}},
		{`a:allow,X=":",Y="a,b",Z="a=b",E=""` + "\n", []record{{"a", "+X=:\x00+Y=a,b\x00+Z=a=b\x00+E=\x00"}}},
		{"a:allow,X=\"a \"\n", []record{{"a", "+X=a \x00"}}},
		{"a:allow,X=\"a\",X=\"b\"\n", []record{{"a", "+X=a\x00+X=b\x00"}}},
		{"1.2.3.4:deny,X=\"1\"\n", []record{{"1.2.3.4", "D\x00+X=1\x00"}}},
		{"1.2.3.4-7:allow\n", []record{{"1.2.3.4", ""}, {"1.2.3.5", ""}, {"1.2.3.6", ""}, {"1.2.3.7", ""}}},
		{"1.2.3-5.:deny\n", []record{{"1.2.3.", "D\x00"}, {"1.2.4.", "D\x00"}, {"1.2.5.", "D\x00"}}},
		{"1-3:allow\n", []record{{"1", ""}, {"2", ""}, {"3", ""}}},
		{"1.2.3.254-300:allow\n", []record{{"1.2.3.254", ""}, {"1.2.3.255", ""}}},
		{"1.2.3.04-05:allow\n", []record{{"1.2.3.4", ""}, {"1.2.3.5", ""}}},
		{"1.2.3.7-4:allow\n", nil},
		{"1.2.3.-1:allow\n", []record{{"1.2.3.0", ""}, {"1.2.3.1", ""}}},
		{"1.2.3.1-:allow\n", nil},
		{"1.2-3.4-5:allow\n", []record{{"1.2.4-5", ""}, {"1.3.4-5", ""}}},
		{"=host-name.com:allow\njoe@1.2.3.4-5:allow\n", []record{{"=host-name.com", ""}, {"joe@1.2.3.4-5", ""}}},
		{"1.2.3.4:deny\n1.2.3.4:allow,X=\"2\"\n", []record{{"1.2.3.4", "D\x00"}, {"1.2.3.4", "+X=2\x00"}}},
		// ucspi-tcp-ipv6: the address ends at the first colon followed by allow or deny.
		{"::1:allow\n", []record{{"::1", ""}}},
		{"::ffff:1.2.3.4:deny\n", []record{{"::ffff:1.2.3.4", "D\x00"}}},
		{"2001:db8:::allow\n2001:db8::allow\n::deny\n", []record{{"2001:db8::", ""}, {"2001:db8:", ""}, {":", "D\x00"}}},
		{"ab:alloc:deny\n", []record{{"ab:alloc", "D\x00"}}},
		{"a:allow,X=\"a:deny\"\n", []record{{"a", "+X=a:deny\x00"}}},
		// IndiMail: !NAME unsets a variable.
		{"127.:allow,!GREYIP,X=\"1\",!Y\n", []record{{"127.", "-GREYIP\x00+X=1\x00-Y\x00"}}},
		{"127.:allow,!X=\"1\"\n", []record{{"127.", "+!X=1\x00"}}},
		// CIDR is expanded into keys tcpserver understands.
		{"10.0.0.0/8:allow\n", []record{{"10.", ""}}},
		{"192.168.4.0/22:deny\n", []record{{"192.168.4.", "D\x00"}, {"192.168.5.", "D\x00"}, {"192.168.6.", "D\x00"}, {"192.168.7.", "D\x00"}}},
		{"10.1.1.4/31:allow\n", []record{{"10.1.1.4", ""}, {"10.1.1.5", ""}}},
		{"10.1.1.4/32:allow\n", []record{{"10.1.1.4", ""}}},
		{"2001:db8::/32:allow\n", []record{{"2001:db8:", ""}}},
		// A zero last group is printed "0:" or, compressed, "::": two keys.
		{"2001:db8:3::/64:allow\n", []record{{"2001:db8:3:0:", ""}, {"2001:db8:3::", ""}}},
		{"a/b:allow\n", []record{{"a/b", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, _, err := compileString(t, tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("records = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("record %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
			// Parse must agree with Compile record for record.
			f, probs := Parse("tcp.smtp", []byte(tt.src))
			if e := diag.FirstError(probs); e != nil {
				t.Fatalf("Parse: %v", e)
			}
			var fromParse []record
			for _, r := range f.Rules() {
				for _, k := range r.Keys() {
					fromParse = append(fromParse, record{k, string(r.Data())})
				}
			}
			if strings.Join(flat(fromParse), "|") != strings.Join(flat(got), "|") {
				t.Errorf("Parse gives %q, Compile %q", fromParse, got)
			}
			if string(f.Bytes()) != tt.src {
				t.Errorf("Bytes() does not round-trip")
			}
		})
	}
}

func flat(rs []record) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.key+"="+r.data)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		line string
		col  int
		msg  string
	}{
		{"1.2.3.4:allow # c", 14, "unexpected text after the instruction"},
		{"1.2.3.4:allow\r", 14, "unexpected text after the instruction"},
		{"1.2.3.4:ALLOW", 9, "no instruction after the address"},
		{"1.2.3.4: allow", 9, "no instruction after the address"},
		{"1.2.3.4:allowed", 14, "unexpected text after the instruction"},
		{"1.2.3.4:denyx", 13, "unexpected text after the instruction"},
		{"a:b", 3, "no instruction after the address"},
		{"a:allow,X=value", 11, "value has no closing 'v'"},
		{`a:allow,X="a"Y="b"`, 14, "unexpected text after the instruction"},
		{`a:allow,X=""junk`, 13, "unexpected text after the instruction"},
		{"a:allow,", 9, "variable without a value"},
		{"a:allow,X", 9, "variable without a value"},
		{"a:allow,X=", 11, "missing value after '='"},
		{"a:allow,X= a ", 11, "value has no closing byte 0x20"},
		{"a:allow,!", 9, "variable without a value"},
		{"1.2.3.a-5:allow", 7, "range start is not a number"},
		{"1.2.3.+1-2:allow", 7, "range start is not a number"},
		{"1.2.3. 1-2:allow", 7, "range start is not a number"},
		{"1.2.3.4-5-6:allow", 9, "range end is not a number"},
		{"a-b.c:allow", 1, "range start is not a number"},
		{"fe80::1-3:allow", 1, "range start is not a number"},
		{"10.1.2.3/8:allow", 10, "host bits set: the block is 10.0.0.0/8"},
		{"10.0.0.0/0:allow", 10, "/0 covers every client"},
		{"2001:db8::/20:allow", 12, "/20 is not a multiple of 16"},
		{"2001:0:1::/48:allow", 12, "group 2 of the prefix is zero"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, _, err := compileString(t, "1.1.1.1:allow\n"+tt.line+"\n")
			p, ok := err.(*diag.Problem)
			if !ok {
				t.Fatalf("err = %v (%T), want *diag.Problem", err, err)
			}
			if p.Line != 2 || p.Col != tt.col || !strings.HasPrefix(p.Msg, tt.msg) {
				t.Errorf("got %d:%d %q, want 2:%d %q", p.Line, p.Col, p.Msg, tt.col, tt.msg)
			}
			if p.Expected == "" || p.Hint == "" || p.Text != strings.TrimRight(tt.line, "\n") {
				t.Errorf("problem lacks expected/hint/text: %+v", p)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		line string
		want string // substring of the warning, "" for none
	}{
		{"10.1.1.:allow", ""},
		{"10.1.1.5:allow", ""},
		{"=mail.example.com:allow", ""},
		{"joe@=mail.example.com:allow", ""},
		{"::1:allow", ""},
		{"2001:db8::5:allow", ""},
		{"2001:db8:0:1:1:1:1:1:allow", "prints this client as 2001:db8::1:1:1:1:1"},
		{"2001:DB8::5:allow", "prints this client as 2001:db8::5"},
		{"2001:db8:1:::allow", "matches only clients printed with \"::\" right after 2001:db8:1 (such as 2001:db8:1::5), never 2001:db8:1:1::5; for every client in 2001:db8:1::/48 write 2001:db8:1:"},
		{"2001:0db8:1::allow", "2001:0db8:1: never matches; for every client in 2001:db8:1::/48 write 2001:db8:1:"},
		{"2001:db8:1::allow", ""},
		{"::ffff:10.1.1.5:allow", "prints this client as 10.1.1.5"},
		{"1.2.3.4", "no colon"},
		{"   ", "white space"},
		{" 1.2.3.4:allow", "white space"},
		{"=MAIL.example.com:allow", "lower case"},
		{"1.2.3.7-4:allow", "range is empty"},
		{"10.1.1:allow", "must end with a dot"},
		{"001.2.3.4:allow", "never printed by tcpserver"},
		{"1.2.3.256:allow", "never printed by tcpserver"},
		{"a/b:allow", "slash"},
		{"mail.example.com:allow", "not an IPv4 address"},
		{`:allow,RELAYCLIENT=" "`, "appended to every recipient"},
		{`:allow,RELAYCLIENT=""`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			for _, via := range []string{"Compile", "Parse"} {
				var warns []diag.Problem
				if via == "Compile" {
					_, w, err := compileString(t, tt.line+"\n")
					if err != nil {
						t.Fatal(err)
					}
					warns = w
				} else {
					_, probs := Parse("f", []byte(tt.line+"\n"))
					for _, p := range probs {
						if p.Severity == diag.Warning {
							warns = append(warns, p)
						}
					}
				}
				if tt.want == "" {
					if len(warns) > 0 {
						t.Errorf("%s: unexpected warning %v", via, warns)
					}
					continue
				}
				if len(warns) != 1 || !strings.Contains(warns[0].Msg, tt.want) || warns[0].Line != 1 {
					t.Errorf("%s: warnings = %v, want one containing %q", via, warns, tt.want)
				}
			}
		})
	}
}

func TestCIDRInfo(t *testing.T) {
	_, probs := Parse("f", []byte("192.168.4.0/22:allow\n"))
	if len(probs) != 1 || probs[0].Severity != diag.Info || !strings.Contains(probs[0].Msg, `4 key(s)`) {
		t.Errorf("problems = %v, want one info about 4 keys", probs)
	}
}

func TestShadowed(t *testing.T) {
	src := "10.1.1.1-9:deny\n10.1.1.5:allow\n10.1.1.20:allow\n10.1.1.20:deny\n"
	f, _ := Parse("tcp.smtp", []byte(src))
	got := f.Shadowed()
	if len(got) != 2 || got[0].Line != 2 || got[1].Line != 4 {
		t.Fatalf("Shadowed = %v, want lines 2 and 4", got)
	}
	if !strings.Contains(got[0].Msg, "line 1") || !strings.Contains(got[1].Msg, "line 3") {
		t.Errorf("messages do not name the shadowing line: %v", got)
	}
}

// TestIPv6BlockKeysCoverTheBlock checks that the keys a /64 with a zero last
// group compiles to match every client in the block, as tcpserver prints
// it, and no client outside it.
func TestIPv6BlockKeysCoverTheBlock(t *testing.T) {
	recs, _, err := compileString(t, "2001:db8:3::/64:allow,RELAYCLIENT=\"\"\n")
	if err != nil {
		t.Fatal(err)
	}
	get := func(k []byte) ([]byte, bool, error) {
		for _, r := range recs {
			if r.key == string(k) {
				return []byte(r.data), true, nil
			}
		}
		return nil, false, nil
	}
	pfx := netip.MustParsePrefix("2001:db8:3::/64")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		a := pfx.Addr().As16()
		if i%2 == 1 { // outside: change a prefix bit now and then
			a[7] = byte(rng.IntN(3))
		}
		for j := 8; j < 16; j++ {
			if rng.IntN(3) > 0 { // many zero groups, to exercise "::"
				a[j] = byte(rng.IntN(256))
			}
		}
		ip := netip.AddrFrom16(a)
		d, err := Lookup(get, Query{IP: FormatIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Matched != pfx.Contains(ip) {
			t.Fatalf("%s (printed %s): matched %v, in the block %v", ip, FormatIP(ip), d.Matched, pfx.Contains(ip))
		}
	}
}
