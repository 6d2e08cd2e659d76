package relaytable

import "strings"

// RedactDSN returns dsn with its password replaced by "xxxxx", for error messages and logs.
// For mysql:// it finds the password the way go-sql-driver/mysql does (between the first
// ':' and the last '@' before the last '/'); other scheme://user:pass@ forms are handled
// alike, and SQLite paths are returned unchanged.
func RedactDSN(dsn string) string {
	i := strings.Index(dsn, "://")
	if i < 0 || strings.HasPrefix(dsn, "sqlite:") {
		return dsn
	}
	head, rest := dsn[:i+3], dsn[i+3:]
	end := strings.LastIndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return dsn
	}
	colon := strings.IndexByte(rest[:at], ':')
	if colon < 0 || colon+1 == at {
		return dsn
	}
	return head + rest[:colon+1] + "xxxxx" + rest[at:]
}
