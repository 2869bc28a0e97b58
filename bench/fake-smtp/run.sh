#!/bin/sh
# Intake benchmark: Postfix smtp-source -> fake-smtp (journal, with and without --fsync) and
# -> Postfix smtp-sink (discards everything: the upper bound for a loopback SMTP receiver).
#   [REPEAT=3] bench/fake-smtp/run.sh BUILD_DIR [MESSAGES] [SIZE] [SESSIONS]
# Needs smtp-source/smtp-sink (Debian package postfix; only these two standalone programs are
# used, no Postfix daemon is started). Every server started here is stopped on every exit path.
set -eu
BUILD=${1:?usage: run.sh BUILD_DIR [MESSAGES] [SIZE] [SESSIONS]}
N=${2:-5000}
SIZE=${3:-20480}
SESSIONS=${4:-8}
REPEAT=${REPEAT:-3}
FAKE="$BUILD/fake-smtp/fake-smtp"
[ -x "$FAKE" ] || { echo "missing $FAKE (ninja -C $BUILD fake-smtp)" >&2; exit 2; }
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
[ -x "$SOURCE" ] && [ -x "$SINK" ] || {
  echo "smtp-source/smtp-sink missing: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix" >&2
  exit 2
}

T=$(mktemp -d /tmp/dropcheck-smtp-bench-XXXXXX)
SPID=""
stop_server() {
  if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
  SPID=""
}
cleanup() { stop_server; rm -rf "$T"; }
trap cleanup EXIT INT TERM

now() { python3 -c 'import time; print(time.monotonic())'; }
wait_port() {
  python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(50):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit("server on port %s did not start" % sys.argv[1])
PY
}

# run_source LABEL PORT EXTRA_SOURCE_FLAGS: REPEAT runs, prints the best and the median.
run_source() {
  times=""
  for _ in $(seq "$REPEAT"); do
    t0=$(now)
    # -N: unique numbers in Subject; -m messages; -s parallel sessions; -l body size.
    "$SOURCE" -N -m "$N" -s "$SESSIONS" -l "$SIZE" -f sender@provider.example \
      -t hans@firma.example $3 "127.0.0.1:$2"
    t1=$(now)
    times="$times $t0:$t1"
  done
  python3 - "$1" "$N" "$SIZE" $times <<'PY'
import statistics, sys
label, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
dts = sorted(float(b) - float(a) for a, b in (x.split(":") for x in sys.argv[4:]))
best, med = dts[0], statistics.median(dts)
print(f"{label:32s} {n:6d} msgs  best {best:6.2f} s {n/best:7.0f} msg/s {n*size/best/1e6:6.1f} MB/s"
      f"  median {n/med:7.0f} msg/s")
PY
}

start_fake() {
  rm -rf "$T/journal" "$T/fake.out"
  "$FAKE" --listen 127.0.0.1:0 --journal "$T/journal" --local-domain firma.example \
    --max-sessions 256 "$@" >"$T/fake.out" 2>"$T/fake.err" &
  SPID=$!
  for _ in $(seq 50); do grep -q '^listening' "$T/fake.out" 2>/dev/null && break; sleep 0.1; done
  PORT=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\)$/\1/p' "$T/fake.out")
  [ -n "$PORT" ] || { cat "$T/fake.err" >&2; exit 1; }
}

echo "# $N messages of $SIZE octets, $SESSIONS parallel sessions, loopback, $(nproc) CPUs," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), best/median of $REPEAT runs"
for mode in "one message per connection:" "-d (many messages per connection):-d"; do
  label=${mode%%:*}
  flags=${mode#*:}
  echo "## $label"
  start_fake
  run_source "fake-smtp (journal, no fsync)" "$PORT" "$flags"
  stop_server
  echo "   journal records (all runs): $(wc -l <"$T/journal/journal.jsonl")"
  start_fake --fsync
  run_source "fake-smtp (journal, --fsync)" "$PORT" "$flags"
  stop_server
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # smtp-sink refuses to run as root without -u: drop to nobody.
  if [ "$(id -u)" = 0 ]; then SINKU="-u nobody"; else SINKU=""; fi
  "$SINK" $SINKU 127.0.0.1:"$PORT" 256 >/dev/null 2>&1 &
  SPID=$!
  wait_port "$PORT"
  run_source "smtp-sink (discards)" "$PORT" "$flags"
  stop_server
done
