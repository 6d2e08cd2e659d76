// Package site finds and loads the configuration qmail-smtpd really runs
// with: the supervise service directories whose run script starts tcpserver
// with qmail-smtpd (given with --service, or found under the service roots),
// each one's tcpserver options, the programs between tcpserver and
// qmail-smtpd (rblsmtpd, ...), its envdir, its rules cdb and source, its
// control directory; or, without services, the --tcp-dir and --control-dir.
// It is the one loader of relay test, relay audit and tcp explain, and owns
// the one staleness answer of a rules cdb (RulesStaleness). It knows nothing
// of flags or printing.
package site

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/qmailctl/qmailctl/internal/safefile"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/relay"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// DefaultRoots are where daemontools (/service), runit (/etc/service,
// /var/service) and s6 trees keep their services; IndiMail's svctool makes
// /service/qmail-smtpd.PORT.
var DefaultRoots = []string{"/service", "/etc/service", "/var/service"}

// RootsEnv names the environment variable that replaces DefaultRoots
// (a colon-separated list; empty disables discovery): tests set it so they
// never read the host's /service.
const RootsEnv = "QMAILCTL_SERVICE_ROOTS"

// Roots returns the discovery roots: $QMAILCTL_SERVICE_ROOTS when set, else
// DefaultRoots.
func Roots() []string {
	v, ok := os.LookupEnv(RootsEnv)
	if !ok {
		return DefaultRoots
	}
	var out []string
	for _, r := range strings.Split(v, ":") {
		if r != "" {
			out = append(out, r)
		}
	}
	return out
}

// MissingError says a directory qmailctl needs is not there. Given is true
// when the admin named it (bad input, exit 100); false for a default that
// should exist (a broken installation or wrong host: exit 111).
type MissingError struct {
	What  string // "--tcp-dir", "--control-dir", "--service"
	Path  string
	Given bool
	Err   error
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.What, e.Path, e.Err)
}

func (e *MissingError) Unwrap() error { return e.Err }

// Options says where to look.
type Options struct {
	// Services are service directories the admin named (--service).
	Services []string
	// Roots are searched for services when none is named and TCPDirGiven
	// is false.
	Roots []string
	// TCPDir and ControlDir are the directories to use without a service
	// (and ControlDir with one whose envdir sets no CONTROLDIR); ...Given
	// says the admin named them.
	TCPDir, ControlDir           string
	TCPDirGiven, ControlDirGiven bool
	// Env is added to every service's environment (--env).
	Env map[string]string
}

// Config is what one qmail-smtpd listener runs with.
type Config struct {
	// Service is nil for the plain --tcp-dir configuration.
	Service *Service
	// Problem says why Service could not be read completely (an unreadable
	// run script, no -x, -m): a finding for relay audit, a refusal for
	// relay test. The paths below are then the --tcp-dir ones.
	Problem     string
	RulesSource string
	RulesCDB    string
	ControlDir  string
	// Env is the environment qmail-smtpd starts with: the envdir, then
	// Options.Env. EnvFrom names where it came from.
	Env     map[string]string
	EnvFrom string

	rules    RulesState      // set by LoadAudit
	rblRules []relay.Finding // set by LoadAudit: rules whose RBLSMTPD does nothing
}

// Label names the configuration for a person.
func (c *Config) Label() string {
	if c.Service != nil {
		return c.Service.Label()
	}
	if c.Problem != "" {
		return c.EnvFrom
	}
	return filepath.Dir(c.RulesSource)
}

// Site is every listener found.
type Site struct {
	Configs []*Config
	// Discovered is true when the services were found under the roots
	// rather than named.
	Discovered bool
}

// Load finds the services (named, else discovered, else none) and builds one
// Config for each; without services, one Config from TCPDir and ControlDir.
// A named directory that does not exist is a *MissingError with Given set;
// a default one, with Given unset.
func Load(o Options) (*Site, error) {
	st := &Site{}
	dirs := o.Services
	if len(dirs) == 0 && !o.TCPDirGiven {
		found, err := Discover(o.Roots)
		if err != nil {
			return nil, err
		}
		dirs = found
		st.Discovered = len(found) > 0
	}
	for _, d := range dirs {
		c, err := loadService(d, o, !st.Discovered)
		if err != nil {
			return nil, err
		}
		st.Configs = append(st.Configs, c)
	}
	if len(dirs) == 0 {
		if err := CheckDir("--tcp-dir", o.TCPDir, o.TCPDirGiven); err != nil {
			return nil, err
		}
		c := &Config{RulesSource: filepath.Join(o.TCPDir, "tcp.smtp"), RulesCDB: filepath.Join(o.TCPDir, "tcp.smtp.cdb"),
			ControlDir: o.ControlDir, Env: copyEnv(nil, o.Env), EnvFrom: "--env"}
		st.Configs = append(st.Configs, c)
	}
	for _, c := range st.Configs {
		given := o.ControlDirGiven || c.ControlDir != o.ControlDir
		if err := CheckDir("--control-dir", c.ControlDir, given); err != nil {
			if c.ControlDir != o.ControlDir {
				err.(*MissingError).What = "CONTROLDIR of " + c.EnvFrom
			}
			return nil, err
		}
	}
	return st, nil
}

// loadService reads one service directory into a Config. A service that
// cannot be read as a qmail-smtpd listener is a Config with a Problem.
func loadService(dir string, o Options, given bool) (*Config, error) {
	fi, err := os.Stat(dir)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingError{What: "--service", Path: dir, Given: given, Err: err}
	}
	if err == nil && !fi.IsDir() {
		return nil, &MissingError{What: "--service", Path: dir, Given: given, Err: errors.New("not a directory")}
	}
	c := &Config{ControlDir: o.ControlDir, EnvFrom: dir,
		RulesSource: filepath.Join(o.TCPDir, "tcp.smtp"), RulesCDB: filepath.Join(o.TCPDir, "tcp.smtp.cdb")}
	svc, err := ReadService(dir)
	switch {
	case err != nil:
		c.Problem = err.Error()
		c.Env = copyEnv(nil, o.Env)
		return c, nil
	case svc.MySQLRules != "":
		c.Problem = fmt.Sprintf("%s runs %s -m %s: rules come from MySQL first, which qmailctl does not read", filepath.Join(dir, "run"), svc.Server, svc.MySQLRules)
	case svc.RulesCDB == "":
		c.Problem = fmt.Sprintf("%s runs %s without -x: every client is allowed and no tcp.smtp rule (RELAYCLIENT, RBLSMTPD, ...) applies", filepath.Join(dir, "run"), svc.Server)
	}
	c.Service = svc
	if svc.RulesCDB != "" {
		c.RulesSource, c.RulesCDB = svc.RulesSource, svc.RulesCDB
	}
	c.Env = copyEnv(svc.Env, o.Env)
	if svc.EnvDir != "" {
		c.EnvFrom = svc.EnvDir
	}
	if v := c.Env["CONTROLDIR"]; v != "" && !o.ControlDirGiven {
		// supervise runs the service in its directory: a relative
		// CONTROLDIR is relative to it.
		if !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		c.ControlDir = v
	}
	return c, nil
}

// Discover returns the service directories under roots whose run script
// starts tcpserver (or sslserver) with qmail-smtpd, sorted; symbolic links
// (daemontools' /service/NAME -> /var/qmail/supervise/NAME) are followed.
// A missing root is skipped.
func Discover(roots []string) ([]string, error) {
	var out []string
	for _, root := range roots {
		entries, err := os.ReadDir(root)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look for services: %w", err)
		}
		for _, e := range entries {
			dir := filepath.Join(root, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			_, err := ReadService(dir)
			switch {
			case err == nil, errors.Is(err, fs.ErrPermission) && strings.Contains(e.Name(), "smtp"):
				// An smtp service qmailctl cannot read is still one to report.
				out = append(out, dir)
			case errors.Is(err, ErrNotSMTPD), errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
			default:
				if strings.Contains(e.Name(), "smtp") {
					out = append(out, dir)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// Pick chooses the configuration relay test uses: the one of service dir
// (when given), else the one listening on port (when given), else the only
// one; with several and neither, the first, and used says which.
func (s *Site) Pick(port string) (c *Config, used string, err error) {
	if port != "" {
		var ports []string
		for _, c := range s.Configs {
			if c.Service != nil && c.Service.Port == port {
				return c, "", nil
			}
			if c.Service != nil {
				ports = append(ports, c.Service.Port)
			}
		}
		return nil, "", fmt.Errorf("no service listens on port %s (found: %s)", port, strings.Join(ports, ", "))
	}
	c = s.Configs[0]
	if len(s.Configs) > 1 {
		var others []string
		for _, o := range s.Configs[1:] {
			others = append(others, o.Label())
		}
		used = fmt.Sprintf("%d services found; using %s (choose with --service DIR or --port N; the others: %s)",
			len(s.Configs), c.Label(), strings.Join(others, ", "))
	}
	return c, used, nil
}

// CheckDir is the one answer to a directory qmailctl needs that is not
// there: a *MissingError (bad input when the admin named it, given; a broken
// installation when it is a default), naming what gave it ("--tcp-dir"). A
// dangling link is a missing directory too.
func CheckDir(what, path string, given bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &MissingError{What: what, Path: path, Given: given, Err: errors.New("no such directory")}
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, path, err)
	case !fi.IsDir():
		return &MissingError{What: what, Path: path, Given: given, Err: errors.New("not a directory")}
	}
	return nil
}

func copyEnv(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// RulesState is what qmailctl can say about a rules file and its cdb.
type RulesState struct {
	Source, CDB string
	// SourceExists/CDBExists: the files are there. SourceUnreadable: the
	// source exists but qmailctl may not read it (mode 600 and not root):
	// answers come from the cdb alone, without line numbers.
	SourceExists, SourceUnreadable, CDBExists bool
	// Staleness is the content comparison; checked only when both files
	// can be read.
	Staleness *cdb.Staleness
	// SourceError is the source's syntax error, when it has one (the cdb
	// is then stale: tcprules refuses to build it).
	SourceError error
	// Partial: the source is larger than QuickRulesState compares whole;
	// Staleness is nil.
	Partial bool
	// Roaming is the block of roaming-user records ahead of the source's
	// records (IndiMail's relay table rows, vpopmail's open-smtp); the
	// Staleness then compares the rest of the cdb with the source.
	Roaming *Roaming
}

// Stale reports a checked, stale cdb.
func (r RulesState) Stale() bool { return r.Staleness != nil && r.Staleness.Stale() }

// RulesStaleness is the one staleness answer for a rules cdb: the cdb's
// records against what the source compiles to (tcprules.Stale, through
// cdb.Compare). Modification times are never looked at: `touch tcp.smtp`
// changes nothing tcpserver sees.
func RulesStaleness(src, cdbPath string) (RulesState, error) {
	return rulesState(src, cdbPath, -1)
}

// QuickLimit is the largest rules source QuickRulesState compares whole:
// about 8,000 rules, a few milliseconds. relay test and tcp explain answer
// within 20 ms on a 1,000,000-rule tcp.smtp; comparing its 33 MiB would
// take seconds.
const QuickLimit = 256 << 10

// QuickRulesState is RulesStaleness for relay test and tcp explain: the same
// content comparison for a source up to QuickLimit bytes; for a larger one,
// no whole-file verdict (Partial), and the callers compare only the record
// that decides with its source line (still content, never times), as
// qmailctl cdb and relay audit would find it. Roaming-user records are
// recognised either way (a few records are read).
func QuickRulesState(src, cdbPath string) (RulesState, error) {
	return rulesState(src, cdbPath, QuickLimit)
}

func rulesState(src, cdbPath string, limit int64) (RulesState, error) {
	rs := RulesState{Source: src, CDB: cdbPath}
	if _, err := os.Stat(cdbPath); err == nil {
		rs.CDBExists = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rs, fmt.Errorf("%s: %w", cdbPath, err)
	}
	f, err := safefile.Open(src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return rs, nil
	case errors.Is(err, fs.ErrPermission):
		rs.SourceExists, rs.SourceUnreadable = true, true
		return rs, nil
	case err != nil:
		return rs, fmt.Errorf("%s: %w", src, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return rs, fmt.Errorf("%s: %w", src, err)
	}
	rs.SourceExists = true
	if limit >= 0 && fi.Size() > limit {
		rs.Partial = true
		if rs.CDBExists {
			ro, err := FindRoaming(src, cdbPath)
			if err != nil && !isCompileError(err) {
				return rs, err
			}
			rs.Roaming = ro
		}
		return rs, nil
	}
	st, err := tcprules.Stale(src, cdbPath, nil)
	if err != nil {
		if isCompileError(err) {
			rs.SourceError = err
			st = cdb.Staleness{State: cdb.Differs, Reason: "the source has a syntax error, so tcprules keeps the old cdb: " + err.Error()}
		} else {
			return rs, err
		}
	}
	if st.State == cdb.Differs && st.Record == 1 || st.State == cdb.CDBLonger && st.Record == 1 {
		ro, err := FindRoaming(src, cdbPath)
		if err != nil {
			return rs, err
		}
		if ro != nil {
			rs.Roaming = ro
			st, err = compareWithRoaming(src, cdbPath, ro)
			if err != nil {
				return rs, err
			}
		}
	}
	rs.Staleness = &st
	return rs, nil
}

// compareWithRoaming compares the cdb with the roaming records followed by
// what src compiles to.
func compareWithRoaming(src, cdbPath string, ro *Roaming) (cdb.Staleness, error) {
	f, err := safefile.Open(src)
	if err != nil {
		return cdb.Staleness{}, err
	}
	defer f.Close()
	return cdb.Compare(cdbPath, func(add func(k, d []byte) error) error {
		for _, r := range ro.Records {
			if err := add(r.Key, r.Data); err != nil {
				return err
			}
		}
		_, _, err := tcprules.Compile(src, f, adder(add))
		return err
	})
}

// isCompileError reports a syntax error of a rules source (a *diag.Problem).
func isCompileError(err error) bool {
	var p interface{ Long() string }
	return errors.As(err, &p)
}
