"""A tiny headless-Chromium driver over the DevTools protocol (tests only).

Usage::

    with Chromium() as b:
        page = b.open(Path("map.html"))
        page.js_errors          # uncaught exceptions and console.error calls
        page.network_errors     # failed/blocked loads (tiles, CDNs)
        b.eval("1 + 1")         # -> 2
        png = b.screenshot()

Every page gets ``window.alert``/``confirm``/``prompt`` replaced before its
own scripts run, so ``b.eval("window.__alerts.length")`` tells whether any
script tried to pop a dialog. Network access is blocked: everything except
``file:``/``data:`` URLs fails, both by host-resolver rules and by
``Network.setBlockedURLs``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_NO_DIALOGS = """
(function () {
  window.__alerts = [];
  var record = function (kind) { return function (m) { window.__alerts.push(kind + ':' + String(m)); return kind === 'confirm' ? false : null; }; };
  window.alert = record('alert'); window.confirm = record('confirm'); window.prompt = record('prompt');
})();
"""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary, or None."""
    for name in CHROMIUM_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


@dataclass
class PageLog:
    """What happened while a page loaded."""

    url: str
    js_errors: list[str] = field(default_factory=list)
    network_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class Chromium:
    """Start headless Chromium with networking blocked and drive one tab."""

    def __init__(self, binary: str | None = None, width: int = 1200, height: int = 800, timeout: float = 30.0):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise RuntimeError("no chromium binary found (apt-get install chromium)")
        self.width, self.height, self.timeout = width, height, timeout
        self._id = 0
        self._events: list[dict] = []
        self.proc = None
        self.ws = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Chromium:
        self.profile = tempfile.mkdtemp(prefix="access-chromium-")
        args = [
            self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
            f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
            f"--window-size={self.width},{self.height}", "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start (no DevToolsActivePort)")
            time.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        targets = []
        while not targets:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = [t for t in json.load(r) if t.get("type") == "page"]
            if not targets:
                time.sleep(0.05)
        self.ws = websocket.create_connection(
            targets[0]["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True
        )
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(method)
        self.send("Network.setBlockedURLs", urls=["http://*", "https://*", "ws://*", "wss://*"])
        self.send("Page.addScriptToEvaluateOnNewDocument", source=_NO_DIALOGS)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=self.width, height=self.height, deviceScaleFactor=1, mobile=False,
        )
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
        shutil.rmtree(getattr(self, "profile", ""), ignore_errors=True)

    # -- protocol ----------------------------------------------------------
    def send(self, method: str, **params) -> dict:
        """Send a command and return its result; events seen meanwhile are kept."""
        self._id += 1
        msg_id = self._id
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._on_event(msg)
        raise TimeoutError(method)

    def _on_event(self, msg: dict) -> None:
        self._events.append(msg)
        if msg["method"] == "Page.javascriptDialogOpening":
            # Should never happen (dialogs are replaced); never leave one blocking.
            self.ws.send(json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog", "params": {"accept": False}}))

    def _wait_event(self, name: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for e in self._events:
                if e["method"] == name and not e.get("_seen"):
                    e["_seen"] = True
                    return e
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self._on_event(msg)
        raise TimeoutError(name)

    def _drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` (lets late scripts and tiles settle)."""
        end = time.monotonic() + seconds
        self.ws.settimeout(0.05)
        try:
            while time.monotonic() < end:
                try:
                    msg = json.loads(self.ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue
                if "method" in msg:
                    self._on_event(msg)
        finally:
            self.ws.settimeout(self.timeout)

    # -- pages -------------------------------------------------------------
    def open(self, path: Path | str, settle: float = 1.0) -> PageLog:
        """Load a file (or URL), wait for ``load`` plus ``settle`` seconds; return its log."""
        url = Path(path).resolve().as_uri() if not str(path).startswith(("file:", "about:", "data:")) else str(path)
        self._events.clear()
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired")
        self._drain(settle)
        return self._log(url)

    def _log(self, url: str) -> PageLog:
        log = PageLog(url)
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in self._events
            if e["method"] == "Network.requestWillBeSent"
        }
        for e in self._events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                exc = d.get("exception", {})
                desc = exc.get("description") or f"{d.get('text', '')} {exc.get('value', '')}"
                log.js_errors.append(f"{desc} at {d.get('url', '')}:{d.get('lineNumber')}")
            elif m == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                log.console.append(f"{p['type']}: {text}")
                if p["type"] in ("error", "assert"):
                    log.js_errors.append(f"console.{p['type']}: {text}")
            elif m == "Log.entryAdded":
                entry = p["entry"]
                text = f"{entry.get('source')}/{entry.get('level')}: {entry.get('text')} {entry.get('url', '')}"
                log.console.append(text)
                if entry.get("source") == "network":
                    log.network_errors.append(text)
                elif entry.get("level") == "error" and entry.get("source") in ("javascript", "security"):
                    log.js_errors.append(text)
            elif m == "Network.loadingFailed":
                why = p.get("errorText") or f"blocked:{p.get('blockedReason')}"
                log.network_errors.append(f"{why} ({p.get('type')}) {urls.get(p.get('requestId'), '')}")
            elif m == "Page.javascriptDialogOpening":
                log.dialogs.append(p.get("message", ""))
        return log

    def requests(self, settle: float = 0.5) -> list[str]:
        """URLs the page requested since it was opened (after ``settle`` seconds more)."""
        self._drain(settle)
        return [e["params"]["request"]["url"] for e in self._events if e["method"] == "Network.requestWillBeSent"]

    def resize(self, width: int, height: int) -> None:
        """Set the viewport (CSS pixels) for the pages opened next."""
        self.width, self.height = width, height
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def eval(self, expression: str, await_promise: bool = False):
        """Evaluate JavaScript in the page and return its (JSON) value."""
        r = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description") or d.get("text"))
        return r.get("result", {}).get("value")

    def screenshot(self, path: Path | str | None = None) -> bytes:
        """PNG of the viewport; written to ``path`` when given."""
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        if path is not None:
            Path(path).write_bytes(data)
        return data


def png_stats(png: bytes) -> tuple[float, int]:
    """(pixel standard deviation, number of distinct colours) of a PNG."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    flat = img.reshape(-1, 3)
    colours = len(np.unique(flat[:: max(1, len(flat) // 200_000)], axis=0))
    return float(img.std()), colours
