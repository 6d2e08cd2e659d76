package relay

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	cases := []struct {
		in, addr, local, domain string
		hasAt                   bool
		note                    string // substring of a note
		err                     string // substring of the error
	}{
		{in: "<joe@example.com>", addr: "joe@example.com", local: "joe", domain: "example.com", hasAt: true},
		{in: "joe@Example.COM", addr: "joe@Example.COM", local: "joe", domain: "Example.COM", hasAt: true},
		{in: "<>", addr: ""},
		{in: "", addr: ""},
		{in: "postmaster", addr: "postmaster", local: "postmaster"},
		{in: "<a@b@c.org>", addr: "a@b@c.org", local: "a@b", domain: "c.org", hasAt: true},
		{in: "<@relay.example:joe@example.com>", addr: "joe@example.com", local: "joe", domain: "example.com", hasAt: true, note: "source route"},
		{in: `<"joe smith"@example.com>`, addr: "joe smith@example.com", local: "joe smith", domain: "example.com", hasAt: true, note: "quotes"},
		{in: `<a\>b@example.com>`, addr: "a>b@example.com", local: "a>b", domain: "example.com", hasAt: true, note: "quotes"},
		{in: "<joe@example.com", addr: "joe@example.com", local: "joe", domain: "example.com", hasAt: true, note: "no closing"},
		{in: "<joe@example.com> SIZE=100", addr: "joe@example.com", local: "joe", domain: "example.com", hasAt: true},
		{in: "  joe@example.com", addr: "joe@example.com", local: "joe", domain: "example.com", hasAt: true},
		{in: "joe@example.com extra", err: "after the first space"},
		{in: "joe@exa\rmple.com", err: "control character"},
		{in: "<" + strings.Repeat("a", 901) + ">", err: "900"},
	}
	for _, c := range cases {
		a, err := ParseAddress(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v; want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if a.Addr != c.addr || a.Local != c.local || a.Domain != c.domain || a.HasAt != c.hasAt {
			t.Errorf("%q: got %q %q %q %v; want %q %q %q %v", c.in, a.Addr, a.Local, a.Domain, a.HasAt, c.addr, c.local, c.domain, c.hasAt)
		}
		if c.note != "" && !contains(a.Notes, c.note) {
			t.Errorf("%q: notes %q lack %q", c.in, a.Notes, c.note)
		}
	}
}

func TestRelayProbe(t *testing.T) {
	for in, want := range map[string]byte{
		"a@b.com": 0, "a%b@c.com": '%', "a!b@c.com": '!', "a@b@c.com": '@', "a%b": '%', "b!a": '!', "plain": 0, "a@b%c.com": 0,
	} {
		a, err := ParseAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		c, bad := relayProbe(a)
		if bad != (want != 0) || c != want {
			t.Errorf("%q: %q %v; want %q", in, c, bad, want)
		}
	}
}
