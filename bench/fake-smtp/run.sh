#!/bin/sh
# Intake benchmark: Postfix smtp-source -> fake-smtp (journal on, without and with --fsync) and
# -> Postfix smtp-sink (discards everything: the upper bound for a loopback SMTP receiver), in
# the same run, over 1 and over SESSIONS parallel sessions, each with one message per
# connection (smtp-source default) and with -d (all messages of a session over one connection).
#   [REPEAT=3] [PIN=same|split] bench/fake-smtp/run.sh BUILD_DIR [MESSAGES] [SIZE] [SESSIONS] [-- FAKE_SMTP_FLAGS]
# Defaults: 20000 messages of 1024 octets, 1 and 20 sessions. Prints msgs/s (best and median of
# REPEAT runs, the receivers interleaved run by run), the ratio fake-smtp / smtp-sink, and each
# receiver's CPU time per message (user + system, from /proc/PID/stat; steadier than the rates
# on a shared machine, where the client competes for the same CPUs).
# Needs smtp-source/smtp-sink (Debian package postfix; only these two standalone programs are
# used, no Postfix daemon is started). Every server started here is stopped on every exit path.
set -eu
BUILD=${1:?usage: run.sh BUILD_DIR [MESSAGES] [SIZE] [SESSIONS] [-- FAKE_SMTP_FLAGS]}
shift
N=20000
SIZE=1024
SESSIONS=20
[ $# -gt 0 ] && [ "$1" != -- ] && { N=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { SIZE=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { SESSIONS=$1; shift; }
[ $# -gt 0 ] && [ "$1" = -- ] && shift
REPEAT=${REPEAT:-3}
# PIN=same: every receiver and the client on CPU 0; PIN=split: receivers on CPU 1, client on
# CPU 0; unset: wherever the scheduler puts them. With one session the result depends mostly
# on that placement (a wake-up across CPUs costs far more than a message), see bench/README.md.
PIN=${PIN:-}
case "$PIN" in
  "") CLIENT_CPU="" SERVER_CPU="" ;;
  same) CLIENT_CPU=0 SERVER_CPU=0 ;;
  split) CLIENT_CPU=0 SERVER_CPU=1 ;;
  *) echo "PIN must be same or split" >&2; exit 2 ;;
esac
FAKE="$BUILD/fake-smtp/fake-smtp"
[ -x "$FAKE" ] || { echo "missing $FAKE (ninja -C $BUILD fake-smtp)" >&2; exit 2; }
SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
[ -x "$SOURCE" ] && [ -x "$SINK" ] || {
  echo "smtp-source/smtp-sink missing: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix" >&2
  exit 2
}

T=$(mktemp -d /tmp/dropcheck-smtp-bench-XXXXXX)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

now() { python3 -c 'import time; print(time.monotonic())'; }
# "utime stime" of a process in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 has no spaces for these programs).
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
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

# start_fake NAME [FLAGS...]: a fake-smtp with its own journal; sets PORT_<NAME>.
start_fake() {
  name=$1
  shift
  "$FAKE" --listen 127.0.0.1:0 --journal "$T/journal-$name" --local-domain firma.example \
    --max-sessions 256 "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS="$PIDS $!"
  for _ in $(seq 50); do grep -q '^listening' "$T/$name.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/^listening 127.0.0.1:\([0-9]*\)$/\1/p' "$T/$name.out")
  [ -n "$port" ] || { cat "$T/$name.err" >&2; exit 1; }
  eval "PORT_$name=$port"
  eval "PID_$name=$!"
}

start_fake plain "$@"
start_fake fsync --fsync "$@"
PORT_sink=$(free_port)
# smtp-sink refuses to run as root without -u: drop to nobody. 256: listen backlog.
if [ "$(id -u)" = 0 ]; then SINKU="-u nobody"; else SINKU=""; fi
"$SINK" $SINKU "127.0.0.1:$PORT_sink" 256 >/dev/null 2>&1 &
PID_sink=$!
PIDS="$PIDS $PID_sink"
wait_port "$PORT_sink"
RUN_CLIENT=""
if [ -n "$PIN" ]; then
  for p in $PID_plain $PID_fsync $PID_sink; do taskset -a -p -c "$SERVER_CPU" "$p" >/dev/null; done
  RUN_CLIENT="taskset -c $CLIENT_CPU"
fi

echo "# $N messages of $SIZE octets, loopback, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "best/median of $REPEAT runs; fake-smtp flags: ${*:-(none)}; CPUs: ${PIN:-not pinned}"
printf '%-10s %-12s %-30s %9s %9s %8s  %s\n' sessions connection receiver "best/s" "median/s" "vs sink" \
  "CPU us/msg (user + sys)"
for s in 1 "$SESSIONS"; do
  for mode in per-message -d; do
    flags=""
    [ "$mode" = -d ] && flags=-d
    : >"$T/times"
    for _ in $(seq "$REPEAT"); do
      for r in plain fsync sink; do
        eval "port=\$PORT_$r"
        eval "pid=\$PID_$r"
        # Untimed: write back what earlier runs left dirty (the journals grow by about 45 MB
        # per run), so that no run pays for the kernel flushing another run's pages.
        sync
        c0=$(cpu_ticks "$pid")
        t0=$(now)
        # -N: unique numbers in the recipient; -m messages; -s parallel sessions; -l body size.
        $RUN_CLIENT "$SOURCE" -N -m "$N" -s "$s" -l "$SIZE" -f sender@provider.example \
          -t hans@firma.example $flags "127.0.0.1:$port"
        t1=$(now)
        c1=$(cpu_ticks "$pid")
        echo "$r $t0 $t1 $c0 $c1" >>"$T/times"
      done
    done
    conn=$([ "$mode" = -d ] && echo "one/session" || echo "one/message")
    python3 - "$s" "$conn" "$N" "$T/times" "$(getconf CLK_TCK)" <<'PY'
import statistics, sys
sessions, conn, n, path, tck = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
runs, cpu = {}, {}
for line in open(path):
    r, a, b, u0, s0, u1, s1 = line.split()
    runs.setdefault(r, []).append(float(b) - float(a))
    cu, cs = cpu.get(r, (0, 0))
    cpu[r] = (cu + int(u1) - int(u0), cs + int(s1) - int(s0))
rate = {r: (n / min(d), n / statistics.median(d)) for r, d in runs.items()}
names = {"plain": "fake-smtp, journal", "fsync": "fake-smtp, journal + --fsync",
         "sink": "smtp-sink (discards)"}
for r in ("plain", "fsync", "sink"):
    best, med = rate[r]
    ratio = "" if r == "sink" else f"{med / rate['sink'][1]:.2f}x"
    total = n * len(runs[r])
    us = [1e6 * t / tck / total for t in cpu[r]]
    print(f"{sessions:<10} {conn:<12} {names[r]:<30} {best:9.0f} {med:9.0f} {ratio:>8}"
          f"  {us[0]:5.1f} + {us[1]:5.1f}")
PY
  done
done
for r in plain fsync; do
  echo "journal records ($r, all runs): $(wc -l <"$T/journal-$r/journal.jsonl")"
done
