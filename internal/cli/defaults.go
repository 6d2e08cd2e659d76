package cli

import (
	"os"

	"github.com/qmailctl/qmailctl/internal/relaytable"
	"github.com/qmailctl/qmailctl/internal/site"
)

// hostPath maps one of qmailctl's built-in default locations (/etc/indimail/tcp,
// /etc, /etc/indimail/control, /var/qmail/control, the relay table's SQLite
// file) to the path qmailctl uses. Every default goes through it. It is the
// identity; the tests point it into a directory of their own (see TestMain),
// so that no test reads or writes the machine's configuration, and a test can
// prove that no default is opened when the flags and the environment name
// every file.
var hostPath = func(p string) string { return p }

// defaultRelayDSN is the relay table when neither --relay-db nor
// $QMAILCTL_RELAY_DB names one: relaytable's default SQLite file, as a DSN,
// and its path.
func defaultRelayDSN() (dsn, path string) {
	path = hostPath(relaytable.DefaultSQLitePath)
	return "sqlite://" + path, path
}

// serviceRoots are the directories where relay test and relay audit look
// for qmail-smtpd services: $QMAILCTL_SERVICE_ROOTS as given, else site's
// defaults (/service, /etc/service, /var/service) through hostPath.
func serviceRoots() []string {
	roots := site.Roots()
	if _, ok := os.LookupEnv(site.RootsEnv); ok {
		return roots
	}
	out := make([]string, len(roots))
	for i, r := range roots {
		out[i] = hostPath(r)
	}
	return out
}
