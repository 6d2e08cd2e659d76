package control

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/cdb"
)

func mustParse(t *testing.T, kind Kind, data string) *File {
	t.Helper()
	f, _, err := Parse(kind, kind.Name(), []byte(data))
	if err != nil {
		t.Fatalf("Parse(%s): %v", kind, err)
	}
	return f
}

// makeCDB writes a cdb of keys (empty data) and opens it.
func makeCDB(t *testing.T, keys ...string) *cdb.Reader {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.cdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCDB(f, keys); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := cdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestProbes(t *testing.T) {
	tests := []struct {
		fn   func(string) []string
		in   string
		want []string
	}{
		{ClientProbes, "10.1.1.5", []string{"10.1.1.5", "10.1.1.", "10.1.", "10."}},
		{ClientProbes, "10.1.1.", []string{"10.1.1.", "10.1.", "10."}},
		{ClientProbes, "::ffff:10.1.1.5", []string{"::ffff:10.1.1.5", "::ffff:10.1.1.", "::ffff:10.1.", "::ffff:10."}},
		{ClientProbes, "2001:db8::1", []string{"2001:db8::1"}},
		{ClientProbes, "", nil},
		{HostProbes, "a.b.example.com", []string{"a.b.example.com", ".b.example.com", ".example.com", ".com", ""}},
		{HostProbes, "unknown", []string{"unknown", ""}},
		{HostProbes, "", []string{""}},
		{DomainProbes, "a.b.example.com", []string{"a.b.example.com", ".b.example.com", ".example.com", ".com"}},
		{DomainProbes, "", nil},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("probes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMatchClient(t *testing.T) {
	rc := mustParse(t, RelayClients, "# office\n10.1.\n10.1.1.:\n192.168.1.5\n172.16.:-foo\n2001:db8::1\n10.9.9.\r\n")
	tests := []struct {
		ip                 string
		matched            bool
		line, indimailLine int // 0: no match
		probe              string
		indimailAppend     string
		appendUnknown      bool
		append             string
		warn               string
	}{
		// The colon line matches by its documented key; IndiMail skips it and matches 10.1. instead.
		{ip: "10.1.1.5", matched: true, line: 3, indimailLine: 2, probe: "10.1.1.", indimailAppend: "10.1.1.:", warn: "it matches line 2"},
		{ip: "10.1.2.5", matched: true, line: 2, indimailLine: 2, probe: "10.1.", indimailAppend: "10.1.1.:", warn: `appends the next line's text "10.1.1.:"`},
		{ip: "192.168.1.5", matched: true, line: 4, indimailLine: 4, probe: "192.168.1.5", indimailAppend: "172.16.:-foo"},
		{ip: "192.168.1.50", probe: ""},
		{ip: "172.16.0.1", matched: true, line: 5, probe: "172.16.", append: "-foo", warn: "so it does not relay"},
		{ip: "2001:DB8::1", matched: true, line: 6, indimailLine: 6, probe: "2001:DB8::1", indimailAppend: "10.9.9.\r"},
		{ip: "10.9.9.9", warn: `line 7 "10.9.9.\r" ends in "\r" (a CRLF file), so qmail never matches it`},
		{ip: "11.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			m := rc.MatchClient(tt.ip)
			if m.Matched != tt.matched || line(m.Entry) != tt.line || line(m.IndiMail.Entry) != tt.indimailLine ||
				m.Probe != tt.probe || m.IndiMail.Append != tt.indimailAppend || m.IndiMail.AppendUnknown != tt.appendUnknown ||
				m.Append != tt.append || m.IndiMail.Matched != (tt.indimailLine != 0) {
				t.Errorf("MatchClient(%q) = %+v", tt.ip, m)
			}
			if tt.matched && m.Source != "relayclients" {
				t.Errorf("Source = %q", m.Source)
			}
			if tt.warn != "" && !containsAny(m.Warnings, tt.warn) {
				t.Errorf("warnings %q, want %q", m.Warnings, tt.warn)
			}
			if !slices.Equal(m.Probes, ClientProbes(tt.ip)) {
				t.Errorf("Probes = %q", m.Probes)
			}
		})
	}
	if m := rc.MatchClient("11.1.1.1"); m.Reason != "relayclients has no entry for 11.1.1.1, 11.1.1., 11.1., 11." {
		t.Errorf("Reason = %q", m.Reason)
	}
	var missing *File
	if m := missing.MatchClient("10.1.1.5"); m.Matched || m.Reason != "relayclients does not exist" {
		t.Errorf("nil file: %+v", m)
	}
	if m := (&File{Kind: RelayClients}).MatchClient("10.1.1.5"); m.Matched || len(m.Probes) != 4 {
		t.Errorf("missing file: %+v", m)
	}
}

func TestMatchClientLastLinePastEnd(t *testing.T) {
	m := mustParse(t, RelayClients, "10.1.1.\n").MatchClient("10.1.1.5")
	if !m.IndiMail.Matched || !m.IndiMail.AppendUnknown || !containsAny(m.Warnings, "unpredictable bytes") {
		t.Errorf("%+v", m)
	}
}

func TestMatchClientDuplicateLastWins(t *testing.T) {
	// constmap's hash chains put later lines first: the last duplicate
	// decides, and so does its "next line".
	m := mustParse(t, RelayClients, "10.1.1.\n10.2.\n10.1.1.\n10.3.\n").MatchClient("10.1.1.5")
	if line(m.Entry) != 3 || line(m.IndiMail.Entry) != 3 || m.IndiMail.Append != "10.3." {
		t.Errorf("%+v", m)
	}
}

func TestMatchHost(t *testing.T) {
	rd := mustParse(t, RelayDomains, ".Example.com\nmail.example.org:\nunknown\n")
	tests := []struct {
		host    string
		matched bool
		line    int
		probe   string
		real    bool
	}{
		{"a.b.example.com", true, 1, ".example.com", true},
		{"A.B.EXAMPLE.COM", true, 1, ".EXAMPLE.COM", true},
		{"example.com", false, 0, "", false}, // .example.com is for subdomains only
		{"mail.example.org", true, 2, "mail.example.org", false},
		{"x.mail.example.org", false, 0, "", false},
		{"", true, 3, "unknown", true}, // TCPREMOTEHOST unset
		{"other.net", false, 0, "", false},
	}
	for _, tt := range tests {
		m := rd.MatchHost(tt.host)
		if m.Matched != tt.matched || line(m.Entry) != tt.line || m.Probe != tt.probe || m.IndiMail.Matched != tt.real {
			t.Errorf("MatchHost(%q) = %+v", tt.host, m)
		}
	}
	m := rd.MatchHost("other.net")
	if !slices.Equal(m.Probes, []string{"other.net", ".net", ""}) || !strings.Contains(m.Reason, `other.net, .net, "" (the empty key)`) {
		t.Errorf("%q %q", m.Probes, m.Reason)
	}
}

func TestMatchSenderRef(t *testing.T) {
	rmf := mustParse(t, RelayMailFrom, strings.Join([]string{
		"joe@example.com",    // 1
		"@example.org",       // 2
		"*@*.example.net",    // 3
		"!bad@*.example.net", // 4
		"!spam*@example.org", // 5
		"*@Upper.com",        // 6
		"ok*@upper.com",      // 7
		"!*@upper.com",       // 8
		"x*@upper.com",       // 9
	}, "\n")+"\n")
	tests := []struct {
		addr    string
		matched bool
		line    int
		probe   string
		reason  string
		warn    string
	}{
		{addr: "joe@example.com", matched: true, line: 1, probe: "joe@example.com", reason: "is the address"},
		{addr: "JOE@Example.COM", matched: true, line: 1, probe: "joe@example.com"},
		{addr: "anyone@example.org", matched: true, line: 2, probe: "@example.org", reason: "matches the domain"},
		// @domain is checked before the negated pattern, which cannot refuse.
		{addr: "spammer@example.org", matched: true, line: 2, probe: "@example.org", warn: "line 5"},
		{addr: "x@a.b@example.org", matched: true, line: 2, probe: "@example.org"}, // last @
		{addr: "sub@mail.example.net", matched: true, line: 3, probe: "sub@mail.example.net", reason: "last pattern"},
		{addr: "bad@mail.example.net", line: 4, reason: "is a negation"},
		{addr: "who@upper.com", line: 8}, // line 6 never matches: upper case
		{addr: "ok1@upper.com", line: 8}, // 7 matches, then 8 negates: last wins
		{addr: "x1@upper.com", matched: true, line: 9, probe: "x1@upper.com", reason: "last pattern"}, // 9 re-allows
		{addr: "joe@example.net", reason: "no pattern matches"},
		{addr: "", reason: "no pattern matches"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			m, err := matchSenderRef(rmf, nil, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Matched != tt.matched || line(m.Entry) != tt.line || m.Probe != tt.probe || m.IndiMail.Matched != tt.matched {
				t.Errorf("matchSenderRef(%q) = %+v", tt.addr, m)
			}
			if !strings.Contains(m.Reason, tt.reason) {
				t.Errorf("Reason %q, want %q", m.Reason, tt.reason)
			}
			if tt.warn != "" && !containsAny(m.Warnings, tt.warn) {
				t.Errorf("warnings %q, want %q", m.Warnings, tt.warn)
			}
		})
	}
	star := mustParse(t, RelayMailFrom, "*\n")
	for _, a := range []string{"anyone@anywhere.example", "", "x"} {
		if m, _ := matchSenderRef(star, nil, a); !m.Matched || line(m.Entry) != 1 {
			t.Errorf("* does not match %q: %+v", a, m)
		}
	}
}

func TestMatchSenderCDB(t *testing.T) {
	rmf := mustParse(t, RelayMailFrom, "@example.org\n")
	db := makeCDB(t, "joe@example.com", "@example.net", "@example.org")
	tests := []struct {
		addr    string
		matched bool
		source  string
		warn    string
	}{
		{"Joe@Example.com", true, "relaymailfrom.cdb", ""},
		// @domain keys in the cdb never match; the text file's @domain does.
		{"x@example.net", false, "", "never matches there"},
		{"x@example.org", true, "relaymailfrom", "never matches there"},
	}
	for _, tt := range tests {
		m, err := matchSenderRef(rmf, db, tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if m.Matched != tt.matched || m.Source != tt.source || m.IndiMail.Matched != tt.matched {
			t.Errorf("matchSenderRef(%q) = %+v", tt.addr, m)
		}
		if tt.warn != "" && !containsAny(m.Warnings, tt.warn) {
			t.Errorf("warnings %q, want %q", m.Warnings, tt.warn)
		}
	}
	// The cdb is searched first.
	m, _ := matchSenderRef(rmf, db, "joe@example.com")
	if m.Entry != nil || m.Probe != "joe@example.com" || !slices.Equal(m.Probes, []string{"joe@example.com"}) {
		t.Errorf("%+v", m)
	}
	// Without the text file only the cdb's full addresses count.
	m, _ = matchSenderRef(nil, db, "x@example.org")
	if m.Matched || !containsAny(m.Warnings, "qmail-cdb -m") || !strings.Contains(m.Reason, "relaymailfrom does not exist") {
		t.Errorf("%+v", m)
	}
	m, _ = matchSenderRef(&File{Kind: RelayMailFrom}, nil, "x@example.org")
	if m.Matched || m.Reason != "relaymailfrom does not exist" {
		t.Errorf("%+v", m)
	}
}

func TestMatchSenderCRLF(t *testing.T) {
	rmf := mustParse(t, RelayMailFrom, "joe@example.com\r\n")
	m, _ := matchSenderRef(rmf, nil, "joe@example.com")
	if !m.Matched || m.IndiMail.Matched || !containsAny(m.Warnings, "CRLF") {
		t.Errorf("%+v", m)
	}
}

func TestMatchRcptHost(t *testing.T) {
	rh := mustParse(t, RcptHosts, "example.com\n.example.net\nLocal.Example\n")
	more := makeCDB(t, "more.example", ".sub.more.example")
	tests := []struct {
		rcpt    string
		more    bool
		matched bool
		source  string
		line    int
		probe   string
	}{
		{"joe@example.com", false, true, "rcpthosts", 1, "example.com"},
		{"joe@EXAMPLE.COM", false, true, "rcpthosts", 1, "example.com"},
		{"joe@a.example.com", false, false, "", 0, ""}, // example.com is exact
		{"joe@example.net", false, false, "", 0, ""},   // .example.net is subdomains only
		{"joe@a.b.example.net", false, true, "rcpthosts", 2, ".example.net"},
		{"joe@local.example", false, true, "rcpthosts", 3, "local.example"},
		{"joe@x@example.com", false, true, "rcpthosts", 1, "example.com"}, // last @
		{"joe@example.com@evil.org", false, false, "", 0, ""},
		{"postmaster", false, true, "", 0, ""}, // no @: local
		{"joe@", false, false, "", 0, ""},
		{"joe@more.example", false, false, "", 0, ""},
		{"joe@more.example", true, true, "morercpthosts.cdb", 0, "more.example"},
		{"joe@MORE.example", true, true, "morercpthosts.cdb", 0, "more.example"},
		{"joe@a.sub.more.example", true, true, "morercpthosts.cdb", 0, ".sub.more.example"},
		{"joe@example.com", true, true, "rcpthosts", 1, "example.com"},
		{"joe@other.example", true, false, "", 0, ""},
	}
	for _, tt := range tests {
		var db CDB
		if tt.more {
			db = more
		}
		m, err := MatchRcptHost(rh, db, tt.rcpt)
		if err != nil {
			t.Fatal(err)
		}
		if m.Matched != tt.matched || m.Source != tt.source || line(m.Entry) != tt.line || m.Probe != tt.probe || m.IndiMail.Matched != tt.matched {
			t.Errorf("MatchRcptHost(%q, more=%v) = %+v", tt.rcpt, tt.more, m)
		}
	}
	m, _ := MatchRcptHost(rh, more, "joe@other.example")
	if m.Reason != "rcpthosts has no entry for other.example, .example; nor has morercpthosts.cdb" {
		t.Errorf("Reason = %q", m.Reason)
	}
	m, _ = MatchRcptHost(rh, nil, "joe@example.net")
	if !containsAny(m.Warnings, "only subdomains of example.net") {
		t.Errorf("warnings %q", m.Warnings)
	}
}

func TestMatchRcptHostMissingVsEmpty(t *testing.T) {
	more := makeCDB(t, "more.example")
	// Missing: an open relay, and morercpthosts.cdb is not consulted.
	for _, f := range []*File{nil, {Kind: RcptHosts}} {
		m, err := MatchRcptHost(f, more, "anyone@anywhere.example")
		if err != nil || !m.Matched || !m.IndiMail.Matched || !containsAny(m.Warnings, "open relay") || len(m.Probes) != 0 {
			t.Errorf("missing rcpthosts: %+v %v", m, err)
		}
	}
	// Empty: nothing with @ is local, except through morercpthosts.cdb.
	empty := mustParse(t, RcptHosts, "")
	if m, _ := MatchRcptHost(empty, nil, "anyone@anywhere.example"); m.Matched {
		t.Errorf("empty rcpthosts accepted: %+v", m)
	}
	if m, _ := MatchRcptHost(empty, more, "x@more.example"); !m.Matched {
		t.Errorf("empty rcpthosts + morercpthosts.cdb: %+v", m)
	}
	if m, _ := MatchRcptHost(empty, nil, "postmaster"); !m.Matched {
		t.Errorf("no-@ address refused: %+v", m)
	}
}

func TestMatchRcptHostCRLF(t *testing.T) {
	// No qmail strips the "\r": the line never matches, and the admin is told why.
	m, _ := MatchRcptHost(mustParse(t, RcptHosts, "example.com\r\n"), nil, "x@example.com")
	if m.Matched || m.IndiMail.Matched || !containsAny(m.Warnings, "dos2unix") {
		t.Errorf("%+v", m)
	}
}

func TestOpenCDB(t *testing.T) {
	dir := t.TempDir()
	if r, err := OpenCDB(MoreRcptHosts, dir); r != nil || err != nil {
		t.Errorf("missing: %v %v", r, err)
	}
	if _, err := OpenCDB(RcptHosts, dir); err == nil {
		t.Error("OpenCDB(rcpthosts) succeeded")
	}
	os.WriteFile(filepath.Join(dir, "morercpthosts.cdb"), []byte("short"), 0o644)
	if _, err := OpenCDB(MoreRcptHosts, dir); err == nil {
		t.Error("corrupt cdb opened")
	}
}

func line(e *Entry) int {
	if e == nil {
		return 0
	}
	return e.Line
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
