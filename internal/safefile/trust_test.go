package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeRoot is a checker that believes it runs as root and sees the owners
// and modes the test gives (by path under root); everything else is as on
// disk, except that directories above the test's own are taken as not
// writable by others, whatever the host's /tmp looks like.
func fakeRoot(t *testing.T, root string, owner map[string]uint32, mode map[string]fs.FileMode, logins map[uint32][]string) *checker {
	return &checker{
		root: true,
		lstat: func(p string) (node, error) {
			n, err := lstatNode(p)
			if err != nil {
				return n, err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || strings.HasPrefix(rel, "..") {
				n.mode &^= 0o022
				return n, nil
			}
			if uid, ok := owner[rel]; ok {
				n.uid = uid
			} else {
				n.uid = 0
			}
			if m, ok := mode[rel]; ok {
				n.mode = n.mode.Type() | m
			}
			return n, nil
		},
		readlink:     os.Readlink,
		userName:     func(uid uint32) string { return fmt.Sprintf("uid %d", uid) },
		groupName:    func(gid uint32) string { return fmt.Sprintf("gid %d", gid) },
		loginMembers: func(gid, _ uint32) []string { return logins[gid] },
	}
}

// layout makes the files of a test under a new directory: "dir/" is a
// directory, "name -> target" a symbolic link, anything else a file.
func layout(t *testing.T, entries ...string) string {
	root := t.TempDir()
	for _, e := range entries {
		p := filepath.Join(root, strings.TrimSuffix(strings.Fields(e)[0], "/"))
		var err error
		switch {
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.Contains(e, " -> "):
			err = os.Symlink(strings.Split(e, " -> ")[1], p)
		default:
			err = os.WriteFile(p, []byte(e+"\n"), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestRootLinkRule(t *testing.T) {
	files := []string{
		"secret", "control/", "mallory/", "indimail/", "indimail/tcp.smtp", "etc/", "etc/relaydomains", "service/",
		"control/relaydomains -> ../secret",
		"control/chain -> ../mallory/hop", "mallory/hop -> ../secret",
		"control/own -> ../mallory/file", "mallory/file",
		"indimail/tcp.link -> tcp.smtp",
		"service/relaydomains -> ../etc/relaydomains",
		"service/indimail -> ../indimail",
		"dirlink -> control", "up -> control/..",
		"loop1 -> loop2", "loop2 -> loop1",
	}
	owners := map[string]uint32{
		"mallory": 1234, "mallory/hop": 1234, "mallory/file": 1234,
		"control/relaydomains": 1234, "control/chain": 1234, "control/own": 1234,
		"indimail": 555, "indimail/tcp.smtp": 555, "indimail/tcp.link": 555,
		"dirlink": 1234, "up": 1234,
	}
	tests := []struct {
		path string
		want string // "" when allowed, else a part of the refusal
	}{
		{"etc/relaydomains", ""},
		// A link planted by another user to root's file (issue 8, item 4).
		{"control/relaydomains", "the link ROOT/control/relaydomains -> ROOT/secret as root: the link is owned by uid 1234 and its target by uid 0"},
		// Every hop of a chain is checked.
		{"control/chain", "the link ROOT/mallory/hop -> ROOT/secret as root"},
		// A user may link to their own files.
		{"control/own", ""},
		// IndiMail: links owned by indimail to indimail's files.
		{"indimail/tcp.link", ""},
		// Root's links from /service into /etc/indimail.
		{"service/relaydomains", ""},
		{"service/indimail/tcp.link", ""},
		// A directory link counts too; "link/.." is the target's parent.
		{"dirlink/relaydomains", "the link ROOT/dirlink -> ROOT/control as root"},
		{"up/secret", "the link ROOT/up -> ROOT as root"},
		{"loop1", "too many levels of symbolic links"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			root := layout(t, files...)
			c := fakeRoot(t, root, owners, nil, nil)
			p := filepath.Join(root, tt.path)
			var openErr, writeErr error
			f, openErr := c.open(p)
			if openErr == nil {
				f.Close()
			}
			writeErr = c.checkWrite(p)
			for _, err := range []error{openErr, writeErr} {
				if tt.want == "" {
					if err != nil {
						t.Errorf("refused: %v", err)
					}
					continue
				}
				want := strings.ReplaceAll(tt.want, "ROOT", root)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want it to contain %q", err, want)
				}
				var ue *UntrustedError
				if strings.HasPrefix(tt.want, "the link") && (!errors.As(err, &ue) || ue.Path != p) {
					t.Errorf("err = %#v, want an *UntrustedError for %s", err, p)
				}
			}
			// The same checker, not root, follows everything.
			c.root = false
			if err := c.checkWrite(p); err != nil && !strings.Contains(err.Error(), "too many levels") {
				t.Errorf("not root: %v", err)
			}
		})
	}
}

func TestRootDirectoryRule(t *testing.T) {
	tests := []struct {
		name   string
		mode   fs.FileMode
		logins []string // login members of the directory's group
		want   string
	}{
		{"LWQ /etc: 0755", 0o755, nil, ""},
		{"world-writable", 0o777, nil, "world-writable (mode 0777, owner uid 0) without the sticky bit"},
		{"world-writable with the sticky bit", 0o777 | fs.ModeSticky, nil, ""},
		{"IndiMail tcp: 2775 indimail:qmail, daemon members", 0o775 | fs.ModeSetgid, nil, ""},
		{"group-writable with a login user", 0o775, []string{"bob"}, "writable by group gid 0 (mode 0775, owner uid 0), with members who can log in (bob)"},
		{"group-writable with the sticky bit", 0o775 | fs.ModeSticky, []string{"bob"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := layout(t, "tcp/", "tcp/tcp.smtp")
			c := fakeRoot(t, root, nil, map[string]fs.FileMode{"tcp": tt.mode}, map[uint32][]string{0: tt.logins})
			for _, p := range []string{"tcp/tcp.smtp", "tcp/new/deeper"} {
				err := c.checkWrite(filepath.Join(root, p))
				if tt.want == "" {
					if err != nil {
						t.Errorf("%s refused: %v", p, err)
					}
				} else if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: err = %v, want it to contain %q", p, err, tt.want)
				}
			}
			// Reading is never refused for a directory's mode.
			if f, err := c.open(filepath.Join(root, "tcp/tcp.smtp")); err != nil {
				t.Errorf("read refused: %v", err)
			} else {
				f.Close()
			}
		})
	}
}

func TestOpenRefusesAFileReplacedAfterTheCheck(t *testing.T) {
	root := layout(t, "tcp.smtp")
	c := fakeRoot(t, root, nil, nil, nil)
	lstat := c.lstat
	c.lstat = func(p string) (node, error) {
		n, err := lstat(p)
		if filepath.Base(p) == "tcp.smtp" {
			n.ino++ // what open finds is not what was checked
		}
		return n, err
	}
	_, err := c.open(filepath.Join(root, "tcp.smtp"))
	var ue *UntrustedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "was replaced while qmailctl opened it") {
		t.Fatalf("err = %v, want an *UntrustedError", err)
	}
}

func TestLoginMembers(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte(`root:x:0:0:root:/root:/bin/bash
indimail:x:555:555::/var/indimail:/sbin/nologin
qmailq:x:1001:1000::/var/indimail:/sbin/nologin
qmailr:x:1002:1000::/var/indimail:/usr/sbin/nologin
bob:x:1003:1003::/home/bob:/bin/bash
alice:x:1004:100::/home/alice:
daemon:x:1:1::/:/bin/false
`), 0o644)
	os.WriteFile(group, []byte(`root:x:0:
qmail:x:1000:qscand,indimail
users:x:100:bob
bob:x:1003:
daemon:x:1:root,daemon
`), 0o644)
	tests := []struct {
		gid, owner uint32
		want       string
	}{
		{1000, 555, "qscand"}, // qscand is not in passwd: it may log in
		{1000, 0, "qscand"},   // indimail and the qmail daemons have no shell
		{100, 0, "alice,bob"}, // an empty shell is /bin/sh
		{100, 1004, "bob"},    // alice owns the directory
		{1003, 1003, ""},      // a user's private group, the user's directory
		{1003, 0, "bob"},      // ... owned by someone else
		{1, 0, ""},            // /bin/false; root is always trusted
		{0, 0, ""},            // root's group
		{4242, 0, ""},         // a group with no members
	}
	for _, tt := range tests {
		got := loginMembers(passwd, group, tt.gid, tt.owner)
		slices.Sort(got)
		if got := strings.Join(got, ","); got != tt.want {
			t.Errorf("loginMembers(gid %d, owner %d) = %q, want %q", tt.gid, tt.owner, got, tt.want)
		}
	}
	if got := loginMembers(filepath.Join(dir, "none"), group, 1000, 0); len(got) == 0 {
		t.Error("an unreadable passwd file must not make a group trusted")
	}
}
