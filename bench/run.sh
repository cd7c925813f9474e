#!/bin/bash
# `make bench`: Raven against a private Postfix instance on this machine,
# loaded by Postfix's smtp-source. Writes bench/results.md; the method is in
# bench/README.md.
#
# Knobs (environment):
#   BENCH_PLAN="1:500,20:5000,100:10000"  sessions:messages per timed run
#   BENCH_RUNS=3                          runs per (server, sessions); median
#   BENCH_RAVEN_PORT=40025 BENCH_POSTFIX_PORT=40026
#   BENCH_TMP=/tmp                        where the scratch directory goes
#   BENCH_CONNS=10000                     idle connections held (bench/conns.py)
#   BENCH_CONNS_BIG=100000                idle connections held by Raven alone (0: skip)
#   BENCH_RELAY_DRAIN=10000 BENCH_RELAY_E2E=5000   relay scenarios (bench/relay.py)
#   BENCH_SCENARIOS=throughput,contention,neighbour,latency
#   BENCH_CONTENTION_MSGS=2000            per 20-session run beside busy loops (1 session: /4)
#   BENCH_NEIGHBOUR_MB=3072               size of each pass of the neighbour's dd
#   BENCH_NEIGHBOUR_MSGS=3000 BENCH_LATENCY_MSGS=3000
#   BENCH_RAVEN_CONF="queue sync syncfs"   extra raven.conf lines (; between)
#   BENCH_CHECKS_MSGS=5000 BENCH_CHECKS_PORT=40125   sender checks (bench/checks.py)
#   RAVEND=build/src/parent/ravend
set -euo pipefail

cd "$(dirname "$0")/.."

die() {
	echo "bench: $*" >&2
	exit 1
}

# Root is needed to run Postfix (its master starts as root and drops to
# the postfix user) and so that ravend drops to its own user like in
# production.
[ "$(id -u)" -eq 0 ] || die "run as root (the Postfix instance and ravend drop privileges themselves)"
# The Postfix peer: the private copy scripts/deps.sh unpacks into
# .cache/postfix (never installed as the machine's MTA), else a system one.
if [ -n "${RAVEN_POSTFIX_ROOT:-}" ]; then pf=$RAVEN_POSTFIX_ROOT
elif [ -x .cache/postfix/usr/sbin/postfix ]; then pf=.cache/postfix
else pf=/; fi
for f in usr/sbin/postfix usr/sbin/postconf usr/sbin/smtp-source usr/lib/postfix/sbin/master; do
	[ -e "$pf/$f" ] || die "missing $pf/$f: run scripts/deps.sh bench (it unpacks Postfix into .cache/postfix; nothing is installed as an MTA)"
done
getent passwd postfix >/dev/null || die "the system user postfix is missing (scripts/deps.sh bench makes it)"

RAVEND=${RAVEND:-build/src/parent/ravend}
if [ ! -x "$RAVEND" ]; then
	ninja -C build || die "could not build $RAVEND"
fi
# The latency client (bench/smtpload.c): built here, it is not part of Raven.
mkdir -p build/bench
cc -std=c17 -O2 -Wall -Wextra -Werror -o build/bench/smtpload bench/smtpload.c ||
	die "could not build bench/smtpload"

/usr/bin/python3 bench/bench.py --ravend "$RAVEND" "$@"
# Relaying to smtp-sink: a queue of BENCH_RELAY_DRAIN (10,000) drained, and
# accept-and-relay at 20 sessions; writes bench/relay.md.
/usr/bin/python3 bench/relay.py --ravend "$RAVEND"
# Accepting over STARTTLS at 20 sessions, a handshake per connection with
# many messages each and with one; writes bench/tls.md.
/usr/bin/python3 bench/tls.py --ravend "$RAVEND"
# The sender checks: accept rate at 20 sessions with SPF + DKIM verify +
# DMARC on (cached DNS answers) against off; writes bench/checks.md.
/usr/bin/python3 bench/checks.py --ravend "$RAVEND"
# Idle connections (BENCH_CONNS, default 10,000): memory and a new client's
# latency while they are held, Raven then Postfix; writes bench/conns.md.
/usr/bin/python3 bench/conns.py --ravend "$(realpath "$RAVEND")"
# And BENCH_CONNS_BIG (100,000; 0 skips it) held by Raven alone, with as
# many smtp processes as the descriptor limit needs; writes bench/conns-100k.md.
if [ "${BENCH_CONNS_BIG:-100000}" -gt 0 ]; then
	exec /usr/bin/python3 bench/conns.py --ravend "$(realpath "$RAVEND")" --skip-postfix \
		--connections "${BENCH_CONNS_BIG:-100000}" --out bench/conns-100k.md
fi
