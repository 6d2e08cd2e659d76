package relaytable

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// TestSQLiteFIFO: a FIFO where the SQLite file belongs is refused, naming
// it, instead of blocking (issue 8, item 5). The test fails after a minute
// rather than hang if that regresses.
func TestSQLiteFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.sqlite")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := Open(context.Background(), "sqlite://"+path, DefaultTable)
		if err == nil {
			_, err = s.List(context.Background(), Filter{})
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		var nr *safefile.NotRegularError
		if !errors.As(err, &nr) || err.Error() != path+" is a FIFO, not a regular file" {
			t.Fatalf("err = %v, want a *safefile.NotRegularError", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("still blocked after a minute")
	}
}
