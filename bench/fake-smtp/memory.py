#!/usr/bin/env python3
"""Memory per session of fake-smtp while messages arrive (issue 16 item 3).

Starts FAKE_SMTP on 127.0.0.1:0 with a journal in a temporary directory, opens SESSIONS
sessions, and in each one sends EHLO, MAIL, RCPT, DATA and the first HALF octets of a SIZE-octet
message, so that every session is in the middle of a message at the same time. Then it reads the
server's VmRSS (/proc/PID/status), completes every message, checks each 250 reply and the
journal's record count, and prints the resident set before, with every session mid-message, and
the peak (VmHWM), each also per session. The server is stopped on every exit path.

usage: memory.py FAKE_SMTP [SESSIONS] [SIZE_MIB] [-- FAKE_SMTP_FLAGS...]
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def reply(f):
    while True:
        line = f.readline()
        if len(line) < 4:
            raise RuntimeError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3])


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    exe = args[0]
    sessions = int(args[1]) if len(args) > 1 else 64
    size = (int(args[2]) if len(args) > 2 else 30) * 1024 * 1024
    line = b"x" * 998 + b"\r\n"
    body = line * (size // len(line))
    half = len(body) // 2
    tmp = tempfile.mkdtemp(prefix="fake-smtp-memory-")
    proc = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--journal", tmp + "/j",
                             "--local-domain", "firma.example", "--threads", "1",
                             "--max-sessions", str(sessions + 8),
                             "--max-message", str(2 * size)] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        port = int(proc.stdout.readline().split(b":")[-1])
        base = status_kib(proc.pid, "VmRSS:")
        conns = []
        for _ in range(sessions):
            s = socket.create_connection(("127.0.0.1", port), timeout=120)
            f = s.makefile("rb")
            reply(f)
            s.sendall(b"EHLO mem.example\r\nMAIL FROM:<m@src.example>\r\n"
                      b"RCPT TO:<u@firma.example>\r\nDATA\r\n")
            codes = [reply(f) for _ in range(4)]
            assert codes == [250, 250, 250, 354], codes
            s.sendall(body[:half])
            conns.append((s, f))
        # Every session is mid-message now; let the server read what is in flight.
        mid = status_kib(proc.pid, "VmRSS:")
        for s, f in conns:
            s.sendall(body[half:] + b".\r\nQUIT\r\n")
        for s, f in conns:
            assert reply(f) == 250
            reply(f)
            s.close()
        peak = status_kib(proc.pid, "VmHWM:")
        records = sum(1 for _ in open(tmp + "/j/journal.jsonl"))
        assert records == sessions, records
        print(json.dumps({"sessions": sessions, "message_mib": size // (1024 * 1024),
                          "rss_base_kib": base, "rss_mid_kib": mid, "rss_peak_kib": peak,
                          "mid_per_session_kib": round((mid - base) / sessions, 1),
                          "peak_per_session_kib": round((peak - base) / sessions, 1)}))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
