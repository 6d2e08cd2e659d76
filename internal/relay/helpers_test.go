package relay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// memCDB is an in-memory cdb: the first record of a key wins, as in a cdb.
type memCDB map[string][]byte

func (m memCDB) Get(k []byte) ([]byte, bool, error) {
	d, ok := m[string(k)]
	return d, ok, nil
}

func (m memCDB) Add(k, d []byte) error {
	if _, ok := m[string(k)]; !ok {
		m[string(k)] = append([]byte(nil), d...)
	}
	return nil
}

// failCDB fails every lookup, like a damaged cdb.
type failCDB struct{}

func (failCDB) Get([]byte) ([]byte, bool, error) {
	return nil, false, errors.New("cdb: corrupt database")
}

// files is a configuration written as text: keys are "tcp.smtp",
// "relayclients", "relaydomains", "rcpthosts", "relaymailfrom", and
// "relaymailfrom.cdb" / "morercpthosts.cdb" (one key per line). A missing
// key is a missing file.
type files map[string]string

// config builds the engine's configuration from texts, compiling tcp.smtp
// with the real compiler.
func config(t *testing.T, fs files) *Config {
	t.Helper()
	cfg := &Config{RulesCDB: "tcp/tcp.smtp.cdb", RulesSource: "tcp/tcp.smtp", ControlDir: "control"}
	if src, ok := fs["tcp.smtp"]; ok {
		m := memCDB{}
		if _, _, err := tcprules.Compile("tcp/tcp.smtp", strings.NewReader(src), m); err != nil {
			t.Fatalf("compile tcp.smtp: %v", err)
		}
		cfg.Rules = m.Get
		data := []byte(src)
		if stale, ok := fs["tcp.smtp.stale"]; ok {
			data = []byte(stale) // the source was edited after the compile
		}
		parsed, _ := tcprules.Parse("tcp/tcp.smtp", data)
		cfg.FindRule = func(key string) (*tcprules.Rule, error) { return parsed.FindKey(key), nil }
	} else {
		cfg.RulesMissing = true
	}
	parse := func(k control.Kind) *control.File {
		src, ok := fs[k.Name()]
		if !ok {
			return &control.File{Kind: k, Path: "control/" + k.Name()}
		}
		f, _, _ := control.Parse(k, "control/"+k.Name(), []byte(src))
		return f
	}
	cfg.RelayClients = parse(control.RelayClients)
	cfg.RelayDomains = parse(control.RelayDomains)
	cfg.RcptHosts = parse(control.RcptHosts)
	if src, ok := fs["relaymailfrom"]; ok {
		cfg.RelayMailFrom = &TextFile{Path: "control/relaymailfrom", Data: []byte(src)}
	}
	for name, dst := range map[string]*CDB{"relaymailfrom.cdb": &cfg.RelayMailFromCDB, "morercpthosts.cdb": &cfg.MoreRcptHostsCDB} {
		if src, ok := fs[name]; ok {
			m := memCDB{}
			for _, k := range control.Records([]byte(src)) {
				m.Add([]byte(k), nil)
			}
			*dst = m
		}
	}
	return cfg
}

// table is a fake relay table: rows of sender -> IP, all live.
func table(rows map[string]string, prefixOK bool) RelayTableFunc {
	return func(_ context.Context, from, ip string, _ time.Time, minutes int) (TableAnswer, error) {
		for f, i := range rows {
			if strings.EqualFold(f, from) && i == ip {
				return TableAnswer{Allowed: true, IndiMailAllowed: true, Detail: f + " logged in from " + ip}, nil
			}
		}
		return TableAnswer{IndiMailAllowed: prefixOK, Detail: "no row for " + from}, nil
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// decisive returns the step marked decisive in a trace.
func decisive(tr []Step) *Step {
	for i := range tr {
		if tr[i].Decisive {
			return &tr[i]
		}
	}
	return nil
}
