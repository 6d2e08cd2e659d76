package cli

import (
	"bufio"
	"bytes"
	"testing"
	"time"
)

// relay table list --json writes its array element by element; the bytes are those
// printJSON writes for the whole slice, so scripts see no difference.
func TestJSONArrayStreamsPrintJSONBytes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	all := []tableRowJSON{
		{Email: "joe@example.com", IP: "192.0.2.7", Time: at, AgeSecs: 60, Live: true},
		{Email: `"a<b>&c"@example.com`, IP: "2001:db8::1", Time: at, AgeSecs: 7200},
		{Email: "ann@example.com", IP: "198.51.100.1"},
	}
	for n := 0; n <= len(all); n++ {
		var want bytes.Buffer
		(&app{stdout: &want}).printJSON(append([]tableRowJSON{}, all[:n]...))
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		arr := newJSONArray(w, 0)
		for _, r := range all[:n] {
			if err := arr.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := arr.Close(); err != nil {
			t.Fatal(err)
		}
		w.WriteString("\n")
		w.Flush()
		if got.String() != want.String() {
			t.Errorf("%d rows:\ngot:\n%s\nwant:\n%s", n, got.String(), want.String())
		}
	}
}
