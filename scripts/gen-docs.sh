#!/usr/bin/env bash
# gen-docs.sh regenerates qmailctl's man pages (docs/man, section 8) and shell
# completion scripts (completions/) from the command tree. Run it after adding
# or changing a command, a flag or a help text, and commit the result:
# go test -run Docs ./internal/cli/ fails while they are out of date.
#
#   scripts/gen-docs.sh
#       rewrite docs/man/*.8 (removing pages of commands that are gone) and
#       completions/{qmailctl.bash,_qmailctl,qmailctl.fish}
#   scripts/gen-docs.sh --package DIR [--version V] [--date-epoch SECONDS]
#       write DIR/man/*.8.gz and DIR/completions/* for the .deb/.rpm/tarball
#       (goreleaser's before hook), leaving docs/ and completions/ alone
#
# The committed pages carry a fixed date, so that they are reproducible. Package
# pages carry "qmailctl V" and the date of SECONDS (defaults: $QMAILCTL_VERSION
# or "devel", and $SOURCE_DATE_EPOCH or the committed date), and are compressed
# with gzip -n (no name, no time stamp): the same commit gives the same bytes.
# Exit status: 0 done, 100 usage, 111 failure.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/gen-docs.sh [--package DIR [--version V] [--date-epoch SECONDS]]" >&2; exit 100; }
pkgdir="" version=${QMAILCTL_VERSION:-devel} epoch=${SOURCE_DATE_EPOCH:-}
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--package) pkgdir=$2 ;;
	--version) version=$2 ;;
	--date-epoch) epoch=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[ -n "$pkgdir" ] || [ "$version$epoch" = "${QMAILCTL_VERSION:-devel}${SOURCE_DATE_EPOCH:-}" ] || usage

# One build; with go's build cache it takes about a second.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/qmailctl" ./cmd/qmailctl || exit 111

# A clean environment: the output must not depend on $CONTROLDIR and the like.
gen() { env -i PATH="$PATH" HOME="$tmp" "$tmp/qmailctl" __gen-docs "$@" || exit 111; }

if [ -z "$pkgdir" ]; then
	gen --man docs/man --completions completions
	exit 0
fi

args=(--source "qmailctl $version")
if [ -n "$epoch" ]; then
	args+=(--date "$(date -u -d "@$epoch" +%Y-%m-%d)") || exit 100
fi
rm -rf "$pkgdir/man" "$pkgdir/completions"
mkdir -p "$pkgdir/man"
gen --man "$tmp/man" --completions "$pkgdir/completions" "${args[@]}"
for page in "$tmp"/man/*.8; do
	gzip -n -9 -c "$page" >"$pkgdir/man/$(basename "$page").gz"
done
chmod 0644 "$pkgdir"/man/*.gz "$pkgdir"/completions/*
