#!/usr/bin/env python3
"""fake-smtp --http in headless Chromium, driven over WebDriver (chromedriver's HTTP API).

Starts fake-smtp (SMTP and HTTP on 127.0.0.1, port 0), delivers a message whose copy for
a@firma.example carries an X-Envelope-To naming the blind-copy recipient bob@firma.example, and
checks in the browser: the transaction count, the highlighted leak in the message view, a second
(hostile) message appearing without reload (server-sent events) and running no script, the
REST API, and delete-all emptying the page. Screenshots (PNG) of the list and of the message
view go to $DROPCHECK_ARTIFACTS (default build/artifacts). Exit 0 pass, 1 fail, 77 skipped
(chromium or chromedriver missing). Every process it starts is stopped; every wait is bounded.
"""
import base64
import json
import os
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
WAIT_S = 20  # any one wait: a process's port, the browser, an element, a live update
CHECKS = {"passed": 0, "failed": 0}

LEAKY = (b"From: alice@sender.example\r\nTo: a@firma.example\r\n"
         b"X-Envelope-To: bob@firma.example\r\nMessage-ID: <leak-1@sender.example>\r\n"
         b"Subject: quarterly figures\r\n\r\nThe copy for a@ shows bob@, a blind copy.\r\n")
HOSTILE = (b"From: \"<script>document.title='pwned'</script>\" <mallory@evil.example>\r\n"
           b"To: a@firma.example\r\nMessage-ID: <hostile-2@evil.example>\r\n"
           b"Subject: <img src=x onerror=\"document.title='pwned'\">\r\n\r\n"
           b"<script>document.title='pwned'</script>\r\n")


def check(ok, what):
    CHECKS["passed" if ok else "failed"] += 1
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    return ok


def find_binary(names):
    for n in names:
        path = shutil.which(n) or (n if os.path.isfile(n) and os.access(n, os.X_OK) else None)
        if path:
            return path
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_ports(proc, deadline):
    """fake-smtp prints 'listening ADDR:PORT' and 'http ADDR:PORT' on stdout."""
    ports, buf = {}, b""
    while len(ports) < 2 and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        for line in buf.decode().splitlines():
            word, _, addr = line.partition(" ")
            if word in ("listening", "http"):
                ports[word] = int(addr.rsplit(":", 1)[1])
    return ports


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class WebDriver:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port
        self.session = None

    def call(self, method, path, body=None):
        status, raw = http(method, self.base + path, body, timeout=WAIT_S + 10)
        value = json.loads(raw or b"{}").get("value")
        if status != 200:
            raise RuntimeError("webdriver %s %s: %s %s" % (method, path, status, value))
        return value

    def start(self, chromium, profile_dir):
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--user-data-dir=" + profile_dir,
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"]}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]
        self.call("POST", self.s("/timeouts"), {"pageLoad": WAIT_S * 1000, "script": WAIT_S * 1000})

    def s(self, path):
        return "/session/%s%s" % (self.session, path)

    def go(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def js(self, script, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def wait_js(self, script, want, timeout=WAIT_S):
        deadline, got = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            got = self.js(script)
            if got == want:
                return got
            time.sleep(0.1)
        return got

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("GET", self.s("/screenshot"))))
        return os.path.getsize(path)

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except Exception as e:  # the processes are stopped below either way
                print("webdriver quit: %s" % e)
            self.session = None


def start_browser(chromedriver, chromium, tmp, procs):
    """chromedriver (its process in procs["chromedriver"], to stop) and a browser session."""
    port = free_port()
    procs["chromedriver"] = subprocess.Popen(
        [chromedriver, "--port=%d" % port],  # local connections only (its default)
        stdout=open(os.path.join(tmp, "chromedriver.log"), "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    wd = WebDriver(port)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if wd.call("GET", "/status").get("ready"):
                break
        except (OSError, RuntimeError, ValueError):
            time.sleep(0.1)
    wd.start(chromium, os.path.join(tmp, "profile"))
    return wd


def deliver(port, rcpts, message):
    with smtplib.SMTP("127.0.0.1", port, timeout=WAIT_S) as s:
        refused = s.sendmail("alice@sender.example", rcpts, message)
    return refused


def stop(proc, name):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group: chromium children too
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
    print("stopped %s (exit %s)" % (name, proc.returncode))


def page_checks(wd, base, smtp_port, artifacts):
    wd.go(base + "/")
    check(wd.wait_js("return document.getElementById('count').textContent", "1") == "1",
          "list shows 1 transaction")
    row = wd.js("return document.querySelector('#list tbody tr').textContent")
    check("alice@sender.example" in row and "a@firma.example" in row and "250" in row
          and "X-Envelope-To" in row,
          "row: envelope sender, RCPT, reply code, leak tag: %r" % row[:140])
    check(wd.screenshot(os.path.join(artifacts, "list.png")) > 1000, "screenshot list.png")

    wd.js("document.querySelector('#list tbody tr a').click()")
    leak = wd.wait_js("var r=document.querySelector('#m-1 table.headers tr.leak');"
                      "return r&&r.offsetParent!==null?r.textContent:''",
                      "X-Envelope-Tobob@firma.example")
    check(leak == "X-Envelope-Tobob@firma.example", "message view highlights the leak: %r" % leak)
    color = wd.js("return getComputedStyle(document.querySelector("
                  "'#m-1 table.headers tr.leak td')).backgroundColor")
    check(color == "rgb(255, 214, 214)", "leak row is red: %s" % color)
    raw = wd.js("var s=document.querySelector('#m-1 pre.raw span.leak');return s?s.textContent:''")
    check("X-Envelope-To: bob@firma.example" in raw, "raw view highlights the line")
    wd.js("document.getElementById('m-1').scrollIntoView()")
    check(wd.screenshot(os.path.join(artifacts, "message-leak.png")) > 1000,
          "screenshot message-leak.png")

    wd.js("window.dropcheckMarker = 'no reload'; location.hash = '';")
    deliver(smtp_port, ["a@firma.example"], HOSTILE)
    check(wd.wait_js("return document.getElementById('count').textContent", "2") == "2",
          "second message appears without reload (server-sent events)")
    check(wd.js("return window.dropcheckMarker || ''") == "no reload", "the page was not reloaded")
    check(wd.js("return document.title") != "pwned" and
          wd.js("return document.querySelectorAll('#list img, #details img, #details script').length")
          == 0, "the hostile message runs no script and makes no markup")
    shown = wd.js("var q=document.getElementById('q');q.value='MALLORY@evil';"
                  "q.dispatchEvent(new Event('input'));"
                  "return [document.getElementById('shown').textContent,"
                  "document.querySelectorAll('#list tbody tr:not([hidden])').length]")
    check(shown == ["1", 1], "search by address filters the list: %s" % shown)
    wd.js("var q=document.getElementById('q');q.value='';q.dispatchEvent(new Event('input'))")
    subject = wd.js("return document.querySelector('#list tbody tr').cells[6].textContent")
    check(subject.startswith("<img"), "hostile subject shown as text: %r" % subject[:40])


def api_checks(base):
    status, body = http("GET", base + "/api/messages")
    j = json.loads(body)
    check(status == 200 and j["total"] == 2, "GET /api/messages: total 2")
    first = j["messages"][-1]
    check(first["envelope_headers"][0] == {"name": "X-Envelope-To", "value": "bob@firma.example",
                                           "reached_recipient": True, "finding": False},
          "the stamped header is reported as having reached a recipient")
    j = json.loads(http("GET", base + "/api/messages?q=%3Cleak-1%40sender.example%3E")[1])
    check(j["total"] == 1 and j["messages"][0]["id"] == 1, "?q= by Message-ID")
    j = json.loads(http("GET", base + "/api/messages?q=mallory%40evil.example")[1])
    check(j["total"] == 1 and j["messages"][0]["id"] == 2, "?q= by address")
    status, raw = http("GET", base + "/api/messages/1/raw")
    check(status == 200 and raw == LEAKY, "GET /api/messages/1/raw: the bytes as sent")
    check(http("GET", base + "/api/messages?limit=1001")[0] == 400, "limit above 1000 is 400")
    status, body = http("DELETE", base + "/api/messages")
    check(status == 200 and json.loads(body)["deleted_through"] == 2, "DELETE /api/messages")


def run(fake_smtp, chromium, chromedriver, artifacts, tmp):
    procs = {}
    wd = None
    try:
        procs["fake-smtp"] = subprocess.Popen(
            [fake_smtp, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--journal",
             os.path.join(tmp, "journal"), "--local-domain", "firma.example", "--threads", "1"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "fake-smtp.log"), "wb"),
            start_new_session=True)
        ports = read_ports(procs["fake-smtp"], time.monotonic() + WAIT_S)
        if not check(len(ports) == 2, "fake-smtp listens: %s" % ports):
            return
        base = "http://127.0.0.1:%d" % ports["http"]
        check(deliver(ports["listening"], ["a@firma.example"], LEAKY) == {}, "SMTP delivery")

        wd = start_browser(chromedriver, chromium, tmp, procs)
        page_checks(wd, base, ports["listening"], artifacts)
        api_checks(base)
        check(wd.wait_js("return document.getElementById('count').textContent", "0") == "0",
              "delete-all empties the open page (event 'reset')")
    except Exception as e:
        check(False, "unexpected: %r" % e)
    finally:
        if wd:
            wd.quit()
        for name in ("chromedriver", "fake-smtp"):
            stop(procs.get(name), name)


def main():
    fake_smtp = os.environ.get("FAKE_SMTP", "build/fake-smtp/fake-smtp")
    chromium = find_binary(["chromium", "chromium-browser"])
    chromedriver = find_binary(["chromedriver"])
    if not chromium or not chromedriver:
        if os.environ.get("DROPCHECK_REQUIRE_BROWSER") == "1":  # .ci/run: a skip is a failure
            print("FAIL: DROPCHECK_REQUIRE_BROWSER=1 but chromium or chromedriver is missing")
            return 1
        print("SKIP: needs Debian packages chromium and chromium-driver (missing: %s); "
              "apt-get install chromium chromium-driver, or see scripts/packages-browser.txt"
              % ", ".join(n for n, p in (("chromium", chromium), ("chromedriver", chromedriver))
                          if not p))
        return SKIP
    artifacts = (os.environ.get("DROPCHECK_ARTIFACTS") or
                 os.environ.get("DROPCHECK_ARTIFACTS_DEFAULT") or "build/artifacts")
    os.makedirs(artifacts, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dropcheck-browser-") as tmp:
        run(fake_smtp, chromium, chromedriver, artifacts, tmp)
        if CHECKS["failed"]:
            for log in ("fake-smtp.log", "chromedriver.log"):
                path = os.path.join(tmp, log)
                if os.path.exists(path):
                    print("---- %s (tail)" % log)
                    print(open(path, errors="replace").read()[-3000:])
    print("screenshots in %s" % os.path.abspath(artifacts))
    print("%d passed, %d failed" % (CHECKS["passed"], CHECKS["failed"]))
    return 1 if CHECKS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
