#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root or with sudo) and builds dropcheck into build/.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
mapfile -t pkgs < <(grep -v '^\s*#' scripts/packages.txt | sed '/^\s*$/d')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -q
  # postfix asks for a mail setup type; "No configuration" leaves /etc/postfix unconfigured.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  # Peers such as dovecot-pop3d and postfix are only started by the tests, on loopback high
  # ports: keep the packages from starting system services while they install.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
# The peers the tests start (Postfix, Dovecot) drop to their own users, who must be able to
# reach the files below /. A system unpacked into a mktemp directory has / at 0700, which
# every Debian install has at 0755: give / back its search permission, and say so.
if [ $(( 0$(stat -c %a /) & 1 )) = 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "bootstrap: / is mode $(stat -c %a /), not searchable by other users (Postfix, Dovecot): chmod o+x /"
  $SUDO chmod o+x /
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
