#!/usr/bin/env python3
"""The matrix's HTML report in headless Chromium (issues 18 item 2-3 and 22).

Plays `dropcheck matrix --view evaluation --html` over two library scenarios (bcc,
overlap-nonlocking) with the core and two defect models (no-strip leaks the BCC recipient,
no-dedup duplicates), opens the page from a file and checks what renders: one verdict per
fetcher (core clean, the others major with their finding named), the heat map coloured by each
cell's worst finding (a documented leak is orange, not green), the table cell naming "leaks BCC"
with "documented" as a mark only, and in every cell's flow picture one drawn edge per accepted
delivery (counted against the JSON report of the same run), with the leak edge marked. A click
on the leaking square opens its picture. Screenshots: matrix-evaluation.png (the verdicts and
heat map) and scenario-picture.png (the leaking cell's flow picture) in $DROPCHECK_ARTIFACTS.
Exit 0 pass, 1 fail, 77 skipped (chromium or chromedriver missing). Every process it starts is
stopped; every wait is bounded.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_test import (CHECKS, SKIP, check, find_binary, start_browser,  # noqa: E402
                          stop)

SCENARIOS = ("bcc.yaml", "overlap-nonlocking.yaml")
FETCHERS = ("core", "no-strip", "no-dedup")
ORANGE = "rgb(245, 163, 92)"  # major: the legend's and the table's colour


def play_matrix(dropcheck, scenarios_dir, tmp):
    page, report = os.path.join(tmp, "matrix.html"), os.path.join(tmp, "matrix.json")
    cmd = [dropcheck, "matrix", "--fetchers", ",".join(FETCHERS), "--view", "evaluation",
           "--html", page, "--json", report] + [os.path.join(scenarios_dir, s) for s in SCENARIOS]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    check(done.returncode == 0, "dropcheck matrix exit 0 (%d)" % done.returncode)
    with open(report) as f:
        return page, json.load(f)


def verdict_checks(wd):
    verdicts = wd.js("return Array.from(document.querySelectorAll('ul.verdict li'))"
                     ".map(function(li){return [li.className, li.textContent];})")
    check(len(verdicts) == len(FETCHERS), "one verdict per fetcher: %d" % len(verdicts))
    by = {text.split(":")[0]: (cls, text) for cls, text in verdicts}
    check(by.get("core", ("", ""))[0] == "none" and "clean" in by["core"][1],
          "core's verdict: clean: %r" % (by.get("core"),))
    check(by.get("no-strip", ("", ""))[0] == "major" and "disclosed" in by["no-strip"][1],
          "no-strip's verdict: major, blind-copy recipients disclosed: %r" % (by.get("no-strip"),))
    check(by.get("no-dedup", ("", ""))[0] == "major" and "duplicate" in by["no-dedup"][1],
          "no-dedup's verdict: major, duplicates: %r" % (by.get("no-dedup"),))


def heat_map_checks(wd, cells):
    squares = wd.js("return Array.from(document.querySelectorAll('svg.heatmap rect.cell'))"
                    ".map(function(r){return [r.dataset.scenario, r.dataset.fetcher,"
                    "r.dataset.severity||'', getComputedStyle(r).fill];})")
    check(len(squares) == len(cells), "one square per cell: %d of %d" % (len(squares), len(cells)))
    sq = {(s, f): (sev, fill) for s, f, sev, fill in squares}
    leak = sq.get(("bcc", "no-strip"), ("", ""))
    check(leak == ("major", ORANGE), "the documented leak's square is major orange: %s" % (leak,))
    clean = sq.get(("bcc", "core"), ("", ""))
    check(clean[0] == "clean", "the core's bcc square is clean: %s" % (clean,))
    td = wd.js("var t=Array.from(document.querySelectorAll('table tbody tr')).find(function(r){"
               "return r.cells[0].textContent==='bcc';});"
               "if(!t)return ['',''];var c=t.cells[2];"
               "return [c.className, c.querySelector('summary').textContent];")
    check(td[0] == "major" and "leaks BCC" in td[1] and "documented" in td[1],
          "the table cell names the leak, 'documented' as a mark: %s" % td)


def picture_checks(wd, cells):
    """Per cell: drawn delivery edges == the JSON report's accepted deliveries."""
    drawn = wd.js("return Array.from(document.querySelectorAll('details.cell-detail'))"
                  ".map(function(d){var s=d.querySelector('svg.flow');"
                  "return s?[d.id, d.dataset.scenario, d.dataset.fetcher,"
                  "s.querySelectorAll('path.edge.delivered').length,"
                  "Number(s.dataset.drawnDeliveries),"
                  "s.querySelectorAll('path.edge.delivered.leak').length]:[d.id,'','',-1,-1,-1];})")
    check(len(drawn) == len(cells), "a details element per cell: %d" % len(drawn))
    for (cid, scen, fetcher, edges, attr, leaks), cell in zip(drawn, cells):
        want = sum(m["deliveries_total"] for m in cell["messages"])
        check(edges == want == attr and want > 0,
              "%s %s/%s: %d edges drawn for %d deliveries" % (cid, scen, fetcher, edges, want))
        leaked = any(f["type"] == "envelope-header-leak" for f in cell["findings"])
        check((leaks > 0) == leaked, "%s: leak edges %d, leak finding %s" % (cid, leaks, leaked))


def screenshots(wd, artifacts, cells):
    wd.js("window.scrollTo(0,0)")
    check(wd.screenshot(os.path.join(artifacts, "matrix-evaluation.png")) > 1000,
          "screenshot matrix-evaluation.png")
    index = next(i for i, c in enumerate(cells)
                 if c["scenario"] == "bcc" and c["fetcher"] == "no-strip")
    wd.js("document.querySelector('svg.heatmap a.cell-link[href=\"#cell-%d\"]')"
          ".dispatchEvent(new MouseEvent('click', {bubbles: true}))" % index)
    opened = wd.wait_js("return document.getElementById('cell-%d').open" % index, True)
    check(opened is True, "a click on the leaking square opens its cell")
    summary = wd.js("return document.querySelector('#cell-%d summary').textContent" % index)
    check("major: leaks BCC (documented)" in summary, "its summary names the leak: %r" % summary)
    wd.js("document.querySelector('#cell-%d svg.flow').scrollIntoView()" % index)
    time.sleep(0.3)  # let the scroll settle before the screenshot
    check(wd.screenshot(os.path.join(artifacts, "scenario-picture.png")) > 1000,
          "screenshot scenario-picture.png")


def run(dropcheck, scenarios_dir, chromium, chromedriver, artifacts, tmp):
    page, report = play_matrix(dropcheck, scenarios_dir, tmp)
    cells = report["cells"]
    procs, wd = {}, None
    try:
        wd = start_browser(chromedriver, chromium, tmp, procs)
        wd.go("file://" + page)
        verdict_checks(wd)
        heat_map_checks(wd, cells)
        picture_checks(wd, cells)
        screenshots(wd, artifacts, cells)
    except Exception as e:
        check(False, "unexpected: %r" % e)
    finally:
        if wd:
            wd.quit()
        stop(procs.get("chromedriver"), "chromedriver")


def main():
    dropcheck = os.environ.get("DROPCHECK", "build/cli/dropcheck")
    scenarios_dir = os.environ.get("DROPCHECK_SCENARIOS", "scenarios")
    chromium = find_binary(["chromium", "chromium-browser"])
    chromedriver = find_binary(["chromedriver"])
    if not chromium or not chromedriver:
        if os.environ.get("DROPCHECK_REQUIRE_BROWSER") == "1":
            print("FAIL: DROPCHECK_REQUIRE_BROWSER=1 but chromium or chromedriver is missing")
            return 1
        print("SKIP: needs Debian packages chromium and chromium-driver "
              "(scripts/packages-browser.txt)")
        return SKIP
    artifacts = (os.environ.get("DROPCHECK_ARTIFACTS") or
                 os.environ.get("DROPCHECK_ARTIFACTS_DEFAULT") or "build/artifacts")
    os.makedirs(artifacts, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dropcheck-reports-") as tmp:
        run(dropcheck, scenarios_dir, chromium, chromedriver, artifacts, tmp)
        log = os.path.join(tmp, "chromedriver.log")
        if CHECKS["failed"] and os.path.exists(log):
            print("---- chromedriver.log (tail)")
            print(open(log, errors="replace").read()[-3000:])
    print("screenshots in %s" % os.path.abspath(artifacts))
    print("%d passed, %d failed" % (CHECKS["passed"], CHECKS["failed"]))
    return 1 if CHECKS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
