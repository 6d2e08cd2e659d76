package relay

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// TestRBLRepliesMatchRblsmtpd runs Debian's rblsmtpd under Debian's
// tcpserver on loopback, with a tcp.smtp whose rules set RBLSMTPD, and
// compares every line it sends with what RBL.Decide and RBL.Replies say.
func TestRBLRepliesMatchRblsmtpd(t *testing.T) {
	rblsmtpd := peers.Tool(t, "rblsmtpd")
	long := strings.Repeat("x", 230)
	rules := "127.0.0.2:allow,RBLSMTPD=\"-Blocked by policy\"\n" +
		"127.0.0.3:allow,RBLSMTPD=\"Try again later\"\n" +
		"127.0.0.4:allow,RBLSMTPD=\"\"\n" +
		"127.0.0.5:allow,RBLSMTPD=\"-" + long + "\"\n" +
		"127.0.0.6:allow,RBLSMTPD=\"tab\there\"\n" +
		":allow\n"
	dir := t.TempDir()
	src := filepath.Join(dir, "tcp.smtp")
	os.WriteFile(src, []byte(rules), 0o644)
	f, err := os.Create(src + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := cdb.NewWriter(f)
	if _, _, err := tcprules.Compile(src, strings.NewReader(rules), w); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := cdb.Open(src + ".cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	cmds := []string{"HELO client.example", "MAIL FROM:<a@example.com>", "RCPT TO:<b@example.com>", "DATA", "NOOP", "QUIT"}
	// The child after rblsmtpd stands for qmail-smtpd: it says it ran.
	const ran = "220 qmail-smtpd ran"
	for _, opts := range [][]string{{"-t", "5"}, {"-b", "-t", "0"}} {
		args := append(append([]string{rblsmtpd}, opts...), "/bin/echo", ran)
		addr := peers.StartTCPServer(t, src+".cdb", nil, args...).Addr
		rbl, err := ParseRBL(rblsmtpd, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.9"} {
			t.Run(strings.Join(opts, "")+"/"+ip, func(t *testing.T) {
				d, err := tcprules.Lookup(r.Get, tcprules.Query{IP: ip})
				if err != nil {
					t.Fatal(err)
				}
				o := rbl.Decide(d.Apply(map[string]string{}), ip)
				want := rbl.Replies(o, cmds)
				if o.Pass {
					want = []string{ran}
				}
				got := peers.SMTPSession(t, ip, addr, cmds)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("rblsmtpd %v from %s said\n%q\nqmailctl models\n%q (%s)", opts, ip, got, want, o.Detail)
				}
			})
		}
	}
}

func TestParseRBL(t *testing.T) {
	r, err := ParseRBL("rblsmtpd", []string{"-b", "-rzen.example", "-B", "-c", "-r", "two.example", "-a", "white.example", "-t", "0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []RBLList{{Zone: "zen.example", Bounce: true}, {Zone: "two.example", FailClosed: true}, {Zone: "white.example", Anti: true, FailClosed: true}}
	if !reflect.DeepEqual(r.Lists, want) || r.Timeout != 0 {
		t.Errorf("ParseRBL = %+v, timeout %d; want %+v, 0", r.Lists, r.Timeout, want)
	}
	if _, err := ParseRBL("rblsmtpd", []string{"-R"}); err == nil {
		t.Error("-R accepted; Debian's rblsmtpd refuses it")
	}
	// Unset RBLSMTPD: the first list asked decides when it lists the client.
	env := map[string]string{}
	if o := r.Decide(env, "192.0.2.1"); !o.Undecided || !strings.Contains(o.Detail, "decided by the DNS lists zen.example, two.example, -a white.example") {
		t.Errorf("unset: %+v", o)
	}
	r.Assume = "listed"
	if o := r.Decide(env, "192.0.2.1"); o.Pass || !strings.HasPrefix(o.Message, "553 ") {
		t.Errorf("assume listed with -b: %+v", o)
	}
	r.Assume = "not-listed"
	if o := r.Decide(env, "192.0.2.1"); !o.Pass || o.Undecided {
		t.Errorf("assume not listed: %+v", o)
	}
}
