package cli

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Set by the release build (goreleaser.yaml) with
//
//	-ldflags "-X github.com/qmailctl/qmailctl/internal/cli.buildVersion={{.Version}}
//	          -X github.com/qmailctl/qmailctl/internal/cli.buildCommit={{.Commit}}
//	          -X github.com/qmailctl/qmailctl/internal/cli.buildDate={{.CommitDate}}"
var (
	buildVersion = ""
	buildCommit  = ""
	buildDate    = ""
)

// version is what qmailctl --version prints after the name:
// "VERSION (commit COMMIT, built DATE)".
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return versionString(buildVersion, buildCommit, buildDate, info)
}

// versionString fills what the release build did not set from what the Go
// toolchain recorded: the module version of `go install ...@v1.2.0`, and
// with VCS stamping (not with -buildvcs=false) the commit, its time, and
// whether the tree had changes. What is still unknown says so.
func versionString(v, commit, date string, info *debug.BuildInfo) string {
	fromLinker := commit != ""
	modified := false // the commit is from the VCS stamp, with changes on top
	if info != nil {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
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
			case "vcs.modified":
				modified = s.Value == "true" && !fromLinker
			}
		}
	}
	// goreleaser's {{.Version}} has no "v"; a Go module version has one.
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if v == "" {
		v = "devel"
	}
	if commit == "" {
		commit = "unknown"
	} else if modified && !strings.HasSuffix(commit, "-dirty") {
		commit += "-dirty"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("%s (commit %s, built %s)", v, commit, date)
}
