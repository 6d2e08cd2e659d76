#!/usr/bin/env bash
# test.sh runs qmailctl's whole test suite, the one CI runs: formatting and
# vet, then every Go test (unit, golden, testscript end-to-end, and the
# compatibility tests against the real tcprules, tcprulescheck, tcpserver,
# cdbmake, tinycdb and a private MariaDB instance), then the packages with
# concurrency again under the race detector. It installs the peers first when
# they are missing (scripts/install-test-deps.sh, needs root). Arguments go to
# the main go test run (e.g. -run TestScript).
#
# Under CI (CI=true) as root the tests run with an open relay planted where
# qmailctl looks by default (/var/lib/qmailctl/relay.sqlite, /var/qmail/control,
# /etc/indimail/{tcp,control}, /etc/tcp.smtp), in a private mount namespace when
# the machine allows it (scripts/poisoned-host.sh): a test that reads the
# machine's own configuration fails.
#
# The .deb package check is not here: .ci/run runs scripts/test-deb.sh after
# this, under its own time limit.
set -euo pipefail
cd "$(dirname "$0")/.."

step_start=$SECONDS
step() { echo "test.sh: $1 took $((SECONDS - step_start))s" >&2; step_start=$SECONDS; }

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
step "gofmt and go vet"

db=$(mktemp -d /tmp/qmailctl-db.XXXXXX)
cleanup() { bash scripts/mariadb-test.sh stop "$db" >/dev/null 2>&1 || true; rm -rf "$db"; }
trap cleanup EXIT
eval "$(bash scripts/mariadb-test.sh start "$db")"
step "starting MariaDB"

# Under CI, as root, the tests run with an open relay planted at qmailctl's
# default locations (scripts/poisoned-host.sh): a test that reads the
# machine's configuration fails.
poison=()
if [ "${CI:-}" = true ]; then
	# The whole live agreement suite: 1,000 SMTP sessions for each real
	# qmail-smtpd (a fast subset runs otherwise).
	export QMAILCTL_LIVE_SESSIONS=${QMAILCTL_LIVE_SESSIONS:-1000}
fi
if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ]; then
	poison=(bash scripts/poisoned-host.sh)
fi

"${poison[@]}" go test -count=1 -timeout 20m "$@" ./...
step "go test ./..."

# The race detector, on the tests where goroutines share memory: the locks
# and atomic writes (internal/safefile), the concurrent relay-table writers
# and editors (TestConcurrent*; their worker processes are race-instrumented
# too), the progress line. Only those: the race build of the SQLite driver
# takes minutes on a cold cache, and the sequential tests gain nothing.
go test -race -count=1 -timeout 10m ./internal/safefile
go test -race -count=1 -timeout 15m -run '^(TestConcurrent|TestProgress)' ./internal/relaytable ./internal/cli
step "go test -race"
