#!/bin/sh
# meson install script: install-conf.sh SAMPLE DIR — install the sample
# configuration as DIR/raven.conf (under DESTDIR) unless a raven.conf is
# already there: an administrator's configuration is never overwritten.
set -eu
sample=$1
dir=${DESTDIR:-}$2
mkdir -p "$dir"
if [ -e "$dir/raven.conf" ]; then
	echo "Keeping the existing $dir/raven.conf (the new sample is under share/doc/raven/examples)"
else
	echo "Installing $dir/raven.conf"
	install -m 0644 "$sample" "$dir/raven.conf"
fi
