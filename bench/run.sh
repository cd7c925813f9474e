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
for f in /usr/sbin/postfix /usr/sbin/postconf /usr/sbin/smtp-source /etc/postfix/master.cf; do
	[ -e "$f" ] || die "missing $f: install the Debian package postfix (only its binaries are used; the system instance is never started)"
done
getent passwd postfix >/dev/null || die "the system user postfix is missing"

RAVEND=${RAVEND:-build/src/parent/ravend}
if [ ! -x "$RAVEND" ]; then
	ninja -C build || die "could not build $RAVEND"
fi

/usr/bin/python3 bench/bench.py --ravend "$RAVEND" "$@"
# Accepting over STARTTLS at 20 sessions, a handshake per connection with
# many messages each and with one; writes bench/tls.md.
/usr/bin/python3 bench/tls.py --ravend "$RAVEND"
# Idle connections (BENCH_CONNS, default 10,000): memory and a new client's
# latency while they are held, Raven then Postfix; writes bench/conns.md.
exec /usr/bin/python3 bench/conns.py --ravend "$(realpath "$RAVEND")"
