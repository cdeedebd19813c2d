"""Run the screen in a child process and look at it with the system's headless Chromium.

Used by the browser tests and by ``python -m edge.web.screenshots``. Playwright drives Debian's
``chromium`` package (``/usr/bin/chromium``); no browser is ever downloaded.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "CLAIM_EDGE_CHROMIUM"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def chromium_path() -> str | None:
    for cand in (os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium", shutil.which("chromium")):
        if cand and Path(cand).is_file():
            return cand
    return None


def launch(playwright):
    """A headless Chromium from the system's package."""
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium: install Debian's 'chromium' package "
                           f"(or set {CHROMIUM_ENV})")
    return playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)


class ServerProcess:
    """``claim-edge serve --port 0 ...`` in a child process; ``url`` once it listens."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 60):
        self.cmd = [sys.executable, "-m", "edge.cli", "serve", "--port", "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.lines: list[str] = []

    def __enter__(self) -> "ServerProcess":
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        found: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"(http://\S+/) ", line)
                if m:
                    found.put(m.group(1))
            found.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            url = found.get(timeout=self.timeout)
        except queue.Empty:
            url = None
        if url is None:
            self.__exit__(None, None, None)
            raise RuntimeError("claim-edge serve did not start:\n" + "".join(self.lines))
        self.url = url
        return self

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
