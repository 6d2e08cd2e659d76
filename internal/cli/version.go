package cli

import (
	"fmt"
	"runtime/debug"
)

// Set with -ldflags "-X github.com/qmailctl/qmailctl/internal/cli.buildVersion=..." by goreleaser.
var (
	buildVersion = ""
	buildCommit  = ""
	buildDate    = ""
)

// version is "VERSION (commit COMMIT, built DATE)", falling back to what the
// Go toolchain recorded when built with plain `go build` or `go install`.
func version() string {
	v, commit, date := buildVersion, buildCommit, buildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, commit, date)
}
