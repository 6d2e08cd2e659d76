// Command qmailctl controls relaying on qmail and IndiMail mail servers: it
// edits and compiles tcp.smtp and the relay control files, and explains
// whether a message would be relayed and which rule decided it.
package main

import (
	"os"

	"github.com/qmailctl/qmailctl/internal/cli"
)

func main() { os.Exit(cli.Main()) }
