#!/bin/sh
# Drain benchmark: fake-pop3 (in process) vs Dovecot pop3 (standalone on a loopback port, Maildir).
#   bench/fake-pop3/run.sh BUILD_DIR [MESSAGES] [SIZE] [WINDOW]
# Needs root (Dovecot drops to the `mail` user) and dovecot-pop3d. Dovecot runs only for the
# duration of the script: it is stopped on every exit path (trap), its files live in a temp dir.
set -eu
. "$(dirname "$0")/../../scripts/dovecot_pop3_conf.sh"
BUILD=${1:?usage: run.sh BUILD_DIR [MESSAGES] [SIZE] [WINDOW]}
N=${2:-10000}
SIZE=${3:-20480}
WINDOW=${4:-64}
BIN="$BUILD/bench/fake-pop3/bench_fake_pop3_drain"
[ -x "$BIN" ] || { echo "missing $BIN (ninja -C $BUILD bench_fake_pop3_drain)" >&2; exit 2; }

echo "# fake-pop3 in process: $N messages of ~$SIZE octets, window $WINDOW"
FAKE=$("$BIN" --messages "$N" --size "$SIZE" --window "$WINDOW")
echo "$FAKE"

command -v dovecot >/dev/null || { echo "dovecot not installed: skipping the comparison" >&2; exit 0; }
T=$(mktemp -d /tmp/dropcheck-dovecot-XXXXXX)
DPID=""
cleanup() {
  if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; fi
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
chmod 755 "$T"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/run" "$T/state" "$T/home/catchall"
"$BIN" --messages "$N" --size "$SIZE" --write-maildir "$T/home/catchall/Maildir"
chown -R mail:mail "$T/home"
printf 'catchall:{PLAIN}secret::::::\n' > "$T/passwd"
dovecot_pop3_conf "$T" "$T/home" "$T/passwd" "$PORT" > "$T/dovecot.conf"
dovecot -F -c "$T/dovecot.conf" &
DPID=$!
for i in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
  sleep 0.1
done
echo "# dovecot $(dovecot --version | cut -d' ' -f1) pop3 on 127.0.0.1:$PORT, Maildir"
DOVE=$("$BIN" --connect "127.0.0.1:$PORT" --user catchall --password secret --window "$WINDOW" --label dovecot)
echo "$DOVE"
rate() { echo "$1" | sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p'; }
python3 -c "print(f'ratio fake-pop3/dovecot = {float(\"$(rate "$FAKE")\")/float(\"$(rate "$DOVE")\"):.2f}')"
