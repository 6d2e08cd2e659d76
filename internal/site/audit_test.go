package site

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// auditDir writes a configuration, compiles the cdbs the test asks for, and
// applies modes, then audits it.
func auditDir(t *testing.T, fs map[string]string, compile []string, modes map[string]os.FileMode, env map[string]string, probe func() error) []relay.Finding {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, fs)
	for _, d := range []string{"tcp", "control"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for _, c := range compile {
		src := filepath.Join(dir, c)
		k, _ := control.ParseKind(filepath.Base(c))
		dst := src + ".cdb"
		if c != "tcp/tcp.smtp" {
			dst = filepath.Join(dir, "control", k.CDBName())
		}
		txn, err := safefile.Begin(0, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		if c == "tcp/tcp.smtp" {
			_, _, err = tcprules.Build(txn, src, dst, nil)
		} else {
			_, _, err = control.Compile(txn, k, filepath.Join(dir, "control"))
		}
		if err == nil {
			err = txn.Commit()
		}
		txn.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, m := range modes {
		os.Chmod(filepath.Join(dir, name), m)
	}
	for name, content := range fs {
		if strings.HasSuffix(name, ".after") { // edited (or, "DELETE", removed) after the compile
			target := strings.TrimSuffix(name, ".after")
			if content == "DELETE" {
				os.Remove(filepath.Join(dir, target))
			} else {
				writeFiles(t, dir, map[string]string{target: content})
			}
		}
	}
	c := &Config{RulesSource: filepath.Join(dir, "tcp/tcp.smtp"), RulesCDB: filepath.Join(dir, "tcp/tcp.smtp.cdb"),
		ControlDir: filepath.Join(dir, "control"), Env: env, EnvFrom: "variables"}
	in, err := c.LoadAudit(probe)
	if err != nil {
		t.Fatal(err)
	}
	return relay.Audit(in)
}

func checks(f []relay.Finding, min diag.Severity) []string {
	var out []string
	for _, x := range f {
		if x.Severity >= min {
			out = append(out, x.Check)
		}
	}
	sort.Strings(out)
	return out
}

func TestAudit(t *testing.T) {
	clean := map[string]string{
		"tcp/tcp.smtp":      "127.:allow,RELAYCLIENT=\"\"\n10.1.1.5:allow,RELAYCLIENT=\"\"\n:allow\n",
		"control/rcpthosts": "example.com\n",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range clean {
			m[k] = v
		}
		for k, v := range extra {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tcp := []string{"tcp/tcp.smtp"}
	cases := []struct {
		name    string
		fs      map[string]string
		compile []string
		modes   map[string]os.FileMode
		env     map[string]string
		probe   func() error
		want    []string // checks at warning level or above
	}{
		{name: "clean", fs: clean, compile: tcp},
		{name: "missing rcpthosts", fs: with(map[string]string{"control/rcpthosts": ""}), compile: tcp, want: []string{"rcpthosts-missing"}},
		{name: "empty rcpthosts", fs: with(map[string]string{"control/rcpthosts": "# nothing\n"}), compile: tcp, want: []string{"rcpthosts-empty"}},
		{name: "default rule relays", fs: with(map[string]string{"tcp/tcp.smtp": ":allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-default"}},
		{name: "whole first octet", fs: with(map[string]string{"tcp/tcp.smtp": "0.:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-wide"}},
		{name: "wide CIDR", fs: with(map[string]string{"tcp/tcp.smtp": "100.64.0.0/10:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-wide"}},
		{name: "a /16 is not wide", fs: with(map[string]string{"tcp/tcp.smtp": "100.64.:allow,RELAYCLIENT=\"\"\n"}), compile: tcp},
		{name: "private 10/8", fs: with(map[string]string{"tcp/tcp.smtp": "10.:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-private"}},
		{name: "private 172.16/12 as a range", fs: with(map[string]string{"tcp/tcp.smtp": "172.16-31.:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-private"}},
		{name: "private 192.168/16", fs: with(map[string]string{"tcp/tcp.smtp": "192.168.0.0/16:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-private"}},
		{name: "any host name", fs: with(map[string]string{"tcp/tcp.smtp": "=:allow,RELAYCLIENT=\"\"\n"}), compile: tcp, want: []string{"tcp-relay-anyhost"}},
		{name: "non-empty RELAYCLIENT", fs: with(map[string]string{"tcp/tcp.smtp": "10.1.1.5:allow,RELAYCLIENT=\"x\"\n"}), compile: tcp, want: []string{"tcp.smtp"}},
		{name: "skipped and shadowed lines", fs: with(map[string]string{"tcp/tcp.smtp": "10.1.1.5:deny\n10.1.1.5:allow\nnocolon\n10.0.0.0/8 \n"}), compile: nil, want: []string{"tcp-no-cdb", "tcp-shadowed", "tcp.smtp", "tcp.smtp"}},
		{name: "stale tcp.smtp.cdb", fs: with(map[string]string{"tcp/tcp.smtp.after": "10.1.1.6:allow\n"}), compile: tcp, want: []string{"stale"}},
		{name: "unreadable cdb", fs: clean, compile: tcp, modes: map[string]os.FileMode{"tcp/tcp.smtp.cdb": 0o640}, want: []string{"unreadable"}},
		{name: "relaymailfrom grant and wildcard",
			fs: with(map[string]string{"control/relaymailfrom": "boss@example.com\n*@example.com\n"}), compile: tcp,
			want: []string{"relaymailfrom-grant", "relaymailfrom-wildcard"}},
		{name: "relaymailfrom @domain only in the text",
			fs: with(map[string]string{"control/relaymailfrom": "@example.com\n"}), compile: []string{"tcp/tcp.smtp", "control/relaymailfrom"},
			want: []string{"relaymailfrom-cdb-domain", "relaymailfrom-grant"}},
		{name: "relaymailfrom.cdb @domain with the text gone",
			fs: with(map[string]string{"control/relaymailfrom": "@example.com\n", "control/relaymailfrom.after": "DELETE"}), compile: []string{"tcp/tcp.smtp", "control/relaymailfrom"},
			want: []string{"relaymailfrom-cdb-domain"}},
		{name: "stale morercpthosts.cdb",
			fs: with(map[string]string{"control/morercpthosts": "a.org\n", "control/morercpthosts.after": "b.org\n"}), compile: []string{"tcp/tcp.smtp", "control/morercpthosts"},
			want: []string{"stale"}},
		{name: "morercpthosts without its cdb", fs: with(map[string]string{"control/morercpthosts": "a.org\n"}), compile: tcp, want: []string{"morercpthosts-no-cdb"}},
		{name: "colon lines and both lists",
			fs: with(map[string]string{"control/relayclients": "10.1.1.:\n", "control/relaydomains": ".example.com\n"}), compile: tcp,
			want: []string{"relayclients", "relaydomains", "relaydomains-cancels"}},
		{name: "CHECKRELAY without a table", fs: clean, compile: tcp, env: map[string]string{"CHECKRELAY": ""},
			probe: func() error { return errors.New("connection refused") }, want: []string{"checkrelay-no-table"}},
		{name: "CHECKRELAY with a table", fs: clean, compile: tcp, env: map[string]string{"CHECKRELAY": ""}, probe: func() error { return nil }},
		{name: "RELAYCLIENT in the environment", fs: clean, compile: tcp, env: map[string]string{"RELAYCLIENT": ""}, want: []string{"env-relayclient"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := auditDir(t, c.fs, c.compile, c.modes, c.env, c.probe)
			got := checks(f, diag.Warning)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("checks %q; want %q", got, want)
				for _, x := range f {
					t.Log(x.Check, x.Long())
				}
			}
			for _, x := range f {
				if x.Msg == "" || x.File == "" {
					t.Errorf("finding without a message or file: %+v", x)
				}
				if x.Severity >= diag.Warning && x.Hint == "" && !strings.HasPrefix(x.Check, "tcp.smtp") && x.Check != "tcp-shadowed" {
					t.Errorf("%s: no hint: %s", x.Check, x.Msg)
				}
			}
		})
	}
}

// TestAuditLocalIP: the findings the live suite showed matter (issue 10
// item 5): rcpthosts lines that look invalid but still match, a literal
// line of the server's own address that never matches, and where
// user@[own ip] goes when localiphost is missing.
func TestAuditLocalIP(t *testing.T) {
	fs := map[string]string{
		"tcp/tcp.smtp":      ":allow\n",
		"control/rcpthosts": "[127.0.0.1]\ntrail.example.\nunder_score.example\n[192.0.2.1]\n",
		"control/me":        "me.example\n",
	}
	f := auditDir(t, fs, []string{"tcp/tcp.smtp"}, nil, nil, nil)
	find := func(check string, line int, sub string) {
		t.Helper()
		for _, x := range f {
			if x.Check == check && x.Line == line && strings.Contains(x.Msg, sub) {
				return
			}
		}
		t.Errorf("no %s finding at line %d with %q in %+v", check, line, sub, f)
	}
	find("rcpthosts-literal", 1, "rewrites user@[127.0.0.1] to user@me.example")
	find("rcpthosts", 2, "only for recipients written with the dot")
	find("rcpthosts", 3, "still matches this line literally")
	find("localiphost-not-local", 0, "control/localiphost is missing")
	for _, x := range f {
		if x.Line == 4 {
			t.Errorf("a foreign literal is a plain domain: %+v", x)
		}
	}
	// With me.example in rcpthosts, the rewrite lands on a local domain.
	fs["control/rcpthosts"] = "me.example\n"
	for _, x := range auditDir(t, fs, []string{"tcp/tcp.smtp"}, nil, nil, nil) {
		if strings.HasPrefix(x.Check, "localiphost") || x.Check == "rcpthosts-literal" {
			t.Errorf("unexpected %+v", x)
		}
	}
}
