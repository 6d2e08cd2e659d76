package control

import (
	"errors"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
)

func TestAdd(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		old   string
		entry string
		want  string
		err   error // ErrDuplicate, or nil
		col   int   // for a validation error
	}{
		{"append keeps everything", RelayClients, "# office\n\n10.1.\n  # odd \xff bytes\t\n", "192.168.1.", "# office\n\n10.1.\n  # odd \xff bytes\t\n192.168.1.\n", nil, 0},
		{"missing final newline is added", RcptHosts, "example.com", "example.org", "example.com\nexample.org\n", nil, 0},
		{"empty file", RcptHosts, "", "example.org", "example.org\n", nil, 0},
		{"trailing blanks dropped", RcptHosts, "a.example\n", "b.example \t", "a.example\nb.example\n", nil, 0},
		{"CRLF file gets a plain newline", RcptHosts, "a.example\r\n", "b.example", "a.example\r\nb.example\n", nil, 0},
		{"duplicate is case-insensitive", RcptHosts, "Example.COM\n", "example.com", "", ErrDuplicate, 0},
		{"duplicate by key", RelayClients, "10.1.1.:\n", "10.1.1.", "", ErrDuplicate, 0},
		{"duplicate of a CRLF line", RcptHosts, "example.com\r\n", "example.com", "", ErrDuplicate, 0},
		{"negation is another entry", RelayMailFrom, "joe@example.com\n", "!joe@example.com", "joe@example.com\n!joe@example.com\n", nil, 0},
		{"duplicate negation", RelayMailFrom, "!joe@example.com\n", "!JOE@example.com", "", ErrDuplicate, 0},
		{"invalid entry", RelayClients, "10.1.\n", "10.1.1", "", nil, 7},
		{"comment is not an entry", RelayClients, "", "# x", "", nil, 1},
		{"two lines", RelayClients, "", "10.1.\n10.2.", "", nil, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := Parse(tt.kind, tt.kind.Name(), []byte(tt.old))
			got, err := f.Add(tt.entry)
			switch {
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			case tt.col != 0:
				var p *diag.Problem
				if !errors.As(err, &p) || p.Col != tt.col || p.Severity != diag.Error {
					t.Fatalf("err = %#v, want a problem at column %d", err, tt.col)
				}
			case err != nil:
				t.Fatal(err)
			case string(got) != tt.want:
				t.Errorf("Add = %q, want %q", got, tt.want)
			}
			if string(f.Bytes()) != tt.old {
				t.Errorf("Add changed the File")
			}
		})
	}
	f := &File{Kind: RelayMailFrom, Path: "relaymailfrom"} // missing file
	if got, err := f.Add("@example.com"); err != nil || string(got) != "@example.com\n" {
		t.Errorf("Add to a missing file = %q, %v", got, err)
	}
	f, _, _ = Parse(RelayClients, "/c/relayclients", []byte("10.1.\n"))
	if _, err := f.Add("10.1."); err == nil || !strings.Contains(err.Error(), `/c/relayclients: line 1 already has "10.1."`) {
		t.Errorf("duplicate error = %v", err)
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		old  string
		key  string
		want string // NF: the error must wrap ErrNotFound
	}{
		{"keeps the other lines byte for byte", RelayClients, "# office \n\n10.1.\n\t#x\xff\n192.168.1.\n10.2.\n", "192.168.1.", "# office \n\n10.1.\n\t#x\xff\n10.2.\n"},
		{"case-insensitive", RcptHosts, "a.example\nExample.COM\nb.example\n", "example.com", "a.example\nb.example\n"},
		{"removes every copy", RcptHosts, "x.example\na.example\nx.example  \n", "x.example", "a.example\n"},
		{"by key: bare removes the colon form", RelayClients, "10.1.1.:\n10.2.\n", "10.1.1.", "10.2.\n"},
		{"by key: colon form removes the bare line", RelayClients, "10.1.1.\n10.2.\n", "10.1.1.:", "10.2.\n"},
		{"by text: a colon line with a value", RelayClients, "10.1.1.:foo\n10.2.\n", "10.1.1.:foo", "10.2.\n"},
		{"an invalid line, as the hint says", RelayClients, "10.1.\n10.1.1\n10.2.\n", "10.1.1", "10.1.\n10.2.\n"},
		{"an invalid CIDR line", RelayClients, "10.0.0.0/8\n", "10.0.0.0/8", ""},
		{"last line without newline", RcptHosts, "a.example\nb.example", "b.example", "a.example\n"},
		{"final newline is kept", RcptHosts, "a.example\nb.example", "a.example", "b.example\n"},
		{"CRLF line", RcptHosts, "a.example\r\nb.example\r\n", "a.example", "b.example\r\n"},
		{"negation only", RelayMailFrom, "joe@x.example\n!joe@x.example\n", "!joe@x.example", "joe@x.example\n"},
		{"not the negation", RelayMailFrom, "joe@x.example\n!joe@x.example\n", "joe@x.example", "!joe@x.example\n"},
		{"comment is not an entry", RcptHosts, "#a.example\n", "#a.example", NF},
		{"not found", RcptHosts, "a.example\n", "b.example", NF},
		{"empty key", RcptHosts, "a.example\n", "", NF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _, _ := Parse(tt.kind, tt.kind.Name(), []byte(tt.old))
			got, err := f.Remove(tt.key)
			if tt.want == NF {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Remove(%q) = %q, %v; want ErrNotFound", tt.key, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Remove(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if _, err := (&File{Kind: RcptHosts, Path: "rcpthosts"}).Remove("a.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove on a missing file: %v", err)
	}
}

// NF marks a Remove that must fail with ErrNotFound.
const NF = "\x00not found"

// TestAddRemoveRoundTrip: adding then removing an entry gives the old file
// back (when it ended in a newline).
func TestAddRemoveRoundTrip(t *testing.T) {
	old := "# senders\n\n@example.org\n  \n*@*.example.net\n"
	f := mustParse(t, RelayMailFrom, old)
	added, err := f.Add("!bad@x.example.net")
	if err != nil {
		t.Fatal(err)
	}
	g := mustParse(t, RelayMailFrom, string(added))
	if len(g.Entries) != 3 || !g.Entries[2].Negate || g.Entries[2].Line != 6 {
		t.Fatalf("entries after Add: %+v", g.Entries)
	}
	back, err := g.Remove("!bad@x.example.net")
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != old {
		t.Errorf("round trip = %q, want %q", back, old)
	}
}
