#!/usr/bin/env bash
# bench.sh times qmailctl against the real tools on a large generated
# tcp.smtp, in the same run, and prints the figures docs/benchmarks.md
# records: compiling a 1,000,000-line file (wall time and peak memory,
# qmailctl cdb vs Debian's tcprules) and one lookup in the result (qmailctl
# tcp explain vs tcprulescheck, as whole processes), then the peak memory of
# every tcp command on the same file (list as a pipe, as JSON and as a
# terminal table through script(1), check, explain, add, remove), and, given
# BASELINE, the same for qmailctl built from that git revision, in the same
# run.
#
#   scripts/bench.sh [LINES] [RUNS] [BASELINE]   defaults: 1000000 lines, 5 runs
#   BENCH_ONLY=memory scripts/bench.sh ...        only the peak-memory part
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}
runs=${2:-5}
baseline=${3:-}
only=${BENCH_ONLY:-}
for tool in tcprules tcprulescheck /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool missing; run scripts/install-test-deps.sh" >&2; exit 111; }
done

work=$(mktemp -d /tmp/qmailctl-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/qmailctl" ./cmd/qmailctl
q=$work/qmailctl
if [[ -n $baseline ]]; then
	mkdir "$work/base"
	git archive "$baseline" | tar -x -C "$work/base"
	(cd "$work/base" && go build -o "$work/qmailctl-base" ./cmd/qmailctl)
fi

# The mix: exact and prefix rules with RELAYCLIENT, ranges, host and suffix
# rules, comments, and a default with a variable.
awk -v n="$lines" 'BEGIN {
	srand(1)
	for (i = 0; i < n; i++) {
		a = int(rand()*256); c = int(rand()*256); d = int(rand()*250)
		m = i % 10
		if (m < 4)       printf "10.%d.%d.%d:allow,RELAYCLIENT=\"\"\n", a, c, d
		else if (m < 6)  printf "172.%d.%d.:allow,RELAYCLIENT=\"\",RBLSMTPD=\"\"\n", a, c
		else if (m == 6) printf "192.168.%d.%d-%d:deny\n", a, d, d+3
		else if (m == 7) printf "=mx%d.example%d.com:allow,QMAILQUEUE=\"/var/qmail/bin/qmail-scanner\"\n", a, c
		else if (m == 8) printf "=.host%d.example.net:deny\n", a*256+c
		else             printf "# comment %d\n", i
	}
	print ":allow,GREETDELAY=\"5\""
}' > "$work/tcp.smtp"
echo "input: $lines lines, $(du -h "$work/tcp.smtp" | cut -f1), $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, load $(cut -d' ' -f1 /proc/loadavg)"

# measure LABEL CMD...: wall seconds and max RSS (KiB) of one run.
measure() {
	local label=$1; shift
	/usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" </dev/null || { cat "$work/err" >&2; exit 1; }
	echo "$label $(cat "$work/t")" >> "$work/results"
}
if [[ $only == memory ]]; then
	"$q" cdb "$work/tcp.smtp" >/dev/null
else # the compiler and one lookup, against the real tools
: > "$work/results"
for ((r = 0; r < runs; r++)); do   # interleaved, so load changes hit both alike
	measure tcprules sh -c "tcprules '$work/a.cdb' '$work/a.tmp' < '$work/tcp.smtp'"
	measure qmailctl "$q" cdb "$work/tcp.smtp"
done
cmp "$work/a.cdb" "$work/tcp.smtp.cdb" && echo "outputs: byte-identical ($(stat -c %s "$work/a.cdb") bytes)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for tool in tcprules qmailctl; do
	wall=$(awk -v t=$tool '$1==t {print $2}' "$work/results" | median)
	rss=$(awk -v t=$tool '$1==t {print $3}' "$work/results" | sort -n | tail -1)
	printf 'compile  %-9s median wall %6.3f s   peak RSS %6.1f MiB\n' "$tool" "$wall" "$(echo "$rss/1024" | bc -l)"
done

# One lookup as a whole process, many times: ns per run from date.
lookup_runs=$((runs * 20))
time_loop() {
	local start end
	start=$(date +%s%N)
	for ((i = 0; i < lookup_runs; i++)); do "$@" >/dev/null; done
	end=$(date +%s%N)
	echo $(( (end - start) / lookup_runs / 1000 ))
}
ip=$(awk -F: '/^10\./ {print $1; exit}' "$work/tcp.smtp")
check_us=$(TCPREMOTEIP=$ip time_loop tcprulescheck "$work/a.cdb")
explain_us=$(time_loop "$q" --tcp-dir "$work" tcp explain "$ip")
explain_default_us=$(time_loop "$q" --tcp-dir "$work" tcp explain 203.0.113.1)
start_us=$(time_loop "$q" --version)
true_us=$(time_loop /bin/true)
printf 'lookup   tcprulescheck          %6d us per process\n' "$check_us"
printf 'lookup   qmailctl tcp explain   %6d us per process (rule near the top, with its source line)\n' "$explain_us"
printf 'lookup   qmailctl tcp explain   %6d us per process (the default rule, last line of the file)\n' "$explain_default_us"
printf 'floor    qmailctl --version     %6d us per process (Go start-up and package init)\n' "$start_us"
printf 'floor    /bin/true              %6d us per process (fork and exec from this loop)\n' "$true_us"
fi

# Peak memory of every tcp command, one run each (the figure varies little).
# A command that fails is reported, not fatal: an old binary may lack one.
# The terminal table needs a terminal: script(1) gives the command one.
mkdir "$work/edit"
peak() { # CMD...: prints "MiB wall" of one run; exit 1 (tcp check's "found warnings") is fine
	local rc=0
	/usr/bin/time -f "%M %e" -o "$work/t" "$@" >/dev/null 2>"$work/err" </dev/null || rc=$?
	if ((rc <= 1)); then
		awk 'END {printf "%7.1f MiB %7.2f s", $1/1024, $2}' "$work/t"
	else
		printf 'failed (%d): %s' "$rc" "$(grep -v '^Command exited' "$work/err" | tail -c 80 | tr '\n' ' ')"
	fi
}
ip=$(awk -F: '/^10\./ {print $1; exit}' "$work/tcp.smtp")
mem_cmds=(
	"tcp list (pipe)|tcp list"
	"tcp list --json|tcp list --json"
	"tcp list (terminal)|TABLE tcp list"
	"tcp check|tcp check"
	"tcp check --json|tcp check --json"
	"tcp explain (top)|tcp explain $ip"
	"tcp explain (default)|tcp explain 203.0.113.1"
	"tcp add (at the end)|EDIT tcp add 198.51.100.7 allow"
	"tcp add --replace|EDIT tcp add 198.51.100.7 deny --replace"
	"tcp remove|EDIT tcp remove 198.51.100.7"
	"cdb (the compiler)|cdb $work/tcp.smtp"
)
bins=("$q")
[[ -n $baseline ]] && bins=("$work/qmailctl-base" "$q")
for bin in "${bins[@]}"; do
	cp "$work/tcp.smtp" "$work/edit/tcp.smtp"
	"$q" --tcp-dir "$work/edit" cdb >/dev/null
	name=after
	[[ $bin == "$work/qmailctl-base" ]] && name="before ($baseline)"
	echo "peak RSS, $name, load $(cut -d' ' -f1 /proc/loadavg):"
	for c in "${mem_cmds[@]}"; do
		label=${c%%|*} args=${c#*|}
		dir=$work
		case $args in
		TABLE*) args=${args#TABLE }
			printf '  %-24s %s\n' "$label" "$(peak script -qec "COLUMNS=120 $bin --tcp-dir $dir $args" /dev/null)" ;;
		EDIT*) args=${args#EDIT }
			# shellcheck disable=SC2086
			printf '  %-24s %s\n' "$label" "$(peak "$bin" --tcp-dir "$work/edit" $args)" ;;
		*)
			# shellcheck disable=SC2086
			printf '  %-24s %s\n' "$label" "$(peak "$bin" --tcp-dir "$dir" $args)" ;;
		esac
	done
done
cmp -s "$work/tcp.smtp" "$work/edit/tcp.smtp" && echo "edits: add, replace and remove left tcp.smtp byte-identical to the original"
