#!/usr/bin/env bash
# test-deb.sh builds qmailctl's packages with goreleaser (a snapshot: nothing is
# published), installs the .deb on THIS machine with dpkg -i, checks what it
# installed (paths, modes, times, qmailctl --version, man qmailctl, bash
# completion), and purges it again, also when a check fails. It runs
# goreleaser check on goreleaser.yaml first.
#
# It needs root and changes the system while it runs; it refuses to run when a
# qmailctl package is already installed. goreleaser is run through the Go
# toolchain at a pinned version ($GORELEASER, default v2.16.0), so it needs only
# the Go module proxy; the first run builds goreleaser (minutes), later runs
# reuse Go's caches. It leaves dist/ (goreleaser's output) and removes
# build/package (the hook's man pages and completions).
#
# .ci/run runs it after the tests, under timeout(1); a SIGTERM or SIGINT still
# purges the package. Exit status: 0 all checks passed, 1 a check failed, 111 it
# could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

prog=test-deb.sh
goreleaser=${GORELEASER:-v2.16.0}
die() { echo "$prog: $*" >&2; exit 111; }
fails=0
fail() { echo "$prog: FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "$prog: ok: $*" >&2; }
trap 'exit 111' TERM INT # run the EXIT trap (the purge) when timed out

[ "$(id -u)" = 0 ] || die "needs root (it installs and purges the qmailctl package)"
for tool in dpkg dpkg-deb go git man gzip; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-test-deps.sh installs man-db)"
done
if dpkg-query -W -f='${Status}' qmailctl 2>/dev/null | grep -q 'ok installed'; then
	die "a qmailctl package is already installed; not touching it (dpkg --purge qmailctl first)"
fi
arch=$(dpkg --print-architecture)

# goreleaser reads the commit, its date and the remote from git. A checkout
# without a remote (this one, in CI) gets one through the environment, so that
# nothing is written to .git.
if [ -z "$(git remote 2>/dev/null)" ]; then
	export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
		GIT_CONFIG_VALUE_0=https://github.com/qmailctl/qmailctl.git
fi
commit=$(git rev-parse HEAD)
epoch=$(git log -1 --format=%ct HEAD)

start=$SECONDS
go run "github.com/goreleaser/goreleaser/v2@$goreleaser" check >&2 || fail "goreleaser check: goreleaser.yaml is invalid (1) or deprecated (2)"
echo "$prog: goreleaser $goreleaser check took $((SECONDS - start))s" >&2

start=$SECONDS
trap 'rm -rf build/package; rmdir build 2>/dev/null || true' EXIT
go run "github.com/goreleaser/goreleaser/v2@$goreleaser" release --snapshot --clean --skip=publish >&2 ||
	die "goreleaser release --snapshot failed"
echo "$prog: goreleaser $goreleaser built the packages in $((SECONDS - start))s" >&2

debs=(dist/qmailctl_*_linux_"$arch".deb)
[ -f "${debs[0]}" ] || die "no .deb for $arch in dist/"
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version)

# What the package holds: paths, modes, owners, times.
listing=$(TZ=UTC0 dpkg-deb -c "$deb")
when=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M')
expect=("-rwxr-xr-x root/root ./usr/sbin/qmailctl"
	"-rw-r--r-- root/root ./usr/share/bash-completion/completions/qmailctl"
	"-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_qmailctl"
	"-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/qmailctl.fish"
	"-rw-r--r-- root/root ./usr/share/lintian/overrides/qmailctl")
for page in docs/man/*.8; do
	expect+=("-rw-r--r-- root/root ./usr/share/man/man8/$(basename "$page").gz")
done
files=$(awk '$1 !~ /^d/ { print $1, $2, $6 }' <<<"$listing" | sort)
want=$(printf '%s\n' "${expect[@]}" | sort)
if [ "$files" = "$want" ]; then
	ok "dpkg -c: ${#expect[@]} files, the binary 0755, the rest 0644, owned by root"
else
	fail "dpkg -c lists other files or modes:"$'\n'"$(diff <(echo "$want") <(echo "$files") || true)"
fi
stamps=$(awk '{ print $4, $5 }' <<<"$listing" | sort -u)
if [ "$stamps" = "$when" ]; then
	ok "every entry dated $when UTC, the commit's"
else
	fail "entries are not all dated $when UTC, the commit's: ${stamps//$'\n'/, }"
fi
for field in Section:admin Package:qmailctl; do
	[ "$(dpkg-deb -f "$deb" "${field%%:*}")" = "${field#*:}" ] || fail "control field ${field%%:*} is not ${field#*:}"
done

# Install it, and purge it whatever happens next.
trap 'dpkg --purge qmailctl >/dev/null 2>&1 || true; rm -rf build/package; rmdir build 2>/dev/null || true' EXIT
# Re-include the man pages in case dpkg's configuration excludes /usr/share/man
# (slim container images do).
dpkg -i --path-include='/usr/share/man/man8/qmailctl*' "$deb" >&2 || die "dpkg -i $deb failed"

out=$(/usr/sbin/qmailctl --version)
if [ "$out" = "qmailctl $version (commit $commit, built $(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ))" ]; then
	ok "qmailctl --version: $out"
else
	fail "qmailctl --version printed '$out'"
fi

page=$(man -w qmailctl 2>/dev/null || true)
[ "$page" = /usr/share/man/man8/qmailctl.8.gz ] || fail "man -w qmailctl is '$page'"
text=$(MANWIDTH=80 MANPAGER=cat PAGER=cat man qmailctl 2>&1 | sed 's/.\x08//g' || true)
missing=""
for want in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" FILES EXAMPLES "SEE ALSO" \
	"sudo qmailctl tcp add 10.1.1. allow --relay" "tcprules(1)" "qmailctl $version"; do
	grep -qF -- "$want" <<<"$text" || missing+=" '$want'"
done
if [ -z "$missing" ]; then ok "man qmailctl reads well"; else fail "man qmailctl lacks$missing"; fi
MANPAGER="cat" man 8 qmailctl-tcp-add >/dev/null 2>&1 || fail "man qmailctl-tcp-add does not open"

# bash-completion finds the script by the command's name, on first TAB.
if [ -f /usr/share/bash-completion/bash_completion ]; then
	spec=$(bash --norc --noprofile -c 'source /usr/share/bash-completion/bash_completion
		__load_completion qmailctl 2>/dev/null || _completion_loader qmailctl; complete -p qmailctl' 2>&1 || true)
	if grep -q '__start_qmailctl' <<<"$spec"; then ok "bash-completion loads the installed script"; else fail "bash-completion: '$spec'"; fi
fi

dpkg --purge qmailctl >&2 || fail "dpkg --purge qmailctl failed"
if [ -e /usr/sbin/qmailctl ] || [ -e /usr/share/man/man8/qmailctl.8.gz ]; then fail "files left after purge"; fi

if [ "$fails" -gt 0 ]; then
	echo "$prog: $fails check(s) failed" >&2
	exit 1
fi
echo "$prog: $deb: all checks passed" >&2
