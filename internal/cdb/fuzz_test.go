package cdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// fuzzFile assembles a database from a fuzz input. A hdr of 2048 bytes or
// more is taken as the raw header. A shorter one is a compact list of header
// entries, 4 bytes each (table index, position as 1984 + u16le, slot count),
// over a default header whose tables are all empty at the end of the file.
// The compact form keeps inputs small, which keeps the fuzzer's minimization
// of every new input quick: raw 2048-byte headers spend most of a short run
// minimizing.
func fuzzFile(hdr, body []byte) []byte {
	if len(hdr) >= headerSize {
		return append(slices.Clone(hdr), body...)
	}
	file := make([]byte, headerSize, headerSize+len(body))
	for i := range 256 {
		binary.LittleEndian.PutUint32(file[8*i:], uint32(headerSize+len(body)))
	}
	for ; len(hdr) >= 4; hdr = hdr[4:] {
		i := int(hdr[0])
		binary.LittleEndian.PutUint32(file[8*i:], 1984+uint32(binary.LittleEndian.Uint16(hdr[1:])))
		binary.LittleEndian.PutUint32(file[8*i+4:], uint32(hdr[3]))
	}
	return append(file, body...)
}

// compact returns the compact encoding of a small database made by our
// Writer, for seeding FuzzReader.
func compact(b []byte) (hdr, body []byte) {
	for i := range 256 {
		if slots := binary.LittleEndian.Uint32(b[8*i+4:]); slots != 0 {
			pos := binary.LittleEndian.Uint32(b[8*i:]) - 1984
			hdr = append(hdr, byte(i), byte(pos), byte(pos>>8), byte(slots))
		}
	}
	return hdr, b[headerSize:]
}

// FuzzReader feeds arbitrary databases to the Reader: it must never panic,
// loop or return an error that does not wrap ErrCorrupt.
func FuzzReader(f *testing.F) {
	good := build(f, testRecs)
	hdr, body := compact(good)
	// Empty tables move to the end of the file, which changes nothing for a reader.
	if got := fuzzFile(hdr, body); !bytes.Equal(got[headerSize:], good[headerSize:]) {
		f.Fatal("compact encoding changed the body")
	} else if all, err := open(f, got).GetAll([]byte("a")); err != nil || len(all) != 3 {
		f.Fatalf("compact encoding: GetAll(a) = %q, %v", all, err)
	}
	f.Add(hdr, body, []byte("a"))
	f.Add([]byte{}, []byte{}, []byte(""))
	f.Add(hdr, body[:len(body)-9], []byte("1.2.3.4"))
	damaged := slices.Clone(body)
	damaged[4] = 0xff
	f.Add(hdr, damaged, []byte("1.2.3."))
	f.Add(good[:headerSize], good[headerSize:], []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, hdr, body, key []byte) {
		b := fuzzFile(hdr, body)
		rd, err := New(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("New: %v", err)
			}
			return
		}
		keys := [][]byte{key}
		err = rd.ForEach(func(k, d []byte) error {
			if len(keys) < 16 {
				keys = append(keys, slices.Clone(k))
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ForEach: %v", err)
		}
		for _, k := range keys {
			first, ok, err := rd.Get(k)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get(%q): %v", k, err)
			}
			all, err2 := rd.GetAll(k)
			if err2 != nil && !errors.Is(err2, ErrCorrupt) {
				t.Fatalf("GetAll(%q): %v", k, err2)
			}
			if err == nil && err2 == nil && (ok != (len(all) > 0) || ok && !bytes.Equal(first, all[0])) {
				t.Fatalf("Get(%q) = %q, %v but GetAll = %q", k, first, ok, all)
			}
		}
	})
}

// FuzzWriterRoundTrip writes records decoded from the input and reads them back.
func FuzzWriterRoundTrip(f *testing.F) {
	f.Add([]byte("\x03\x02abcde\x03\x00abc\x00\x05\x00\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1, 1, 'k', 'v'}, 100))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Each record: a klen byte, a dlen byte, then klen%32 key bytes and
		// dlen data bytes, as far as the input goes.
		var recs []rec
		for len(in) >= 2 {
			kl, dl := int(in[0]%32), int(in[1])
			in = in[2:]
			kl = min(kl, len(in))
			k := in[:kl]
			in = in[kl:]
			dl = min(dl, len(in))
			recs = append(recs, rec{k, in[:dl]})
			in = in[dl:]
		}
		b := build(t, recs)
		check(t, open(t, b), recs, []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	})
}
