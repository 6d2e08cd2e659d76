#!/usr/bin/env bash
# mariadb-test.sh runs a private MariaDB instance for qmailctl's tests: its own data
# directory, socket, pid file and port, listening on 127.0.0.1 only, with normal password
# authentication (never --skip-grant-tables). It never touches a system MariaDB.
#
#   eval "$(scripts/mariadb-test.sh start DIR)"   # start (or reuse) it; prints export lines
#   scripts/mariadb-test.sh env DIR               # print the export lines again
#   scripts/mariadb-test.sh stop DIR              # shut it down and wait
#
# start creates DIR/data with mariadb-install-db on first use, the database qmailctl_test
# and the user qmailctl (password kept in DIR/password), reachable over DIR/mysqld.sock and
# over TCP on 127.0.0.1:$QMAILCTL_TEST_MYSQL_PORT (default 33306; the next free port is
# taken when that one is in use). Only the export lines go to stdout; progress and errors
# go to stderr. Both subcommands are idempotent. Works as root (mariadbd --user=root) and
# as an ordinary user. Exit codes: 0 done, 100 usage, 111 failure.
set -euo pipefail

prog=mariadb-test.sh
die() { echo "$prog: $*" >&2; exit 111; }
usage() { echo "usage: $prog start|stop|env DIR" >&2; exit 100; }
log() { echo "$prog: $*" >&2; }

[ $# -eq 2 ] || usage
cmd=$1
case $cmd in
start) mkdir -p "$2" ;;
stop) [ -d "$2" ] || { log "not running in $2 (no such directory)"; exit 0; } ;;
*) [ -d "$2" ] || die "no instance was set up in $2" ;;
esac
dir=$(cd "$2" && pwd -P)

data=$dir/data
sock=$dir/mysqld.sock
pidfile=$dir/mysqld.pid
portfile=$dir/port
pwfile=$dir/password
errlog=$dir/mysqld.err
db=qmailctl_test
dbuser=qmailctl
me=$(id -un)
wait_secs=${QMAILCTL_TEST_MYSQL_WAIT:-30}

# A unix socket path is limited to 107 bytes.
[ ${#sock} -le 100 ] || die "socket path $sock is too long; use a shorter DIR"

find_bin() {
	local b
	for b in "$@"; do
		if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
		for p in /usr/sbin /usr/libexec /usr/local/sbin; do
			if [ -x "$p/$b" ]; then echo "$p/$b"; return 0; fi
		done
	done
	return 1
}

# running prints the pid of our mariadbd when it is alive.
running() {
	local pid
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must be a mariadbd/mysqld using our datadir.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$data" || return 1
	echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

admin() { "$client" --no-defaults --protocol=socket -S "$sock" -u "$me" "$@"; }

print_env() {
	local pw port
	pw=$(cat "$pwfile")
	port=$(cat "$portfile")
	printf "export QMAILCTL_TEST_MYSQL_DSN='mysql://%s:%s@unix(%s)/%s'\n" "$dbuser" "$pw" "$sock" "$db"
	printf "export QMAILCTL_TEST_MYSQL_TCP_DSN='mysql://%s:%s@tcp(127.0.0.1:%s)/%s'\n" "$dbuser" "$pw" "$port" "$db"
	printf "export QMAILCTL_TEST_MYSQL_SOCKET='%s'\n" "$sock"
	printf "export QMAILCTL_TEST_MYSQL_PORT='%s'\n" "$port"
}

start() {
	mariadbd=$(find_bin mariadbd mysqld) || die "mariadbd not found (apt-get install mariadb-server)"
	installdb=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
	client=$(find_bin mariadb mysql) || die "mariadb client not found (apt-get install mariadb-client)"

	if [ ! -s "$pwfile" ]; then
		# head reads a fixed amount, so no stage dies of SIGPIPE under pipefail.
		(umask 077; head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' | cut -c1-24 >"$pwfile")
	fi

	if pid=$(running); then
		log "already running (pid $pid) in $dir"
	else
		rm -f "$pidfile" "$sock" "$sock.lock"
		if [ ! -d "$data/mysql" ]; then
			log "initialising $data"
			rm -rf "$data"
			mkdir -p "$data"
			"$installdb" --no-defaults --user="$me" --datadir="$data" --skip-test-db \
				--auth-root-authentication-method=socket --auth-root-socket-user="$me" \
				>"$dir/install.log" 2>&1 || { tail -n 30 "$dir/install.log" >&2; die "mariadb-install-db failed"; }
		fi
		port=${QMAILCTL_TEST_MYSQL_PORT:-33306}
		for _ in $(seq 1 50); do
			port_in_use "$port" || break
			port=$((port + 1))
		done
		port_in_use "$port" && die "no free port found near ${QMAILCTL_TEST_MYSQL_PORT:-33306}"
		echo "$port" >"$portfile"
		mkdir -p "$dir/tmp"
		log "starting mariadbd on $sock and 127.0.0.1:$port"
		setsid "$mariadbd" --no-defaults --user="$me" --datadir="$data" --socket="$sock" \
			--pid-file="$pidfile" --port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
			--log-error="$errlog" --tmpdir="$dir/tmp" --innodb-buffer-pool-size=1G \
			--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
			--innodb-flush-log-at-trx-commit=2 --max-connections=200 \
			</dev/null >>"$dir/mysqld.out" 2>&1 &
		started=$!
		deadline=$((SECONDS + wait_secs))
		until admin -e 'select 1' >/dev/null 2>&1; do
			if ! kill -0 "$started" 2>/dev/null; then
				tail -n 30 "$errlog" >&2 || true
				die "mariadbd exited during start-up (log: $errlog)"
			fi
			[ $SECONDS -lt $deadline ] || { tail -n 30 "$errlog" >&2 || true; die "mariadbd did not answer within ${wait_secs}s"; }
			sleep 0.3
		done
	fi

	pw=$(cat "$pwfile")
	admin <<-SQL || die "creating database $db and user $dbuser failed"
		CREATE DATABASE IF NOT EXISTS $db;
		ALTER DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
		CREATE USER IF NOT EXISTS '$dbuser'@'localhost' IDENTIFIED BY '$pw';
		CREATE USER IF NOT EXISTS '$dbuser'@'127.0.0.1' IDENTIFIED BY '$pw';
		ALTER USER '$dbuser'@'localhost' IDENTIFIED BY '$pw';
		ALTER USER '$dbuser'@'127.0.0.1' IDENTIFIED BY '$pw';
		GRANT ALL PRIVILEGES ON $db.* TO '$dbuser'@'localhost';
		GRANT ALL PRIVILEGES ON $db.* TO '$dbuser'@'127.0.0.1';
	SQL
	# Prove the password works over both the socket and TCP before handing it out.
	"$client" --no-defaults --protocol=socket -S "$sock" -u "$dbuser" -p"$pw" "$db" -e 'select 1' >/dev/null ||
		die "user $dbuser cannot log in over $sock"
	"$client" --no-defaults --protocol=tcp -h 127.0.0.1 -P "$(cat "$portfile")" -u "$dbuser" -p"$pw" "$db" -e 'select 1' >/dev/null ||
		die "user $dbuser cannot log in over 127.0.0.1:$(cat "$portfile")"
	log "ready"
	print_env
}

stop() {
	local pid
	if ! pid=$(running); then
		log "not running in $dir"
		rm -f "$pidfile"
		return 0
	fi
	log "stopping mariadbd (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + wait_secs))
	while kill -0 "$pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			log "mariadbd (pid $pid) ignored TERM for ${wait_secs}s; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
			break
		fi
		sleep 0.2
	done
	rm -f "$pidfile" "$sock" "$sock.lock"
	log "stopped"
}

case $cmd in
start) start ;;
stop) stop ;;
env)
	if [ ! -s "$pwfile" ] || [ ! -s "$portfile" ]; then die "no instance was set up in $dir"; fi
	running >/dev/null || die "not running in $dir"
	print_env
	;;
*) usage ;;
esac
