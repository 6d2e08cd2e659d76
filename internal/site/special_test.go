package site

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qmailctl/qmailctl/internal/safefile"
)

// TestReadServiceSpecialFiles: a FIFO as the run script or in the variables
// directory is refused, naming it, instead of blocking relay test --service
// (issue 8, item 5); a regression fails after a minute instead of hanging.
func TestReadServiceSpecialFiles(t *testing.T) {
	for _, name := range []string{"run", "variables/CHECKRELAY"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "variables"), 0o755); err != nil {
				t.Fatal(err)
			}
			if name != "run" {
				if err := os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\nexec envdir ./variables tcpserver -x tcp.smtp.cdb 0 25 qmail-smtpd\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			fifo := filepath.Join(dir, name)
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := ReadService(dir); done <- err }()
			select {
			case err := <-done:
				var nr *safefile.NotRegularError
				if !errors.As(err, &nr) || nr.Path != fifo {
					t.Fatalf("err = %v, want a *safefile.NotRegularError for %s", err, fifo)
				}
			case <-time.After(time.Minute):
				t.Fatal("still blocked after a minute")
			}
		})
	}
}
