#!/usr/bin/env bash
# poisoned-host.sh CMD [ARG...] runs CMD with a poisonous host configuration
# planted where qmailctl looks by default, to prove that the tests never read
# the machine's own configuration: tcp.smtp and its cdb that let every client
# relay in /etc/indimail/tcp and /etc, control files that accept every
# recipient and relay client in /etc/indimail/control and /var/qmail/control,
# and /var/lib/qmailctl/relay.sqlite with a live row. A test that falls back on
# a default sees an open relay and fails.
#
# When it can (root, unshare(1), overlayfs), it plants them in a private mount
# namespace where /etc and /var are overlays: CMD sees them, the machine and
# its other processes never do, and nothing is left behind even if it is
# killed. Otherwise, as root, it plants them on the machine itself, only where
# nothing exists yet, and removes them when CMD ends. scripts/test.sh runs the
# tests through it under CI. Exit status: CMD's.
set -euo pipefail
cd "$(dirname "$0")/.."
prog=poisoned-host.sh
[ $# -gt 0 ] || { echo "usage: $prog CMD [ARG...]" >&2; exit 100; }
[ "$(id -u)" = 0 ] || { echo "$prog: needs root" >&2; exit 111; }

if [ -n "${POISONED_HOST_INSIDE:-}" ]; then
	work=$POISONED_HOST_WORK # the outer run removes it
else
	work=$(mktemp -d /tmp/qmailctl-poison.XXXXXX)
fi
bin=$work/qmailctl
[ -x "$bin" ] || go build -o "$bin" ./cmd/qmailctl

if [ -z "${POISONED_HOST_INSIDE:-}" ] && command -v unshare >/dev/null &&
	unshare -m --propagation private true 2>/dev/null; then
	mkdir -p "$work"/{etc,var}/{upper,work}
	set +e
	POISONED_HOST_INSIDE=1 POISONED_HOST_WORK=$work unshare -m --propagation private bash -c '
		set -e
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$POISONED_HOST_WORK/etc/upper,workdir=$POISONED_HOST_WORK/etc/work" /etc
		mount -t overlay overlay -o "lowerdir=/var,upperdir=$POISONED_HOST_WORK/var/upper,workdir=$POISONED_HOST_WORK/var/work" /var
		exec bash "$0" "$@"' "$0" "$@"
	rc=$?
	rm -rf "$work"
	exit $rc
fi

planted=()
cleanup() {
	local p
	for p in "${planted[@]}"; do rm -rf "$p"; done
	[ -n "${POISONED_HOST_INSIDE:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
# plant PATH: true when PATH did not exist; the topmost missing directory is
# remembered for removal (in a private namespace nothing needs removing).
plant() {
	local top=$1
	[ ! -e "$1" ] || return 1
	while [ ! -e "$(dirname "$top")" ]; do top=$(dirname "$top"); done
	[ -n "${POISONED_HOST_INSIDE:-}" ] || planted+=("$top")
	return 0
}
rules='0.:allow,RELAYCLIENT=""
:allow,RELAYCLIENT="",RBLSMTPD=""'
for f in /etc/indimail/tcp/tcp.smtp /etc/tcp.smtp; do
	plant "$f" && plant "$f.cdb" || continue
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$rules" >"$f"
	"$bin" cdb "$f" >/dev/null
done
for d in /var/qmail/control /etc/indimail/control; do
	plant "$d" || continue
	mkdir -p "$d"
	printf '*\n' >"$d/rcpthosts"
	printf '0.\n' >"$d/relayclients"
	printf '*\n' >"$d/relaymailfrom"
done
if plant /var/lib/qmailctl; then
	mkdir -p /var/lib/qmailctl
	"$bin" --relay-db /var/lib/qmailctl/relay.sqlite relay table add poison@example.com 203.0.113.9 >/dev/null
fi
where="on this machine, removed afterwards"
[ -z "${POISONED_HOST_INSIDE:-}" ] || where="in a private mount namespace"
echo "$prog: planted an open relay at qmailctl's default locations ($where)" >&2
"$@"
