package cli

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/qmailctl/qmailctl/internal/tcprules"
)

// TestReportEscapesQuotedLines: an error that quotes a file's line (tcp add
// finding the rule already there) reaches the terminal escaped.
func TestReportEscapesQuotedLines(t *testing.T) {
	var b bytes.Buffer
	report(&b, fmt.Errorf("%s:%d: %w: %s", "tcp.smtp", 3, tcprules.ErrDuplicate, "10.\x1b[2J:allow\u202e"))
	want := `qmailctl: error: tcp.smtp:3: ` + tcprules.ErrDuplicate.Error() + `: 10.\x1b[2J:allow\u202e` + "\n" +
		"  hint: " + hintFor(tcprules.ErrDuplicate) + "\n"
	if b.String() != want {
		t.Errorf("report printed\n%q\nwant\n%q", b.String(), want)
	}
}
