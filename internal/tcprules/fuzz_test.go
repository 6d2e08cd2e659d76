package tcprules

import (
	"bytes"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

// FuzzParse checks, on any input, that the parser never panics, that Parse
// and the streaming Compile agree on the records and on the first error,
// that Parse keeps the file byte for byte, and that every rule written back
// with String parses to the same records.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4:allow\n1.2.3.:deny\n:allow,RELAYCLIENT=\"\"\n",
		"1.2.3.4-7:allow,X=abca\n# c\n\n   \n1.2.3.4\n",
		"::1:allow\n2001:db8:::deny,X=\"a:b\"\n",
		"127.:allow,!GREYIP,X=\"1\",!Y\n10.0.0.0/8:deny\n",
		"=.example.com:allow\njoe@=host:deny\na:b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, probs := Parse("f", data)
		if !bytes.Equal(file.Bytes(), data) {
			t.Fatal("Parse does not keep the file byte for byte")
		}
		var rec recorder
		_, _, err := Compile("f", bytes.NewReader(data), &rec)
		first := diag.FirstError(probs)
		if (err == nil) != (first == nil) {
			t.Fatalf("Compile error %v, Parse error %v", err, first)
		}
		if err != nil {
			p, ok := err.(*diag.Problem)
			if !ok || p.Line != first.Line || p.Col != first.Col {
				t.Fatalf("Compile error %v, Parse error %v", err, first)
			}
			return
		}
		var fromParse []record
		for _, r := range file.Rules() {
			for _, k := range r.Keys() {
				fromParse = append(fromParse, record{k, string(r.Data())})
			}
			again, _, err := NewRule(r.Address, r.Deny, r.Env)
			if err != nil {
				if oddRule(r) {
					continue // tcprules accepts it, but NewRule refuses what an admin never means
				}
				t.Fatalf("rule %q does not survive String(): %v", r.Text, err)
			}
			if !bytes.Equal(again.Data(), r.Data()) || strings.Join(again.Keys(), "|") != strings.Join(r.Keys(), "|") {
				t.Fatalf("rule %q written back as %q changes its records", r.Text, again.String())
			}
		}
		if len(fromParse) != len(rec.recs) {
			t.Fatalf("Parse gives %d records, Compile %d", len(fromParse), len(rec.recs))
		}
		for i := range fromParse {
			if fromParse[i] != rec.recs[i] {
				t.Fatalf("record %d: Parse %q, Compile %q", i, fromParse[i], rec.recs[i])
			}
		}
	})
}

// oddRule reports rules NewRule deliberately refuses: an address starting
// with '#' or holding a NUL, variable names that are empty or hold '=' or ','.
func oddRule(r *Rule) bool {
	if strings.HasPrefix(r.Address, "#") || strings.ContainsAny(r.Address, "\x00") {
		return true
	}
	for _, v := range r.Env {
		if v.Name == "" || strings.ContainsAny(v.Name, "=,\x00") || (v.Unset && v.Name[0] == '!') || strings.ContainsAny(v.Value, "\x00") {
			return true
		}
	}
	return false
}
