package cli

import (
	"bytes"
	"encoding/json"
	"io"
)

// jsonArray writes a JSON array element by element, in the layout printJSON
// gives a slice at the given depth, so that a command can print a million
// elements without holding them. Close ends the array.
type jsonArray struct {
	w      io.Writer
	indent string // of the array's brackets
	n      int
	buf    bytes.Buffer
}

func newJSONArray(w io.Writer, depth int) *jsonArray {
	return &jsonArray{w: w, indent: string(bytes.Repeat([]byte("  "), depth))}
}

// Add writes one element.
func (j *jsonArray) Add(v any) error {
	j.buf.Reset()
	if j.n == 0 {
		j.buf.WriteString("[\n")
	} else {
		j.buf.WriteString(",\n")
	}
	j.n++
	j.buf.WriteString(j.indent + "  ")
	enc := json.NewEncoder(&j.buf)
	enc.SetIndent(j.indent+"  ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	j.buf.Truncate(j.buf.Len() - 1) // the encoder's newline
	_, err := j.w.Write(j.buf.Bytes())
	return err
}

// Close ends the array: "[]" if it had no element.
func (j *jsonArray) Close() error {
	var err error
	if j.n == 0 {
		_, err = io.WriteString(j.w, "[]")
	} else {
		_, err = io.WriteString(j.w, "\n"+j.indent+"]")
	}
	return err
}
