package tcprules

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/qmailctl/qmailctl/internal/diag"
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
			r, _, err := NewRule(tt.address, tt.deny, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := addString(src, r, tt.replace)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
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
		r, _, _ := NewRule("10.1.1.5", tt.deny, nil)
		got, _, err := addString(src, r, tt.replace)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("deny=%v: err = %v", tt.deny, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("replace: err = %v, file %q, want %q", err, got, tt.want)
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
	const src = "10.1.1.:allow\n# keep\n10.1.1.:deny\n127.:allow\n"
	got, e, err := removeString(src, "10.1.1.")
	if err != nil || len(e.Removed) != 2 {
		t.Fatalf("Remove = %v, %v", e, err)
	}
	if e.Removed[0].Line != 1 || e.Removed[1].Line != 3 {
		t.Errorf("removed lines %d, %d; want their old numbers 1, 3", e.Removed[0].Line, e.Removed[1].Line)
	}
	if got != "# keep\n127.:allow\n" {
		t.Errorf("file = %q", got)
	}
	if _, _, err := removeString(src, "10.9."); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove missing: err = %v", err)
	}
}

// An edit of a file with a syntax error is refused with the first error.
func TestEditRefusesBrokenFile(t *testing.T) {
	const src = "127.:allow\n1.2.3.4:allow,X\n1.2.3.5:maybe:x\n"
	r, _, _ := NewRule("10.1.1.", false, nil)
	for name, err := range map[string]error{
		"add":    func() error { _, _, err := addString(src, r, false); return err }(),
		"remove": func() error { _, _, err := removeString(src, "127."); return err }(),
	} {
		var p *diag.Problem
		if !errors.As(err, &p) || p.Line != 2 {
			t.Errorf("%s: err = %v, want the syntax error of line 2", name, err)
		}
	}
}

// Apply refuses to write an edit onto a file that is not the one planned on.
func TestApplyRefusesChangedFile(t *testing.T) {
	const src = "10.1.1.1-9:deny\n127.:allow\n"
	r, _, _ := NewRule("10.1.1.5", false, nil)
	add, err := PlanAdd("f", strings.NewReader(src), r, false)
	if err != nil {
		t.Fatal(err)
	}
	rm, err := PlanRemove("f", strings.NewReader(src), "127.")
	if err != nil {
		t.Fatal(err)
	}
	for _, changed := range []string{"10.1.1.1-8:deny\n127.:allow\n", "# new\n10.1.1.1-9:deny\n127.:allow\n", "10.1.1.1-9:deny\n127.:deny\n", src + "1.:deny\n"} {
		for name, e := range map[string]*Edit{"add": add, "remove": rm} {
			var out bytes.Buffer
			if err := e.Apply(strings.NewReader(changed), &out); !errors.Is(err, ErrChanged) {
				t.Errorf("%s on %q: err = %v, want ErrChanged", name, changed, err)
			}
		}
	}
}

// addString and removeString run an edit as the CLI does: plan on one read
// of the file, apply on a second.
func addString(src string, r *Rule, replace bool) (string, *Edit, error) {
	e, err := PlanAdd("tcp.smtp", strings.NewReader(src), r, replace)
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	err = e.Apply(strings.NewReader(src), &out)
	return out.String(), e, err
}

func removeString(src, address string) (string, *Edit, error) {
	e, err := PlanRemove("tcp.smtp", strings.NewReader(src), address)
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	err = e.Apply(strings.NewReader(src), &out)
	return out.String(), e, err
}
