package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// AuditPaths says where LoadAudit finds the configuration.
type AuditPaths struct {
	TCPSource  string // tcp.smtp
	TCPCDB     string // tcp.smtp.cdb
	ControlDir string
	Env        map[string]string
	EnvFrom    string
	// NoHostLookup: the service's tcpserver runs with -H.
	NoHostLookup bool
	// ProbeRelayTable, called only when CHECKRELAY is set, returns why the
	// relay table is not reachable, or nil.
	ProbeRelayTable func() error
	// LocalIPs are the server's own addresses (default: HostIPv4s).
	LocalIPs []string
}

// LoadAudit reads everything Audit looks at, with the exact staleness tests
// (tcprules.Stale, control.Stale: content, not modification times).
func LoadAudit(p AuditPaths) (*AuditInput, error) {
	in := &AuditInput{Control: map[control.Kind]*ControlInput{}, Env: p.Env, EnvFrom: p.EnvFrom, NoHostLookup: p.NoHostLookup, LocalIPs: p.LocalIPs}
	if in.LocalIPs == nil {
		in.LocalIPs = HostIPv4s()
	}
	var err error
	if in.LocalIPHost, in.LocalIPHostFrom, err = ReadLocalIPHost(p.ControlDir); err != nil {
		return nil, err
	}
	if in.TCPFacts, err = stat(p.TCPSource); err != nil {
		return nil, err
	}
	if in.TCPCDB, err = stat(p.TCPCDB); err != nil {
		return nil, err
	}
	if in.TCPFacts.Exists {
		data, err := os.ReadFile(p.TCPSource)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		in.TCP, in.TCPProblems = tcprules.Parse(p.TCPSource, data)
		if in.TCPCDB.Exists {
			stale, why, err := tcprules.Stale(p.TCPSource, p.TCPCDB, nil)
			if err == nil {
				in.TCPStale = Staleness{Checked: true, Stale: stale, Reason: why}
			}
		}
	}
	for _, k := range control.Kinds() {
		// An invalid line is a finding (its problem is in probs), not a
		// failure: only an I/O error leaves f nil.
		f, probs, err := control.Load(k, p.ControlDir)
		if f == nil {
			return nil, err
		}
		facts, err := stat(filepath.Join(p.ControlDir, k.Name()))
		if err != nil {
			return nil, err
		}
		in.Control[k] = &ControlInput{File: f, Problems: probs, Facts: facts}
	}
	if in.RelayMailFromCDB, err = stat(filepath.Join(p.ControlDir, "relaymailfrom.cdb")); err != nil {
		return nil, err
	}
	if in.MoreRcptHostsCDB, err = stat(filepath.Join(p.ControlDir, "morercpthosts.cdb")); err != nil {
		return nil, err
	}
	for _, x := range []struct {
		kind  control.Kind
		facts FileFacts
		out   *Staleness
	}{
		{control.RelayMailFrom, in.RelayMailFromCDB, &in.RelayMailFromStale},
		{control.MoreRcptHosts, in.MoreRcptHostsCDB, &in.MoreRcptHostsStale},
	} {
		if !x.facts.Exists || !in.Control[x.kind].File.Exists {
			continue
		}
		stale, why, err := control.Stale(x.kind, p.ControlDir)
		if err != nil {
			return nil, err
		}
		*x.out = Staleness{Checked: true, Stale: stale, Reason: why}
	}
	if in.RelayMailFromCDB.Exists {
		r, err := cdb.Open(in.RelayMailFromCDB.Path)
		if err != nil {
			return nil, fmt.Errorf("open relaymailfrom.cdb: %w", err)
		}
		err = r.ForEach(func(k, _ []byte) error {
			if strings.HasPrefix(string(k), "@") {
				in.RelayMailFromCDBAtKey = append(in.RelayMailFromCDBAtKey, string(k))
			}
			return nil
		})
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read relaymailfrom.cdb: %w", err)
		}
	}
	if _, ok := p.Env["CHECKRELAY"]; ok {
		switch {
		case p.ProbeRelayTable == nil:
			in.RelayTableProblem = "no relay table is configured"
		default:
			if err := p.ProbeRelayTable(); err != nil {
				in.RelayTableProblem = err.Error()
			}
		}
	}
	return in, nil
}

// stat returns a file's facts; a missing file is not an error.
func stat(path string) (FileFacts, error) {
	f := FileFacts{Path: path}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("stat: %w", err)
	}
	f.Exists, f.Mode = true, fi.Mode()
	return f, nil
}
