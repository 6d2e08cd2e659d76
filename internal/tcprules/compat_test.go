package tcprules

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/diag"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// corpusSize is how many random rules files each dialect is checked on.
const corpusSize = 1000

// gen writes random rules files covering every form tcprules understands.
type gen struct {
	r    *rand.Rand
	ipv6 bool // lines for ucspi-tcp-ipv6; plain tcprules rejects them
}

func (g *gen) octet() string {
	if g.r.IntN(3) == 0 {
		return fmt.Sprint(g.r.IntN(4)) // small values so that files share keys
	}
	return fmt.Sprint(g.r.IntN(256))
}

func (g *gen) ipv4() string {
	return fmt.Sprintf("10.%s.%s.%s", g.octet(), g.octet(), g.octet())
}

func (g *gen) ipv6addr() string {
	groups := []string{"2001", "db8", fmt.Sprintf("%x", g.r.IntN(4)), "0", fmt.Sprintf("%x", g.r.IntN(65536))}
	switch g.r.IntN(4) {
	case 0:
		return "::1"
	case 1:
		return "2001:db8::" + groups[4]
	case 2:
		return "::ffff:10.0.0." + g.octet()
	}
	return strings.Join(groups[:2+g.r.IntN(3)], ":") + ":"
}

func (g *gen) address() string {
	switch g.r.IntN(16) {
	case 0:
		return ""
	case 1, 2:
		return g.ipv4()
	case 3, 4:
		ip := g.ipv4()
		return ip[:strings.LastIndexByte(ip, '.')+1]
	case 5:
		return fmt.Sprintf("10.%s.", g.octet())
	case 6:
		return fmt.Sprintf("10.%s.%s.%d-%d", g.octet(), g.octet(), g.r.IntN(300), g.r.IntN(300))
	case 7:
		return fmt.Sprintf("10.%s.%d-%d.", g.octet(), g.r.IntN(8), g.r.IntN(12))
	case 8:
		return fmt.Sprintf("%d-%d", g.r.IntN(4), g.r.IntN(6))
	case 9:
		return "=" + g.host()
	case 10:
		return "=." + g.host()
	case 11:
		return "="
	case 12:
		return g.word() + "@" + g.ipv4()
	case 13:
		return g.word() + "@=" + g.host()
	case 14:
		if g.ipv6 {
			return g.ipv6addr()
		}
		return fmt.Sprintf(" %s ", g.ipv4()) // spaces are part of the key
	}
	return fmt.Sprintf("10.%s.%s.0%d-0%d", g.octet(), g.octet(), g.r.IntN(9), g.r.IntN(9)) // leading zeros
}

func (g *gen) word() string {
	words := []string{"joe", "postmaster", "a", "x-y", "MAIL"}
	return words[g.r.IntN(len(words))]
}

func (g *gen) host() string {
	hosts := []string{"example.com", "mail.example.com", "a.b.c", "com", "mx-1.example.org"}
	return hosts[g.r.IntN(len(hosts))]
}

func (g *gen) value() string {
	quotes := []byte(`"'/|,x`)
	q := quotes[g.r.IntN(len(quotes))]
	vals := []string{"", "1", "@fix.me", "a b", "a:b", "a=b", "a,b", "allow", " x", "ünï"}
	v := vals[g.r.IntN(len(vals))]
	if strings.IndexByte(v, q) >= 0 {
		q = '"'
	}
	return string(q) + v + string(q)
}

func (g *gen) line() string {
	switch g.r.IntN(40) {
	case 0:
		return "# comment " + g.ipv4() + ":deny"
	case 1:
		return ""
	case 2:
		if !g.ipv6 { // ucspi-tcp-ipv6's tcprules never finishes on these
			return []string{"   ", "\t", g.ipv4()}[g.r.IntN(3)]
		}
	}
	var b strings.Builder
	b.WriteString(g.address())
	if g.r.IntN(3) == 0 {
		b.WriteString(":deny")
	} else {
		b.WriteString(":allow")
	}
	names := []string{"RELAYCLIENT", "X", "TCPREMOTEHOST", "A B", "EMPTY", ",X"}
	for n := g.r.IntN(4); n > 0; n-- {
		b.WriteString("," + names[g.r.IntN(len(names))] + "=" + g.value())
	}
	if g.r.IntN(8) == 0 {
		b.WriteString(" \t") // trailing white space is stripped
	}
	return b.String()
}

func (g *gen) file() string {
	var b strings.Builder
	for n := g.r.IntN(60); n > 0; n-- {
		b.WriteString(g.line())
		b.WriteByte('\n')
	}
	if g.r.IntN(10) == 0 {
		b.WriteString(g.line()) // a last line without a newline still counts
	}
	return b.String()
}

// compileBytes is qmailctl's compiler into memory.
func compileBytes(t testing.TB, src string) ([]byte, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := cdb.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Compile("src", strings.NewReader(src), w); err != nil {
		return nil, err
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return os.ReadFile(f.Name())
}

// runTcprules compiles src with a real tcprules and returns the cdb and exit status.
func runTcprules(t testing.TB, tool, src string) ([]byte, int) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := testexec.CommandContext(t, ctx, tool, filepath.Join(dir, "r.cdb"), filepath.Join(dir, "r.tmp"))
	cmd.Stdin = strings.NewReader(src)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish on:\n%s", tool, src)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return nil, ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "r.cdb"))
	if err != nil {
		t.Fatal(err)
	}
	return out, 0
}

// TestCorpusMatchesTcprules compiles random rules files with qmailctl and
// with Debian's tcprules (IPv4) and ucspi-tcp-ipv6's tcprules, and requires
// the same cdb byte for byte, or the same refusal (exit 100).
func TestCorpusMatchesTcprules(t *testing.T) {
	for _, dialect := range []struct {
		name string
		tool string
		ipv6 bool
	}{
		{"ucspi-tcp", peers.Tool(t, "tcprules"), false},
		{"ucspi-tcp-ipv6", peers.IPv6Tool(t, "tcprules"), true},
	} {
		t.Run(dialect.name, func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(1, uint64(len(dialect.name)))), ipv6: dialect.ipv6}
			same, refused := 0, 0
			for i := 0; i < corpusSize; i++ {
				src := g.file()
				if i%10 == 9 {
					// A syntax error; not a line without allow/deny, on which
					// ucspi-tcp-ipv6's tcprules never finishes.
					src += "10.9.9.9:allow,X=\"1\"junk\n" + g.line() + "\n"
				}
				want, rc := runTcprules(t, dialect.tool, src)
				got, err := compileBytes(t, src)
				switch {
				case rc == 100:
					if _, ok := err.(*diag.Problem); !ok {
						t.Fatalf("file %d: tcprules refused it (exit 100), qmailctl: %v\n%s", i, err, src)
					}
					refused++
				case rc != 0:
					t.Fatalf("file %d: tcprules exit %d\n%s", i, rc, src)
				case err != nil:
					t.Fatalf("file %d: tcprules accepted it, qmailctl: %v\n%s", i, err, src)
				case !bytes.Equal(got, want):
					t.Fatalf("file %d: cdb differs from tcprules' (%d vs %d bytes)\n%s", i, len(got), len(want), src)
				default:
					same++
				}
			}
			t.Logf("%d files byte-identical, %d refused by both", same, refused)
			if same < corpusSize/2 {
				t.Errorf("only %d of %d files compiled: the generator makes too many errors", same, corpusSize)
			}
		})
	}
}
