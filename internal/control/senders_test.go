package control

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestMatchSenderTextAgreesWithReference compares the one-pass matcher with
// matchSenderRef (the reference model of IndiMail's wildmat_match) on
// random relaymailfrom files and senders.
func TestMatchSenderTextAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	users := []string{"joe", "ann", "Boss", "x"}
	domains := []string{"example.com", "sub.example.com", "Example.org", "b.net"}
	line := func() string {
		u, d := users[rng.IntN(len(users))], domains[rng.IntN(len(domains))]
		switch rng.IntN(12) {
		case 8:
			return "?" + strings.ToLower(u[1:]+"@"+d) // a one-byte wildcard
		case 9:
			return "[a-j]*@" + strings.ToLower(d) // a class
		case 10:
			return strings.ToLower(u) + `\@` + strings.ToLower(d) // an escaped byte
		case 11:
			return strings.ToLower(u+"@"+d) + "\r" // a CRLF line
		case 0:
			return "@" + d
		case 1:
			return "*@" + strings.ToLower(d)
		case 2:
			return "!*@" + strings.ToLower(d)
		case 3:
			return "!" + strings.ToLower(u+"@"+d)
		case 4:
			return strings.ToLower(u) + "@*"
		case 5:
			return "# comment"
		}
		return u + "@" + d
	}
	for n := 0; n < 2000; n++ {
		var b strings.Builder
		for i := rng.IntN(8); i >= 0; i-- {
			b.WriteString(line())
			if rng.IntN(6) == 0 {
				b.WriteString("  ")
			}
			b.WriteString("\n")
		}
		src := b.String()
		f, _, err := Parse(RelayMailFrom, "rmf", []byte(src))
		if err != nil {
			t.Fatalf("generated an invalid file: %v\n%s", err, src)
		}
		sender := users[rng.IntN(len(users))] + "@" + domains[rng.IntN(len(domains))]
		want, err := matchSenderRef(f, nil, sender)
		if err != nil {
			t.Fatal(err)
		}
		got := MatchSenderText([]byte(src), LowerASCII(sender))
		wantLine := 0
		if want.Entry != nil {
			wantLine = want.Entry.Line
		}
		if got.Doc.Matched != want.Matched || got.Doc.Line != wantLine {
			t.Fatalf("sender %s: got matched %v line %d, control %v line %d (%s) in:\n%q",
				sender, got.Doc.Matched, got.Doc.Line, want.Matched, wantLine, want.Reason, src)
		}
		if got.Real.Matched != want.IndiMail.Matched {
			t.Fatalf("sender %s: IndiMail's reading: got matched %v, control %v in:\n%q",
				sender, got.Real.Matched, want.IndiMail.Matched, src)
		}
	}
}

// memGetter is a cdb lookup over a set of keys.
type memGetter map[string]bool

func (m memGetter) Get(k []byte) ([]byte, bool, error) { return nil, m[string(k)], nil }

func TestLookupSenderCDB(t *testing.T) {
	db := memGetter{"joe@example.com": true, "@example.org": true}
	for _, c := range []struct {
		a              string
		hit, domainKey bool
	}{
		{"joe@example.com", true, false},
		{"ann@example.com", false, false},
		{"ann@example.org", false, true}, // IndiMail never looks up @domain in the cdb
		{"", false, false},
	} {
		hit, dk, err := LookupSenderCDB(db, c.a)
		if err != nil || hit != c.hit || dk != c.domainKey {
			t.Errorf("LookupSenderCDB(%q) = %v %v %v; want %v %v", c.a, hit, dk, err, c.hit, c.domainKey)
		}
	}
}
