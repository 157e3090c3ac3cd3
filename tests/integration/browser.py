"""A real headless Chromium driven over the DevTools protocol, for the browser tests.

No driver and no Python dependency: Chromium (the Debian package; ``.ci/run`` installs it) is
started with ``--remote-debugging-pipe``, which reads protocol commands from its file
descriptor 3 and writes answers and events to 4, each message JSON ending in a NUL byte. A
page records every uncaught exception (``Runtime.exceptionThrown``), every ``console.error``
and every error the browser logs about it (``Log.entryAdded``: a failed load, a refused
script), so a test can assert that none happened.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Optional

#: Names the Chromium binary goes by; $TFCLI_CHROMIUM names another one.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_binary() -> Optional[str]:
    """The Chromium to drive, or None when this machine has none."""
    chosen = os.environ.get("TFCLI_CHROMIUM")
    if chosen:
        return shutil.which(chosen) or (chosen if os.access(chosen, os.X_OK) else None)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    """One headless Chromium process; ``with Browser() as browser: page = browser.open(url)``."""

    def __init__(self, binary: Optional[str] = None, *, width: int = 1400, height: int = 1000):
        self.binary = binary or chromium_binary()
        if self.binary is None:
            raise BrowserError("no Chromium binary found (apt-get install chromium)")
        self.size = (width, height)
        self.process: Optional[subprocess.Popen] = None
        self._next_id = 0
        self._answers: dict[int, queue.Queue] = {}
        self._lock = threading.Lock()
        self.events: list[dict] = []
        self.stderr_path: Optional[str] = None

    # -- process ---------------------------------------------------------------------------

    def __enter__(self) -> "Browser":
        self.profile = tempfile.mkdtemp(prefix="tfcli-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self.stderr_path = os.path.join(self.profile, "stderr.log")
        stderr = open(self.stderr_path, "wb")

        def descriptors() -> None:  # in the child: the protocol pipes at 3 and 4, inherited
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]  # above 3 and 4
            for fd, high_fd in zip((3, 4), high):
                os.dup2(high_fd, fd, inheritable=True)
                os.close(high_fd)

        args = [
            self.binary,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--mute-audio",
            f"--window-size={self.size[0]},{self.size[1]}",
            "about:blank",
        ]
        try:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                preexec_fn=descriptors, close_fds=False, start_new_session=True,
            )
        finally:
            stderr.close()
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.call("Browser.getVersion", timeout=30)  # it answers: the browser is up
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                try:
                    self.call("Browser.close", timeout=5)
                except BrowserError:
                    pass
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:  # its helpers (zygote, renderers) are in the group it leads
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)
            self.process = None

    def stderr_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-chars:]
        except (OSError, TypeError):
            return ""

    # -- protocol --------------------------------------------------------------------------

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._lock:
                        answer = self._answers.get(message["id"])
                    if answer is not None:
                        answer.put(message)
                else:
                    self.events.append(message)
        with self._lock:  # the browser went away: wake every caller
            for answer in self._answers.values():
                answer.put({"error": {"message": "the browser closed its protocol pipe"}})

    def call(self, method: str, params: Optional[dict] = None, *, session: Optional[str] = None, timeout: float = 30) -> dict:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            answer: queue.Queue = queue.Queue()
            self._answers[ident] = answer
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
            try:
                reply = answer.get(timeout=timeout)
            except queue.Empty:
                raise BrowserError(f"Chromium did not answer {method} within {timeout} s; its stderr:\n{self.stderr_tail()}") from None
        except BrokenPipeError:
            raise BrowserError(f"Chromium is gone ({method}); its stderr:\n{self.stderr_tail()}") from None
        finally:
            with self._lock:
                self._answers.pop(ident, None)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error']}; Chromium's stderr:\n{self.stderr_tail()}")
        return reply.get("result", {})

    def open(self, url: str, *, timeout: float = 30, offline: bool = False) -> "Page":
        """A new tab, its errors recorded from before ``url`` starts to load; ``offline``: with
        no network (a request fails, and the browser logs it as an error)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        if offline:
            self.call("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}, session=session)
        page.navigate(url, timeout=timeout)
        return page


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser = browser
        self.session = session

    def call(self, method: str, params: Optional[dict] = None, *, timeout: float = 30) -> dict:
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def _events(self, *methods: str) -> list[dict]:
        return [e for e in list(self.browser.events) if e.get("sessionId") == self.session and e.get("method") in methods]

    def navigate(self, url: str, *, timeout: float = 30) -> None:
        """Load ``url`` and wait until its document is complete."""
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"loading {url} failed: {result['errorText']}")
        loaded = "document.readyState === 'complete' && location.href !== 'about:blank'"
        if not self.wait_for(loaded, timeout=timeout, every=0.1):
            raise BrowserError(f"{url} did not finish loading within {timeout} s")

    def evaluate(self, expression: str, *, timeout: float = 30) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, timeout=timeout
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluating {expression!r} threw: {describe_exception(result['exceptionDetails'])}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 30, every: float = 0.25) -> Any:
        """The first truthy value of ``expression``, polled until ``timeout``; None after it."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(every)

    def errors(self) -> list[str]:
        """Every uncaught exception, console.error and browser-logged error of the page so far."""
        found = []
        for event in self._events("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"):
            params = event["params"]
            if event["method"] == "Runtime.exceptionThrown":
                found.append("uncaught exception: " + describe_exception(params["exceptionDetails"]))
            elif event["method"] == "Runtime.consoleAPICalled":
                if params.get("type") in ("error", "assert"):
                    found.append("console." + params["type"] + ": " + " ".join(describe_value(a) for a in params.get("args", [])))
            elif params["entry"].get("level") == "error":
                entry = params["entry"]
                found.append(f"browser log ({entry.get('source')}): {entry.get('text')} {entry.get('url') or ''}".rstrip())
        return found


def describe_value(value: dict) -> str:
    if "value" in value:
        return str(value["value"])
    return value.get("description") or value.get("type", "?")


def describe_exception(details: dict) -> str:
    exception = details.get("exception") or {}
    where = f" at {details.get('url') or '?'}:{details.get('lineNumber', '?')}:{details.get('columnNumber', '?')}"
    return (exception.get("description") or details.get("text") or "?").splitlines()[0] + where
