package tcprules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// Build stages in t the cdb dst compiled from the rules file src as t sees
// it (the staged new source, if the edit staged one): the cdb is exactly
// what will be committed with it, and nothing is visible until t commits.
// On a syntax error the error is the line's *diag.Problem. If read is not
// nil, it counts the bytes of src read so far, for a progress line.
func Build(t *safefile.Txn, src, dst string, read *atomic.Int64) (Stats, []diag.Problem, error) {
	in, err := t.Open(src)
	if err != nil {
		return Stats{}, nil, err
	}
	defer in.Close()
	var (
		st    Stats
		warns []diag.Problem
	)
	err = t.Stage(dst, func(w *os.File) error {
		st, warns, err = WriteCDB(w, src, in, read)
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

// Stale compares the cdb at dst with what src compiles to (cdb.Compare:
// records, not modification times). A source with a syntax error returns
// that error. read counts the bytes of src read, as for Build.
func Stale(src, dst string, read *atomic.Int64) (cdb.Staleness, error) {
	f, err := safefile.Open(src)
	if err != nil {
		return cdb.Staleness{}, err
	}
	defer f.Close()
	in := countReader(f, read)
	st, err := cdb.Compare(dst, func(add func(key, data []byte) error) error {
		_, _, err := Compile(src, in, adderFunc(add))
		return err
	})
	if err == nil && st.State == cdb.Differs && bytes.Equal(st.Want.Key, st.Have.Key) {
		// Same key: say what the rule is in each, not the key twice.
		st.Reason = fmt.Sprintf("record %d differs: the source gives %s, the cdb has %s",
			st.Record, strconv.Quote(RuleText(st.Want.Key, st.Want.Data)), strconv.Quote(RuleText(st.Have.Key, st.Have.Data)))
	}
	return st, err
}

// RuleText writes the cdb record key, data as the rule line that compiles
// to it.
func RuleText(key, data []byte) string {
	deny, env := Decode(data)
	rule := Rule{Address: string(key), Deny: deny, Env: env}
	return rule.String()
}

// adderFunc makes a function an Adder.
type adderFunc func(key, data []byte) error

func (f adderFunc) Add(key, data []byte) error { return f(key, data) }

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
