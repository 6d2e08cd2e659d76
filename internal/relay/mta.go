package relay

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DetectMTA guesses which qmail-smtpd the supervise service directory dir
// runs, from its run script: the program path after tcpserver's arguments
// and, when that file can be read, the program itself (IndiMail's binary
// names IndiMail; notqmail's, netqmail's and LWQ's do not). It returns ""
// when nothing tells, with the reason it gives in how.
func DetectMTA(dir string) (m MTA, how string) {
	run := filepath.Join(dir, "run")
	data, err := os.ReadFile(run)
	if err != nil {
		return "", "the run script cannot be read"
	}
	var prog string
	for _, w := range strings.Fields(string(data)) {
		w = strings.Trim(w, `'";`)
		if filepath.Base(w) == "qmail-smtpd" {
			prog = w
			break
		}
	}
	if prog == "" {
		if bytes.Contains(bytes.ToLower(data), []byte("indimail")) {
			return MTAIndiMail, run + " mentions indimail"
		}
		return "", run + " names no qmail-smtpd"
	}
	if bin, err := os.ReadFile(prog); err == nil {
		if bytes.Contains(bin, []byte("indimail")) || bytes.Contains(bin, []byte("IndiMail")) {
			return MTAIndiMail, prog + " is IndiMail's"
		}
		return MTANotqmail, prog + " is not IndiMail's (notqmail, netqmail or LWQ)"
	}
	if strings.HasPrefix(prog, "/var/qmail/") {
		return MTANotqmail, run + " runs " + prog + " (netqmail/LWQ layout)"
	}
	if strings.Contains(strings.ToLower(string(data)), "indimail") || strings.HasPrefix(prog, "/usr/sbin/") {
		return MTAIndiMail, run + " runs " + prog + " (IndiMail layout)"
	}
	return "", run + " runs " + prog + ", which cannot be read"
}

// HostIPv4s lists this host's IPv4 addresses: what qmail's ipme finds, the
// addresses of user@[ip] that qmail-smtpd rewrites to localiphost.
func HostIPv4s() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			out = append(out, n.IP.To4().String())
		}
	}
	return out
}

// ServiceProgram reads from the run script of the service directory dir
// the program tcpserver runs (qmail-smtpd and its arguments up to the end
// of the command) and tcpserver's -u and -g (-1 when absent).
func ServiceProgram(dir string) (argv []string, uid, gid int, err error) {
	data, err := os.ReadFile(filepath.Join(dir, "run"))
	if err != nil {
		return nil, -1, -1, err
	}
	uid, gid = -1, -1
	words := strings.Fields(strings.NewReplacer("\\\n", " ", "\"", " ", "'", " ").Replace(string(data)))
	for i, w := range words {
		switch {
		case (w == "-u" || w == "-g") && i+1 < len(words):
			if n, err := strconv.Atoi(words[i+1]); err == nil {
				if w == "-u" {
					uid = n
				} else {
					gid = n
				}
			}
		case filepath.Base(w) == "qmail-smtpd" && argv == nil:
			for _, a := range words[i:] {
				if a == ";" || a == "&&" || a == "|" || strings.HasPrefix(a, "2>") {
					break
				}
				argv = append(argv, a)
			}
		}
	}
	if argv == nil {
		return nil, uid, gid, fmt.Errorf("%s names no qmail-smtpd", filepath.Join(dir, "run"))
	}
	return argv, uid, gid, nil
}
