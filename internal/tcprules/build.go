package tcprules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"sync/atomic"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// Build compiles the rules file src into dst (normally src + ".cdb") under
// the caller's lock: the new cdb replaces the old one atomically, or, on a
// syntax or I/O error, the old one stays exactly as it was.
// If read is not nil, it counts the bytes of src read so far, for a
// progress line.
func Build(l *safefile.Lock, src, dst string, read *atomic.Int64) (Stats, []diag.Problem, error) {
	f, err := safefile.Open(src)
	if err != nil {
		return Stats{}, nil, err
	}
	defer f.Close()
	var (
		st    Stats
		warns []diag.Problem
	)
	err = l.WriteFile(dst, func(w *os.File) error {
		st, warns, err = WriteCDB(w, src, f, read)
		return err
	})
	return st, warns, unwrapProblem(err)
}

// WriteCDB compiles the rules read from in (named name in messages) into a
// cdb written to w, the temporary file of a safefile transaction. If read is
// not nil, it counts the bytes of in read so far, for a progress line.
func WriteCDB(w io.WriteSeeker, name string, in io.Reader, read *atomic.Int64) (Stats, []diag.Problem, error) {
	cw, err := cdb.NewWriter(w)
	if err != nil {
		return Stats{}, nil, err
	}
	st, warns, err := Compile(name, countReader(in, read), cw)
	if err != nil {
		return st, warns, err
	}
	return st, warns, cw.Finish()
}

// unwrapProblem returns the syntax error in err as it is: its position says
// it all, and the "write X:" wrapping would only repeat the file's name.
func unwrapProblem(err error) error {
	var p *diag.Problem
	if errors.As(err, &p) {
		return p
	}
	return err
}

// Stale reports whether the cdb at dst differs from what src compiles to,
// comparing records rather than modification times: an edit made within the
// same second as the last build, or a restored older file, is still seen. The
// reason says what differs. A source with a syntax error is stale, with the
// error returned. read counts the bytes of src read, as for Build.
func Stale(src, dst string, read *atomic.Int64) (stale bool, reason string, err error) {
	f, err := safefile.Open(src)
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	in := countReader(f, read)
	r, err := cdb.Open(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return true, "no cdb", nil
	}
	if safefile.Refused(err) {
		return false, "", err
	}
	if err != nil {
		return true, "unreadable cdb: " + err.Error(), nil
	}
	defer r.Close()

	next, stop := iter.Pull2(func(yield func(record, error) bool) {
		err := r.ForEach(func(k, d []byte) error {
			if !yield(record{string(k), string(d)}, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			yield(record{}, err)
		}
	})
	defer stop()
	cmp := &comparer{next: next}
	_, _, err = Compile(src, in, cmp)
	if err != nil && !errors.Is(err, errDiffers) {
		return true, "", err
	}
	if cmp.reason == "" {
		if rec, err, ok := next(); ok {
			if err != nil {
				return true, "unreadable cdb: " + err.Error(), nil
			}
			cmp.reason = fmt.Sprintf("the cdb has record %q that the source no longer has", rec.key)
		}
	}
	return cmp.reason != "", cmp.reason, nil
}

var (
	errStop    = errors.New("stop")
	errDiffers = errors.New("differs")
)

// comparer is an Adder that checks each compiled record against the next
// record of an existing cdb.
type comparer struct {
	next   func() (record, error, bool)
	reason string
	n      int
}

func (c *comparer) Add(key, data []byte) error {
	c.n++
	rec, err, ok := c.next()
	switch {
	case !ok:
		c.reason = fmt.Sprintf("the source has record %d (%q) that the cdb lacks", c.n, key)
	case err != nil:
		c.reason = "unreadable cdb: " + err.Error()
	case rec.key != string(key) || !bytes.Equal([]byte(rec.data), data):
		c.reason = fmt.Sprintf("record %d differs: the source gives %q, the cdb has %q", c.n, key, rec.key)
	default:
		return nil
	}
	return errDiffers
}

// record is one cdb record.
type record struct{ key, data string }

// countReader adds the bytes read from r to n, when n is not nil.
func countReader(r io.Reader, n *atomic.Int64) io.Reader {
	if n == nil {
		return r
	}
	return &counting{r, n}
}

type counting struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
