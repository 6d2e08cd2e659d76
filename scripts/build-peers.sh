#!/usr/bin/env bash
# build-peers.sh builds the real qmail-smtpd servers (notqmail's and IndiMail's) that the live
# agreement suite runs relay test against, from the unmodified source archives and build.sh kept in
# the shared peers folder ($QMAILCTL_PEER_SOURCES, default: shared/peers beside the repository, as CI
# lays it out). They land in $QMAILCTL_QMAIL_PEERS (default /opt/qmail-peers):
#   notqmail/bin/qmail-smtpd, notqmail/bin/qmail-newmrh, indimail/bin/qmail-smtpd, indimail/bin/qmail-cdb
# It is idempotent and cached: when the four binaries exist, nothing is rebuilt (remove the prefix
# to rebuild). The build needs root for its apt-get of gcc, make, autotools and the ssl/crypt headers.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
src=${QMAILCTL_PEER_SOURCES:-$repo/../shared/peers}
prefix=${QMAILCTL_QMAIL_PEERS:-/opt/qmail-peers}

have() {
	for b in notqmail/bin/qmail-smtpd notqmail/bin/qmail-newmrh indimail/bin/qmail-smtpd indimail/bin/qmail-cdb; do
		[ -x "$prefix/$b" ] || return 1
	done
}
if have; then
	echo "build-peers: cached in $prefix"
	exit 0
fi
[ -f "$src/build.sh" ] || { echo "build-peers: no $src/build.sh; set QMAILCTL_PEER_SOURCES" >&2; exit 111; }
start=$(date +%s)
bash "$src/build.sh" "$prefix"
have || { echo "build-peers: $prefix lacks a qmail-smtpd after the build" >&2; exit 111; }
echo "build-peers: built in $prefix in $(($(date +%s) - start)) s"
