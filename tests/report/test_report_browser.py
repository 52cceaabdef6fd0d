"""The HTML report of `auditlake demo`, opened in headless Chromium as a person would open it.

The report is meant to be one self-contained file that someone opens from disk or prints, so
this checks what only a browser can tell:
- it loads without a JavaScript exception, a console error or an error in the browser's log;
- it fetches nothing but itself (data: URLs aside), so it works offline and leaks nothing;
- it shows the demo's visuals: each chart (`figure.chart[data-query]`) has a caption, one svg
  and drawn data marks (`.mark`: a path or circle for a line chart, a rect for a bar chart),
  not the "no rows" paragraph (`.empty`), and the table visual has body rows;
- every chart's svg takes up space on screen and in print layout (not hidden or collapsed);
- it can be captured: a full-page screenshot and a PDF print go to $AUDITLAKE_TEST_ARTIFACTS
  (default <repo>/test-artifacts/) for a person to look at.

The demo runs once for the module; the browser is cdp.Browser. The last test checks the client
itself on a page with a console error and an outside image, so a passing run means the checks
above could have failed.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest

import cdp

ROOT = Path(__file__).resolve().parents[2]
BROWSER = cdp.find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason=f"no browser for the report test: none of {', '.join(cdp.BROWSER_NAMES)} is on PATH "
    "(scripts/test.sh installs Debian's chromium)",
)

# data-query (the Athena query file stem) -> what the visual is.
EXPECTED_VISUALS = {
    "iam_keys_created_per_day": "line",
    "signins_per_day_by_result": "line",
    "signins_failed_by_country": "bar",
    "signins_by_event_type": "bar",
    "audits_changes_by_category": "bar",
    "iam_keys_older_than_90_days": "table",
}
# The svg elements that draw a chart's data, by chart type.
MARK_SHAPES = {"line": {"path", "circle"}, "bar": {"rect"}}
LOAD_TIMEOUT = 30.0

# One record per figure[data-query], read in the page.
VISUALS_JS = """
Array.from(document.querySelectorAll('figure[data-query]'), figure => {
  const svg = figure.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {
    query: figure.dataset.query,
    kind: ['chart', 'table'].find(kind => figure.classList.contains(kind)) || figure.className,
    captions: figure.querySelectorAll('figcaption').length,
    svgs: figure.querySelectorAll('svg').length,
    marks: figure.querySelectorAll('svg .mark').length,
    shapes: [...new Set(Array.from(figure.querySelectorAll('svg .mark'), mark => mark.localName))],
    empty: figure.querySelectorAll('.empty').length,
    rows: figure.querySelectorAll('table tbody tr').length,
    width: box.width,
    height: box.height,
  };
})
"""


def artifacts_dir() -> Path:
    path = Path(os.environ.get("AUDITLAKE_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The demo's report.html, made once for the module by $AUDITLAKE_BIN."""
    binary = os.environ.get("AUDITLAKE_BIN")
    if not binary:
        pytest.skip("AUDITLAKE_BIN is not set (scripts/test.sh sets it to the debug binary)")
    if not Path(binary).is_file():
        pytest.skip(f"AUDITLAKE_BIN={binary} is not a file (build it first: scripts/test.sh does)")
    out = tmp_path_factory.mktemp("demo")
    report = out / "report.html"
    run = subprocess.run(
        [binary, "demo", "--lake", str(out / "lake"), "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, f"auditlake demo exited {run.returncode}:\n{run.stdout}{run.stderr}"
    assert report.is_file(), f"auditlake demo wrote no {report}"
    return report


@pytest.fixture(scope="module")
def page(report):
    """A browser that has opened the report and seen its load event."""
    with cdp.Browser(BROWSER) as browser:
        browser.navigate(report.as_uri(), timeout=LOAD_TIMEOUT)
        yield browser


def console_errors(browser: cdp.Browser) -> list[str]:
    """Exceptions, console.error/console.assert calls and error entries of the browser's log."""
    errors = []
    for event in browser.events_named("Runtime.exceptionThrown"):
        details = event["exceptionDetails"]
        errors.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
    for call in browser.events_named("Runtime.consoleAPICalled"):
        if call["type"] in ("error", "assert"):
            args = " ".join(str(arg.get("value", arg.get("description"))) for arg in call["args"])
            errors.append(f"console.{call['type']}: {args}")
    for event in browser.events_named("Log.entryAdded"):
        if event["entry"]["level"] == "error":
            errors.append(f"log ({event['entry']['source']}): {event['entry']['text']}")
    return errors


def requested_urls(browser: cdp.Browser) -> list[str]:
    return [event["request"]["url"] for event in browser.events_named("Network.requestWillBeSent")]


def test_report_loads_without_errors(page):
    errors = console_errors(page)
    assert errors == [], "the report logged errors:\n" + "\n".join(errors)


def test_report_fetches_nothing_but_itself(page, report):
    own = report.as_uri()
    outside = [url for url in requested_urls(page) if url != own and not url.startswith("data:")]
    assert outside == [], f"the report is not self-contained; it requested {outside}"


def test_report_shows_the_demo_visuals(page):
    visuals = page.evaluate(VISUALS_JS)
    found = [v["query"] for v in visuals]
    assert sorted(found) == sorted(EXPECTED_VISUALS), (
        f"missing {sorted(set(EXPECTED_VISUALS) - set(found))}, "
        f"unexpected {sorted(set(found) - set(EXPECTED_VISUALS))}, found {found}"
    )
    problems = []
    for visual in visuals:
        query, kind, expected = visual["query"], visual["kind"], EXPECTED_VISUALS[visual["query"]]
        if kind != ("table" if expected == "table" else "chart"):
            problems.append(f"{query} is a {kind} figure, expected a {expected}")
        elif kind == "chart":
            if visual["captions"] != 1 or visual["svgs"] != 1:
                problems.append(
                    f"chart {query} has {visual['captions']} figcaptions and {visual['svgs']} svgs"
                )
            if visual["empty"]:
                problems.append(f"chart {query} says it has no rows (.empty)")
            if visual["marks"] < 1:
                problems.append(f"chart {query} draws no .mark")
            elif not MARK_SHAPES[expected] & set(visual["shapes"]):
                problems.append(f"{expected} chart {query} draws its marks as {visual['shapes']}")
        elif visual["rows"] < 1:
            problems.append(f"table {query} has no body rows")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("media", ["screen", "print"])
def test_report_charts_take_up_space(page, media):
    page.send("Emulation.setEmulatedMedia", {"media": media})
    try:
        visuals = page.evaluate(VISUALS_JS)
    finally:
        page.send("Emulation.setEmulatedMedia", {"media": ""})
    collapsed = [
        f"{v['query']} ({v['width']:.0f}x{v['height']:.0f})"
        for v in visuals
        if v["kind"] == "chart" and not (v["width"] > 0 and v["height"] > 0)
    ]
    assert collapsed == [], f"chart svgs with an empty box in {media} layout: {collapsed}"


def test_report_screenshot_and_pdf(page):
    out = artifacts_dir()

    # A 1280-wide window as tall as the page laid out at that width: the whole page, no scrollbar.
    def set_viewport(height: int) -> None:
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    try:
        set_viewport(800)
        set_viewport(page.evaluate("document.documentElement.scrollHeight"))
        shot = page.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        page.send("Emulation.clearDeviceMetricsOverride")
    png = base64.b64decode(shot["data"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (out / "report.png").write_bytes(png)
    print(f"report screenshot: {out / 'report.png'}")

    pdf = base64.b64decode(page.send("Page.printToPDF", {"printBackground": True}, timeout=60)["data"])
    (out / "report.pdf").write_bytes(pdf)
    print(f"report PDF: {out / 'report.pdf'}")
    assert pdf.startswith(b"%PDF"), "Page.printToPDF did not return a PDF"
    assert len(pdf) > 10_000, f"the printed report is only {len(pdf)} bytes"


def test_client_sees_console_errors_and_outside_requests():
    # The image is on loopback and blocked in the browser anyway (cdp.BLOCKED_URLS): no traffic.
    outside = "http://127.0.0.1:9/x.png"
    html = f"<script>console.error('x')</script><img src='{outside}'>"
    with cdp.Browser(BROWSER) as browser:
        browser.navigate("data:text/html," + urllib.parse.quote(html), timeout=LOAD_TIMEOUT)
        assert "console.error: x" in console_errors(browser)
        assert outside in requested_urls(browser)
        blocked = [e.get("blockedReason") for e in browser.events_named("Network.loadingFailed")]
        assert "inspector" in blocked, "the outside image was not blocked in the browser"
