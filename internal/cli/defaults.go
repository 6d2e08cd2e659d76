package cli

import "github.com/qmailctl/qmailctl/internal/relaytable"

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
