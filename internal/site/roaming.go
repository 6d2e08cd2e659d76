package site

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// Roaming-user (POP/IMAP-before-SMTP) layouts of a rules cdb. Both put one
// record per client IP ahead of the rules file's own records:
//
//   - IndiMail built with POP_AUTH_OPEN_RELAY: update_rules compiles one
//     line IP:allow,RELAYCLIENT="" for every row of the relay table, then
//     the lines of the rules file (comments and all, through tcprules).
//   - vpopmail with roaming users: the lines of ~vpopmail/etc/open-smtp,
//     IP:allow,RELAYCLIENT="",RBLSMTPD="" then a TAB and the login time,
//     each cut at the TAB, then the rules file.
const (
	LayoutRelayTable = "relay-table" // IndiMail
	LayoutOpenSMTP   = "open-smtp"   // vpopmail
)

var roamingData = map[string]string{
	"+RELAYCLIENT=\x00":               LayoutRelayTable,
	"+RELAYCLIENT=\x00+RBLSMTPD=\x00": LayoutOpenSMTP,
}

// Roaming is the block of roaming-user records found ahead of a rules cdb's
// own records.
type Roaming struct {
	Layout  string
	Records []cdb.Record
	keys    map[string]bool

	// RowFor, when set, finds the relay table row behind an IndiMail
	// record (the key is the row's IP), so that the record can be named
	// by who logged in and when. A nil row or an error keeps the generic
	// wording: the table may be unreachable, or the row cleared since the
	// cdb was built.
	RowFor func(ip string) (*RoamingRow, error)
}

// RoamingRow is the relay table row behind an IndiMail roaming-user record.
// Others counts the other rows of the same IP (each compiles to the same
// key; the row named is the newest).
type RoamingRow struct {
	Email  string    `json:"email"`
	Time   time.Time `json:"time"`
	Others int       `json:"others,omitempty"`
}

// Entry names the roaming-user record with key for a person: its line and,
// for IndiMail's layout with RowFor set, the relay table row behind it
// ("relay table row for joe@example.com at ..."), which it also returns.
func (r *Roaming) Entry(key string) (string, *RoamingRow) {
	line := r.Line(key)
	if r.Layout == LayoutRelayTable && r.RowFor != nil {
		if row, err := r.RowFor(key); err == nil && row != nil {
			text := fmt.Sprintf("%s (roaming-user entry: relay table row for %s at %s", line, row.Email, row.Time.Format("2006-01-02 15:04:05 -0700"))
			if row.Others > 0 {
				text += fmt.Sprintf(", and %d other row(s) for this IP", row.Others)
			}
			return text + ")", row
		}
	}
	return line + " (roaming-user entry: " + r.Describe() + ")", nil
}

// Has reports whether key is one of the roaming-user records.
func (r *Roaming) Has(key string) bool { return r != nil && r.keys[key] }

// Line is the tcprules line that compiles to the record with key.
func (r *Roaming) Line(key string) string {
	if r.Layout == LayoutOpenSMTP {
		return key + `:allow,RELAYCLIENT="",RBLSMTPD=""`
	}
	return key + `:allow,RELAYCLIENT=""`
}

// Describe names the layout for a person.
func (r *Roaming) Describe() string {
	if r.Layout == LayoutOpenSMTP {
		return "vpopmail's roaming users (open-smtp lines ahead of the rules)"
	}
	return "IndiMail's POP/IMAP-before-SMTP relay table rows (update_rules writes them ahead of the rules, one for every row whatever its age: each IP may relay for any sender until the next rebuild)"
}

// FindRoaming looks for roaming-user records at the start of the cdb at
// cdbPath, ahead of the first record src compiles to: records whose key is
// a client IP and whose data is exactly what one of the layouts writes, all
// of the same layout. It returns nil when there are none.
func FindRoaming(src, cdbPath string) (*Roaming, error) {
	first, err := firstRecord(src)
	if err != nil {
		return nil, err
	}
	r, err := cdb.Open(cdbPath)
	if errors.Is(err, cdb.ErrCorrupt) {
		return nil, nil // a damaged cdb has no records to keep: it is rebuilt
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ro := &Roaming{keys: map[string]bool{}}
	errDone := errors.New("done")
	err = r.ForEach(func(k, d []byte) error {
		if first != nil && bytes.Equal(k, first.Key) && bytes.Equal(d, first.Data) {
			return errDone
		}
		layout, ok := roamingData[string(d)]
		if !ok || net.ParseIP(string(k)) == nil || (ro.Layout != "" && layout != ro.Layout) {
			ro.Records = nil
			return errDone
		}
		ro.Layout = layout
		ro.Records = append(ro.Records, cdb.Record{Key: bytes.Clone(k), Data: bytes.Clone(d)})
		ro.keys[string(k)] = true
		return nil
	})
	if errors.Is(err, cdb.ErrCorrupt) {
		return nil, nil
	}
	if err != nil && err != errDone {
		return nil, err
	}
	if len(ro.Records) == 0 {
		return nil, nil
	}
	return ro, nil
}

// firstRecord is the first record src compiles to, or nil. A missing src
// has no records (tcp add creates it; a cdb beside it may still hold
// roaming-user records).
func firstRecord(src string) (*cdb.Record, error) {
	f, err := safefile.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rec *cdb.Record
	errDone := errors.New("done")
	_, _, err = tcprules.Compile(src, f, adder(func(k, d []byte) error {
		rec = &cdb.Record{Key: bytes.Clone(k), Data: bytes.Clone(d)}
		return errDone
	}))
	if err != nil && !errors.Is(err, errDone) {
		return nil, err
	}
	return rec, nil
}

type adder func(k, d []byte) error

func (a adder) Add(k, d []byte) error { return a(k, d) }

// RoamingLines reads the roaming-user lines a layout's tool compiles ahead
// of the rules file: for an open-smtp file, each line cut at its TAB (as
// vpopmail does). The lines end with a newline.
func RoamingLines(openSMTP io.Reader) ([]byte, error) {
	var out bytes.Buffer
	sc := bufio.NewScanner(openSMTP)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "\t")
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes(), sc.Err()
}

// RoamingRefusal is the error of a rebuild that would drop roaming-user
// records: the admin must say where they come from, or drop them.
type RoamingRefusal struct {
	CDB     string
	Roaming *Roaming
}

func (e *RoamingRefusal) Error() string {
	var ex []string
	for i, r := range e.Roaming.Records {
		if i == 3 {
			ex = append(ex, "...")
			break
		}
		ex = append(ex, e.Roaming.Line(string(r.Key)))
	}
	return fmt.Sprintf("%s holds %d roaming-user record(s) that its source does not have (%s), in the layout of %s: rebuilding from the source alone would take relaying away from those users until they log in again; nothing was written",
		e.CDB, len(e.Roaming.Records), strings.Join(ex, "; "), e.Roaming.Describe())
}

// BuildRoaming compiles prefix (roaming-user lines: RoamingLines,
// RelayTableLines) followed by the rules file src into dst, staged in t, as
// the layout's tool feeds tcprules: the result is byte for byte what that
// tool writes. Like tcprules.Build, dst is replaced when t commits, or left
// as it was.
func BuildRoaming(t *safefile.Txn, layout, src, dst string, prefix []byte) (tcprules.Stats, []diag.Problem, error) {
	in, err := roamingRules(layout, t.Open, src)
	if err != nil {
		return tcprules.Stats{}, nil, err
	}
	defer in.Close()
	var (
		st    tcprules.Stats
		warns []diag.Problem
	)
	err = t.Stage(dst, func(w *os.File) error {
		st, warns, err = tcprules.WriteCDB(w, src, io.MultiReader(bytes.NewReader(prefix), in), nil)
		return err
	})
	var p *diag.Problem
	if errors.As(err, &p) {
		return st, warns, p
	}
	return st, warns, err
}

// CompareRoaming is the staleness of dst against prefix followed by src, as
// the layout's tool feeds them to tcprules.
func CompareRoaming(layout, src, dst string, prefix []byte) (cdb.Staleness, error) {
	in, err := roamingRules(layout, func(name string) (*os.File, error) { return safefile.Open(name) }, src)
	if err != nil {
		return cdb.Staleness{}, err
	}
	defer in.Close()
	return cdb.Compare(dst, func(add func(k, d []byte) error) error {
		_, _, err := tcprules.Compile(src, io.MultiReader(bytes.NewReader(prefix), in), adder(add))
		return err
	})
}

// roamingRules opens the rules file src as the layout's tool passes it to
// tcprules: vpopmail as it is, IndiMail through UpdateRulesFilter.
func roamingRules(layout string, open func(string) (*os.File, error), src string) (io.ReadCloser, error) {
	f, err := open(src)
	if err != nil {
		return nil, err
	}
	if layout != LayoutRelayTable {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{UpdateRulesFilter(f), f}, nil
}

// RelayTableLines are the lines update_rules writes for the relay table's
// rows: `IP:allow,RELAYCLIENT=""` for each ipaddr, in the order given.
func RelayTableLines(ips []string) []byte {
	var b bytes.Buffer
	for _, ip := range ips {
		b.WriteString(ip)
		b.WriteString(":allow,RELAYCLIENT=\"\"\n")
	}
	return b.Bytes()
}

// UpdateRulesFilter passes the rules file r on as IndiMail's update_rules
// copies it to tcprules after the relay table's rows. It reads the file a
// line at a time (newline kept; a last line without one is passed without
// one) and, as C string functions see the line, looks for the first '#'
// before any NUL byte: that '#' becomes a NUL byte but the line keeps its
// length, so the comment's other bytes and the newline are still written.
// A line whose bytes before that point (or before a NUL) are all C
// whitespace (space, \t, \n, \v, \f, \r) is not written: blank lines and
// whole-line comments go.
func UpdateRulesFilter(r io.Reader) io.Reader {
	return &updateRules{br: bufio.NewReaderSize(r, 64*1024)}
}

type updateRules struct {
	br   *bufio.Reader
	line []byte
	err  error
}

func (u *updateRules) Read(p []byte) (int, error) {
	for len(u.line) == 0 {
		if u.err != nil {
			return 0, u.err
		}
		u.line, u.err = u.br.ReadBytes('\n')
		end := bytes.IndexAny(u.line, "#\x00")
		if end < 0 {
			end = len(u.line)
		} else if u.line[end] == '#' {
			u.line[end] = 0
		}
		if len(bytes.TrimLeft(u.line[:end], " \t\n\v\f\r")) == 0 {
			u.line = nil
		}
	}
	n := copy(p, u.line)
	u.line = u.line[n:]
	return n, nil
}
