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
# minimum is the steadiest figure). Usage:
#   scripts/bench-relay.sh [RUNS]
# Needs awk and cdbmake (freecdb), which scripts/install-test-deps.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-50}
rules=${RULES:-1000000}
entries=${ENTRIES:-100000}
work=$(mktemp -d /tmp/qmailctl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

go build -o "$work/qmailctl" ./cmd/qmailctl
q="$work/qmailctl"

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
			printf "  %-50s min %6.2f  median %6.2f  p90 %6.2f ms\n", label, t[1] / 1000, med / 1000, p90 / 1000
		}'
}

nrules() { if [ "$1" = large ]; then echo "$rules"; else echo 1000; fi; }

# lastip N is the client IP of the last generated IP rule of an N-rule file.
lastip() {
	local i=$(($1 - 4))
	echo "$((11 + i / 16777216)).$((i / 65536 % 256)).$((i / 256 % 256)).$((i % 256))"
}

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
