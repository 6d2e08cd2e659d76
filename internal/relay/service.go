package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// Service is what qmailctl reads from a supervise service directory such as
// IndiMail's /service/qmail-smtpd.25: the rules cdb tcpserver's -x names in
// DIR/run, tcpserver's lookup options, and the envdir DIR/variables.
type Service struct {
	Dir string
	// RulesCDB is the -x argument (FILE.cdb); RulesSource is FILE, its
	// tcprules source. Both are empty when tcpserver has no -x.
	RulesCDB    string
	RulesSource string
	// NoHostLookup: tcpserver -H (TCPREMOTEHOST is never set);
	// NoInfoLookup: -R (TCPREMOTEINFO is never set); AllowNoRules: -X.
	NoHostLookup bool
	NoInfoLookup bool
	AllowNoRules bool
	// Env is the envdir DIR/variables as envdir builds it: NAME is the
	// file's first line; an empty file unsets NAME (listed in Unset).
	Env   map[string]string
	Unset []string
}

// ReadService reads the run script and the variables directory of the
// service directory dir.
func ReadService(dir string) (*Service, error) {
	s := &Service{Dir: dir, Env: map[string]string{}}
	run := filepath.Join(dir, "run")
	data, err := safefile.ReadFile(run)
	if err != nil {
		return nil, fmt.Errorf("read the run script: %w", err)
	}
	vars := filepath.Join(dir, "variables")
	if fi, err := os.Stat(vars); err == nil && fi.IsDir() {
		if s.Env, s.Unset, err = ReadEnvDir(vars); err != nil {
			return nil, err
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", vars, err)
	}
	if err := s.parseRun(run, data); err != nil {
		return nil, err
	}
	return s, nil
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

// parseRun finds the tcpserver command in a run script and reads its
// options up to the host and port arguments. Backslash-newline
// continuations are joined; shell quotes are removed; $NAME and ${NAME}
// are expanded from the service's variables (an unknown one is an error:
// qmailctl cannot guess the path).
func (s *Service) parseRun(run string, data []byte) error {
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	var words []string
	for _, w := range shellWords(text) {
		// sh -c '... tcpserver ...' quotes the whole command as one word.
		if strings.Contains(w, "tcpserver") && strings.ContainsAny(w, " \t\n") {
			words = append(words, shellWords(w)...)
		} else {
			words = append(words, w)
		}
	}
	at := -1
	for i, w := range words {
		if filepath.Base(w) == "tcpserver" || filepath.Base(w) == "tcpserver6" {
			at = i
			break
		}
	}
	if at < 0 {
		return fmt.Errorf("%s: no tcpserver command found", run)
	}
	var missing []string
	expand := func(w string) string {
		return os.Expand(w, func(name string) string {
			if v, ok := s.Env[name]; ok {
				return v
			}
			missing = append(missing, name)
			return ""
		})
	}
	// Options of tcpserver that take an argument: ucspi-tcp 0.88's getopt
	// string "dDvqQhHrR1UXx:t:u:g:l:b:B:c:pPoO", plus IndiMail's -C limit
	// and -m db.conf.
	withArg := "xtuglbBcCm"
	for i := at + 1; i < len(words); i++ {
		w := words[i]
		if len(w) < 2 || w[0] != '-' {
			break // the host argument: options end here
		}
		for j := 1; j < len(w); j++ {
			c := w[j]
			if !strings.ContainsRune(withArg, rune(c)) {
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
				}
				continue
			}
			arg := w[j+1:]
			if arg == "" && i+1 < len(words) {
				i++
				arg = words[i]
			}
			if c == 'x' {
				s.RulesCDB = expand(arg)
			}
			break
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: tcpserver -x uses $%s, which the service's variables do not set", run, missing[0])
	}
	if s.RulesCDB != "" {
		if !filepath.IsAbs(s.RulesCDB) {
			s.RulesCDB = filepath.Join(s.Dir, s.RulesCDB)
		}
		s.RulesSource = strings.TrimSuffix(s.RulesCDB, ".cdb")
	}
	return nil
}

// shellWords splits a script into words the way sh does for simple
// commands: blanks and newlines separate, '...' and "..." quote, \ escapes,
// and ; & | ( ) end a word. It is enough to find tcpserver's options.
func shellWords(text string) []string {
	var words []string
	var b strings.Builder
	in := false
	flush := func() {
		if in {
			words = append(words, b.String())
			b.Reset()
			in = false
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '#' && !in:
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == ';' || c == '&' || c == '|' || c == '(' || c == ')':
			flush()
		case c == '\'':
			in = true
			j := strings.IndexByte(text[i+1:], '\'')
			if j < 0 {
				j = len(text) - i - 1
			}
			b.WriteString(text[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			j := strings.IndexByte(text[i+1:], '"')
			if j < 0 {
				j = len(text) - i - 1
			}
			if in {
				// quotes inside a word: -x"$DIR"/tcp.smtp.cdb
				b.WriteString(text[i+1 : i+1+j])
			} else {
				// a quoted word, or the script of sh -c "...": split
				// its content too
				words = append(words, shellWords(text[i+1:i+1+j])...)
			}
			i += j + 1
		case c == '\\' && i+1 < len(text):
			in = true
			i++
			b.WriteByte(text[i])
		default:
			in = true
			b.WriteByte(c)
		}
	}
	flush()
	return words
}
