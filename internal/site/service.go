package site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/safefile"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// Service is one supervise (daemontools, runit, s6) service directory whose
// run script starts tcpserver (or sslserver) with qmail-smtpd, as read from
// its run script and its envdir.
type Service struct {
	Dir string `json:"dir"`
	// Server is the base name of the listening program (tcpserver,
	// tcpserver6, sslserver); Host and Port its two address arguments as
	// written ($PORT expanded from the envdir).
	Server string `json:"server"`
	Host   string `json:"host"`
	Port   string `json:"port"`
	// RulesCDB is tcpserver's -x FILE (absolute); RulesSource is FILE
	// without ".cdb", its tcprules source. Empty without -x.
	RulesCDB    string `json:"rules_cdb"`
	RulesSource string `json:"rules_source"`
	// NoHostLookup: -H (TCPREMOTEHOST never set); NoInfoLookup: -R
	// (TCPREMOTEINFO never set); AllowNoRules: -X (a missing cdb allows
	// every client instead of dropping it); Paranoid: -p.
	NoHostLookup bool `json:"no_host_lookup"`
	NoInfoLookup bool `json:"no_info_lookup"`
	AllowNoRules bool `json:"allow_no_rules"`
	Paranoid     bool `json:"paranoid"`
	// MySQLRules is IndiMail tcpserver's -m db.conf: rules come from MySQL
	// before (or instead of) the cdb, which qmailctl does not read.
	MySQLRules string `json:"mysql_rules,omitempty"`
	User       string `json:"user,omitempty"`
	Group      string `json:"group,omitempty"`
	// Chain lists the programs between the server and qmail-smtpd, in
	// order (rblsmtpd, fixcrio, recordio, envdir, softlimit, setuidgid...).
	Chain []Program `json:"chain"`
	// SMTPD is the qmail-smtpd program; empty when the chain does not reach
	// it. SMTPDArgs are its arguments (IndiMail's AUTH: hostname,
	// checkpassword program, subprogram).
	SMTPD     string   `json:"smtpd"`
	SMTPDArgs []string `json:"smtpd_args,omitempty"`
	// Env is the environment the envdir(s) of the run script give
	// qmail-smtpd; EnvDir is the first envdir's path. Unset lists the
	// names an empty envdir file removes.
	Env    map[string]string `json:"env"`
	Unset  []string          `json:"unset"`
	EnvDir string            `json:"env_dir,omitempty"`
}

// Program is one program of the chain and its arguments (its options only:
// the rest of the chain is not repeated).
type Program struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args"`
}

// Program returns the first program of the chain named name, or nil.
func (s *Service) Program(name string) *Program {
	for i := range s.Chain {
		if s.Chain[i].Name == name {
			return &s.Chain[i]
		}
	}
	return nil
}

// Label names the service for a person: its directory and port.
func (s *Service) Label() string {
	if s.Port == "" {
		return s.Dir
	}
	return fmt.Sprintf("%s (port %s)", s.Dir, s.Port)
}

// ErrNotSMTPD is wrapped by ReadService's error when the run script starts
// no tcpserver with qmail-smtpd: discovery skips such services.
var ErrNotSMTPD = errors.New("no tcpserver ... qmail-smtpd command")

// ErrUnknownVariable is wrapped when an argument qmailctl needs (the -x
// path, the port) uses a variable neither the script nor its envdir sets.
var ErrUnknownVariable = errors.New("unknown variable")

// ReadService reads dir/run with a real shell parser (mvdan.cc/sh) and the
// envdirs it names. A missing or unreadable run script is returned as the
// *fs.PathError of os.ReadFile.
func ReadService(dir string) (*Service, error) {
	run := filepath.Join(dir, "run")
	data, err := safefile.ReadFile(run)
	if err != nil {
		return nil, err
	}
	s := &Service{Dir: dir, Env: map[string]string{}}
	r := &runReader{svc: s, vars: map[string]string{}}
	found, err := r.script(bytes.NewReader(data), run)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", run, err)
	}
	if !found {
		return nil, fmt.Errorf("%s: %w", run, ErrNotSMTPD)
	}
	if s.RulesCDB != "" {
		if !filepath.IsAbs(s.RulesCDB) {
			s.RulesCDB = filepath.Join(dir, s.RulesCDB)
		}
		s.RulesSource = strings.TrimSuffix(s.RulesCDB, ".cdb")
	}
	return s, nil
}

// runReader follows a run script: its variables, the envdirs it passes
// through, and sh -c scripts, until it meets the server's command line.
type runReader struct {
	svc *Service
	// vars are the shell variables in scope: the script's assignments,
	// then the envdir's variables once envdir has run.
	vars map[string]string
}

// Get implements expand.Environ. A variable nobody sets expands to a
// marker, NUL NAME NUL, so the argument that uses it can be named later
// (unset is dropped where a shell would drop an empty word).
func (r *runReader) Get(name string) expand.Variable {
	if v, ok := r.vars[name]; ok {
		return expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v}
	}
	if name == "IFS" || name == "PWD" || name == "HOME" || !syntax.ValidName(name) {
		return expand.Variable{}
	}
	return expand.Variable{Set: true, Kind: expand.String, Str: "\x00" + name + "\x00"}
}

// unknown returns the first variable marker in s, or "".
func unknown(s string) string {
	i := strings.IndexByte(s, 0)
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i+1:], 0)
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

// clean drops the markers of unknown variables: they expand to nothing.
func clean(s string) string {
	for n := unknown(s); n != ""; n = unknown(s) {
		s = strings.Replace(s, "\x00"+n+"\x00", "", 1)
	}
	return s
}

// Each implements expand.Environ.
func (r *runReader) Each(fn func(string, expand.Variable) bool) {
	for k, v := range r.vars {
		if !fn(k, expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v}) {
			return
		}
	}
}

func (r *runReader) cfg() *expand.Config {
	return &expand.Config{Env: r, CmdSubst: func(w io.Writer, cs *syntax.CmdSubst) error {
		// $(...) is not run: it stands for itself, so a path built from it
		// is reported as written.
		_, err := io.WriteString(w, "$(...)")
		return err
	}}
}

// script parses one shell script and follows its commands; it reports
// whether it found the server.
func (r *runReader) script(src io.Reader, name string) (bool, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(src, name)
	if err != nil {
		return false, fmt.Errorf("not a shell script qmailctl can parse: %w", err)
	}
	found := false
	var walkErr error
	syntax.Walk(f, func(n syntax.Node) bool {
		if found || walkErr != nil {
			return false
		}
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		if len(call.Args) == 0 {
			// NAME=value: remember literal assignments for later words.
			for _, as := range call.Assigns {
				if as.Value != nil {
					if v, err := expand.Literal(r.cfg(), as.Value); err == nil {
						r.vars[as.Name.Value] = clean(v)
					}
				}
			}
			return false
		}
		fields, err := expand.Fields(r.cfg(), call.Args...)
		if err != nil {
			return false // a word qmailctl cannot expand: not this command
		}
		var args []string
		for _, f := range fields {
			if f == "\x00"+unknown(f)+"\x00" {
				continue // $UNSET unquoted: no word at all
			}
			args = append(args, f)
		}
		found, walkErr = r.command(args)
		return false
	})
	return found, walkErr
}

// command follows a command line through the programs that exec the next
// one (exec, envdir, softlimit, setuidgid, sh -c) to the server.
func (r *runReader) command(args []string) (bool, error) {
	for len(args) > 0 {
		prog := filepath.Base(args[0])
		switch prog {
		case "exec", "nice", "nohup":
			args = args[1:]
		case "envdir":
			rest := skipOpts(args[1:], "")
			if len(rest) < 1 {
				return false, nil
			}
			if err := r.envdir(rest[0]); err != nil {
				return false, err
			}
			args = rest[1:]
		case "softlimit":
			args = skipOpts(args[1:], "acdflmoprst")
		case "setuidgid", "envuidgid":
			if len(args) < 2 {
				return false, nil
			}
			args = args[2:]
		case "sh", "bash", "dash", "ksh":
			if len(args) < 3 || args[1] != "-c" {
				return false, nil
			}
			return r.script(strings.NewReader(args[2]), "sh -c")
		case "tcpserver", "tcpserver6", "sslserver":
			return r.server(prog, args[1:])
		default:
			return false, nil
		}
	}
	return false, nil
}

// envdir reads dir (relative to the service directory) as envdir does and
// makes its variables those of the rest of the command.
func (r *runReader) envdir(dir string) error {
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.svc.Dir, dir)
	}
	env, unset, err := ReadEnvDir(dir)
	if err != nil {
		return err
	}
	if r.svc.EnvDir == "" {
		r.svc.EnvDir = dir
	}
	for k, v := range env {
		r.vars[k], r.svc.Env[k] = v, v
	}
	for _, k := range unset {
		delete(r.vars, k)
		delete(r.svc.Env, k)
	}
	r.svc.Unset = append(r.svc.Unset, unset...)
	return nil
}

// Options of the listening programs that take an argument: ucspi-tcp 0.88's
// getopt string "dDvqQhHrR1UXx:t:u:g:l:b:B:c:pPoO", plus IndiMail's -C
// limit, -m db.conf and -n/-a certificate options, and ucspi-ssl's -T.
const serverArgOpts = "xtuglbBcCmnaT"

// server reads the server's options, its host and port, and the chain of
// programs up to qmail-smtpd.
func (r *runReader) server(name string, args []string) (bool, error) {
	s := r.svc
	s.Server = name
	s.NoHostLookup, s.NoInfoLookup = false, false
	i := 0
	for ; i < len(args); i++ {
		w := args[i]
		if w == "--" {
			i++
			break
		}
		if len(w) < 2 || w[0] != '-' {
			break
		}
		for j := 1; j < len(w); j++ {
			c := w[j]
			if !strings.ContainsRune(serverArgOpts, rune(c)) {
				switch c {
				case 'H':
					s.NoHostLookup = true
				case 'h':
					s.NoHostLookup = false
				case 'R':
					s.NoInfoLookup = true
				case 'r':
					s.NoInfoLookup = false
				case 'X':
					s.AllowNoRules = true
				case 'p':
					s.Paranoid = true
				case 'P':
					s.Paranoid = false
				}
				continue
			}
			arg := w[j+1:]
			if arg == "" && i+1 < len(args) {
				i++
				arg = args[i]
			}
			switch c {
			case 'x':
				s.RulesCDB = arg
			case 'm':
				s.MySQLRules = arg
			case 'u':
				s.User = arg
			case 'g':
				s.Group = arg
			}
			break
		}
	}
	if len(args)-i < 2 {
		return false, nil
	}
	s.Host, s.Port = clean(args[i]), clean(args[i+1])
	if strings.Contains(s.RulesCDB, "$(...)") {
		return false, fmt.Errorf("%s -x %s is computed by a command substitution qmailctl does not run", name, s.RulesCDB)
	}
	if n := unknown(s.RulesCDB); n != "" {
		return false, fmt.Errorf("%s -x uses $%s, which neither the script nor its envdir sets: %w", name, n, ErrUnknownVariable)
	}
	s.User, s.Group, s.MySQLRules = clean(s.User), clean(s.Group), clean(s.MySQLRules)
	return r.chain(args[i+2:])
}

// chain reads the programs after the server's address up to qmail-smtpd.
func (r *runReader) chain(args []string) (bool, error) {
	s := r.svc
	for len(args) > 0 {
		prog := filepath.Base(args[0])
		p := Program{Name: prog, Path: args[0]}
		var rest []string
		switch {
		case strings.Contains(prog, "qmail-smtpd") || strings.Contains(prog, "qmail_smtpd"):
			s.SMTPD, s.SMTPDArgs = args[0], args[1:]
			return true, nil
		case prog == "rblsmtpd" || prog == "rblsmtpd.so":
			p.Name = "rblsmtpd"
			rest = skipOpts(args[1:], RBLArgOpts)
		case prog == "fixcrio" || prog == "recordio" || prog == "exec":
			rest = args[1:]
		case prog == "softlimit":
			rest = skipOpts(args[1:], "acdflmoprst")
		case prog == "setuidgid" || prog == "envuidgid" || prog == "envdir":
			rest = skipOpts(args[1:], "")
			if len(rest) == 0 {
				return false, nil
			}
			if prog == "envdir" {
				if err := r.envdir(rest[0]); err != nil {
					return false, err
				}
			}
			rest = rest[1:]
		default:
			return false, nil // a program qmailctl does not know
		}
		for _, a := range args[1 : len(args)-len(rest)] {
			p.Args = append(p.Args, clean(a))
		}
		s.Chain = append(s.Chain, p)
		args = rest
	}
	return false, nil
}

// RBLArgOpts are the options of rblsmtpd that take an argument (its getopt
// string in ucspi-tcp 0.88 is "bBcCt:r:a:").
const RBLArgOpts = "tra"

// skipOpts skips getopt-style options; withArg lists the letters that take
// an argument.
func skipOpts(args []string, withArg string) []string {
	for len(args) > 0 {
		w := args[0]
		if w == "--" {
			return args[1:]
		}
		if len(w) < 2 || w[0] != '-' {
			return args
		}
		args = args[1:]
		for j := 1; j < len(w); j++ {
			if strings.IndexByte(withArg, w[j]) >= 0 {
				if j == len(w)-1 && len(args) > 0 {
					args = args[1:]
				}
				break
			}
		}
	}
	return args
}

// ReadEnvDir reads dir as daemontools' envdir does: for each file NAME, the
// first line with trailing spaces and TABs removed and NULs turned into
// newlines is the value; a file of 0 bytes removes NAME. Names starting with
// a dot and subdirectories are skipped; a name with '=' is refused.
func ReadEnvDir(dir string) (env map[string]string, unset []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read envdir: %w", err)
	}
	env = map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		if strings.ContainsRune(name, '=') {
			return nil, nil, fmt.Errorf("envdir %s: file name %q contains '=', which envdir refuses", dir, name)
		}
		data, err := safefile.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("envdir %s: %w", dir, err)
		}
		if len(data) == 0 {
			unset = append(unset, name)
			continue
		}
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[:i]
		}
		v := strings.TrimRight(string(data), " \t")
		env[name] = strings.ReplaceAll(v, "\x00", "\n")
	}
	return env, unset, nil
}
