#!/bin/bash
# A private Postfix instance for the benchmark: its own configuration,
# queue, data and mail directories under one scratch directory, listening
# only on 127.0.0.1:PORT. The system Postfix, if any (/etc/postfix/main.cf,
# port 25, /var/spool/postfix), is never read, started or modified: every
# postfix command gets "-c DIR/conf".
#
# The Postfix used is the private copy scripts/deps.sh unpacks into
# .cache/postfix (it is never installed as the machine's MTA), else a
# system-wide one; RAVEN_POSTFIX_ROOT overrides (tests/integ/postfix_dist.py
# does the same in Python). A private copy is pointed at itself through
# main.cf (daemon, shlib, meta and command directories) and finds its
# libraries through LD_LIBRARY_PATH, which import_environment passes on to
# its daemons.
#
#   postfix.sh setup DIR PORT UID GID   write DIR/conf and the directories
#   postfix.sh start DIR                start it, wait until PORT answers
#   postfix.sh stop DIR                 stop it, verify by pid its master is gone
#   postfix.sh version DIR              print mail_version
#   postfix.sh run PROGRAM ARGS...      run one of its programs (smtp-source)
#
# Durability is Postfix's default: cleanup(8) fsyncs the queue file before
# smtpd answers 250, virtual(8) fsyncs each Maildir file. Nothing here turns
# that off.
set -euo pipefail

die() {
	echo "postfix.sh: $*" >&2
	exit 1
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${RAVEN_POSTFIX_ROOT:-}" ]; then
	PF_ROOT=$RAVEN_POSTFIX_ROOT
elif [ -x "$REPO/.cache/postfix/usr/sbin/postfix" ]; then
	PF_ROOT=$REPO/.cache/postfix
elif [ -x /usr/sbin/postfix ]; then
	PF_ROOT=/
else
	die "no Postfix: run scripts/deps.sh bench (it unpacks one into .cache/postfix)"
fi
PF_ROOT=${PF_ROOT%/}
POSTFIX=$PF_ROOT/usr/sbin/postfix
POSTCONF=$PF_ROOT/usr/sbin/postconf
if [ -n "$PF_ROOT" ]; then
	export LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

# main.cf lines that make a private copy find itself (none for the system one).
private_main_cf() {
	[ -n "$PF_ROOT" ] || return 0
	cat <<EOF
command_directory = $PF_ROOT/usr/sbin
daemon_directory = $PF_ROOT/usr/lib/postfix/sbin
shlib_directory = $PF_ROOT/usr/lib/postfix
meta_directory = $PF_ROOT/etc/postfix
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix
EOF
}

setup() {
	local dir=$1 port=$2 uid=$3 gid=$4
	[ -d "$dir" ] || die "no directory $dir"
	mkdir -p "$dir/conf" "$dir/spool" "$dir/data" "$dir/mail"
	chown postfix:postfix "$dir/data"
	# virtual(8) delivers with the mailbox owner's privileges.
	chown "$uid:$gid" "$dir/mail"
	# The services the instance needs, smtpd on the private address:port,
	# none chrooted (a chroot would need copies of /etc files in the private
	# queue; it does not change the write path being measured). Written here
	# rather than edited from /etc/postfix/master.cf, which a private copy
	# does not have (Debian's postinst generates it).
	cat >"$dir/conf/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
local      unix  - n n - - local
virtual    unix  - n n - - virtual
lmtp       unix  - - n - - lmtp
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
	cat >"$dir/conf/main.cf" <<EOF
# Private benchmark instance; see bench/README.md.
compatibility_level = 3.6
config_directory = $dir/conf
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file_prefixes = $dir
maillog_file = $dir/maillog
alias_maps =
alias_database =
biff = no
# Every recipient of bench.test goes to one Maildir (the trailing / selects
# Maildir format), like Raven's %{user} mailbox for user@bench.test.
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = static:user/
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
# Enough smtpd processes for 100 concurrent sessions, and no per-client
# limits (all load comes from 127.0.0.1).
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
EOF
	private_main_cf >>"$dir/conf/main.cf"
	"$POSTFIX" -c "$dir/conf" check || die "postfix check failed (see $dir/maillog)"
}

master_pid() {
	local f=$1/spool/pid/master.pid
	[ -r "$f" ] && tr -d ' \n' <"$f"
}

start() {
	local dir=$1 port
	port=$(awk '$2 == "inet" && $1 ~ /^127\.0\.0\.1:/ { sub(/.*:/, "", $1); print $1 }' "$dir/conf/master.cf")
	"$POSTFIX" -c "$dir/conf" start || die "postfix start failed (see $dir/maillog)"
	for _ in $(seq 1 100); do
		if /usr/bin/python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),1); sys.exit(0 if s.recv(64).startswith(b'220') else 1)" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	die "postfix did not answer on 127.0.0.1:$port"
}

stop() {
	local dir=$1 pid
	pid=$(master_pid "$dir" || true)
	"$POSTFIX" -c "$dir/conf" stop >/dev/null 2>&1 || true
	[ -n "$pid" ] || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	# Only our own master, by its pid.
	kill -TERM "$pid" 2>/dev/null || true
	sleep 1
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	return 0
}

version() {
	"$POSTCONF" -c "$1/conf" -h mail_version
}

run() {
	local prog=$1
	shift
	exec "$PF_ROOT/usr/sbin/$prog" "$@"
}

[ $# -ge 2 ] || die "usage: postfix.sh setup|start|stop|version DIR ... | run PROGRAM ARGS..."
cmd=$1
shift
case $cmd in
setup) setup "$@" ;;
start) start "$@" ;;
stop) stop "$@" ;;
version) version "$@" ;;
run) run "$@" ;;
*) die "unknown command $cmd" ;;
esac
