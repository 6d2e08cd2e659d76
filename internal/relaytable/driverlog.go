package relaytable

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// driverLog is the MySQL driver's logger for one Store. go-sql-driver/mysql prints its
// own lines on stderr by default ("[mysql] 2026/12/01 02:00:00 packets.go:58: unexpected
// EOF"), outside qmailctl's diagnostics and exit statuses. Here they are kept instead:
// the latest line logged during a failed operation is added to that operation's error
// ("invalid connection (driver: unexpected EOF)"), and the others, about connections
// the pool replaced on its own, are dropped.
type driverLog struct {
	mu   sync.Mutex
	last string
}

// srcPos matches the "packets.go:58 " the driver puts before its message.
var srcPos = regexp.MustCompile(`^\S+\.go:\d+\s*$`)

// Print implements mysql.Logger.
func (l *driverLog) Print(v ...any) {
	if len(v) > 0 {
		if s, ok := v[0].(string); ok && srcPos.MatchString(s) {
			v = v[1:]
		}
	}
	msg := strings.TrimSpace(fmt.Sprint(v...))
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
}

// take returns the latest line and forgets it.
func (l *driverLog) take() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := l.last
	l.last = ""
	return msg
}
