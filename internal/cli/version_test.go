package cli

import (
	"regexp"
	"runtime/debug"
	"testing"
)

// TestVersionString: the release build's -X values win; a plain go build or
// go install falls back to what the toolchain recorded; what is not known
// says "unknown" (GOFLAGS=-buildvcs=false records no commit).
func TestVersionString(t *testing.T) {
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/qmailctl/qmailctl", Version: "v1.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-11-25T23:59:42Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Path: "github.com/qmailctl/qmailctl", Version: "(devel)"}}
	for _, tc := range []struct {
		name                string
		version, commit, at string
		info                *debug.BuildInfo
		want                string
	}{
		{"goreleaser", "1.2.0", "abcdef0123456789abcdef0123456789abcdef01", "2026-11-26T00:04:35Z", stamped,
			"1.2.0 (commit abcdef0123456789abcdef0123456789abcdef01, built 2026-11-26T00:04:35Z)"},
		{"go install @v1.3.0 with VCS stamp", "", "", "", stamped,
			"1.3.0 (commit 0123456789abcdef0123456789abcdef01234567-dirty, built 2026-11-25T23:59:42Z)"},
		{"go build -buildvcs=false", "", "", "", devel, "devel (commit unknown, built unknown)"},
		{"no build info", "", "", "", nil, "devel (commit unknown, built unknown)"},
		{"snapshot version", "1.2.1-SNAPSHOT-abcdef0", "abcdef0", "", devel, "1.2.1-SNAPSHOT-abcdef0 (commit abcdef0, built unknown)"},
	} {
		if got := versionString(tc.version, tc.commit, tc.at, tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionFlag: qmailctl --version (and -v) prints one line on stdout:
// "qmailctl VERSION (commit X, built Y)".
func TestVersionFlag(t *testing.T) {
	line := regexp.MustCompile(`^qmailctl \S+ \(commit \S+, built \S+\)\n$`)
	for _, flag := range []string{"--version", "-v"} {
		out, stderr, code := inProcess(t, flag)
		if code != 0 || stderr != "" || !line.MatchString(out) {
			t.Errorf("qmailctl %s: exit %d, stdout %q, stderr %q", flag, code, out, stderr)
		}
	}
}
