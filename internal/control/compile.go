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

// Compile builds kind.CDBName() (relaymailfrom.cdb or morercpthosts.cdb) in
// the control directory dir from its text source, as qmail-cdb does (see
// Records), atomically through lock, which must hold dir. The source is
// parsed first for its problems, but a line qmailctl finds invalid is
// compiled all the same, as qmail-newmrh and IndiMail's qmail-cdb compile
// it (the servers then match it literally): its problem is returned as a
// warning. It returns the number of records written and the warnings.
func Compile(kind Kind, dir string, lock *safefile.Lock) (int, []diag.Problem, error) {
	src, dst, err := compiled(kind, dir)
	if err != nil {
		return 0, nil, err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return 0, nil, fmt.Errorf("compile %s: %w", kind.CDBName(), err)
	}
	_, problems, err := Parse(kind, src, data)
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
	keys := Records(data)
	err = lock.WriteFile(dst, func(f *os.File) error { return writeCDB(f, keys) })
	if err != nil {
		return 0, problems, fmt.Errorf("compile %s: %w", kind.CDBName(), err)
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

// Stale reports whether kind's cdb in dir must be rebuilt: when it is missing,
// unreadable as a cdb, or its records (in file order) differ from what the
// source compiles to. It compares content, not modification times, so an
// edit in the same second as the last build, or an older file restored, is
// still noticed. A missing source is never stale (qmail-cdb -m moves the
// source to .bak and leaves the cdb in use). reason says why, for a person.
func Stale(kind Kind, dir string) (bool, string, error) {
	src, dst, err := compiled(kind, dir)
	if err != nil {
		return false, "", err
	}
	srcName, dstName := kind.Name(), kind.CDBName()
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(dst); err == nil {
			return false, fmt.Sprintf("%s is missing (qmail-cdb -m moves it to %s.bak); %s is left as it is", srcName, srcName, dstName), nil
		}
		return false, fmt.Sprintf("neither %s nor %s exists", srcName, dstName), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read %s: %w", srcName, err)
	}
	want := records(data)
	r, err := cdb.Open(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return true, dstName + " does not exist", nil
	}
	if errors.Is(err, cdb.ErrCorrupt) {
		return true, fmt.Sprintf("%s is not a valid cdb: %v", dstName, err), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("open %s: %w", dstName, err)
	}
	defer r.Close()
	type rec struct{ key, data string }
	var have []rec
	err = r.ForEach(func(key, data []byte) error {
		have = append(have, rec{string(key), string(data)})
		return nil
	})
	if errors.Is(err, cdb.ErrCorrupt) {
		return true, fmt.Sprintf("%s is not a valid cdb: %v", dstName, err), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read %s: %w", dstName, err)
	}
	for i := 0; i < len(have) && i < len(want); i++ {
		switch {
		case have[i].key != want[i].key:
			return true, fmt.Sprintf("record %d of %s is %s, but %s line %d compiles to %s",
				i+1, dstName, quoteText(have[i].key), srcName, want[i].line, quoteText(want[i].key)), nil
		case have[i].data != "":
			return true, fmt.Sprintf("record %d of %s (%s) has data; qmail-cdb writes none", i+1, dstName, quoteText(have[i].key)), nil
		}
	}
	switch {
	case len(have) < len(want):
		return true, fmt.Sprintf("%s has %d records, but %s compiles to %d (line %d %s is missing)",
			dstName, len(have), srcName, len(want), want[len(have)].line, quoteText(want[len(have)].key)), nil
	case len(have) > len(want):
		return true, fmt.Sprintf("%s has %d records, but %s compiles to %d (%s is no longer in the source)",
			dstName, len(have), srcName, len(want), quoteText(have[len(want)].key)), nil
	}
	return false, fmt.Sprintf("%s matches %s (%d records)", dstName, srcName, len(want)), nil
}
