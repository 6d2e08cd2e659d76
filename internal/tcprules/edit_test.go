package tcprules

import (
	"errors"
	"strings"
	"testing"
)

func TestAdd(t *testing.T) {
	const src = "# relay for the office\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:allow"
	tests := []struct {
		name    string
		address string
		deny    bool
		env     []Var
		replace bool
		want    string
		err     error
	}{
		{name: "appends, adding the missing newline", address: "192.168.1.", env: []Var{{Name: "RELAYCLIENT"}},
			want: "# relay for the office\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:allow\n192.168.1.:allow,RELAYCLIENT=\"\"\n"},
		{name: "goes before a range that stores its key", address: "10.1.1.5",
			want: "# relay for the office\n10.1.1.5:allow\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:allow"},
		{name: "exact duplicate refused", address: "127.", env: []Var{{Name: "RELAYCLIENT"}}, err: ErrDuplicate},
		{name: "conflict refused", address: "127.", deny: true, err: ErrConflict},
		{name: "conflict replaced in place", address: "127.", deny: true, replace: true,
			want: "# relay for the office\n10.1.1.1-9:deny\n\n127.:deny\n:allow"},
		{name: "replacing the last line keeps its missing newline", address: "", deny: true, replace: true,
			want: "# relay for the office\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:deny"},
		{name: "value with a double quote is quoted otherwise", address: "1.2.3.4", env: []Var{{Name: "X", Value: `a"b`}},
			want: "# relay for the office\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:allow\n1.2.3.4:allow,X='a\"b'\n"},
		{name: "unset", address: "1.2.3.4", env: []Var{{Name: "GREYIP", Unset: true}},
			want: "# relay for the office\n10.1.1.1-9:deny\n\n127.:allow,RELAYCLIENT=\"\"\n:allow\n1.2.3.4:allow,!GREYIP\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := Parse("tcp.smtp", []byte(src))
			r, _, err := NewRule(tt.address, tt.deny, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Add(r, tt.replace)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if string(f.Bytes()) != src {
					t.Error("a refused add changed the file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("file =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// An address that already has a rule after an overlapping range is a
// duplicate or a conflict, not a new rule to place before the range.
func TestAddSameAddressAfterRange(t *testing.T) {
	const src = "10.1.1.1-9:deny\n10.1.1.5:allow\n"
	for _, tt := range []struct {
		deny    bool
		replace bool
		want    string
		err     error
	}{
		{deny: false, err: ErrDuplicate},
		{deny: true, err: ErrConflict},
		{deny: true, replace: true, want: "10.1.1.1-9:deny\n10.1.1.5:deny\n"},
	} {
		f, _ := Parse("tcp.smtp", []byte(src))
		r, _, _ := NewRule("10.1.1.5", tt.deny, nil)
		_, err := f.Add(r, tt.replace)
		if tt.err != nil {
			if !errors.Is(err, tt.err) || string(f.Bytes()) != src {
				t.Errorf("deny=%v: err = %v, file %q", tt.deny, err, f.Bytes())
			}
			continue
		}
		if err != nil || string(f.Bytes()) != tt.want {
			t.Errorf("replace: err = %v, file %q, want %q", err, f.Bytes(), tt.want)
		}
	}
}

func TestNewRuleRefusesWhatCannotBeWritten(t *testing.T) {
	for _, tt := range []struct {
		address string
		env     []Var
	}{
		{"a:allow", nil},    // the colon would end the address early
		{"#1.2.3.4", nil},   // would become a comment
		{"1.2.3.x-4", nil},  // bad range
		{"10.1.2.3/8", nil}, // host bits
		{"1.2.3.4", []Var{{Name: "A=B"}}},
		{"1.2.3.4", []Var{{Name: ""}}},
		{"1.2.3.4", []Var{{Name: "X", Value: "a\nb"}}},
	} {
		if _, _, err := NewRule(tt.address, false, tt.env); err == nil {
			t.Errorf("NewRule(%q, %v) succeeded", tt.address, tt.env)
		}
	}
}

func TestRemove(t *testing.T) {
	f, _ := Parse("tcp.smtp", []byte("10.1.1.:allow\n# keep\n10.1.1.:deny\n127.:allow\n"))
	removed, err := f.Remove("10.1.1.")
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if got := string(f.Bytes()); got != "# keep\n127.:allow\n" {
		t.Errorf("file = %q", got)
	}
	if f.Rules()[0].Line != 2 {
		t.Errorf("lines not renumbered: %d", f.Rules()[0].Line)
	}
	if _, err := f.Remove("10.9."); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove missing: err = %v", err)
	}
	if !strings.Contains(string(f.Bytes()), "127.") {
		t.Error("failed remove changed the file")
	}
}
