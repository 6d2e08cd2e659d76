// Package cdb reads and writes D. J. Bernstein's constant database (cdb)
// format, the on-disk hash table that qmail, ucspi-tcp (tcprules) and
// IndiMail use for files such as tcp.smtp.cdb, users/cdb and morercpthosts.cdb.
//
// A cdb is written once and then only read. Its layout, with every integer a
// little-endian uint32, is:
//
//	header   2048 bytes: 256 entries of (table position, table slot count)
//	records  from offset 2048, in insertion order: klen, dlen, key, data
//	tables   256 hash tables, table 0 first, right after the last record;
//	         each slot is (hash, record position), an empty slot is (0, 0)
//
// A key's hash h is the classic cdb hash (see [Hash]). Table h&255 holds the
// key; it has twice as many slots as it has records, and a lookup starts at
// slot (h>>8) % slots and probes linearly, with wrap-around, until it meets an
// empty slot. An empty table has no slots; its header position is where the
// next table starts (the end of file for trailing empty tables). Duplicate
// keys are all stored and are found in insertion order. Every position is a
// uint32, so a database can never reach 4 GiB.
//
// [Writer] produces files byte-identical to DJB's cdbmake (and to tinycdb's
// cdb -c) fed the same records in the same order, which the tests check
// against the real tools. [Reader] validates what it reads and reports a
// damaged or truncated file as an error wrapping [ErrCorrupt] instead of
// panicking or looping.
//
// The package is our own, standard library only, because no Go cdb module is
// served by the module proxy this project builds from, and because qmailctl
// needs byte-identical output and bounded memory when compiling millions of
// records.
package cdb

import (
	"errors"
	"fmt"
)

const (
	// headerSize is the size of the fixed header: 256 (position, slots) pairs.
	headerSize = 2048
	// maxPos is the largest offset a cdb can address.
	maxPos = 1<<32 - 1
)

// ErrCorrupt is wrapped by every error that reports a malformed or truncated
// database; the wrapping error says what is wrong and where.
var ErrCorrupt = errors.New("corrupt database")

// ErrTooLarge is wrapped by the error a [Writer] returns when the database
// would not fit in the 4 GiB addressable by cdb's 32-bit offsets.
var ErrTooLarge = errors.New("database would exceed 4 GiB")

// Hash returns the cdb hash of key: starting from 5381, h = ((h << 5) + h) ^ c
// for each byte c, in uint32 arithmetic.
func Hash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = ((h << 5) + h) ^ uint32(c)
	}
	return h
}

// corrupt returns an error wrapping ErrCorrupt that describes the damage.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("cdb: "+format+": %w", append(args, ErrCorrupt)...)
}
