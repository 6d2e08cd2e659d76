package safefile

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Running as root, qmailctl refuses what would let another user steer its
// reads and writes, in the spirit of OpenSSH's StrictModes and Postfix's
// `postfix check`:
//
//   - it follows a symbolic link only when the link is owned by root or by
//     the owner of the file it points to (a link planted by mallory in a
//     directory mallory can write must not make root append to, or print,
//     a file of root's);
//   - it writes only into a directory (and below directories) that no other
//     login user can write: a world-writable directory needs the sticky
//     bit; a group-writable one needs the sticky bit or a group whose
//     members, other than root and the directory's owner, cannot log in
//     (IndiMail's tcp directory is 2775 indimail:qmail, and qmail's group
//     holds only daemon accounts with a nologin shell).
//
// A user other than root can only hurt their own files, so none of this
// applies to them.

// UntrustedError is root's refusal to follow a link or to write into a
// directory that another user controls. It is bad input: the layout must be
// fixed, retrying does not help.
type UntrustedError struct {
	Path string // the path qmailctl was asked to use
	Why  string // the link or directory, its owners, and the rule
}

func (e *UntrustedError) Error() string { return e.Path + ": " + e.Why }

// maxLinks bounds the symbolic links followed in one path, as the kernel's
// ELOOP does.
const maxLinks = 40

// node is what the checks need to know of one file.
type node struct {
	mode     fs.FileMode
	uid, gid uint32
	dev, ino uint64
}

// checker holds the checks' view of the system, so tests can give it any
// owner or euid without being root.
type checker struct {
	root      bool
	lstat     func(path string) (node, error)
	readlink  func(path string) (string, error)
	userName  func(uid uint32) string
	groupName func(gid uint32) string
	// loginMembers returns the members of group gid, other than root and owner,
	// who have a login shell (or are not known to lack one).
	loginMembers func(gid, owner uint32) []string
}

// system is the checker for this process.
func system() *checker {
	return &checker{
		root:         os.Geteuid() == 0,
		lstat:        lstatNode,
		readlink:     os.Readlink,
		userName:     userName,
		groupName:    groupName,
		loginMembers: func(gid, owner uint32) []string { return loginMembers("/etc/passwd", "/etc/group", gid, owner) },
	}
}

func lstatNode(path string) (node, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return node{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return nodeOf(&st), nil
}

func nodeOf(st *syscall.Stat_t) node {
	return node{
		mode: fileMode(st.Mode),
		uid:  st.Uid, gid: st.Gid,
		dev: uint64(st.Dev), ino: uint64(st.Ino),
	}
}

// fileMode converts a stat(2) st_mode to an fs.FileMode, as os does.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & syscall.S_IFMT {
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// resolve returns path with every symbolic link resolved, as open(2) would
// resolve it, checking each link on the way when running as root. A path
// whose tail does not exist is returned with that tail as given.
func (c *checker) resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	links := 0
	return c.walk(path, abs, &links)
}

// walk resolves the absolute path p component by component. It does not
// clean p first: "link/.." is the parent of the link's target, as in the
// kernel.
func (c *checker) walk(orig, p string, links *int) (string, error) {
	cur := "/"
	comps := strings.Split(p, "/")
	for i, name := range comps {
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		n, err := c.lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.Join(append([]string{next}, comps[i+1:]...)...), nil
		}
		if err != nil {
			return "", err
		}
		if n.mode&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if *links++; *links > maxLinks {
			return "", &fs.PathError{Op: "open", Path: orig, Err: syscall.ELOOP}
		}
		dest, err := c.readlink(next)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			dest = cur + "/" + dest
		}
		target, err := c.walk(orig, dest, links)
		if err != nil {
			return "", err
		}
		if err := c.checkLink(orig, next, n, target); err != nil {
			return "", err
		}
		cur = target
	}
	return cur, nil
}

// checkLink applies the link rule to link (whose lstat is n), which
// resolves to target. A link to nothing is not checked: nothing can be read
// through it, and a write replaces the link itself.
func (c *checker) checkLink(orig, link string, n node, target string) error {
	if !c.root || n.uid == 0 {
		return nil
	}
	t, err := c.lstat(target)
	if err != nil || t.uid == n.uid {
		return nil
	}
	return &UntrustedError{Path: orig, Why: fmt.Sprintf(
		"refusing to follow the link %s -> %s as root: the link is owned by %s and its target by %s "+
			"(a link is followed only when root or the target's owner owns it)",
		link, target, c.userName(n.uid), c.userName(t.uid))}
}

// checkDirs applies the directory rule to dir, which has no links left,
// and to every directory above it.
func (c *checker) checkDirs(orig, dir string) error {
	if !c.root {
		return nil
	}
	for d := dir; ; d = filepath.Dir(d) {
		n, err := c.lstat(d)
		if err == nil && n.mode&fs.ModeSticky == 0 {
			switch {
			case n.mode&0o002 != 0:
				return &UntrustedError{Path: orig, Why: fmt.Sprintf(
					"refusing to write as root through %s: it is world-writable (mode %04o, owner %s) without the sticky bit; chmod o-w %s",
					d, n.mode.Perm(), c.userName(n.uid), d)}
			case n.mode&0o020 != 0:
				if who := c.loginMembers(n.gid, n.uid); len(who) > 0 {
					return &UntrustedError{Path: orig, Why: fmt.Sprintf(
						"refusing to write as root through %s: it is writable by group %s (mode %04o, owner %s), with members who can log in (%s); chmod g-w %s",
						d, c.groupName(n.gid), n.mode.Perm(), c.userName(n.uid), strings.Join(who, ", "), d)}
				}
			}
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}

// CheckWrite reports why root must not replace path, or nil: a link on the
// way that the link rule refuses, a directory another user may write, or a
// file there that is not a regular file (renaming over a FIFO or a device
// would replace something that is not configuration). A missing file is
// fine. It does nothing more than the regular-file test for other users.
func CheckWrite(path string) error {
	return system().checkWrite(path)
}

func (c *checker) checkWrite(path string) error {
	target, err := c.resolve(path)
	if err != nil {
		return err
	}
	if err := c.checkDirs(path, filepath.Dir(target)); err != nil {
		return err
	}
	n, err := c.lstat(target)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if !n.mode.IsRegular() {
		return notRegular(path, target, n.mode)
	}
	return nil
}

// CheckDir is CheckWrite for a directory qmailctl is about to lock and write
// into.
func CheckDir(dir string) error {
	c := system()
	if !c.root {
		return nil
	}
	d, err := c.resolve(dir)
	if err != nil {
		return err
	}
	return c.checkDirs(dir, d)
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return fmt.Sprintf("%s (gid %d)", g.Name, gid)
	}
	return fmt.Sprintf("gid %d", gid)
}

// loginMembers reads the passwd and group files for the accounts in group
// gid (by primary group or membership) that have a login shell, leaving out
// root and owner. A member listed in the group file but unknown to the
// passwd file (a directory service) is counted: nothing says it cannot log
// in. If the files cannot be read, the group is not trusted.
func loginMembers(passwdPath, groupPath string, gid, owner uint32) []string {
	type account struct {
		uid   uint32
		login bool
	}
	accounts := map[string]account{}
	var who []string
	seen := map[string]bool{}
	add := func(name string) {
		a, known := accounts[name]
		if seen[name] || known && (a.uid == 0 || a.uid == owner || !a.login) {
			return
		}
		seen[name] = true
		who = append(who, name)
	}
	err := eachLine(passwdPath, func(f []string) {
		if len(f) < 7 {
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		g, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		shell := filepath.Base(f[6])
		accounts[f[0]] = account{uint32(uid), shell != "nologin" && shell != "false" && shell != "true"}
		if uint32(g) == gid {
			add(f[0])
		}
	})
	if err != nil {
		return []string{"(" + passwdPath + " unreadable)"}
	}
	err = eachLine(groupPath, func(f []string) {
		if len(f) < 4 || f[2] != strconv.FormatUint(uint64(gid), 10) || f[3] == "" {
			return
		}
		for _, m := range strings.Split(f[3], ",") {
			add(m)
		}
	})
	if err != nil {
		return []string{"(" + groupPath + " unreadable)"}
	}
	return who
}

// eachLine calls fn with the colon-separated fields of each line of path.
func eachLine(path string, fn func([]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			fn(strings.Split(line, ":"))
		}
	}
	return sc.Err()
}
