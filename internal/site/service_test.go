package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, fs map[string]string) {
	t.Helper()
	for name, content := range fs {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadService(t *testing.T) {
	cases := []struct {
		name, run         string
		vars              map[string]string
		cdb               string // relative to the service dir when not absolute
		noHost, noInfo, X bool
		err               string
	}{
		{name: "IndiMail style",
			run: "#!/bin/sh\nexec 2>&1\nexec envdir ./variables sh -c \"\nexec /usr/bin/softlimit -m 52428800 \\\n/usr/bin/tcpserver -v -H -R -l mx.example.com \\\n-x /etc/indimail/tcp/tcp.smtp.cdb -c variables/MAXDAEMONS -C 25 -o -b 75 \\\n-u 555 -g 555 0 25 /usr/sbin/qmail-smtpd\"\n",
			cdb: "/etc/indimail/tcp/tcp.smtp.cdb", noHost: true, noInfo: true},
		{name: "sh -c with single quotes",
			run: "#!/bin/sh\nexec envdir ./variables sh -c '\nexec /usr/bin/tcpserver -v -H -R -x /etc/indimail/tcp/tcp.smtp.cdb 0 25 /usr/sbin/qmail-smtpd'\n",
			cdb: "/etc/indimail/tcp/tcp.smtp.cdb", noHost: true, noInfo: true},
		{name: "classic with variables",
			run:  "#!/bin/sh\n# the outer shell expands before envdir runs: sh -c sees the variables\nexec envdir ./variables sh -c 'exec tcpserver -p -x\"$TCPDIR\"/tcp.smtp.cdb -u 1001 -g 1001 0 smtp qmail-smtpd 2>&1'\n",
			vars: map[string]string{"TCPDIR": "/etc/tcp\n", "CHECKRELAY": "", "RELAY_CLEAR_MINUTES": "30  \nignored\n"},
			cdb:  "/etc/tcp/tcp.smtp.cdb"},
		{name: "joined flags and -X",
			run: "exec tcpserver -HRXx tcp.smtp.cdb 0 25 qmail-smtpd\n", cdb: "tcp.smtp.cdb", noHost: true, noInfo: true, X: true},
		{name: "no tcpserver", run: "exec qmail-smtpd\n", err: "no tcpserver"},
		{name: "unknown variable", run: "exec tcpserver -x $NOPE/tcp.smtp.cdb 0 25 x\n", err: "$NOPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := map[string]string{"run": c.run, "variables/.keep": ""}
			for k, v := range c.vars {
				fs["variables/"+k] = v
			}
			writeFiles(t, dir, fs)
			s, err := ReadService(dir)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v; want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.cdb
			if !filepath.IsAbs(want) {
				want = filepath.Join(dir, want)
			}
			if s.RulesCDB != want || s.RulesSource != strings.TrimSuffix(want, ".cdb") {
				t.Errorf("rules %q %q; want %q", s.RulesCDB, s.RulesSource, want)
			}
			if s.NoHostLookup != c.noHost || s.NoInfoLookup != c.noInfo || s.AllowNoRules != c.X {
				t.Errorf("-H %v -R %v -X %v; want %v %v %v", s.NoHostLookup, s.NoInfoLookup, s.AllowNoRules, c.noHost, c.noInfo, c.X)
			}
			if c.vars != nil {
				if v, ok := s.Env["CHECKRELAY"]; ok || v != "" {
					t.Errorf("empty file CHECKRELAY: %q %v; want unset", v, ok)
				}
				if s.Env["RELAY_CLEAR_MINUTES"] != "30" {
					t.Errorf("RELAY_CLEAR_MINUTES %q; want the first line without trailing blanks", s.Env["RELAY_CLEAR_MINUTES"])
				}
			}
		})
	}
}

func TestReadEnvDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"EMPTYLINE": "\n", "UNSET": "", "NUL": "a\x00b\n", ".hidden": "x", "sub/FILE": "x"})
	env, unset, err := ReadEnvDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := env["EMPTYLINE"]; !ok || v != "" {
		t.Errorf("EMPTYLINE %q %v; want set to empty", v, ok)
	}
	if _, ok := env["UNSET"]; ok || len(unset) != 1 || unset[0] != "UNSET" {
		t.Errorf("UNSET in env or unset %q", unset)
	}
	if env["NUL"] != "a\nb" {
		t.Errorf("NUL %q; want a newline for the NUL", env["NUL"])
	}
	if _, ok := env[".hidden"]; ok || len(env) != 2 {
		t.Errorf("env %q; want only EMPTYLINE and NUL", env)
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"control/rcpthosts": "example.com\n", "tcp/tcp.smtp": ":allow\n"})
	cases := []struct {
		name  string
		o     Options
		what  string
		given bool
	}{
		{"given tcp dir", Options{TCPDir: dir + "/nope", TCPDirGiven: true, ControlDir: dir + "/control"}, "--tcp-dir", true},
		{"default tcp dir", Options{TCPDir: dir + "/nope", ControlDir: dir + "/control"}, "--tcp-dir", false},
		{"given control dir", Options{TCPDir: dir + "/tcp", ControlDir: dir + "/nope", ControlDirGiven: true}, "--control-dir", true},
		{"default control dir", Options{TCPDir: dir + "/tcp", ControlDir: dir + "/nope"}, "--control-dir", false},
		{"given service", Options{Services: []string{dir + "/nope"}, TCPDir: dir + "/tcp", ControlDir: dir + "/control"}, "--service", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.o)
			var me *MissingError
			if !errors.As(err, &me) || me.What != c.what || me.Given != c.given {
				t.Fatalf("Load: %v; want a MissingError for %s, given %v", err, c.what, c.given)
			}
		})
	}
	// A real directory without its cdb loads: that is a verdict, not an error.
	if _, err := Load(Options{TCPDir: dir + "/tcp", ControlDir: dir + "/control", TCPDirGiven: true}); err != nil {
		t.Fatal(err)
	}
}
