"""A small Chrome DevTools Protocol client for the report tests: headless Chromium, one page.

`Browser` starts Chromium with a fresh profile in a temporary folder, reads the DevTools port
that Chromium writes to `<profile>/DevToolsActivePort`, finds the page target with
`GET /json/list` and talks to it over a WebSocket (websocket-client). Commands are sent with
increasing ids; while waiting for a command's response, the events that arrive in between are
kept in `Browser.events` in order, so a test can both wait for one event (`wait_for`) and look
at every event afterwards (`events_named`). Leaving the `with` block closes the socket, ends
the browser and removes the profile folder, whatever happened inside.

The tests need no network and must not make traffic: the page's http(s) and ws(s) requests are
blocked inside the browser (`Network.setBlockedURLs`), so a page that references the outside is
seen doing so (`Network.requestWillBeSent`) without any connection being made.

Protocol reference: https://chromedevtools.github.io/devtools-protocol/
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
# What the page may not fetch: blocked before it leaves the browser, yet still reported by
# Network.requestWillBeSent (then Network.loadingFailed with blockedReason "inspector").
BLOCKED_URLS = ["http://*", "https://*", "ws://*", "wss://*"]
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0


class CdpError(RuntimeError):
    """A command the browser answered with an error, or a browser that did not start."""


def find_browser() -> str | None:
    """The path of the first Chromium-like browser on PATH, or None."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """Headless Chromium with one page, driven over the DevTools Protocol.

    The `Page`, `Runtime`, `Log` and `Network` domains are enabled on entry, before any
    navigation, so no event of the pages opened afterwards is missed, and network URLs are
    blocked (BLOCKED_URLS).
    """

    def __init__(self, executable: str):
        self.executable = executable
        self.events: list[tuple[str, dict]] = []
        self._next_id = 0
        self._profile: Path | None = None
        self._process: subprocess.Popen | None = None
        self._socket: websocket.WebSocket | None = None

    def __enter__(self) -> Browser:
        try:
            self._start()
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.send(f"{domain}.enable")
            self.send("Network.setBlockedURLs", {"urls": BLOCKED_URLS})
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _start(self) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="auditlake-chromium-"))
        with open(self._profile / "browser.log", "wb") as log:
            self._process = subprocess.Popen(
                [
                    self.executable,
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    # No update checks, metrics or other traffic of the browser's own.
                    "--disable-background-networking",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={self._profile}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        port = self._devtools_port()
        url = self._page_socket_url(port)
        # Chromium refuses DevTools WebSockets that carry an Origin header it was not told to
        # allow (--remote-allow-origins); a client that sends none is accepted.
        self._socket = websocket.create_connection(url, timeout=START_TIMEOUT, suppress_origin=True)

    def _devtools_port(self) -> int:
        """The port in DevToolsActivePort, which Chromium writes once it listens: the port on
        the first line, the browser target's path on the second (so two lines: fully written)."""
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise CdpError(f"{self.executable} exited with {self._process.returncode}: {self._log_tail()}")
            lines = port_file.read_text().splitlines() if port_file.exists() else []
            if len(lines) >= 2 and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.1)
        raise CdpError(f"no {port_file} after {START_TIMEOUT:.0f} s: {self._log_tail()}")

    def _page_socket_url(self, port: int) -> str:
        """The webSocketDebuggerUrl of the page target (the about:blank tab it opened)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                targets = json.load(response)
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise CdpError(f"no page target on port {port} after {START_TIMEOUT:.0f} s")

    def _log_tail(self) -> str:
        log = self._profile / "browser.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no output)"

    def close(self) -> None:
        """Closes the socket, ends the browser (SIGTERM, then SIGKILL) and removes the profile."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def send(self, method: str, params: dict | None = None, timeout: float = COMMAND_TIMEOUT) -> dict:
        """Sends one command and returns its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        command_id = self._next_id
        self._socket.send(json.dumps({"id": command_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, f"the response to {method}")
            if message.get("id") == command_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, method: str, timeout: float = COMMAND_TIMEOUT, since: int = 0) -> dict:
        """The params of the first `method` event at index `since` or later in `events`,
        receiving more messages until it arrives or `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for name, params in self.events[checked:]:
                if name == method:
                    return params
            checked = len(self.events)
            self._receive(deadline, f"the event {method}")

    def _receive(self, deadline: float, waiting_for: str) -> dict:
        """Receives one message, keeping it in `events` if it is an event."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out waiting for {waiting_for}")
        self._socket.settimeout(remaining)
        try:
            raw = self._socket.recv()
        except websocket.WebSocketTimeoutException:
            raise TimeoutError(f"timed out waiting for {waiting_for}") from None
        if not raw:
            raise CdpError(f"the browser closed the connection while waiting for {waiting_for}")
        message = json.loads(raw)
        if "method" in message:
            self.events.append((message["method"], message.get("params", {})))
        return message

    def events_named(self, method: str) -> list[dict]:
        """The params of every `method` event received so far, in order."""
        return [params for name, params in self.events if name == method]

    def navigate(self, url: str, timeout: float = COMMAND_TIMEOUT) -> None:
        """Opens `url` and waits for its load event."""
        since = len(self.events)
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired", timeout=timeout, since=since)

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable values only)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")
