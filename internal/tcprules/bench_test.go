package tcprules

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

type discard struct{}

func (discard) Add(k, d []byte) error { return nil }

// BenchmarkCompile parses a 100,000-line mixed rules file (exact, prefix,
// range, host and default rules, with variables) without writing a cdb.
func BenchmarkCompile(b *testing.B) {
	src := mixedRules(100000, 1)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile("bench", bytes.NewReader(src), discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// mixedRules is the benchmark's tcp.smtp: the same mix scripts/bench.sh uses.
func mixedRules(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		a, c, d := r.IntN(256), r.IntN(256), r.IntN(256)
		switch i % 10 {
		case 0, 1, 2, 3:
			fmt.Fprintf(&b, "10.%d.%d.%d:allow,RELAYCLIENT=\"\"\n", a, c, d)
		case 4, 5:
			fmt.Fprintf(&b, "172.%d.%d.:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n", a, c)
		case 6:
			fmt.Fprintf(&b, "192.168.%d.%d-%d:deny\n", a, d%250, d%250+3)
		case 7:
			fmt.Fprintf(&b, "=mx%d.example%d.com:allow,QMAILQUEUE=\"/var/qmail/bin/qmail-scanner\"\n", a, c)
		case 8:
			fmt.Fprintf(&b, "=.host%d.example.net:deny\n", a*256+c)
		default:
			fmt.Fprintf(&b, "# comment %d\n", i)
		}
	}
	b.WriteString(":allow,GREETDELAY=\"5\"\n")
	return b.Bytes()
}
