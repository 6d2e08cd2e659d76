package tcprules

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qmailctl/qmailctl/internal/cdb"
	"github.com/qmailctl/qmailctl/internal/peers"
	"github.com/qmailctl/qmailctl/internal/testexec"
)

// lookupsPerDialect is how many random connections are checked against
// tcprulescheck for each of the two tools.
const lookupsPerDialect = 5000

// TestLookupMatchesTcprulescheck looks random connections up in
// qmailctl-compiled cdbs with Lookup and with the real tcprulescheck
// (ucspi-tcp and ucspi-tcp-ipv6), and requires the same rule, action and
// variables.
func TestLookupMatchesTcprulescheck(t *testing.T) {
	for _, dialect := range []struct {
		name string
		tool string
		ipv6 bool
	}{
		{"ucspi-tcp", peers.Tool(t, "tcprulescheck"), false},
		{"ucspi-tcp-ipv6", peers.IPv6Tool(t, "tcprulescheck"), true},
	} {
		t.Run(dialect.name, func(t *testing.T) {
			g := &gen{r: rand.New(rand.NewPCG(7, uint64(len(dialect.name)))), ipv6: dialect.ipv6}
			dir := t.TempDir()
			var cdbs []string
			keys := map[string][]string{} // cdb -> keys it stores, to aim queries at them
			for i := 0; len(cdbs) < 20; i++ {
				src := filepath.Join(dir, fmt.Sprintf("tcp.%d", i))
				text := g.file() + g.file()
				if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := buildCDB(t, src); err == nil {
					cdbs = append(cdbs, src+".cdb")
					f, _ := Parse(src, []byte(text))
					for _, r := range f.Rules() {
						keys[src+".cdb"] = append(keys[src+".cdb"], r.Keys()...)
					}
				}
			}
			type job struct {
				cdb string
				q   Query
			}
			jobs := make(chan job)
			var mu sync.Mutex
			var failures []string
			kinds := map[string]int{} // what decided each lookup, to prove the corpus exercises every step
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range jobs {
						kind, msg := compareLookup(t, dialect.tool, j.cdb, j.q)
						mu.Lock()
						kinds[kind]++
						if msg != "" {
							failures = append(failures, msg)
						}
						mu.Unlock()
					}
				}()
			}
			for i := 0; i < lookupsPerDialect; i++ {
				c := cdbs[i%len(cdbs)]
				jobs <- job{c, g.query(keys[c])}
			}
			close(jobs)
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d of %d lookups differ, first: %s", len(failures), lookupsPerDialect, failures[0])
			}
			t.Logf("decided by: %v", kinds)
			for _, k := range []string{"info@ip", "info@=host", "ip", "=host", "prefix", "=.suffix", "=", "default", "deny"} {
				if kinds[k] == 0 {
					t.Errorf("no lookup was decided by %s: the corpus misses a step", k)
				}
			}
		})
	}
}

// query makes a connection likely to hit the generated rules: often one
// aimed at a stored key.
func (g *gen) query(keys []string) Query {
	q := Query{IP: g.ipv4()}
	if len(keys) > 0 && g.r.IntN(3) == 0 {
		k := keys[g.r.IntN(len(keys))]
		if info, ip, ok := strings.Cut(k, "@"); ok && !strings.HasPrefix(ip, "=") {
			return Query{IP: ip, Info: info, HasInfo: true}
		}
		if _, err := NormalizeIP(k); err == nil {
			q.IP = k
		}
	}
	if g.ipv6 && g.r.IntN(4) == 0 {
		q.IP = []string{"::1", "2001:db8::" + fmt.Sprintf("%x", g.r.IntN(65536)), "2001:db8:1::5", "2001:db8:3:0:1::"}[g.r.IntN(4)]
	}
	if g.r.IntN(2) == 0 {
		q.Host, q.HasHost = []string{"mail.example.com", "example.com", "a.b.c", "", "x.y"}[g.r.IntN(5)], true
	}
	if g.r.IntN(4) == 0 {
		q.Info, q.HasInfo = g.word(), true
	}
	return q
}

// compareLookup runs tcprulescheck for q and compares with Lookup. It
// returns which step of the lookup decided, and a message if they differ.
func compareLookup(t *testing.T, tool, path string, q Query) (kind, msg string) {
	cmd := testexec.Command(t, tool, path)
	cmd.Env = []string{"TCPREMOTEIP=" + q.IP}
	if q.HasHost {
		cmd.Env = append(cmd.Env, "TCPREMOTEHOST="+q.Host)
	}
	if q.HasInfo {
		cmd.Env = append(cmd.Env, "TCPREMOTEINFO="+q.Info)
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Sprintf("%s %+v: %v", path, q, err)
	}
	want := parseTcprulescheck(string(out))

	r, err := cdb.Open(path)
	if err != nil {
		return "", err.Error()
	}
	defer r.Close()
	d, err := Lookup(r.Get, q)
	if err != nil {
		return "", err.Error()
	}
	kind = step(d, q)
	if got := describe(d); got != want {
		return kind, fmt.Sprintf("%s %+v:\n tcprulescheck: %s\n qmailctl:      %s", path, q, want, got)
	}
	return kind, ""
}

// step names the lookup step that decided d.
func step(d Decision, q Query) string {
	switch k := d.Key; {
	case d.Deny:
		return "deny"
	case !d.Matched:
		return "none"
	case k == "":
		return "default"
	case q.HasInfo && k == q.Info+"@"+q.IP:
		return "info@ip"
	case q.HasInfo && strings.HasPrefix(k, q.Info+"@="):
		return "info@=host"
	case k == q.IP:
		return "ip"
	case k == "=":
		return "="
	case q.HasHost && k == "="+q.Host:
		return "=host"
	case strings.HasPrefix(k, "=."):
		return "=.suffix"
	}
	return "prefix"
}

// parseTcprulescheck reduces tcprulescheck's output to "key|action|vars".
// The key is everything between "rule " and the last colon of the line.
func parseTcprulescheck(out string) string {
	key, action, vars := "(none)", "", []string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "rule "):
			key = strings.TrimSuffix(strings.TrimPrefix(line, "rule "), ":")
		case line == "default:":
			key = "(none)"
		case strings.HasPrefix(line, "set environment variable "):
			vars = append(vars, strings.TrimPrefix(line, "set environment variable "))
		case strings.HasSuffix(line, " connection"):
			action = strings.TrimSuffix(line, " connection")
		}
	}
	return key + "|" + action + "|" + strings.Join(vars, ",")
}

// describe reduces a Decision the same way. tcprulescheck stops at the deny
// item, which tcprules always writes first, so a deny shows no variables.
func describe(d Decision) string {
	key := "(none)"
	if d.Matched {
		key = d.Key
	}
	if d.Deny {
		return key + "|deny|"
	}
	var vars []string
	for _, v := range d.Env {
		vars = append(vars, v.Name+"="+v.Value)
	}
	return key + "|allow|" + strings.Join(vars, ",")
}
