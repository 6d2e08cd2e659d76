package cdb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// readBufSize is the size of the buffer ForEach reads records through.
const readBufSize = 64 << 10

// table is one header entry: where a hash table starts and how many slots it has.
type table struct {
	pos, slots uint32
}

// Reader looks records up in a cdb through an io.ReaderAt. The header is read
// and checked once, by New; after that Get, GetAll and ForEach share no
// mutable state, so they are safe for concurrent use when the io.ReaderAt is
// (an *os.File is).
type Reader struct {
	r       io.ReaderAt
	size    int64
	closer  io.Closer
	tables  [256]table
	dataEnd int64 // end of the records: the lowest table position
}

// Open opens the cdb file at path through safefile.Open (a regular file
// only; as root, through trusted links only). Close closes the file.
func Open(path string) (*Reader, error) {
	f, err := safefile.Open(path)
	if safefile.Refused(err) {
		return nil, err // it names the file and what is wrong
	}
	if err != nil {
		return nil, fmt.Errorf("cdb: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cdb: %w", err)
	}
	r, err := New(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// New returns a Reader for the size-byte cdb in r. It reads the header and
// checks that the file holds it and that every hash table lies inside the
// file after it.
func New(r io.ReaderAt, size int64) (*Reader, error) {
	if size < headerSize {
		return nil, corrupt("file is %d bytes, shorter than the %d-byte header", size, headerSize)
	}
	cr := &Reader{r: r, size: size, dataEnd: size}
	var hdr [headerSize]byte
	if err := cr.readAt(hdr[:], 0, "header"); err != nil {
		return nil, err
	}
	for i := range cr.tables {
		t := table{
			pos:   binary.LittleEndian.Uint32(hdr[8*i:]),
			slots: binary.LittleEndian.Uint32(hdr[8*i+4:]),
		}
		if t.pos < headerSize {
			return nil, corrupt("table %d starts at offset %d, inside the header", i, t.pos)
		}
		if int64(t.pos)+8*int64(t.slots) > size {
			return nil, corrupt("table %d (offset %d, %d slots) points past end of file (%d bytes)",
				i, t.pos, t.slots, size)
		}
		cr.tables[i] = t
		cr.dataEnd = min(cr.dataEnd, int64(t.pos))
	}
	return cr, nil
}

// Close closes the file opened by Open. For a Reader made by New it does
// nothing: the caller owns the io.ReaderAt.
func (r *Reader) Close() error {
	c := r.closer
	if c == nil {
		return nil
	}
	r.closer = nil
	if err := c.Close(); err != nil {
		return fmt.Errorf("cdb: %w", err)
	}
	return nil
}

// readAt fills p from offset off. A short read means the file is shorter than
// the size New was given, which is reported as corruption.
func (r *Reader) readAt(p []byte, off int64, what string) error {
	n, err := r.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("reading %s at offset %d: got %d of %d bytes", what, off, n, len(p))
	}
	return fmt.Errorf("cdb: reading %s at offset %d: %w", what, off, err)
}

// find calls fn with the data position and length of each record whose key
// is key, in insertion order, until fn returns false or an error.
func (r *Reader) find(key []byte, fn func(dpos int64, dlen uint32) (more bool, err error)) error {
	h := Hash(key)
	ti := h & 255
	t := r.tables[ti]
	if t.slots == 0 || uint64(len(key)) > maxPos {
		return nil
	}
	buf := make([]byte, 8+len(key)) // a slot, then a record's header and key
	slot := (h >> 8) % t.slots
	next := int64(headerSize) // where the previous matching record ends
	// Probe at most every slot once, so a full table cannot loop.
	for range t.slots {
		soff := int64(t.pos) + 8*int64(slot)
		if err := r.readAt(buf[:8], soff, "hash slot"); err != nil {
			return err
		}
		shash := binary.LittleEndian.Uint32(buf[0:])
		rpos := int64(binary.LittleEndian.Uint32(buf[4:]))
		if rpos == 0 {
			return nil
		}
		if slot++; slot == t.slots {
			slot = 0
		}
		if shash != h {
			continue
		}
		if rpos < headerSize || rpos+8 > r.size {
			return corrupt("table %d slot at offset %d points to a record at %d, outside the data (file is %d bytes)",
				ti, soff, rpos, r.size)
		}
		m := min(int64(len(buf)), r.size-rpos)
		if err := r.readAt(buf[:m], rpos, "record"); err != nil {
			return err
		}
		klen := binary.LittleEndian.Uint32(buf[0:])
		dlen := binary.LittleEndian.Uint32(buf[4:])
		if rpos+8+int64(klen)+int64(dlen) > r.size {
			return corrupt("record at offset %d (key %d bytes, data %d bytes) runs past end of file (%d bytes)",
				rpos, klen, dlen, r.size)
		}
		if int(klen) != len(key) || !bytes.Equal(buf[8:m], key) {
			continue
		}
		// Records of one key are appended in the order their slots are
		// probed, so in a sound file each match lies after the previous one.
		// Checking it stops a damaged table from returning one record many
		// times over.
		if rpos < next {
			return corrupt("table %d slot at offset %d points to a record at %d, before the previous match ends at %d",
				ti, soff, rpos, next)
		}
		next = rpos + 8 + int64(klen) + int64(dlen)
		more, err := fn(rpos+8+int64(klen), dlen)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Get returns the data of the first record added with key. ok is false, with a
// nil error, when there is no such record.
func (r *Reader) Get(key []byte) (data []byte, ok bool, err error) {
	err = r.find(key, func(dpos int64, dlen uint32) (bool, error) {
		data = make([]byte, dlen)
		if err := r.readAt(data, dpos, "record data"); err != nil {
			return false, err
		}
		ok = true
		return false, nil
	})
	if err != nil {
		return nil, false, err
	}
	return data, ok, nil
}

// GetAll returns the data of every record added with key, in insertion order,
// or nil if there is none.
func (r *Reader) GetAll(key []byte) ([][]byte, error) {
	var all [][]byte
	err := r.find(key, func(dpos int64, dlen uint32) (bool, error) {
		data := make([]byte, dlen)
		if err := r.readAt(data, dpos, "record data"); err != nil {
			return false, err
		}
		all = append(all, data)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// Positions returns the file offsets of the records added with key, in
// insertion order. Records lie in the file in the order they were added, so
// a position tells which of several sources' lines stored a record.
func (r *Reader) Positions(key []byte) ([]int64, error) {
	var pos []int64
	err := r.find(key, func(dpos int64, _ uint32) (bool, error) {
		pos = append(pos, dpos-8-int64(len(key)))
		return true, nil
	})
	return pos, err
}

// ForEach calls fn for every record in file (insertion) order, reading them
// sequentially. key and data are valid only during the call. ForEach stops at
// the first error from fn and returns it unchanged.
func (r *Reader) ForEach(fn func(key, data []byte) error) error {
	br := bufio.NewReaderSize(io.NewSectionReader(r.r, headerSize, r.dataEnd-headerSize), readBufSize)
	var hdr [8]byte
	var buf []byte
	for pos := int64(headerSize); pos < r.dataEnd; {
		if r.dataEnd-pos < 8 {
			return corrupt("record at offset %d: header runs past end of records at %d", pos, r.dataEnd)
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return r.seqErr(err, pos)
		}
		klen := int64(binary.LittleEndian.Uint32(hdr[0:]))
		dlen := int64(binary.LittleEndian.Uint32(hdr[4:]))
		n := klen + dlen
		if pos+8+n > r.dataEnd {
			return corrupt("record at offset %d (key %d bytes, data %d bytes) runs past end of records at %d",
				pos, klen, dlen, r.dataEnd)
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, max(n, 2*int64(cap(buf))))
		}
		rec := buf[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			return r.seqErr(err, pos)
		}
		if err := fn(rec[:klen:klen], rec[klen:]); err != nil {
			return err
		}
		pos += 8 + n
	}
	return nil
}

func (r *Reader) seqErr(err error, pos int64) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return corrupt("record at offset %d: file ends early", pos)
	}
	return fmt.Errorf("cdb: reading record at offset %d: %w", pos, err)
}
