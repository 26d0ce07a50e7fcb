#!/bin/sh
# tools/runner-root.sh WPO DIR — the fleet runner's root (`make runner-root`;
# stacks/fleet.lua makes it one layer over debian:12-slim): WPO at
# DIR/usr/local/bin/wpo (the standard library is built into it) and the
# Debian packages of every library it loads, unpacked with dpkg-deb -x from
# `apt-get download` (libc6 is the base image's), plus ca-certificates with
# the bundle update-ca-certificates would have made. Laid out as the base
# is, /usr merged (a /lib directory in a layer would replace the base's
# /lib -> usr/lib link); documentation left out. Needs a Debian host of the
# base's release (the binary links against its libraries).
set -eu
wpo=$1
mkdir -p "$(dirname "$2")"
root=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
debs=$root.debs
[ -x "$wpo" ] || { echo "runner-root: $wpo: no such executable (make first)" >&2; exit 1; }
rm -rf "$root" "$debs"
mkdir -p "$root" "$debs"

# the package of each library wpo loads
pkgs=ca-certificates
for lib in $(ldd "$wpo" | awk '/=> \//{print $3}'); do
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) || {
    echo "runner-root: no Debian package holds $lib ($real)" >&2; exit 1; }
  pkg=${owner%%:*}
  [ "$pkg" = libc6 ] || pkgs="$pkgs $pkg"
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | LC_ALL=C sort -u | tr '\n' ' ')
echo "runner-root: $pkgs"
(cd "$debs" && apt-get download -q $pkgs >/dev/null 2>"$root.apt.log") || {
  echo "runner-root: apt-get download failed:" >&2; cat "$root.apt.log" >&2; exit 1; }
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done

# /usr merged, as in debian:12-slim
for d in bin sbin lib lib32 lib64 libx32; do
  if [ -d "$root/$d" ] && [ ! -L "$root/$d" ]; then
    mkdir -p "$root/usr/$d"
    cp -a "$root/$d/." "$root/usr/$d/"
    rm -rf "${root:?}/$d"
  fi
done
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian"

# what update-ca-certificates makes
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$root/etc/ssl/certs/ca-certificates.crt"

install -D -m 0755 "$wpo" "$root/usr/local/bin/wpo"
rm -rf "$debs" "$root.apt.log"
echo "runner-root: $root ($(du -sh "$root" | cut -f1))"
