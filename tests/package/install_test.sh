#!/usr/bin/env bash
# The Debian package installs into a brand-new minimal Debian 12 root and works there:
# `cpack -G DEB` from the build directory, a debootstrap'd bookworm (cached as a tarball, the
# same cache as ../shared/tools/fresh-debian: FRESH_CACHE, default /var/tmp/fresh-bookworm.tar),
# `apt-get install ./dropcheck_*.deb` (dependencies from Debian), then `dropcheck run`, the two
# fake servers' --help, the completion file and the docs. Needs root, debootstrap, chroot and
# Debian's mirror; exit 77 (ctest: skipped) with the reason when one is missing.
set -euo pipefail
build=$(cd "$1" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
command -v cpack >/dev/null || skip "cpack is not installed"

work=$(mktemp -d /var/tmp/dropcheck-package.XXXXXX)
root="$work/root"
cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$(ls "$work"/out/dropcheck_*.deb)
echo "package: $(basename "$deb")"
dpkg-deb --field "$deb" Depends

cache=${FRESH_CACHE:-/var/tmp/fresh-bookworm.tar}
if [ ! -f "$cache" ]; then
  mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 | awk '{print $2}')
  b=$(mktemp -d /var/tmp/fresh-base.XXXXXX)
  debootstrap --variant=minbase bookworm "$b" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1 ||
    { rm -rf "$b"; tail -5 "$work/debootstrap.log"; skip "debootstrap failed (no mirror reachable?)"; }
  cp /etc/apt/sources.list.d/debian.sources "$b/etc/apt/sources.list.d/" 2>/dev/null || true
  tar -C "$b" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache" && rm -rf "$b"
fi
mkdir -p "$root"
tar -C "$root" -xf "$cache"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t sysfs sys "$root/sys"
cp "$deb" "$root/tmp/"
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  DEBIAN_FRONTEND=noninteractive bash -euc '
    apt-get update -qq >/tmp/apt.log 2>&1 || { tail -5 /tmp/apt.log; exit 77; }
    apt-get install -y -qq --no-install-recommends /tmp/dropcheck_*.deb >>/tmp/apt.log 2>&1 ||
      { tail -20 /tmp/apt.log; echo "FAIL: apt-get install"; exit 1; }
    cd /tmp
    dropcheck --version
    dropcheck run >/tmp/run.log || { cat /tmp/run.log; echo "FAIL: dropcheck run"; exit 1; }
    tail -1 /tmp/run.log
    fake-pop3 --help >/dev/null && fake-smtp --help >/dev/null
    test -f /usr/share/bash-completion/completions/dropcheck
    test -f /usr/share/dropcheck/profiles/x-envelope-to.yaml
    test -f /usr/share/dropcheck/scenarios/bcc.yaml
    test -f /usr/share/doc/dropcheck/README.md
    dropcheck run /usr/share/dropcheck/scenarios/bcc.yaml >/dev/null
    echo "installed and ran in a fresh Debian 12"
  ' || { rc=$?; [ $rc = 77 ] && skip "apt-get update failed in the fresh root (no mirror reachable?)"; exit $rc; }
