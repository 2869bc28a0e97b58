#!/usr/bin/env python3
"""Fetcher drain benchmark: N messages (2-4 KiB, realistic headers, X-Envelope-To stamped by
fake-pop3's x-envelope-to profile) drained from fake-pop3 into fake-smtp (journal on) by the
dropcheck core (`dropcheck fetch --config F --once`) and by fetchmail, in the same run: for every
repetition and every fetcher a fresh fake-pop3 (same mailbox bytes, injected through its MX
port) and a fresh fake-smtp. Only the fetch command is timed. Every process started here is
killed and reaped on every exit path. Loopback only.

usage: drive.py BUILD_DIR [MESSAGES] [REPEAT] [FETCHERS]
  FETCHERS, comma-separated, run interleaved in this order in every repetition:
    core               BUILD_DIR/cli/dropcheck
    core-base          the dropcheck binary named by CORE_BASE (e.g. main's build: before/after)
    fetchmail          stock fetchmail
    fetchmail-nodelay  fetchmail with BUILD_DIR/bench/nodelay/libdropcheck_nodelay.so preloaded
                       (TCP_NODELAY on every socket it connects: no Nagle + delayed-ACK stall)
environment: CORE_WRAP="perf record -g -o F --" runs the core under a profiler.
"""
import os
import random
import shlex
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
REPEAT = int(sys.argv[3]) if len(sys.argv) > 3 else 3
FETCHERS = (sys.argv[4] if len(sys.argv) > 4 else "core,fetchmail").split(",")
SEED = 20261123
USER, PASSWORD = "catchall", "bench-pw"
DOMAIN = "firma.example"
FETCH_TIMEOUT = 1800  # s: one drain; a stuck fetcher is killed, not waited for

FAKE_POP3 = os.path.join(BUILD, "fake-pop3", "fake-pop3")
FAKE_SMTP = os.path.join(BUILD, "fake-smtp", "fake-smtp")
DROPCHECK = os.path.join(BUILD, "cli", "dropcheck")
NODELAY = os.path.join(BUILD, "bench", "nodelay", "libdropcheck_nodelay.so")
children = []


def start(argv, expect):
    """Starts a server child and returns (proc, port) from its "<expect> 127.0.0.1:PORT" line."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)
    children.append(p)
    ports = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(ports) < len(expect):
        line = p.stdout.readline()
        if not line:
            break
        word, _, addr = line.strip().partition(" ")
        if word in expect:
            ports[word] = int(addr.rsplit(":", 1)[1])
    if len(ports) < len(expect):
        raise SystemExit("%s did not report its ports" % argv[0])
    return p, ports


def stop(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p in children:
        children.remove(p)


def mailbox():
    """N deterministic messages: (envelope sender, [recipient], bytes)."""
    rnd = random.Random(SEED)
    words = ("invoice order meeting report schedule quarterly update delivery project budget "
             "review draft contract proposal minutes agenda offer shipment payment reminder").split()
    out = []
    for i in range(N):
        sender = "%s%d@%s" % (rnd.choice(["anna", "ben", "carla", "dev", "erik"]), rnd.randint(1, 99),
                              rnd.choice(["sender.example", "partner.example", "lists.example"]))
        rcpt = "user%d@%s" % (rnd.randint(1, 50), DOMAIN)
        h = []
        for hop in range(rnd.randint(2, 4)):
            h.append("Received: from mx%d.sender.example (mx%d.sender.example [192.0.2.%d])\r\n"
                     "\tby mx.provider.example with ESMTPS id %08X%d;\r\n"
                     "\tMon, 23 Nov 2026 08:%02d:%02d +0000" % (hop, hop, rnd.randint(1, 254),
                                                            rnd.getrandbits(32), i,
                                                            rnd.randint(0, 59), rnd.randint(0, 59)))
        if rnd.random() < 0.5:
            h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example;\r\n"
                     "\ts=sel1; h=from:to:subject:date:message-id; bh=%s;\r\n\tb=%s" %
                     ("".join(rnd.choice("ABCDEFGHabcdefgh0123456789+/") for _ in range(44)),
                      "".join(rnd.choice("ABCDEFGHabcdefgh0123456789+/") for _ in range(172))))
        h.append("From: %s" % sender)
        to = [rcpt] + ["someone%d@partner.example" % rnd.randint(1, 9) for _ in range(rnd.randint(0, 3))]
        h.append("To: " + ",\r\n\t".join(to))
        if rnd.random() < 0.3:
            h.append("Cc: team@%s, boss@partner.example" % DOMAIN)
        h.append("Subject: %s %s %d" % (rnd.choice(words).capitalize(), rnd.choice(words), i))
        h.append("Date: Mon, 23 Nov 2026 08:%02d:%02d +0000" % (rnd.randint(0, 59), rnd.randint(0, 59)))
        h.append("Message-ID: <bench-%d.%08x@sender.example>" % (i, rnd.getrandbits(32)))
        h.append("MIME-Version: 1.0")
        h.append("Content-Type: text/plain; charset=utf-8")
        h.append("Content-Transfer-Encoding: 8bit")
        head = "\r\n".join(h) + "\r\n\r\n"
        target = rnd.randint(2048, 4096)
        body = []
        size = len(head)
        while size < target:
            line = " ".join(rnd.choice(words) for _ in range(rnd.randint(6, 12)))
            if rnd.random() < 0.05:
                line = "." + line  # exercises dot-stuffing on both hops
            body.append(line)
            size += len(line) + 2
        out.append((sender, [rcpt], (head + "\r\n".join(body) + "\r\n").encode()))
    return out


def inject(port, msgs):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        for sender, rcpts, data in msgs:
            s.sendmail(sender, rcpts, data)


def core_cmd(d, pop_port, smtp_port, binary=DROPCHECK):
    pw = os.path.join(d, "pw")
    with open(pw, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(pw, 0o600)
    cfg = os.path.join(d, "core.yaml")
    with open(cfg, "w") as f:
        f.write("version: 1\nname: bench\n"
                "pop3: {host: 127.0.0.1, port: %d, tls: none, user: %s, password_file: %s}\n"
                "smtp: {host: 127.0.0.1, port: %d}\n"
                "routing:\n  envelope: [{header: X-Envelope-To}]\n  local_domains: [%s]\n"
                "  fallback: postmaster@%s\n"
                "state_dir: %s/state\n" % (pop_port, USER, pw, smtp_port, DOMAIN, DOMAIN, d))
    return [binary, "fetch", "--config", cfg, "--once"], None


def fetchmail_cmd(d, pop_port, smtp_port, nodelay=False):
    home = os.path.join(d, "fetchmail")
    os.makedirs(home)
    rc = os.path.join(home, "rc")
    with open(rc, "w") as f:
        f.write("set no bouncemail\nset no spambounce\nset postmaster \"postmaster\"\n"
                "poll 127.0.0.1 with proto POP3 port %d and options no dns\n"
                "  envelope \"X-Envelope-To\"\n  localdomains %s\n"
                "  user \"%s\" there with password \"%s\" is * here options\n"
                "    no keep fetchall smtphost \"127.0.0.1/%d\" sslproto ''\n"
                % (pop_port, DOMAIN, USER, PASSWORD, smtp_port))
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=home)
    if nodelay:
        env["LD_PRELOAD"] = NODELAY
    return (["fetchmail", "-f", rc, "--pidfile", os.path.join(home, "pid"), "-i",
             os.path.join(home, "ids"), "-d0", "--nosyslog"], env)


def accepted(journal):
    n = 0
    with open(os.path.join(journal, "journal.jsonl")) as f:
        for line in f:
            if '"accepted":true' in line.replace(" ", ""):
                n += 1
    return n


# x-envelope-to without STLS: standalone fake-pop3 otherwise offers STLS with a self-signed
# certificate, and the comparison is about the fetchers, not TLS.
PROFILE = """version: 1
name: bench-x-envelope-to
description: x-envelope-to (one copy per recipient, X-Envelope-To + Return-Path), no STLS.
stamp:
  envelope_header: X-Envelope-To
  envelope_style: per-line
  copy_per_recipient: true
  return_path: true
pop3:
  stls: false
"""


def command(kind, d, pop_port, smtp_port):
    if kind == "core":
        return core_cmd(d, pop_port, smtp_port)
    if kind == "core-base":
        return core_cmd(d, pop_port, smtp_port, os.environ["CORE_BASE"])
    if kind in ("fetchmail", "fetchmail-nodelay"):
        return fetchmail_cmd(d, pop_port, smtp_port, kind == "fetchmail-nodelay")
    raise SystemExit("unknown fetcher %s" % kind)


def one_run(kind, msgs, root):
    d = tempfile.mkdtemp(prefix="%s-" % kind, dir=root)
    profile = os.path.join(d, "profile.yaml")
    with open(profile, "w") as f:
        f.write(PROFILE)
    pop, pp = start([FAKE_POP3, "--listen", "127.0.0.1:0", "--mx-listen", "127.0.0.1:0",
                     "--profile", profile, "--user", USER, "--password", PASSWORD],
                    ("pop3", "mx"))
    journal = os.path.join(d, "journal")
    smtp, sp = start([FAKE_SMTP, "--listen", "127.0.0.1:0", "--journal", journal,
                      "--local-domain", DOMAIN], ("listening",))
    try:
        inject(pp["mx"], msgs)
        cmd, env = command(kind, d, pp["pop3"], sp["listening"])
        # CORE_WRAP="perf record -g -o /tmp/core.perf --": profile the core's drain.
        if kind.startswith("core") and os.environ.get("CORE_WRAP"):
            cmd = shlex.split(os.environ["CORE_WRAP"]) + cmd
        log = open(os.path.join(d, "fetch.log"), "w")
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        children.append(p)
        try:
            rc = p.wait(timeout=FETCH_TIMEOUT)
        finally:
            stop(p)
        dt = time.monotonic() - t0
        log.close()
        got = accepted(journal)
        if got != len(msgs):
            with open(os.path.join(d, "fetch.log")) as f:
                tail = f.read()[-1500:]
            raise SystemExit("%s: %d of %d messages accepted (exit %s)\n%s" % (kind, got, len(msgs), rc, tail))
        return dt
    finally:
        stop(pop)
        stop(smtp)
        shutil.rmtree(d, ignore_errors=True)


def main():
    for exe in (FAKE_POP3, FAKE_SMTP, DROPCHECK):
        if not os.access(exe, os.X_OK):
            raise SystemExit("missing %s (ninja -C %s fake-pop3 fake-smtp dropcheck)" % (exe, BUILD))
    if "fetchmail-nodelay" in FETCHERS and not os.access(NODELAY, os.R_OK):
        raise SystemExit("missing %s (ninja -C %s dropcheck_nodelay)" % (NODELAY, BUILD))
    if "core-base" in FETCHERS and not os.access(os.environ.get("CORE_BASE", ""), os.X_OK):
        raise SystemExit("core-base needs CORE_BASE=/path/to/another/dropcheck")
    msgs = mailbox()
    total = sum(len(m[2]) for m in msgs)
    print("mailbox: %d messages, %.1f MiB, avg %d octets before stamping"
          % (len(msgs), total / 1048576.0, total // len(msgs)), flush=True)
    root = tempfile.mkdtemp(prefix="dropcheck-fetcher-bench-")
    times = {k: [] for k in FETCHERS}
    try:
        for r in range(REPEAT):
            for kind in FETCHERS:  # interleaved: both see the same machine load
                dt = one_run(kind, msgs, root)
                times[kind].append(dt)
                print("run %d %-17s %7.2f s  %8.0f msgs/s" % (r + 1, kind, dt, len(msgs) / dt), flush=True)
    finally:
        for p in list(children):
            stop(p)
        shutil.rmtree(root, ignore_errors=True)
    rate = {}
    for kind, ts in times.items():
        rs = sorted(len(msgs) / t for t in ts)
        rate[kind] = statistics.median(rs)
        print("%-17s msgs/s lowest %.0f  median %.0f  highest %.0f" % (kind, rs[0], rate[kind], rs[-1]))
    for core in ("core", "core-base"):
        for peer in ("fetchmail", "fetchmail-nodelay", "core-base"):
            if core in rate and peer in rate and core != peer:
                print("ratio %s / %s (medians): %.2fx" % (core, peer, rate[core] / rate[peer]))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
