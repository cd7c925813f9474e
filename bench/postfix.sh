#!/bin/bash
# A private Postfix instance for the benchmark: its own configuration,
# queue, data and mail directories under one scratch directory, listening
# only on 127.0.0.1:PORT. The system Postfix (/etc/postfix/main.cf, port 25,
# /var/spool/postfix) is never read, started or modified: every postfix
# command gets "-c DIR/conf" and the files under /etc/postfix are only read
# (master.cf as a template, postfix-files by "postfix check").
#
#   postfix.sh setup DIR PORT UID GID   write DIR/conf and the directories
#   postfix.sh start DIR                start it, wait until PORT answers
#   postfix.sh stop DIR                 stop it, verify by pid its master is gone
#   postfix.sh version DIR              print mail_version
#
# Durability is Postfix's default: cleanup(8) fsyncs the queue file before
# smtpd answers 250, virtual(8) fsyncs each Maildir file. Nothing here turns
# that off.
set -euo pipefail

POSTFIX=/usr/sbin/postfix
POSTCONF=/usr/sbin/postconf

die() {
	echo "postfix.sh: $*" >&2
	exit 1
}

setup() {
	local dir=$1 port=$2 uid=$3 gid=$4
	[ -d "$dir" ] || die "no directory $dir"
	mkdir -p "$dir/conf" "$dir/spool" "$dir/data" "$dir/mail"
	chown postfix:postfix "$dir/data"
	# virtual(8) delivers with the mailbox owner's privileges.
	chown "$uid:$gid" "$dir/mail"
	# The template master.cf with: smtpd on the private address:port instead
	# of port 25, and no chroot (a chroot would need copies of /etc files in
	# the private queue; it does not change the write path being measured).
	sed -e "s/^smtp      inet  n       -       y/127.0.0.1:$port inet n     -       n/" \
		-e 's/^\([a-z]* *unix[ -]*[-n] *[-n] *\)y/\1n/' \
		/etc/postfix/master.cf >"$dir/conf/master.cf"
	grep -q "^127.0.0.1:$port inet" "$dir/conf/master.cf" ||
		die "could not rewrite the smtp inet line of master.cf"
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

[ $# -ge 2 ] || die "usage: postfix.sh setup|start|stop|version DIR ..."
cmd=$1
shift
case $cmd in
setup) setup "$@" ;;
start) start "$@" ;;
stop) stop "$@" ;;
version) version "$@" ;;
*) die "unknown command $cmd" ;;
esac
