package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/safefile"
)

// record is one key of a compiled control file and the line it came from.
type record struct {
	key  string
	line int
}

// Records returns the keys IndiMail's qmail-cdb (and the older
// qmail-newmrh) writes for a relaymailfrom or morercpthosts source, in file
// order, each with empty data: every line lower-cased (ASCII), trailing
// spaces, TABs and newlines stripped, empty lines and lines starting with #
// skipped. Duplicates are kept, as cdbmake keeps them.
func Records(source []byte) []string {
	recs := records(source)
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.key
	}
	return out
}

func records(source []byte) []record {
	var out []record
	for num := 1; len(source) > 0; num++ {
		var line []byte
		if i := bytes.IndexByte(source, '\n'); i >= 0 {
			line, source = source[:i], source[i+1:]
		} else {
			line, source = source, nil
		}
		key := trimBlanks(LowerASCII(string(line)))
		if key != "" && key[0] != '#' {
			out = append(out, record{key: key, line: num})
		}
	}
	return out
}

// compiled checks that kind is compiled into a cdb and returns the source
// and cdb paths in dir.
func compiled(kind Kind, dir string) (src, dst string, err error) {
	name := kind.CDBName()
	if name == "" {
		return "", "", fmt.Errorf("%s is read as text by qmail-smtpd; it has no cdb", kind.Name())
	}
	return filepath.Join(dir, kind.Name()), filepath.Join(dir, name), nil
}

// Compile stages in t kind.CDBName() (relaymailfrom.cdb or morercpthosts.cdb)
// in the control directory dir, compiled from its text source as t sees it
// (the staged new source, if the edit staged one), as qmail-cdb does (see
// WriteCDB). It returns the number of records and the source's warnings.
func Compile(t *safefile.Txn, kind Kind, dir string) (int, []diag.Problem, error) {
	src, dst, err := compiled(kind, dir)
	if err != nil {
		return 0, nil, err
	}
	in, err := t.Open(src)
	if err != nil {
		return 0, nil, fmt.Errorf("compile %s: %w", kind.CDBName(), err)
	}
	data, err := io.ReadAll(in)
	in.Close()
	if err != nil {
		return 0, nil, fmt.Errorf("compile %s: %w", kind.CDBName(), err)
	}
	var (
		n        int
		problems []diag.Problem
	)
	err = t.Stage(dst, func(f *os.File) error {
		n, problems, err = WriteCDB(f, kind, src, data)
		return err
	})
	if err != nil {
		return 0, problems, fmt.Errorf("compile %s: %w", kind.CDBName(), err)
	}
	return n, problems, nil
}

// WriteCDB compiles source, the text of kind's file (named name in
// messages), into the cdb qmail-cdb writes for it (see Records), written
// to w, the temporary file of a safefile transaction. A line qmailctl finds
// invalid is compiled all the same, as qmail-newmrh and IndiMail's qmail-cdb
// compile it: its problem is returned as a warning. It returns the number of
// records and the source's warnings.
func WriteCDB(w io.WriteSeeker, kind Kind, name string, source []byte) (int, []diag.Problem, error) {
	if kind.CDBName() == "" {
		return 0, nil, fmt.Errorf("%s is read as text by qmail-smtpd; it has no cdb", kind.Name())
	}
	_, problems, err := Parse(kind, name, source)
	var p *diag.Problem
	if err != nil && !errors.As(err, &p) {
		return 0, problems, err
	}
	for i := range problems {
		if problems[i].Severity == diag.Error {
			problems[i].Severity = diag.Warning
			problems[i].Msg += " (compiled all the same, as the qmail tools do)"
		}
	}
	keys := Records(source)
	if err := writeCDB(w, keys); err != nil {
		return 0, problems, err
	}
	return len(keys), problems, nil
}

// writeCDB writes a cdb holding keys, in order, each with empty data: what
// qmail-cdb writes for the keys Records returns.
func writeCDB(w io.WriteSeeker, keys []string) error {
	cw, err := cdb.NewWriter(w)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := cw.Add([]byte(k), nil); err != nil {
			return err
		}
	}
	return cw.Finish()
}

// Stale compares kind's cdb in dir with what its source compiles to
// (cdb.Compare: records in file order, not modification times), and words
// the reason with the source's line numbers. A missing source is never
// stale (qmail-cdb -m moves the source to .bak and leaves the cdb in use).
func Stale(kind Kind, dir string) (cdb.Staleness, error) {
	src, dst, err := compiled(kind, dir)
	if err != nil {
		return cdb.Staleness{}, err
	}
	srcName, dstName := kind.Name(), kind.CDBName()
	data, err := safefile.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(dst); err == nil {
			return cdb.Staleness{Reason: fmt.Sprintf("%s is missing (qmail-cdb -m moves it to %s.bak); %s is left as it is", srcName, srcName, dstName)}, nil
		}
		return cdb.Staleness{Reason: fmt.Sprintf("neither %s nor %s exists", srcName, dstName)}, nil
	}
	if err != nil {
		return cdb.Staleness{}, fmt.Errorf("read %s: %w", srcName, err)
	}
	want := records(data)
	st, err := cdb.Compare(dst, func(add func(key, data []byte) error) error {
		for _, r := range want {
			if err := add([]byte(r.key), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read %s: %w", dstName, err)
	}
	switch st.State {
	case cdb.Fresh:
		st.Reason = fmt.Sprintf("%s matches %s (%d records)", dstName, srcName, len(want))
	case cdb.NoCDB:
		st.Reason = dstName + " does not exist"
	case cdb.Corrupt:
		st.Reason = fmt.Sprintf("%s is %s", dstName, st.Reason)
	case cdb.Differs:
		w := want[st.Record-1]
		if string(st.Have.Key) == w.key {
			st.Reason = fmt.Sprintf("record %d of %s (%s) has data; qmail-cdb writes none", st.Record, dstName, quoteText(w.key))
		} else {
			st.Reason = fmt.Sprintf("record %d of %s is %s, but %s line %d compiles to %s",
				st.Record, dstName, quoteText(string(st.Have.Key)), srcName, w.line, quoteText(w.key))
		}
	case cdb.SourceLonger:
		w := want[st.Record-1]
		st.Reason = fmt.Sprintf("%s has %d records, but %s compiles to %d (line %d %s is missing)",
			dstName, st.Record-1, srcName, len(want), w.line, quoteText(w.key))
	case cdb.CDBLonger:
		st.Reason = fmt.Sprintf("%s has %d records, but %s compiles to %d (%s is no longer in the source)",
			dstName, st.CDBRecords, srcName, len(want), quoteText(string(st.Have.Key)))
	}
	return st, nil
}
