#!/usr/bin/env bash
# bench-relay.sh times `qmailctl relay test` as a whole process on a large
# configuration and on a small one, to show that its cost does not grow with
# the size of the cdb-backed files:
#
#   large: tcp.smtp with RULES rules (default 1,000,000) compiled to
#          tcp.smtp.cdb, the default rule last; relaymailfrom and
#          morercpthosts with ENTRIES entries each (default 100,000) and
#          their cdbs
#   small: the same shapes with 1,000 rules and 1,000 entries
#
# Each scenario runs RUNS times (default 50); the script prints the minimum,
# the median and the 90th percentile in milliseconds (on a busy machine the
# minimum is the steadiest figure), and the peak RSS of one more run.
#
# Then `relay table list` on a relay table of TABLE_ROWS rows (default
# 1,000,000; half expired, 4 users per IP) in SQLite and, when
# QMAILCTL_TEST_MYSQL_DSN names a unix-socket MariaDB (scripts/mariadb-test.sh),
# in MariaDB: wall time and peak RSS of plain, --json and terminal output.
# Usage:
#   scripts/bench-relay.sh [RUNS]
#   PARTS=table scripts/bench-relay.sh     # only the relay table (PARTS="test table")
#   QMAILCTL_BIN=/path/to/qmailctl ...     # measure that binary, e.g. an older build
# Needs awk, cdbmake (freecdb), GNU time, sqlite3, script (util-linux) and, for
# MariaDB, the mariadb client; scripts/install-test-deps.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-50}
rules=${RULES:-1000000}
entries=${ENTRIES:-100000}
table_rows=${TABLE_ROWS:-1000000}
parts=${PARTS:-test table}
work=$(mktemp -d /tmp/qmailctl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ -n "${QMAILCTL_BIN:-}" ]; then
	q=$QMAILCTL_BIN
else
	go build -o "$work/qmailctl" ./cmd/qmailctl
	q="$work/qmailctl"
fi

# peakrss ARGS... runs qmailctl once under GNU time and prints its wall time
# and peak resident set size.
peakrss() {
	/usr/bin/time -f '%e %M' -o "$work/time" "$q" "$@" >/dev/null 2>&1 || true
	tail -n 1 "$work/time" | awk '{ printf "%6.2f s  peak RSS %7.1f MiB", $1, $2 / 1024 }'
}

# gen DIR NRULES NENTRIES writes and compiles one configuration.
gen() {
	local dir=$1 n=$2 m=$3
	mkdir -p "$dir/tcp" "$dir/control"
	awk -v n="$n" 'BEGIN {
		print "127.:allow,RELAYCLIENT=\"\""
		print "10.1.1.:allow,RELAYCLIENT=\"\""
		for (i = 0; i < n - 3; i++)
			printf "%d.%d.%d.%d:allow,RELAYCLIENT=\"\"\n", 11 + int(i / 16777216), int(i / 65536) % 256, int(i / 256) % 256, i % 256
		print ":allow"
	}' >"$dir/tcp/tcp.smtp"
	"$q" cdb "$dir/tcp/tcp.smtp" >/dev/null
	printf 'example.com\n.example.com\n' >"$dir/control/rcpthosts"
	awk -v m="$m" 'BEGIN { for (i = 0; i < m; i++) printf "user%d@sender%d.example.net\n", i, i % 997 }' >"$dir/control/relaymailfrom"
	awk -v m="$m" 'BEGIN { for (i = 0; i < m; i++) printf "domain%d.example.org\n", i }' >"$dir/control/morercpthosts"
	for f in relaymailfrom morercpthosts; do
		awk '{ printf "+%d,0:%s->\n", length($0), $0 } END { print "" }' "$dir/control/$f" |
			cdbmake "$dir/control/$f.cdb" "$dir/control/$f.tmp"
	done
	# make the cdbs newer than their sources, as after a real build
	touch "$dir/tcp/tcp.smtp.cdb" "$dir/control/"*.cdb
}

# timeit LABEL ARGS... runs qmailctl relay test $runs times and prints the
# median and p90 wall time of the whole process.
timeit() {
	local label=$1
	shift
	local times=()
	for _ in $(seq 3); do "$q" "$@" >/dev/null 2>&1 || true; done # warm the page cache
	for _ in $(seq "$runs"); do
		local t0 t1
		t0=$(date +%s%N)
		"$q" "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" '
		{ t[NR] = $1 }
		END {
			med = t[int((NR + 1) / 2)]; p90 = t[int(NR * 0.9 + 0.5)]
			printf "  %-50s min %6.2f  median %6.2f  p90 %6.2f ms", label, t[1] / 1000, med / 1000, p90 / 1000
		}'
	/usr/bin/time -f '%M' -o "$work/time" "$q" "$@" >/dev/null 2>&1 || true
	# the last line: GNU time puts "Command exited with non-zero status" first
	tail -n 1 "$work/time" | awk '{ printf "  peak RSS %5.1f MiB\n", $1 / 1024 }'
}

nrules() { if [ "$1" = large ]; then echo "$rules"; else echo 1000; fi; }

# lastip N is the client IP of the last generated IP rule of an N-rule file.
lastip() {
	local i=$(($1 - 4))
	echo "$((11 + i / 16777216)).$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
}

relay_test_bench() {
echo "generating: $rules rules, $entries relaymailfrom and morercpthosts entries ..."
gen "$work/large" "$rules" "$entries"
gen "$work/small" 1000 1000
ls -l "$work/large/tcp" "$work/large/control" | awk 'NF > 5 { printf "  %10d  %s\n", $5, $NF }'

for size in small large; do
	d="$work/$size"
	g=(--tcp-dir "$d/tcp" --control-dir "$d/control" relay test)
	echo "$size configuration ($runs runs each):"
	timeit "early rule (10.1.1.5), relaying" "${g[@]}" 10.1.1.5 a@example.com b@gmail.com
	timeit "last IP rule (line $(nrules $size)), relaying" "${g[@]}" "$(lastip "$(nrules $size)")" a@example.com b@gmail.com
	timeit "default rule (last line), relaymailfrom miss, 553" "${g[@]}" 203.0.113.9 nobody@nowhere.example b@gmail.com
	timeit "default rule, relaymailfrom.cdb hit" "${g[@]}" 203.0.113.9 user77@sender77.example.net b@gmail.com
	timeit "default rule, morercpthosts.cdb hit" "${g[@]}" 203.0.113.9 nobody@nowhere.example x@domain4242.example.org
	timeit "default rule, --json" "${g[@]}" 203.0.113.9 nobody@nowhere.example b@gmail.com --json
done
timeit "qmailctl --version (process start-up floor)" --version
}


# list_bench LABEL runs relay table list with plain, --json and terminal output.
list_bench() {
	echo "  $1:"
	printf '    %-28s %s\n' "list (plain lines)" "$(peakrss relay table list)"
	printf '    %-28s %s\n' "list --json" "$(peakrss relay table list --json)"
	# a terminal: script(1) gives qmailctl a pty; GNU time reports the
	# largest RSS of script and its child, which is qmailctl's
	/usr/bin/time -f '%e %M' -o "$work/time" script -qec "$q relay table list" /dev/null >/dev/null 2>&1 || true
	printf '    %-28s %s\n' "list (terminal table)" "$(tail -n 1 "$work/time" | awk '{ printf "%6.2f s  peak RSS %7.1f MiB", $1, $2 / 1024 }')"
}

relay_table_bench() {
	# The rows of internal/relaytable's benchmarks: row i is
	# user<i>@d<i%1000>.example, 4 rows per IP, even rows expired, odd rows live.
	echo "relay table list, $table_rows rows:"
	local db="$work/relay.sqlite"
	QMAILCTL_RELAY_DB=$db "$q" relay table add seed@example.com 192.0.2.1 >/dev/null
	sqlite3 "$db" "DELETE FROM relay;
		WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < $table_rows - 1)
		INSERT INTO relay (email, ipaddr, timestamp)
		SELECT 'user' || i || '@d' || (i % 1000) || '.example',
			'10.' || ((i / 4) >> 16 & 255) || '.' || ((i / 4) >> 8 & 255) || '.' || ((i / 4) & 255),
			CASE WHEN i % 2 = 0 THEN unixepoch() - 7200 - i % 3600 ELSE unixepoch() - i % 3000 END
		FROM s;"
	ls -l "$db" | awk '{ printf "  SQLite file: %d bytes\n", $5 }'
	QMAILCTL_RELAY_DB=$db list_bench SQLite

	local dsn=${QMAILCTL_TEST_MYSQL_DSN:-}
	if [ -z "$dsn" ]; then
		echo "  MariaDB: skipped (no QMAILCTL_TEST_MYSQL_DSN; see scripts/mariadb-test.sh)"
		return
	fi
	# mysql://USER:PASS@unix(SOCKET)/DB
	local rest=${dsn#mysql://} user pass sock dbname
	user=${rest%%:*}
	rest=${rest#*:}
	pass=${rest%@unix(*}
	sock=${rest#*@unix(}
	sock=${sock%%)*}
	dbname=${rest##*)/}
	dbname=${dbname%%\?*}
	local tbl=bench_list_$$
	RELAY_TABLE=$tbl QMAILCTL_RELAY_DB=$dsn "$q" relay table add seed@example.com 192.0.2.1 >/dev/null
	MYSQL_PWD=$pass mariadb --socket="$sock" -u "$user" "$dbname" -e "DELETE FROM $tbl;
		INSERT INTO $tbl (email, ipaddr, timestamp)
		SELECT CONCAT('user', i, '@d', i % 1000, '.example'),
			CONCAT('10.', (i DIV 4) >> 16 & 255, '.', (i DIV 4) >> 8 & 255, '.', (i DIV 4) & 255),
			IF(i % 2 = 0, UNIX_TIMESTAMP() - 7200 - i % 3600, UNIX_TIMESTAMP() - i % 3000)
		FROM (SELECT seq AS i FROM seq_0_to_$((table_rows - 1))) s"
	RELAY_TABLE=$tbl QMAILCTL_RELAY_DB=$dsn list_bench MariaDB
	MYSQL_PWD=$pass mariadb --socket="$sock" -u "$user" "$dbname" -e "DROP TABLE $tbl"
}

for part in $parts; do
	case $part in
	test) relay_test_bench ;;
	table) relay_table_bench ;;
	*) echo "bench-relay.sh: unknown part $part in PARTS" >&2; exit 100 ;;
	esac
done
