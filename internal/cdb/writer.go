package cdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// writeBufSize is the size of the Writer's output buffer.
	writeBufSize = 64 << 10
	// blockLen is the number of entries in a full block of a bucket list.
	blockLen = 1024
	// firstBlockLen is the initial capacity of a bucket's first block, which
	// doubles up to blockLen so that small databases stay small.
	firstBlockLen = 8
)

var errFinished = errors.New("cdb: writer already finished")

// entry is what the Writer remembers of a record until Finish: its hash and
// its file position, exactly the contents of its future hash-table slot.
type entry struct {
	hash, pos uint32
}

// bucket lists the entries of one hash table in insertion order as a chain of
// fixed-size blocks, so it grows without ever copying (or leaving behind as
// garbage) more than one small block.
type bucket struct {
	blocks [][]entry // every block but the last is full, with blockLen entries
	n      int
}

func (b *bucket) add(e entry) {
	if len(b.blocks) == 0 {
		b.blocks = append(b.blocks, make([]entry, 0, firstBlockLen))
	}
	last := b.blocks[len(b.blocks)-1]
	if len(last) == cap(last) {
		if cap(last) < blockLen { // only the first block is ever smaller
			grown := make([]entry, len(last), min(2*cap(last), blockLen))
			copy(grown, last)
			last = grown
		} else {
			last = make([]entry, 0, blockLen)
			b.blocks = append(b.blocks, nil)
		}
	}
	b.blocks[len(b.blocks)-1] = append(last, e)
	b.n++
}

// Writer streams records into a new cdb. Records go straight to the output;
// only 8 bytes per record (hash and position) stay in memory until Finish
// writes the hash tables and the header. A Writer is not safe for concurrent
// use.
type Writer struct {
	ws      io.WriteSeeker
	bw      *bufio.Writer
	pos     uint64 // file offset of the next byte written
	n       int
	buckets [256]bucket
	err     error // sticky: set once an I/O error leaves the output unusable
	done    bool
	rec     [8]byte
}

// NewWriter returns a Writer that builds a cdb in w, which should be empty (a
// new temporary file, typically renamed into place after Finish). It seeks w to
// offset 2048, past the header that Finish writes last.
func NewWriter(w io.WriteSeeker) (*Writer, error) {
	if _, err := w.Seek(headerSize, io.SeekStart); err != nil {
		return nil, fmt.Errorf("cdb: seeking past the header: %w", err)
	}
	return &Writer{ws: w, bw: bufio.NewWriterSize(w, writeBufSize), pos: headerSize}, nil
}

// Add appends a record. Keys may repeat; all records are kept and a lookup
// finds them in the order they were added. A record that would push the
// finished database past 4 GiB is refused with an error wrapping ErrTooLarge
// and leaves the Writer usable; an I/O error is returned by every later call.
func (w *Writer) Add(key, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errFinished
	}
	klen, dlen := uint64(len(key)), uint64(len(data))
	// The finished file is the records plus 16 bytes of hash table per record
	// (2 slots of 8 bytes); all of it, up to its last byte, must be
	// addressable by a uint32. Checking here, before anything is written,
	// means the check can never be defeated by a wrap-around later.
	if klen > maxPos || dlen > maxPos ||
		w.pos+8+klen+dlen+16*(uint64(w.n)+1) > maxPos {
		return fmt.Errorf("cdb: record %d (key %d bytes, data %d bytes) at offset %d: %w",
			w.n+1, klen, dlen, w.pos, ErrTooLarge)
	}
	binary.LittleEndian.PutUint32(w.rec[0:], uint32(klen))
	binary.LittleEndian.PutUint32(w.rec[4:], uint32(dlen))
	if err := w.write(w.rec[:]); err != nil {
		return err
	}
	if err := w.write(key); err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		return err
	}
	h := Hash(key)
	w.buckets[h&255].add(entry{hash: h, pos: uint32(w.pos)})
	w.pos += 8 + klen + dlen
	w.n++
	return nil
}

func (w *Writer) write(p []byte) error {
	if _, err := w.bw.Write(p); err != nil {
		w.err = fmt.Errorf("cdb: writing record %d at offset %d: %w", w.n+1, w.pos, err)
		return w.err
	}
	return nil
}

// Len returns the number of records added so far.
func (w *Writer) Len() int { return w.n }

// Finish writes the 256 hash tables after the records, then seeks to offset 0
// and writes the header. It neither syncs nor closes the underlying writer.
// No record can be added after Finish.
func (w *Writer) Finish() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errFinished
	}
	w.done = true
	if w.pos+16*uint64(w.n) > maxPos { // Add guarantees this; never wrap
		w.err = fmt.Errorf("cdb: hash tables for %d records after offset %d: %w", w.n, w.pos, ErrTooLarge)
		return w.err
	}

	// One table buffer, sized for the largest bucket, serves every bucket:
	// slots are encoded in place and the buffer is written as is.
	largest := 0
	for i := range w.buckets {
		largest = max(largest, w.buckets[i].n)
	}
	table := make([]byte, 16*largest)
	var header [headerSize]byte
	for i := range w.buckets {
		b := &w.buckets[i]
		slots := uint32(2 * b.n)
		binary.LittleEndian.PutUint32(header[8*i:], uint32(w.pos))
		binary.LittleEndian.PutUint32(header[8*i+4:], slots)
		if b.n == 0 {
			continue
		}
		t := table[:8*slots]
		clear(t)
		for _, block := range b.blocks {
			for _, e := range block {
				j := (e.hash >> 8) % slots
				for binary.LittleEndian.Uint32(t[8*j+4:]) != 0 { // positions are >= 2048
					if j++; j == slots {
						j = 0
					}
				}
				binary.LittleEndian.PutUint32(t[8*j:], e.hash)
				binary.LittleEndian.PutUint32(t[8*j+4:], e.pos)
			}
		}
		if _, err := w.bw.Write(t); err != nil {
			w.err = fmt.Errorf("cdb: writing hash table %d at offset %d: %w", i, w.pos, err)
			return w.err
		}
		w.pos += uint64(len(t))
		b.blocks = nil // no longer needed; let the collector have it
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("cdb: writing hash tables: %w", err)
		return w.err
	}
	if _, err := w.ws.Seek(0, io.SeekStart); err != nil {
		w.err = fmt.Errorf("cdb: seeking to the header: %w", err)
		return w.err
	}
	if _, err := w.ws.Write(header[:]); err != nil {
		w.err = fmt.Errorf("cdb: writing the header: %w", err)
		return w.err
	}
	return nil
}
