package relay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	stdTCP = "127.:allow,RELAYCLIENT=\"\"\n10.1.1.:allow,RELAYCLIENT=\"\"\n192.0.2.7:deny\n10.2.2.2:allow,RELAYCLIENT=\"+x\"\n10.3.3.3:allow,!RELAYCLIENT\n:allow\n"
	stdRH  = "example.com\n.example.com\n"
)

// want is the expected verdict of the last recipient (or of Rcpt index).
type want struct {
	accepted, relaying bool
	reply              string
	source             SourceKind // decided_by.source
	line               int        // decided_by.line
	queued             string
	step               StepKind // the decisive step's name
	warn               []string // substrings of Result.Warnings
	documented         string   // substring of the documented reply or queued address; "" = no difference
	dropped            bool
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name  string
		files files
		q     Query
		table RelayTableFunc
		rcpt  int // which recipient to check (default: the last)
		want  want
	}{
		{name: "local mail from anywhere",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "<a@gmail.com>", Rcpts: []string{"<joe@example.com>"}},
			want:  want{accepted: true, reply: ReplyOK, source: "rcpthosts", line: 1, queued: "joe@example.com", step: "rcpthosts"}},
		{name: "subdomain by .suffix, upper-case domain",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@gmail.com", Rcpts: []string{"joe@Mail.EXAMPLE.com"}},
			want: want{accepted: true, reply: ReplyOK, source: "rcpthosts", line: 2, queued: "joe@mail.example.com", step: "rcpthosts", documented: "joe@Mail.EXAMPLE.com",
				warn: []string{"lower-cases the whole recipient before queueing it"}}},
		{name: "relay refused 553",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "relay by tcp.smtp RELAYCLIENT prefix",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 2, queued: "b@gmail.com", step: "RELAYCLIENT"}},
		{name: "non-empty RELAYCLIENT is appended",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.2.2.2", From: "a@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 4, queued: "b@gmail.com+x", step: "RELAYCLIENT", warn: []string{"corrupts"}}},
		{name: "tcpserver deny drops the connection",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "192.0.2.7", From: "a@example.com", Rcpts: []string{"joe@example.com"}},
			want:  want{reply: ReplyDropped, source: "tcp.smtp", line: 3, step: "tcpserver", dropped: true}},
		{name: "missing tcp.smtp.cdb drops every connection",
			files: files{"rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"joe@example.com"}},
			want:  want{reply: ReplyDropped, source: "tcpserver", step: "tcpserver", dropped: true, warn: []string{"does not exist"}}},
		{name: "RELAYCLIENT from the run script",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"RELAYCLIENT": ""}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "environment", queued: "b@gmail.com", step: "RELAYCLIENT"}},
		{name: "the rule's !RELAYCLIENT removes the run script's",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.3.3.3", From: "a@x.org", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"RELAYCLIENT": ""}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "the rule's value overrides the run script's",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.9", From: "a@x.org", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"RELAYCLIENT": "junk"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 2, queued: "b@gmail.com", step: "RELAYCLIENT"}},
		{name: "relayclients bare line: IndiMail appends the next line",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relayclients": "203.0.113.\n10.9.9.9\n"},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relayclients", line: 1, queued: "b@gmail.com10.9.9.9", step: "relayclients", documented: "b@gmail.com", warn: []string{"next line"}}},
		{name: "relayclients colon line never matches in IndiMail",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relayclients": "203.0.113.:\n"},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse", documented: ReplyOK, warn: []string{"never matches"}}},
		{name: "relayclients no entry",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relayclients": "10.9.9.9\n"},
			q:     Query{IP: "10.1.2.5", From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "relaydomains by host name",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaydomains": ".partner.net\n"},
			q:     Query{IP: "203.0.113.9", Host: "mx.partner.net", HasHost: true, From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relaydomains", line: 1, queued: "b@gmail.com", step: "relaydomains", documented: "b@gmail.com", warn: []string{"unpredictable"}}},
		{name: "relaydomains without --host is matched against unknown",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaydomains": ".partner.net\n"},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "a relaydomains miss cancels a relayclients hit",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relayclients": "203.0.113.9\n203.0.113.8\n", "relaydomains": ".partner.net\n"},
			q:     Query{IP: "203.0.113.9", Host: "evil.example.org", HasHost: true, From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse", documented: ReplyOK, warn: []string{"overwrites that hit"}}},
		{name: "AUTH lets the client relay",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", Auth: "joe", HasAuth: true, From: "joe@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "auth", queued: "b@gmail.com", step: "AUTH"}},
		{name: "AUTH replaces a non-empty RELAYCLIENT with the empty string",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.2.2.2", Auth: "joe", HasAuth: true, From: "joe@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "auth", queued: "b@gmail.com", step: "AUTH"}},
		{name: "AUTH without relay rights: 553 with the user",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", Auth: "joe", HasAuth: true, AuthNoRelay: true, From: "joe@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: "553 sorry, that domain isn't allowed to be relayed thru this MTA without authentication, auth <joe> #5.7.1", source: "rcpthosts", step: "refuse"}},
		{name: "relaymailfrom.cdb full address",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaymailfrom.cdb": "boss@example.com\n"},
			q:     Query{IP: "203.0.113.9", From: "<Boss@Example.com>", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relaymailfrom.cdb", queued: "b@gmail.com", step: "relaymailfrom.cdb", warn: []string{"forge"}}},
		{name: "relaymailfrom.cdb @domain key never matches",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaymailfrom.cdb": "@example.com\n"},
			q:     Query{IP: "203.0.113.9", From: "boss@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse", warn: []string{"never matches"}}},
		{name: "relaymailfrom text @domain",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaymailfrom": "joe@x.org\n@example.com\n"},
			q:     Query{IP: "203.0.113.9", From: "boss@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relaymailfrom", line: 2, queued: "b@gmail.com", step: "relaymailfrom"}},
		{name: "relaymailfrom pattern, last match wins",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaymailfrom": "*@*.example.com\n!*@bad.example.com\n"},
			q:     Query{IP: "203.0.113.9", From: "x@bad.example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "relaymailfrom CRLF line never matches in IndiMail",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relaymailfrom": "boss@example.com\r\n"},
			q:     Query{IP: "203.0.113.9", From: "boss@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse", documented: ReplyOK, warn: []string{"CRLF"}}},
		{name: "percent hack refused even for a relay client",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"b%c@gmail.com"}},
			want:  want{reply: ReplyNoRelay, source: "relay probe", step: "relay probe"}},
		{name: "bang path without @",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@example.com", Rcpts: []string{"host!user"}},
			want:  want{reply: ReplyNoRelay, source: "relay probe", step: "relay probe"}},
		{name: "double @ (last @ decides the domain)",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@example.com", Rcpts: []string{"<b@gmail.com@example.com>"}},
			want:  want{reply: ReplyNoRelay, source: "relay probe", step: "relay probe"}},
		{name: "address without @ is local",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@example.com", Rcpts: []string{"postmaster"}},
			want:  want{accepted: true, reply: ReplyOK, source: "rcpthosts", queued: "postmaster", step: "rcpthosts"}},
		{name: "morercpthosts.cdb",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "morercpthosts.cdb": "other.org\n"},
			q:     Query{IP: "203.0.113.9", From: "a@gmail.com", Rcpts: []string{"x@sub.other.org"}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "morercpthosts.cdb exact",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "morercpthosts.cdb": "other.org\n"},
			q:     Query{IP: "203.0.113.9", From: "a@gmail.com", Rcpts: []string{"x@OTHER.org"}},
			want:  want{accepted: true, reply: ReplyOK, source: "morercpthosts.cdb", queued: "x@other.org", step: "rcpthosts", documented: "x@OTHER.org"}},
		{name: "missing rcpthosts is an open relay",
			files: files{"tcp.smtp": stdTCP},
			q:     Query{IP: "203.0.113.9", From: "a@gmail.com", Rcpts: []string{"x@yahoo.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "rcpthosts", queued: "x@yahoo.com", step: "rcpthosts", warn: []string{"open relay"}}},
		{name: "relay table hit",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			table: table(map[string]string{"joe@example.com": "203.0.113.9"}, false),
			q:     Query{IP: "203.0.113.9", From: "joe@example.com", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"CHECKRELAY": ""}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relay table", queued: "b@gmail.com", step: "relay table"}},
		{name: "relay table miss",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			table: table(map[string]string{"joe@example.com": "198.51.100.1"}, false),
			q:     Query{IP: "203.0.113.9", From: "joe@example.com", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"CHECKRELAY": ""}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse"}},
		{name: "relay table prefix match in IndiMail only",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			table: table(nil, true),
			q:     Query{IP: "203.0.113.9", From: "jo@example.com", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"CHECKRELAY": "1"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relay table", queued: "b@gmail.com", step: "relay table", documented: ReplyNoGateway, warn: []string{"prefix"}}},
		{name: "CHECKRELAY without a relay table",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "joe@example.com", Rcpts: []string{"b@gmail.com"}, Env: map[string]string{"CHECKRELAY": ""}},
			want:  want{reply: ReplyNoGateway, source: "rcpthosts", step: "refuse", warn: []string{"no relay table is reachable"}}},
		{name: "relay table grant lasts for the session",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			table: table(map[string]string{"joe@example.com": "203.0.113.9"}, false),
			rcpt:  2,
			q:     Query{IP: "203.0.113.9", From: "joe@example.com", Rcpts: []string{"b@gmail.com", "c@example.com"}, Env: map[string]string{"CHECKRELAY": ""}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "relay table", queued: "c@example.com", step: "accept"}},
		{name: "a bounce may have one recipient",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			rcpt:  2,
			q:     Query{IP: "203.0.113.9", From: "<>", Rcpts: []string{"joe@example.com", "ann@example.com"}},
			want:  want{reply: ReplyBounce, source: "bounce", step: "bounce"}},
		{name: "REQUIREAUTH refuses MAIL without AUTH",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"REQUIREAUTH": ""}},
			// MAIL gets 530; RCPT then gets 503 MAIL first (proven live).
			want: want{reply: ReplyMailFirst, source: "environment", step: "REQUIREAUTH"}},
		{name: "OPENRELAY refuses at the greeting",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"OPENRELAY": "1"}},
			want:  want{reply: "553 No mail accepted from an open relay (203.0.113.9); check your server configs (#5.7.1)", source: "environment", step: "greeting"}},
		{name: "OPENRELAY from the run script, no rule matching",
			files: files{"tcp.smtp": "10.1.1.1:deny\n", "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"OPENRELAY": ""}},
			want:  want{reply: "553 No mail accepted from an open relay (203.0.113.9); check your server configs (#5.7.1)", source: "environment", step: "greeting"}},
		{name: "TCPPARANOID set by the rule",
			files: files{"tcp.smtp": ":allow,TCPPARANOID=\"bad.example\"\n", "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}},
			want:  want{reply: "553 sorry, your IP address (203.0.113.9) PTR (reverse DNS) record points to wrong hostname [bad.example] (#5.7.1)", source: "tcp.smtp", line: 1, step: "greeting"}},
		{name: "REQPTR without a host name",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"REQPTR": ""}},
			// Two spaces after 553, as smtp_ptr writes it (proven live).
			want: want{reply: "553  Sorry, no PTR (reverse DNS) record for (203.0.113.9) (#5.7.1)", source: "environment", step: "greeting"}},
		{name: "REQPTR with a host name passes",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", Host: "mx.example.net", HasHost: true, From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"REQPTR": ""}},
			want:  want{accepted: true, reply: ReplyOK, source: "rcpthosts", line: 1, queued: "joe@example.com", step: "rcpthosts"}},
		{name: "SHUTDOWN with a custom reply",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"SHUTDOWN": "421 back at noon"}},
			// The greeting is "421 back at noon"; every command then gets 503.
			want: want{reply: ReplyBadSequence, source: "environment", step: "greeting"}},
		{name: "AUTH_ALL makes local mail need relay rights",
			files: files{"tcp.smtp": stdTCP, "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", From: "a@x.org", Rcpts: []string{"joe@example.com"}, Env: map[string]string{"AUTH_ALL": ""}},
			want:  want{reply: ReplyNoGateway, source: "AUTH_ALL", step: "refuse"}},
		{name: "stale cdb: the source line differs",
			files: files{"tcp.smtp": stdTCP, "tcp.smtp.stale": "127.:allow,RELAYCLIENT=\"\"\n10.1.1.:deny\n:allow\n", "rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.5", From: "a@example.com", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 2, queued: "b@gmail.com", step: "RELAYCLIENT", warn: []string{"stale"}}},
		{name: "host rule matches with --host",
			files: files{"tcp.smtp": "=mx.partner.net:allow,RELAYCLIENT=\"\"\n:allow\n", "rcpthosts": stdRH},
			q:     Query{IP: "203.0.113.9", Host: "mx.partner.net", HasHost: true, From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 1, queued: "b@gmail.com", step: "RELAYCLIENT"}},
		{name: "range rule maps to its line",
			files: files{"tcp.smtp": "10.1.1.5:deny\n10.1.1.1-9:allow,RELAYCLIENT=\"\"\n:allow\n", "rcpthosts": stdRH},
			q:     Query{IP: "10.1.1.6", From: "a@x.org", Rcpts: []string{"b@gmail.com"}},
			want:  want{accepted: true, relaying: true, reply: ReplyOK, source: "tcp.smtp", line: 2, queued: "b@gmail.com", step: "RELAYCLIENT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(t, c.files)
			cfg.RelayTable = c.table
			c.q.Now = time.Unix(1_700_000_000, 0)
			res, err := Decide(context.Background(), cfg, c.q)
			if err != nil {
				t.Fatal(err)
			}
			i := len(res.Recipients) - 1
			if c.rcpt > 0 {
				i = c.rcpt - 1
			}
			v := res.Recipients[i]
			w := c.want
			if v.Accepted != w.accepted || v.Relaying != w.relaying || v.Reply != w.reply {
				t.Errorf("accepted %v relaying %v reply %q; want %v %v %q", v.Accepted, v.Relaying, v.Reply, w.accepted, w.relaying, w.reply)
			}
			if v.DecidedBy.Source != w.source || v.DecidedBy.Line != w.line {
				t.Errorf("decided by %+v; want source %q line %d", v.DecidedBy, w.source, w.line)
			}
			if v.QueuedAs != w.queued {
				t.Errorf("queued as %q; want %q", v.QueuedAs, w.queued)
			}
			if d := decisive(v.Trace); d == nil || d.Step != w.step {
				t.Errorf("decisive step %+v; want %q", d, w.step)
			}
			if res.Dropped != w.dropped {
				t.Errorf("dropped %v; want %v", res.Dropped, w.dropped)
			}
			for _, s := range w.warn {
				if !contains(res.Warnings, s) {
					t.Errorf("no warning containing %q in %q", s, res.Warnings)
				}
			}
			switch {
			case w.documented == "" && v.Documented != nil:
				t.Errorf("documented outcome %+v; want none", v.Documented)
			case w.documented != "" && (v.Documented == nil || !strings.Contains(v.Documented.Reply+" "+v.Documented.QueuedAs, w.documented)):
				t.Errorf("documented outcome %+v; want one with %q", v.Documented, w.documented)
			}
			if len(v.Trace) == 0 {
				t.Error("empty trace")
			}
		})
	}
}

// TestTraceExplainsMisses checks that steps that did not match say why,
// with every key tried.
func TestTraceExplainsMisses(t *testing.T) {
	cfg := config(t, files{"tcp.smtp": stdTCP, "rcpthosts": stdRH, "relayclients": "10.9.9.9\n"})
	res, err := Decide(context.Background(), cfg, Query{IP: "10.1.2.5", From: "a@x.org", Rcpts: []string{"b@gmail.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Recipients[0].Trace {
		got = append(got, string(s.Step)+": "+s.Detail)
	}
	for _, w := range []string{
		"relayclients: relayclients has no entry for 10.1.2.5, 10.1.2., 10.1., 10.",
		"rcpthosts: rcpthosts has no entry for gmail.com, .com",
		`tcpserver: rule :allow matches 10.1.2.5 (key ""; tried first "10.1.2.5", "10.1.2.", "10.1.", "10.")`,
	} {
		if !contains(got, w) {
			t.Errorf("trace lacks %q:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestDecideErrors(t *testing.T) {
	cfg := config(t, files{"tcp.smtp": stdTCP, "rcpthosts": stdRH})
	for _, c := range []struct {
		name  string
		q     Query
		input bool
	}{
		{"no recipient", Query{IP: "10.1.1.1", From: "a@b"}, true},
		{"control character", Query{IP: "10.1.1.1", From: "a@b\n", Rcpts: []string{"x@y"}}, true},
		{"space in an unbracketed address", Query{IP: "10.1.1.1", From: "a@b", Rcpts: []string{"x y@z"}}, true},
	} {
		_, err := Decide(context.Background(), cfg, c.q)
		var ie *InputError
		if errors.As(err, &ie) != c.input {
			t.Errorf("%s: error %v; want an InputError %v", c.name, err, c.input)
		}
	}
	cfg.MoreRcptHostsCDB = failCDB{}
	_, err := Decide(context.Background(), cfg, Query{IP: "203.0.113.9", From: "a@b", Rcpts: []string{"x@gmail.com"}})
	var ie *InputError
	if err == nil || errors.As(err, &ie) || !strings.Contains(err.Error(), "morercpthosts.cdb") {
		t.Errorf("damaged cdb: error %v; want an I/O error naming morercpthosts.cdb", err)
	}
	cfg = config(t, files{"tcp.smtp": stdTCP, "rcpthosts": stdRH})
	cfg.RelayTable = func(context.Context, string, string, time.Time, int) (TableAnswer, error) {
		return TableAnswer{}, errors.New("connection refused")
	}
	_, err = Decide(context.Background(), cfg, Query{IP: "203.0.113.9", From: "a@b", Rcpts: []string{"x@gmail.com"}, Env: map[string]string{"CHECKRELAY": ""}})
	if err == nil || !strings.Contains(err.Error(), "relay table") {
		t.Errorf("relay table failure: error %v", err)
	}
}

func TestClearMinutes(t *testing.T) {
	for _, c := range []struct {
		v    string
		set  bool
		n    int
		note bool
	}{{"", false, 60, false}, {"30", true, 30, false}, {" 15 ", true, 15, false}, {"abc", true, 0, true}, {"20m", true, 20, true},
		// Beyond what a time.Duration holds: every row is live, and the
		// relay table is asked with the longest window it takes.
		{"153722868", true, maxClearMinutes, true}, {"99999999999999999999999", true, maxClearMinutes, true},
		{"153722867", true, 153722867, false}} {
		env := map[string]string{}
		if c.set {
			env["RELAY_CLEAR_MINUTES"] = c.v
		}
		n, note := clearMinutes(env)
		if n != c.n || (note != "") != c.note {
			t.Errorf("%q: %d %q; want %d note %v", c.v, n, note, c.n, c.note)
		}
	}
}

// rcpthosts' "only subdomains" warning is moot when morercpthosts.cdb makes
// the domain local.
func TestNoRcpthostsWarningWhenMorercpthostsHasIt(t *testing.T) {
	cfg := config(t, files{
		"tcp.smtp":          ":allow\n",
		"rcpthosts":         ".example.com\n",
		"morercpthosts.cdb": "example.com\n",
	})
	res, err := Decide(context.Background(), cfg, Query{IP: "192.0.2.1", From: "a@b.example", Rcpts: []string{"joe@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Recipients[0]
	if !v.Accepted || !v.Local {
		t.Fatalf("joe@example.com not accepted as local: %+v", v)
	}
	for _, w := range append(res.Warnings, v.Warnings...) {
		if strings.Contains(w, "only subdomains") {
			t.Errorf("misleading warning: %s", w)
		}
	}
}

// TestLiveFindings holds a regression test for each disagreement the live
// suite found with the real servers (live_test.go).
func TestLiveFindings(t *testing.T) {
	for _, c := range []struct {
		name   string
		mta    MTA
		fs     files
		ip     string
		rcpt   string
		reply  string
		queued string
	}{
		// RCPT TO:<> has no @: rcpthosts takes it as local, and an empty
		// recipient is queued.
		{"null recipient notqmail", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "example.com\n"}, "10.1.1.1", "<>", "250 ok", ""},
		{"null recipient relayclient", MTANotqmail, files{"tcp.smtp": ":allow,RELAYCLIENT=\"-x\"\n", "rcpthosts": "example.com\n"}, "10.1.1.1", "<>", "250 ok", "-x"},
		// user@[own ip] becomes user@localiphost (or me) before rcpthosts.
		{"own literal is local", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "me.example\n"}, "10.1.1.1", "u@[127.0.0.1]", "250 ok", "u@me.example"},
		{"own literal line never matches", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "[127.0.0.1]\n"}, "10.1.1.1", "u@[127.0.0.1]", ReplyNoRcptHosts, ""},
		{"other literal matches its line", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "[192.0.2.1]\n"}, "10.1.1.1", "u@[192.0.2.1]", "250 ok", "u@[192.0.2.1]"},
		{"0.0.0.0 is always own", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "me.example\n"}, "10.1.1.1", "u@[0.0.0.0]", "250 ok", "u@me.example"},
		// A trailing dot or an underscore matches literally.
		{"trailing dot", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "trail.example.\n"}, "10.1.1.1", "w@trail.example.", "250 ok", "w@trail.example."},
		{"trailing dot not the domain", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "trail.example.\n"}, "10.1.1.1", "w@trail.example", ReplyNoRcptHosts, ""},
		{"underscore", MTANotqmail, files{"tcp.smtp": ":allow\n", "rcpthosts": "under_score.example\n"}, "10.1.1.1", "v@Under_Score.example", "250 ok", "v@Under_Score.example"},
		// notqmail has no relay probe and its own refusal text.
		{"notqmail percent", MTANotqmail, files{"tcp.smtp": ":allow,RELAYCLIENT=\"\"\n", "rcpthosts": "example.com\n"}, "10.1.1.1", "a%b@gmail.com", "250 ok", "a%b@gmail.com"},
		// IndiMail lower-cases the whole queued recipient, RELAYCLIENT's
		// text included; notqmail keeps it as given.
		{"indimail lower-cases", MTAIndiMail, files{"tcp.smtp": ":allow,RELAYCLIENT=\"+Ext\"\n", "rcpthosts": "example.com\n"}, "10.1.1.1", "U@Gmail.COM", "250 ok", "u@gmail.com+ext"},
		{"notqmail keeps the case", MTANotqmail, files{"tcp.smtp": ":allow,RELAYCLIENT=\"+Ext\"\n", "rcpthosts": "example.com\n"}, "10.1.1.1", "U@Gmail.COM", "250 ok", "U@Gmail.COM+Ext"},
		// AUTH without relay rights: ", auth <user>" with no space before the comma.
		{"auth without relay", MTAIndiMail, files{"tcp.smtp": ":allow\n", "rcpthosts": "example.com\n"}, "auth:norelayuser", "x@gmail.com",
			"553 sorry, that domain isn't allowed to be relayed thru this MTA without authentication, auth <norelayuser> #5.7.1", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(t, c.fs)
			cfg.MTA, cfg.LocalIPs, cfg.LocalIPHost = c.mta, []string{"127.0.0.1"}, "me.example"
			q := Query{IP: c.ip, From: "a@example.com", Rcpts: []string{c.rcpt}}
			if u, ok := strings.CutPrefix(c.ip, "auth:"); ok {
				q.IP, q.Auth, q.HasAuth, q.AuthNoRelay = "10.1.1.1", u, true, true
			}
			res, err := Decide(context.Background(), cfg, q)
			if err != nil {
				t.Fatal(err)
			}
			o := res.Recipients[0].Actual()
			if o.Reply != c.reply || o.QueuedAs != c.queued {
				t.Errorf("reply %q queued %q; want %q %q", o.Reply, o.QueuedAs, c.reply, c.queued)
			}
		})
	}
}
