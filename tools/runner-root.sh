#!/bin/sh
# tools/runner-root.sh WPO DIR — the fleet runner's root (`make runner-root`;
# stacks/fleet.lua makes it one layer over debian:12-slim): WPO at
# DIR/usr/local/bin/wpo (the standard library is built into it) and the
# Debian packages of every library it loads, as this host installed them
# (libc6 is the base image's), plus ca-certificates with
# the bundle update-ca-certificates would have made. Laid out as the base
# is, /usr merged (a /lib directory in a layer would replace the base's
# /lib -> usr/lib link); documentation left out. Needs a Debian host of the
# base's release (the binary links against its libraries).
set -eu
wpo=$1
mkdir -p "$(dirname "$2")"
root=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
[ -x "$wpo" ] || { echo "runner-root: $wpo: no such executable (make first)" >&2; exit 1; }
rm -rf "$root"
mkdir -p "$root"

# the package of each library wpo loads, and of libcurl, libcrypto and
# libgit2 and what they load (wpo opens each with dlopen at its first use:
# ldd does not list them). libgit2's and libcrypto's sonames are the ones wpo
# was built for, strings in it.
lookup() {
  /sbin/ldconfig -p | awk -v so="$1" '$1 == so && /x86-64/ {print $NF; exit}'
}
curl=$(lookup libcurl.so.4)
[ -n "$curl" ] || { echo "runner-root: libcurl.so.4 is not installed (libcurl4)" >&2; exit 1; }
# named_lib PATTERN SOURCE WHAT: the installed library whose soname (matching
# PATTERN) the binary names
named_lib() {
  so=$(strings -a "$wpo" | grep -m1 -x "$1") || {
    echo "runner-root: $wpo names no ${1%%\\*}.so.N (not built from $2?)" >&2; exit 1; }
  path=$(lookup "$so")
  [ -n "$path" ] || { echo "runner-root: $so is not installed (the $3 wpo was built against)" >&2; exit 1; }
  echo "$path"
}
git2=$(named_lib 'libgit2\.so\.[0-9.]*' engine/gitapi.c "libgit2 package") || exit 1
crypto=$(named_lib 'libcrypto\.so\.[0-9]*' engine/cryptoapi.c OpenSSL) || exit 1
pkgs=ca-certificates
for lib in $curl $crypto $git2 $(ldd "$wpo" "$curl" "$crypto" "$git2" | awk '/=> \//{print $3}'); do
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null) || {
    echo "runner-root: no Debian package holds $lib ($real)" >&2; exit 1; }
  pkg=${owner%%:*}
  [ "$pkg" = libc6 ] || pkgs="$pkgs $pkg"
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | LC_ALL=C sort -u | tr '\n' ' ')
echo "runner-root: $pkgs"
# The packages' files as this host installed them (the same release as the
# base, so the same files apt-get download and dpkg-deb -x would give),
# without the network.
for pkg in $pkgs; do
  dpkg -L "$pkg" | while read -r path; do
    # files and links to files (a directory, or a link to one such as the
    # host's /lib, is made by what it holds)
    if [ ! -d "$path" ] && { [ -f "$path" ] || [ -L "$path" ]; }; then echo "$path"; fi
  done
done | LC_ALL=C sort -u | sed 's|^/||' | tar -C / -cf - -T - 2>"$root.tar.log" | tar -xf - -C "$root" || {
  echo "runner-root: copying the packages' files failed:" >&2; cat "$root.tar.log" >&2; exit 1; }

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
rm -f "$root.tar.log"
echo "runner-root: $root ($(du -sh "$root" | cut -f1))"
