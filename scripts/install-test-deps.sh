#!/usr/bin/env bash
# install-test-deps.sh installs the real peers the test suite compares qmailctl with:
# Debian's ucspi-tcp (tcprules, tcprulescheck, tcpserver), ucspi-tcp-ipv6 unpacked into a
# private folder (the two packages conflict), freecdb (cdbmake), tinycdb (cdb), MariaDB,
# bash-completion, man-db, and GNU time and sqlite3 for scripts/bench-relay.sh. It is
# idempotent and needs root (CI runs as root).
#
# The unpacked IPv6 tools land in $QMAILCTL_PEERS (default /opt/qmailctl-peers).
set -euo pipefail

peers=${QMAILCTL_PEERS:-/opt/qmailctl-peers}
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

need=()
for pkg in ucspi-tcp freecdb tinycdb mariadb-server mariadb-client bash-completion man-db time sqlite3; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# mariadb-server's postinst may start a system instance; the tests run their own private one.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now mariadb >/dev/null 2>&1 || true; fi

if [ ! -x "$peers/ipv6/usr/bin/tcprules" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# The package lists may be missing or old when every package above was
	# already installed: update them once if the download fails.
	(cd "$tmp" && apt-get download -qq ucspi-tcp-ipv6 >/dev/null 2>&1) \
		|| { $sudo apt-get update -qq && (cd "$tmp" && apt-get download -qq ucspi-tcp-ipv6 >/dev/null); }
	$sudo mkdir -p "$peers/ipv6"
	$sudo dpkg-deb -x "$tmp"/ucspi-tcp-ipv6_*.deb "$peers/ipv6"
fi

for tool in /usr/bin/tcprules /usr/bin/tcprulescheck /usr/bin/tcpserver /usr/bin/cdbmake /usr/bin/cdb \
	"$peers/ipv6/usr/bin/tcprules" "$peers/ipv6/usr/bin/tcprulescheck" "$peers/ipv6/usr/bin/tcpserver"; do
	[ -x "$tool" ] || { echo "install-test-deps: $tool is missing after install" >&2; exit 111; }
done
bash "$(dirname "$0")/build-peers.sh" # real qmail-smtpd servers for the live relay suite
command -v mariadbd >/dev/null || command -v mysqld >/dev/null || { echo "install-test-deps: no mariadbd" >&2; exit 111; }
echo "install-test-deps: ready (IPv6 ucspi-tcp in $peers/ipv6/usr/bin)"
