#!/usr/bin/env bash
# Install the Debian packages Raven needs, by purpose:
#
#   scripts/deps.sh run       build and run ravend (make build, make run)
#   scripts/deps.sh install   run + pandoc for the man pages (make install, make deb)
#   scripts/deps.sh test      install + test tools and peers (make test)
#   scripts/deps.sh bench     run + the benchmark's client and peer (make bench)
#
# Idempotent: a no-op (no apt call at all) when everything is present.
# Non-interactive: safe under CI with no standard input. As a non-root user
# it calls sudo only when a package is missing.
#
# It never installs a package that would take over the machine's mail
# transport (postfix, exim4, ...): Postfix is only a test and benchmark peer,
# so its Debian package is unpacked privately into .cache/postfix (see
# postfix_private below) and run from there with its own configuration.
set -euo pipefail

cd "$(dirname "$0")/.."
set_name=${1:-run}

run_pkgs=(
  build-essential meson ninja-build pkg-config bison git
  libevent-dev libssl-dev openssl libunbound-dev libpsl-dev libcrypt-dev
  libsqlite3-dev libpq-dev libseccomp-dev libcap-dev liburing-dev libsystemd-dev publicsuffix
)
man_pkgs=(pandoc)
test_pkgs=(
  libcmocka-dev clang libclang-rt-14-dev clang-format
  python3 python3-pytest python3-dnspython python3-yaml python3-dkim python3-spf
  python3-cryptography python3-prometheus-client swaks
  whois  # mkpasswd: the AUTH tests hash passwords as an administrator would
  # checks of what `make install` and `make deb` produce: man -l / groff
  # for the man pages, systemd-analyze for the unit, dpkg-deb and lintian
  # for the package
  man-db groff-base systemd dpkg-dev lintian
  # SQL tables: a real SQLite file (sqlite3 for inspecting it); PostgreSQL
  # below, with the peers
  sqlite3
)
# The servers the tests start privately (a Dovecot for LMTP, a PostgreSQL
# for SQL tables): installed by private_peers below so that the system's own
# services are never started or enabled by it.
peer_pkgs=(dovecot-core dovecot-lmtpd dovecot-imapd postgresql)
bench_pkgs=(python3 python3-dnspython python3-dkim python3-cryptography)  # checks.py: fake DNS, dkimpy

case $set_name in
run) packages=("${run_pkgs[@]}") ;;
install) packages=("${run_pkgs[@]}" "${man_pkgs[@]}") ;;
test) packages=("${run_pkgs[@]}" "${man_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) packages=("${run_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)
  echo "usage: scripts/deps.sh [run|install|test|bench]" >&2
  exit 2
  ;;
esac

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

apt_updated=0
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "deps: installing $*" >&2
  if [ $apt_updated -eq 0 ]; then
    $SUDO apt-get update -qq </dev/null
    apt_updated=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
apt_install "${missing[@]}"

# The unprivileged users the roles become when ravend starts as root: raven
# owns the spool (queue, local delivery, pickup), raven-net runs the
# network-facing roles; the group raven-drop may write into the maildrop
# (raven-postdrop is setgid raven-drop). Only root can start ravend that
# way, so a non-root `make run` does not need them and is not asked for a
# password to make them.
ensure_raven_users() {
  if ! getent group raven-drop >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      echo "deps: creating system group raven-drop" >&2
      groupadd --system raven-drop </dev/null
    else
      echo "deps: note: system group raven-drop is missing (local submission by other users)" >&2
    fi
  fi
  for u in raven raven-net; do
    id "$u" >/dev/null 2>&1 && continue
    if [ "$(id -u)" -ne 0 ]; then
      echo "deps: note: system user $u is missing (only needed to start ravend as root)" >&2
      continue
    fi
    echo "deps: creating system user $u" >&2
    useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$u" </dev/null
  done
}

# A private copy of Debian's Postfix for the interoperability tests and the
# benchmark: `apt-get download` + `dpkg-deb -x` into .cache/postfix, never
# `apt-get install postfix`, which would make it the machine's MTA (and
# remove exim4 or whatever else provides mail-transport-agent). Its
# maintainer scripts do not run, so this does what they would and the
# private instances need:
#   - the shared libraries Postfix links with (libdb, libicu, libsasl2, ...;
#     plain libraries, installed with apt like any other);
#   - the postfix user and the postdrop group (master(8) starts as root and
#     drops to mail_owner), made exactly as the package's postinst makes
#     them, so that a later real install adopts them;
#   - an empty dynamicmaps.cf, which the postinst would generate.
# The binaries keep RUNPATH=/usr/lib/postfix; the instances find the
# private libraries through LD_LIBRARY_PATH (searched first) and point
# daemon_directory, shlib_directory, meta_directory and command_directory
# into the copy (tests/integ/postfix_peer.py, bench/postfix.sh). A system
# Postfix, if there is one, is neither used nor touched.
PF_ROOT=.cache/postfix
postfix_private() {
  local want have tmp deb
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: note: the private Postfix peer needs root (its master starts as root); skipped" >&2
    return 0
  fi
  want=$(apt-cache policy postfix 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    apt-get update -qq </dev/null
    apt_updated=1
    want=$(apt-cache policy postfix | awk '/Candidate:/ {print $2}')
  fi
  have=$(cat "$PF_ROOT/VERSION" 2>/dev/null || true)
  if [ "$have" != "$want" ] || [ ! -x "$PF_ROOT/usr/sbin/postfix" ]; then
    echo "deps: unpacking Postfix $want privately into $PF_ROOT (not installed as an MTA)" >&2
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    chown _apt "$tmp" 2>/dev/null || true # apt downloads as _apt
    (cd "$tmp" && apt-get download -qq "postfix=$want" </dev/null)
    deb=$(ls "$tmp"/postfix_*.deb)
    rm -rf "$PF_ROOT.new"
    mkdir -p "$PF_ROOT.new"
    dpkg-deb -x "$deb" "$PF_ROOT.new"
    printf '# dict-type\tso-name (pathname)\tdict-function\tmkmap-function\n' \
      >"$PF_ROOT.new/etc/postfix/dynamicmaps.cf"
    # Its library dependencies (lib*), as the package would have pulled them.
    local libs=() dep
    for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | awk '{print $1}'); do
      case $dep in lib*) installed "$dep" || libs+=("$dep") ;; esac
    done
    apt_install "${libs[@]}"
    echo "$want" >"$PF_ROOT.new/VERSION"
    rm -rf "$PF_ROOT" "$tmp"
    mv "$PF_ROOT.new" "$PF_ROOT"
    # /tmp/raven-integ-* test roots are 0755; so must the path to the
    # binaries be for the postfix user.
    chmod 755 .cache "$PF_ROOT"
  fi
  if ! getent group postdrop >/dev/null; then
    echo "deps: creating system group postdrop (private Postfix peer)" >&2
    addgroup --quiet --system postdrop </dev/null
  fi
  if ! id postfix >/dev/null 2>&1; then
    echo "deps: creating system user postfix (private Postfix peer)" >&2
    adduser --quiet --system --group --home /var/spool/postfix --no-create-home \
      --disabled-password postfix </dev/null
  fi
}

# Servers the tests start privately: Dovecot (LMTP and IMAP, for the LMTP
# tests) and PostgreSQL (tests/integ/pg_peer.py: initdb into a temporary
# directory, loopback and a unix socket there, for the SQL tables).
# Installing them would start and enable the system's services (IMAP on
# 143/993, a cluster on 5432): the tests only run private instances with
# their own configuration and ports, so the packages go in with a
# policy-rc.d that refuses to start those services (unless the machine has
# its own policy already, as containers do), and the services are then
# disabled. A server that was already installed is left exactly as it was.
peer_services=(dovecot postgresql)
private_peers() {
  local missing=() p policy=/usr/sbin/policy-rc.d made_policy=0
  for p in "${peer_pkgs[@]}"; do
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# raven deps.sh: no system Dovecot or PostgreSQL during the install\ncase "$1" in dovecot|postgresql*) exit 101 ;; esac\nexit 0\n' |
      $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  apt_install "${missing[@]}" || { [ $made_policy -eq 0 ] || $SUDO rm -f "$policy"; return 1; }
  [ $made_policy -eq 0 ] || $SUDO rm -f "$policy"
  # Not at the next boot either (systemctl disables without a running
  # systemd too, SysV links included).
  for p in "${peer_services[@]}"; do
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now "$p.service" </dev/null >/dev/null 2>&1 || true
      [ "$p" != dovecot ] || $SUDO systemctl disable --now dovecot.socket </dev/null >/dev/null 2>&1 || true
    elif command -v systemctl >/dev/null; then
      $SUDO systemctl disable "$p.service" </dev/null >/dev/null 2>&1 || true
    else
      $SUDO update-rc.d "$p" disable </dev/null >/dev/null 2>&1 || true
    fi
  done
  echo "deps: installed ${missing[*]} (the system services are disabled; tests run private ones)" >&2
}

ensure_raven_users
case $set_name in
test | bench) postfix_private ;;
esac
case $set_name in
test) private_peers ;;
esac
