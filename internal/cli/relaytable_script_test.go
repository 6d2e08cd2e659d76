package cli

import (
	"database/sql"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdSQLite runs SQL statements on an SQLite file, to give a script a relay
// table laid out otherwise than qmailctl would: sqlite FILE 'STATEMENT'...
// It uses the driver qmailctl itself links, so no sqlite3 program is needed.
func cmdSQLite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: sqlite FILE STATEMENT...")
	}
	db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	for _, q := range args[1:] {
		_, err := db.Exec(q)
		ts.Check(err)
	}
}
