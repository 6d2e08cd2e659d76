#!/usr/bin/env bash
# test.sh runs qmailctl's whole test suite, the one CI runs: formatting and
# vet, then every Go test (unit, golden, testscript end-to-end, and the
# compatibility tests against the real tcprules, tcprulescheck, tcpserver,
# cdbmake, tinycdb and a private MariaDB instance). It installs the peers
# first when they are missing (scripts/install-test-deps.sh, needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tcprules >/dev/null || ! command -v cdbmake >/dev/null || ! command -v mariadbd >/dev/null \
	|| [ ! -x "${QMAILCTL_PEERS:-/opt/qmailctl-peers}/ipv6/usr/bin/tcprules" ]; then
	bash scripts/install-test-deps.sh
fi

unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt'ed:" $unformatted >&2
	exit 1
fi
go vet ./...

db=$(mktemp -d /tmp/qmailctl-db.XXXXXX)
cleanup() { bash scripts/mariadb-test.sh stop "$db" >/dev/null 2>&1 || true; rm -rf "$db"; }
trap cleanup EXIT
eval "$(bash scripts/mariadb-test.sh start "$db")"

go test -count=1 -timeout 30m "$@" ./...
