#!/usr/bin/env bash
# Install every Debian package Raven needs to build, run and test.
# Idempotent: a no-op (no apt call at all) when everything is present.
# Non-interactive: safe under CI with no standard input.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config bison
  libevent-dev libssl-dev openssl libunbound-dev libpsl-dev libcrypt-dev
  libsqlite3-dev libcmocka-dev libseccomp-dev libcap-dev liburing-dev publicsuffix
  clang libclang-rt-14-dev clang-format
  python3 python3-pytest python3-dnspython python3-yaml python3-dkim python3-spf
  python3-cryptography
  swaks postfix
  whois  # mkpasswd: the AUTH tests hash passwords as an administrator would
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# The unprivileged users the roles become when ravend starts as root:
# raven owns the spool (queue, local delivery), raven-net runs the
# network-facing roles.
ensure_user() {
  for u in raven raven-net; do
    id "$u" >/dev/null 2>&1 && continue
    echo "deps: creating system user $u" >&2
    $SUDO useradd --system --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$u" </dev/null
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  ensure_user
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a benchmark and test peer: never let its package start a
# system instance or ask questions.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
ensure_user
