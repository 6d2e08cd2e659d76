package cdb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"iter"
)

// State says how a cdb relates to what its source compiles to.
type State int

const (
	// Fresh: the cdb holds exactly the records the source compiles to, in
	// the same order.
	Fresh State = iota
	// NoCDB: the cdb does not exist.
	NoCDB
	// Corrupt: the cdb exists but is not a valid cdb.
	Corrupt
	// Differs: record Record is not the one the source compiles to.
	Differs
	// SourceLonger: the source compiles to more records than the cdb has;
	// Record is the first one the cdb lacks.
	SourceLonger
	// CDBLonger: the cdb has records past the source's last one; Record is
	// the first of them.
	CDBLonger
)

var stateNames = [...]string{"fresh", "no cdb", "corrupt", "differs", "source longer", "cdb longer"}

func (s State) String() string { return stateNames[s] }

// MarshalText makes a State read well in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Record is one key and its data.
type Record struct {
	Key  []byte
	Data []byte
}

// Staleness is the one answer to "does this cdb still say what its source
// says?", decided by comparing records, never modification times: an edit
// made in the same second as the build, or an old file restored, is still
// seen, and `touch source` alone never makes a cdb stale. Every command that
// warns about a stale cdb asks [Compare].
type Staleness struct {
	State State
	// Record is the 1-based number of the first record that differs (0
	// when State is Fresh, NoCDB or Corrupt). Want is the source's record
	// there (nil when the cdb is longer), Have the cdb's (nil when the
	// source is longer).
	Record     int
	Want, Have *Record
	// Records counts the records the source compiled to; CDBRecords, set
	// only for CDBLonger, counts the cdb's.
	Records, CDBRecords int
	// Reason says what differs, for a person.
	Reason string
}

// Stale reports whether the cdb must be rebuilt.
func (s Staleness) Stale() bool { return s.State != Fresh }

// Compare feeds the records emit produces, in order, to a comparer that
// reads the cdb at path sequentially alongside: memory stays bounded by one
// record, whatever the sizes. emit receives an add function and should stop
// when add returns an error (the first difference ends the comparison; that
// error is not returned by Compare). An error emit returns for any other
// reason (the source cannot be read or has a syntax error) is returned as is.
// An I/O error on the cdb is returned; a missing or corrupt cdb is a State.
func Compare(path string, emit func(add func(key, data []byte) error) error) (Staleness, error) {
	r, err := Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Staleness{State: NoCDB, Reason: "no cdb"}, nil
	case errors.Is(err, ErrCorrupt):
		return Staleness{State: Corrupt, Reason: "not a valid cdb: " + err.Error()}, nil
	case err != nil:
		return Staleness{}, err
	}
	defer r.Close()
	next, stop := iter.Pull2(func(yield func(Record, error) bool) {
		err := r.ForEach(func(k, d []byte) error {
			if !yield(Record{bytes.Clone(k), bytes.Clone(d)}, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			yield(Record{}, err)
		}
	})
	defer stop()
	var (
		st     Staleness
		cdbErr error
	)
	add := func(key, data []byte) error {
		if st.State != Fresh || cdbErr != nil {
			return errDiffers
		}
		st.Records++
		want := &Record{bytes.Clone(key), bytes.Clone(data)}
		have, err, ok := next()
		switch {
		case !ok:
			st = Staleness{State: SourceLonger, Record: st.Records, Want: want, Records: st.Records,
				Reason: fmt.Sprintf("the source has record %d (%q) that the cdb lacks", st.Records, key)}
		case err != nil:
			cdbErr = err
		case !bytes.Equal(have.Key, key) || !bytes.Equal(have.Data, data):
			st = Staleness{State: Differs, Record: st.Records, Want: want, Have: &have, Records: st.Records,
				Reason: fmt.Sprintf("record %d differs: the source gives %q, the cdb has %q", st.Records, key, have.Key)}
		default:
			return nil
		}
		return errDiffers
	}
	err = emit(add)
	if cdbErr != nil {
		return corruptOr(cdbErr)
	}
	if st.State != Fresh {
		return st, nil
	}
	if err != nil && !errors.Is(err, errDiffers) {
		return Staleness{}, err
	}
	if have, err, ok := next(); ok {
		if err != nil {
			return corruptOr(err)
		}
		n := st.Records + 1
		for _, err, ok := next(); ok; _, err, ok = next() {
			if err != nil {
				return corruptOr(err)
			}
			n++
		}
		st = Staleness{State: CDBLonger, Record: st.Records + 1, Have: &have, Records: st.Records, CDBRecords: n,
			Reason: fmt.Sprintf("the cdb has record %q that the source no longer has", have.Key)}
	}
	return st, nil
}

// corruptOr turns a corrupt cdb into a State and passes I/O errors on.
func corruptOr(err error) (Staleness, error) {
	if errors.Is(err, ErrCorrupt) {
		return Staleness{State: Corrupt, Reason: "not a valid cdb: " + err.Error()}, nil
	}
	return Staleness{}, err
}

var (
	errStop    = errors.New("stop")
	errDiffers = errors.New("differs")
)
