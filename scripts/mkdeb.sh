#!/usr/bin/env bash
# `make deb`: a Debian binary package of this tree, built by one command and
# without debhelper: a release build installed (meson install) into a
# staging tree, plus DEBIAN/ from dist/debian (control, maintainer scripts,
# conffiles), packed with `dpkg-deb --build --root-owner-group`. Library
# dependencies come from dpkg-shlibdeps. The package is only built, never
# installed: it provides mail-transport-agent and would replace the
# machine's MTA.
#
#   DEB_BUILD=build-deb   build directory; the .deb is written there
#   DEB_VERSION=...       package version (default: the project's)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${DEB_BUILD:-build-deb}

die() {
	echo "mkdeb: $*" >&2
	exit 1
}
for t in dpkg-deb dpkg-shlibdeps pandoc; do
	command -v "$t" >/dev/null || die "$t is missing (scripts/deps.sh install)"
done

opts=(--prefix=/usr --sysconfdir=/etc --localstatedir=/var --buildtype=release
	-Dtests=false -Dman=enabled -Dsystemd=enabled -Dsystemdunitdir=/lib/systemd/system)
# Debian's hardening flags (fortify, stack protector, relro and bindnow),
# read by meson at setup: a fresh build directory every time.
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
rm -rf "$B"
meson setup "$B" "${opts[@]}" >/dev/null
ninja -C "$B"

version=${DEB_VERSION:-$(meson introspect "$B" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')}
arch=$(dpkg --print-architecture)
# The staging tree is laid out as debhelper's (debian/<package>) so that
# dpkg-shlibdeps finds the binaries where it expects them.
stage=$(realpath -m "$B")/deb
root=$stage/debian/raven
rm -rf "$stage"
meson install -C "$B" --no-rebuild --strip --destdir "$root" >/dev/null

# Documentation Debian requires: copyright and a changelog (a native
# package's, dated by the commit it was built from).
doc=$root/usr/share/doc/raven
install -d "$doc"
install -m 0644 dist/debian/copyright "$doc/copyright"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
{
	echo "raven ($version) unstable; urgency=medium"
	echo
	echo "  * Built by make deb from commit $commit."
	echo
	echo " -- Raven developers <raven-dev@example.org>  $date"
} | gzip -9n >"$doc/changelog.gz"
gzip -9n "$root"/usr/share/man/man*/*.[0-9]
# The machine's sendmail and mailq (mail-transport-agent provides them), and
# the helper, documented in raven-sendmail(8).
ln -s raven-sendmail "$root/usr/sbin/sendmail"
install -d "$root/usr/bin" "$root/usr/share/man/man1"
ln -s ../sbin/raven-sendmail "$root/usr/bin/mailq"
for m in sendmail raven-postdrop; do
	ln -s raven-sendmail.8.gz "$root/usr/share/man/man8/$m.8.gz"
done
ln -s ../man8/raven-sendmail.8.gz "$root/usr/share/man/man1/mailq.1.gz"

# DEBIAN/: control with the shared-library dependencies of the binaries.
install -d -m 0755 "$root/DEBIAN"
printf 'Source: raven\n\nPackage: raven\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O debian/raven/usr/sbin/ravend debian/raven/usr/sbin/ravenctl \
	debian/raven/usr/sbin/raven-sendmail debian/raven/usr/sbin/raven-postdrop |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependencies"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$shlibs/" dist/debian/control.in >"$root/DEBIAN/control"
for s in postinst prerm postrm; do
	install -m 0755 "dist/debian/$s" "$root/DEBIAN/$s"
done
# Files under /etc are conffiles: an administrator's edits survive upgrades.
(cd "$root" && find etc -type f -printf '/%p\n' | sort) >"$root/DEBIAN/conffiles"
chmod 0644 "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

deb=$B/raven_${version}_${arch}.deb
dpkg-deb --build --root-owner-group -Zxz "$root" "$deb" >/dev/null
echo "mkdeb: built $deb"
