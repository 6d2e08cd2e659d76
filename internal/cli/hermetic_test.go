package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// testHostEnv names the directory that stands for the machine's root in
// the tests: hostPath maps every built-in default location under it. TestMain
// sets it, and every qmailctl a test runs inherits it (testscript's Setup
// sets it to $WORK/host).
const testHostEnv = "QMAILCTL_TEST_HOST"

// hostVars are the variables of the machine that change what qmailctl
// does; the tests start without them and set what they need.
var hostVars = []string{"CONTROLDIR", "RELAY_TABLE", "RELAY_CLEAR_MINUTES", "CHECKRELAY", "TCPREMOTEIP", "TCPREMOTEHOST", "TCPREMOTEINFO", "RELAYCLIENT"}

// hermeticMain cuts this test binary off the machine's configuration
// before any test runs: hostPath points into a fresh temporary directory
// (removed at the end), so that /etc/indimail, /var/qmail/control and
// /var/lib/qmailctl/relay.sqlite are never read or written, whatever this
// machine holds there; $HOME is in that directory too; and the variables
// qmailctl reads ($QMAILCTL_RELAY_DB, $CONTROLDIR, $RELAY_TABLE, ...) are
// unset. A test that needs one sets it. In a child (the qmailctl command
// of testscript and of the process tests) it only sets hostPath from
// $QMAILCTL_TEST_HOST, which the parent passes down.
func hermeticMain(m *testing.M) interface{ Run() int } {
	if root := os.Getenv(testHostEnv); root != "" && filepath.Base(os.Args[0]) == "qmailctl" {
		hostPath = func(p string) string { return filepath.Join(root, p) }
		return m
	}
	root, err := os.MkdirTemp("", "qmailctl-test-host")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hostPath = func(p string) string { return filepath.Join(root, p) }
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "QMAILCTL_") && !strings.HasPrefix(name, "QMAILCTL_TEST_") && name != "QMAILCTL_PEERS" {
			os.Unsetenv(name)
		}
	}
	for _, name := range hostVars {
		os.Unsetenv(name)
	}
	os.Setenv(testHostEnv, root)
	os.Setenv("HOME", filepath.Join(root, "home"))
	return runThenRemove{m, root}
}

// runThenRemove runs the tests, then removes the test host directory.
type runThenRemove struct {
	m    *testing.M
	root string
}

func (r runThenRemove) Run() int {
	defer os.RemoveAll(r.root)
	return r.m.Run()
}

// childMain is qmailctl's main in a copy of the test binary run by a test.
// With $QMAILCTL_TEST_STOP_AT set to a step of testStep ("cdb: building",
// ...), the process writes the step's name to file descriptor 3 when it
// gets there and stops, so that a test can kill it at that point and no
// other (TestKilledCompileLeavesOldOrNewCdb).
func childMain() int {
	if stop := os.Getenv(stopAtEnv); stop != "" {
		ready := os.NewFile(3, "ready")
		testStep = func(step string) {
			if step != stop {
				return
			}
			fmt.Fprintln(ready, step)
			ready.Close()
			for { // until killed
				time.Sleep(time.Hour)
			}
		}
	}
	return Main()
}

const stopAtEnv = "QMAILCTL_TEST_STOP_AT"

// poisonHost fills root with a host configuration that makes an open relay
// under each of qmailctl's default locations: tcp.smtp files that let every
// client relay, control files that accept every recipient, a relay table
// with a live row. It returns the directories, for watching.
func poisonHost(t *testing.T, root string) []string {
	t.Helper()
	const rules = "0.:allow,RELAYCLIENT=\"\"\n:allow,RELAYCLIENT=\"\"\n"
	var dirs []string
	for _, d := range []string{"etc/indimail/tcp", "etc", "etc/indimail/control", "var/qmail/control", "var/lib/qmailctl", "service/qmail-smtpd"} {
		dir := filepath.Join(root, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		switch {
		case strings.HasSuffix(d, "tcp") || d == "etc":
			writeTestFile(t, filepath.Join(dir, "tcp.smtp"), rules)
			if _, stderr, code := inProcess(t, "cdb", filepath.Join(dir, "tcp.smtp")); code != 0 {
				t.Fatalf("cdb: %s", stderr)
			}
		case strings.HasSuffix(d, "control"):
			for name, data := range map[string]string{"rcpthosts": "*\n", "relayclients": "0.\n", "relaymailfrom": "*\n"} {
				writeTestFile(t, filepath.Join(dir, name), data)
			}
		case strings.HasPrefix(d, "service"):
			// A discovered service whose rules let every client relay.
			writeTestFile(t, filepath.Join(dir, "run"), "#!/bin/sh\nexec tcpserver -x "+filepath.Join(root, "etc/tcp.smtp.cdb")+" 0 25 qmail-smtpd\n")
		default:
			db := filepath.Join(dir, "relay.sqlite")
			if _, stderr, code := inProcess(t, "--relay-db", db, "relay", "table", "add", "poison@example.com", "203.0.113.9"); code != 0 {
				t.Fatalf("relay table add: %s", stderr)
			}
		}
	}
	return dirs
}

// watchOpens reports every file opened, created or changed in dirs from now
// on (inotify, which sees reads that stat and access times do not).
func watchOpens(t *testing.T, dirs []string) func() []string {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	watched := map[int32]string{}
	for _, d := range dirs {
		wd, err := syscall.InotifyAddWatch(fd, d, syscall.IN_OPEN|syscall.IN_MODIFY|syscall.IN_CREATE|syscall.IN_DELETE|syscall.IN_MOVED_TO|syscall.IN_ATTRIB)
		if err != nil {
			t.Fatal(err)
		}
		watched[int32(wd)] = d
	}
	return func() []string {
		var seen []string
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.Read(fd, buf)
			if err == syscall.EAGAIN || n <= 0 {
				return seen
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := string(bytes.TrimRight(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+int(ev.Len)], "\x00"))
				seen = append(seen, filepath.Join(watched[ev.Wd], name))
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

// TestNoDefaultPathOpened: with --tcp-dir, $CONTROLDIR and
// $QMAILCTL_RELAY_DB naming files of its own, no command opens anything
// under the machine's default locations, here filled with an open relay.
// The same commands without them do open the defaults, which proves that
// the watch sees it: a command that falls back on a default behind the
// tests' back (not through hostPath) fails the CI run, which plants the
// same poison in the real /var/qmail/control and /var/lib/qmailctl
// (scripts/test.sh).
func TestNoDefaultPathOpened(t *testing.T) {
	host := t.TempDir()
	saved := hostPath
	t.Cleanup(func() { hostPath = saved })
	hostPath = func(p string) string { return filepath.Join(host, p) }
	opened := watchOpens(t, poisonHost(t, host))
	opened() // the poisoning itself

	own := t.TempDir()
	tcp, control := filepath.Join(own, "tcp"), filepath.Join(own, "control")
	for _, d := range []string{tcp, control} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTestFile(t, filepath.Join(tcp, "tcp.smtp"), "127.:allow,RELAYCLIENT=\"\"\n:allow\n")
	writeTestFile(t, filepath.Join(control, "rcpthosts"), "example.com\n")
	commands := [][]string{
		{"cdb"}, {"tcp", "list"}, {"tcp", "check"}, {"tcp", "explain", "203.0.113.9"},
		{"tcp", "add", "10.9.9.", "allow", "--relay"}, {"tcp", "remove", "10.9.9."},
		{"rcpthosts", "list"}, {"relayclients", "add", "10.2."}, {"relaymailfrom", "list"},
		{"relay", "test", "203.0.113.9", "poison@example.com", "friend@example.net"},
		{"relay", "audit"}, {"relay", "audit", "--env", "CHECKRELAY="},
		{"relay", "table", "add", "joe@example.com", "10.1.1.5"}, {"relay", "table", "list"},
		{"relay", "table", "check", "poison@example.com", "203.0.113.9"}, {"relay", "table", "clear"},
	}
	withFlags := func(args []string) []string { return append([]string{"--tcp-dir", tcp}, args...) }

	t.Setenv("CONTROLDIR", control)
	t.Setenv("QMAILCTL_RELAY_DB", filepath.Join(own, "relay.sqlite"))
	for _, args := range commands {
		_, stderr, code := inProcess(t, withFlags(args)...)
		if code == exitTemp {
			t.Errorf("qmailctl %q: exit 111: %s", args, stderr)
		}
		if seen := opened(); len(seen) > 0 {
			t.Errorf("qmailctl %q opened the host's %q", args, seen)
		}
	}

	os.Unsetenv("CONTROLDIR")
	os.Unsetenv("QMAILCTL_RELAY_DB")
	for _, args := range [][]string{{"tcp", "list"}, {"rcpthosts", "list"}, {"relay", "table", "list"}, {"relay", "audit"}} {
		inProcess(t, args...)
		if len(opened()) == 0 {
			t.Errorf("qmailctl %q without flags or variables opened no default: the watch sees nothing", args)
		}
	}
}
