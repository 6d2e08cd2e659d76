package tcprules

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCandidates(t *testing.T) {
	tests := []struct {
		q    Query
		want string
	}{
		{Query{IP: "1.2.3.4"}, `1.2.3.4|1.2.3.|1.2.|1.|`},
		{Query{IP: "1.2.3.4", Host: "a.b.c", HasHost: true},
			`1.2.3.4|=a.b.c|1.2.3.|1.2.|1.|=.b.c|=.c|=|`},
		{Query{IP: "1.2.3.4", Host: "", HasHost: true}, `1.2.3.4|=|1.2.3.|1.2.|1.|=|`},
		{Query{IP: "1.2.3.4", Info: "joe", HasInfo: true}, `joe@1.2.3.4|1.2.3.4|1.2.3.|1.2.|1.|`},
		{Query{IP: "1.2.3.4", Host: "h.x", HasHost: true, Info: "joe", HasInfo: true},
			`joe@1.2.3.4|joe@=h.x|1.2.3.4|=h.x|1.2.3.|1.2.|1.|=.x|=|`},
		{Query{IP: "2001:db8::1"}, `2001:db8::1|2001:db8::|2001:db8:|2001:|`},
		{Query{IP: "::1"}, `::1|::|:|`},
	}
	for _, tt := range tests {
		if got := strings.Join(Candidates(tt.q), "|"); got != tt.want {
			t.Errorf("Candidates(%+v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestLookup(t *testing.T) {
	f, _ := Parse("tcp.smtp", []byte(strings.Join([]string{
		`10.1.1.:allow,RELAYCLIENT=""`,
		`10.1.1.66:deny,X="1"`,
		`=.example.com:allow,HOSTRULE="y"`,
		`127.:allow,RELAYCLIENT="",!GREYIP`,
		`:allow,GREYIP="1"`,
	}, "\n")))
	db := map[string]string{}
	for _, r := range f.Rules() {
		for _, k := range r.Keys() {
			if _, dup := db[k]; !dup {
				db[k] = string(r.Data())
			}
		}
	}
	get := func(k []byte) ([]byte, bool, error) { v, ok := db[string(k)]; return []byte(v), ok, nil }
	tests := []struct {
		q    Query
		key  string
		deny bool
		env  string
	}{
		{Query{IP: "10.1.1.5"}, "10.1.1.", false, "RELAYCLIENT="},
		{Query{IP: "10.1.1.66"}, "10.1.1.66", true, "X=1"},
		{Query{IP: "10.2.0.1", Host: "mx.example.com", HasHost: true}, "=.example.com", false, "HOSTRULE=y"},
		{Query{IP: "127.0.0.1"}, "127.", false, "RELAYCLIENT=,!GREYIP"},
		{Query{IP: "192.0.2.1"}, "", false, "GREYIP=1"},
	}
	for _, tt := range tests {
		d, err := Lookup(get, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var env []string
		for _, v := range d.Env {
			if v.Unset {
				env = append(env, "!"+v.Name)
			} else {
				env = append(env, v.Name+"="+v.Value)
			}
		}
		if !d.Matched || d.Key != tt.key || d.Deny != tt.deny || strings.Join(env, ",") != tt.env {
			t.Errorf("Lookup(%+v) = %+v, want key %q deny %v env %q", tt.q, d, tt.key, tt.deny, tt.env)
		}
		if d.Tried[len(d.Tried)-1] != tt.key {
			t.Errorf("Tried does not end with the matching key: %q", d.Tried)
		}
	}
	empty := func([]byte) ([]byte, bool, error) { return nil, false, nil }
	if d, _ := Lookup(empty, Query{IP: "1.2.3.4"}); d.Matched || d.Deny {
		t.Errorf("lookup in an empty cdb = %+v, want unmatched allow", d)
	}
}

func TestDecode(t *testing.T) {
	deny, env := Decode([]byte("D\x00+A=1\x00+NOEQ\x00?x\x00-B\x00\x00+C=tail"))
	if !deny || len(env) != 2 || env[0] != (Var{Name: "A", Value: "1"}) || env[1] != (Var{Name: "B", Unset: true}) {
		t.Errorf("Decode = %v %+v", deny, env)
	}
	d := Decision{Env: []Var{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}, {Name: "GREYIP", Unset: true}}}
	got := d.Apply(map[string]string{"GREYIP": "x", "TCPREMOTEIP": "1.2.3.4"})
	if len(got) != 2 || got["A"] != "2" || got["TCPREMOTEIP"] != "1.2.3.4" {
		t.Errorf("Apply = %v", got)
	}
}

// Facts: ucspi-tcp-ipv6 compresses the longest zero run, the first on a tie,
// even a single group, as its tcpserver prints TCPREMOTEIP.
func TestFormatIP(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1":               "127.0.0.1",
		"::ffff:127.0.0.1":        "127.0.0.1",
		"::1":                     "::1",
		"::":                      "::",
		"2001:DB8::5":             "2001:db8::5",
		"2001:db8:0:1:1:1:1:1":    "2001:db8::1:1:1:1:1",
		"2001:0:0:1:0:0:0:1":      "2001:0:0:1::1",
		"2001:0:0:1:0:0:1:1":      "2001::1:0:0:1:1",
		"fe80::1%eth0":            "fe80::1",
		"1:2:3:4:5:6:7:8":         "1:2:3:4:5:6:7:8",
		"1:0:0:0:0:0:0:0":         "1::",
		"0:0:0:0:0:0:0:1":         "::1",
		"2001:db8:aaaa:bbbb::cc0": "2001:db8:aaaa:bbbb::cc0",
	}
	for in, want := range tests {
		if got := FormatIP(netip.MustParseAddr(in)); got != want {
			t.Errorf("FormatIP(%s) = %s, want %s", in, got, want)
		}
	}
	if _, err := NormalizeIP("10.1.1"); err == nil {
		t.Error("NormalizeIP accepted 10.1.1")
	}
}

func TestFormatIPv6Policies(t *testing.T) {
	a := netip.MustParseAddr("1:0:0:2:0:0:0:3").As16()
	for _, tt := range []struct {
		minRun int
		first  bool
		want   string
	}{
		{1, false, "1:0:0:2::3"},  // ucspi-tcp-ipv6: the longest run
		{2, true, "1::2:0:0:0:3"}, // IndiMail: the first run of two or more
		{2, false, "1:0:0:2::3"},  // RFC 5952
	} {
		if got := FormatIPv6(a, tt.minRun, tt.first); got != tt.want {
			t.Errorf("FormatIPv6(%d, %v) = %s, want %s", tt.minRun, tt.first, got, tt.want)
		}
	}
	single := netip.MustParseAddr("2001:db8:0:1:1:1:1:1").As16()
	if got := FormatIPv6(single, 2, false); got != "2001:db8:0:1:1:1:1:1" {
		t.Errorf("RFC 5952 compressed a single zero group: %s", got)
	}
}
