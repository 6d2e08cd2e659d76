package control

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// ErrNotFound is wrapped by the error Remove returns when no line has the key.
var ErrNotFound = errors.New("no such entry")

// ErrDuplicate is wrapped by the error Add returns when the entry is already
// in the file.
var ErrDuplicate = errors.New("entry already present")

// Add returns the file's new content with entry (trailing blanks dropped)
// appended as a last line. The
// old content is kept byte for byte (a missing final newline is added). The
// entry is checked with ValidateEntry (the error is then a *diag.Problem),
// and an entry already in the file, compared without regard to ASCII case
// (relayclients and relaydomains: by key, so "10.1.1." duplicates
// "10.1.1.:"), is refused with an error wrapping ErrDuplicate. Add does not
// change f; write the result under a safefile lock and Load again.
func (f *File) Add(entry string) ([]byte, error) {
	entry = trimBlanks(entry)
	res, fd := checkEntry(f.Kind, entry)
	if fd != nil {
		p := fd.problem(f.Kind.Name(), 0, entry, diag.Error)
		return nil, &p
	}
	id := LowerASCII(res.identity())
	for i, l := range f.lines {
		if slices.Contains(l.ids, id) {
			return nil, fmt.Errorf("%s: line %d already has %s: %w", f.Path, i+1, quoteText(trimBlanks(l.text)), ErrDuplicate)
		}
	}
	var b bytes.Buffer
	b.Write(f.Bytes())
	if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	b.WriteString(entry)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// Remove returns the file's new content without every line known by key:
// the line's text (trailing blanks and CR stripped) or its entry's key (so
// "10.1.1." removes "10.1.1.:" too), compared without regard to ASCII case.
// Invalid lines can be removed by their text. Every other line is kept byte
// for byte, and the result ends in a newline unless it is empty. When no
// line matches (or the file does not exist), the error wraps ErrNotFound.
// Remove does not change f.
func (f *File) Remove(key string) ([]byte, error) {
	k := trimBlanks(strings.TrimSuffix(trimBlanks(key), "\r"))
	want := []string{LowerASCII(k)}
	if k != "" {
		if res, fd := check(f.Kind, k); fd == nil {
			want = append(want, LowerASCII(res.identity()))
		}
	}
	if !f.Exists {
		return nil, fmt.Errorf("%s does not exist, so it has no entry %s: %w", f.Path, quoteText(k), ErrNotFound)
	}
	var b bytes.Buffer
	removed := 0
	for _, l := range f.lines {
		if k != "" && slices.ContainsFunc(l.ids, func(id string) bool { return slices.Contains(want, id) }) {
			removed++
			continue
		}
		b.WriteString(l.text)
		if l.nl {
			b.WriteByte('\n')
		}
	}
	if removed == 0 {
		return nil, fmt.Errorf("%s has no entry %s: %w", f.Path, quoteText(k), ErrNotFound)
	}
	if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}
