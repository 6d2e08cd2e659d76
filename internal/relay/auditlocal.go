package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qmailctl/qmailctl/internal/control"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// ReadLocalIPHost reads what qmail-smtpd writes for the domain of
// user@[own ip]: the first line of control/localiphost, else of control/me
// (control_rldef with flagme). from names the file used; both are "" when
// neither exists (then there is no rewrite).
func ReadLocalIPHost(controlDir string) (host, from string, err error) {
	for _, name := range []string{"localiphost", "me"} {
		p := filepath.Join(controlDir, name)
		data, err := safefile.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("read %s: %w", p, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimRight(line, " \t\r"), p, nil
	}
	return "", "", nil
}

// auditLocalIP finds what the user@[ip] rewrite does to rcpthosts, proven
// against the real servers: a literal line [ip] of one of the server's own
// addresses never matches (the address is rewritten to localiphost or me
// first), and mail to user@[own ip] is refused unless that name is local.
func auditLocalIP(in *AuditInput, rh *ControlInput, add func(check string, sev diag.Severity, file string, line int, text, msg, hint string)) {
	if !rh.File.Exists {
		return
	}
	cfg := &Config{LocalIPHost: in.LocalIPHost, LocalIPs: in.LocalIPs}
	for _, e := range rh.File.Entries {
		if !strings.HasPrefix(e.Key, "[") {
			continue
		}
		ip, ok := scanBracketIPv4(e.Key)
		if !ok {
			continue
		}
		a := localIPHost(cfg, Address{Addr: "u@" + e.Key, Local: "u", Domain: e.Key, HasAt: true})
		if a.Domain == e.Key {
			if in.LocalIPHost == "" {
				add("rcpthosts-literal", diag.Info, rh.Facts.Path, e.Line, e.Text,
					fmt.Sprintf("neither control/localiphost nor control/me exists, so qmail-smtpd does not rewrite user@[%s]: this line is what makes it local", ip), "")
			}
			continue
		}
		add("rcpthosts-literal", diag.Warning, rh.Facts.Path, e.Line, e.Text,
			fmt.Sprintf("%s is one of this server's addresses: qmail-smtpd rewrites user@[%s] to user@%s (%s) before reading rcpthosts, so this line never matches", ip, ip, in.LocalIPHost, in.LocalIPHostFrom),
			"qmailctl rcpthosts remove "+diag.ShellQuote(e.Text)+" (and list "+in.LocalIPHost+" instead)")
	}
	if in.LocalIPHost == "" {
		return
	}
	m, err := control.MatchRcptHost(rh.File, nil, "u@"+in.LocalIPHost)
	if err == nil && !m.Matched && !in.MoreRcptHostsCDB.Exists {
		what := in.LocalIPHostFrom
		if !strings.HasSuffix(what, "localiphost") {
			what += " (control/localiphost is missing)"
		}
		add("localiphost-not-local", diag.Info, rh.Facts.Path, 0, "",
			fmt.Sprintf("mail to user@[one of this server's addresses] is rewritten to user@%s, from %s, which rcpthosts does not list: it is refused for clients without relay rights", in.LocalIPHost, what),
			"qmailctl rcpthosts add "+diag.ShellQuote(in.LocalIPHost)+" if mail to address literals should be accepted")
	}
}

// HasGreeting reports whether qmail-smtpd finds a greeting in controlDir:
// control/smtpgreeting, else control/me. Without either it refuses every
// session (ControlsRefusal).
func HasGreeting(controlDir string) (bool, error) {
	for _, name := range []string{"smtpgreeting", "me"} {
		_, err := os.Stat(filepath.Join(controlDir, name))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("read %s: %w", filepath.Join(controlDir, name), err)
		}
	}
	return false, nil
}
