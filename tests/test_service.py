"""The systemd units for serve, sync and fleet follow: `claim-edge service install` writes them for
a profile, `systemd-analyze verify` accepts them, and the processes speak systemd's notify
protocol (READY=1, then WATCHDOG=1 from their main loop) to a real unix datagram socket."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.service import Notifier, ServiceError, render

CLI = [sys.executable, "-m", "edge.cli"]
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
             "CapabilityBoundingSet=", "RestrictAddressFamilies=", "SystemCallFilter=")


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:   # a missing checker must not pass the check: fail, never skip
        pytest.fail("unit checks need Debian package 'systemd' (systemd-analyze)", pytrace=False)
    return path


def _install(tmp_path, *extra):
    root = tmp_path / "root"
    exe = Path(sys.executable).parent / "claim-edge"
    r = subprocess.run(CLI + ["service", "install", "--profile", "raspberry-pi-4", "--root",
                              str(root), "--exec", str(exe), *extra],
                       capture_output=True, text=True, timeout=60)
    return root, r


def test_install_writes_units_for_the_profile_and_enables_them(tmp_path):
    root, r = _install(tmp_path, "--enable")
    assert r.returncode == 0, r.stderr
    units = root / "etc/systemd/system"
    for name in ("claim-edge-serve", "claim-edge-sync", "claim-edge-fleet"):
        text = (units / f"{name}.service").read_text()
        assert "--profile raspberry-pi-4" in text and "Environment=CLAIM_EDGE_PROFILE=raspberry-pi-4" in text
        assert "Type=notify" in text and "WatchdogSec=" in text and "Restart=on-failure" in text
        assert "User=claim-edge" in text and "StandardOutput=journal" in text
        assert all(h in text for h in HARDENING), name
        assert "@" not in text.replace("@system-service", ""), "a template marker was left"
        link = units / "multi-user.target.wants" / f"{name}.service"
        assert os.readlink(link) == f"/etc/systemd/system/{name}.service"
        assert f"wrote {units / (name + '.service')}" in r.stdout
    assert "u claim-edge " in (root / "etc/sysusers.d/claim-edge.conf").read_text()
    assert "fleet follow --profile raspberry-pi-4" in (units / "claim-edge-fleet.service").read_text()


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    analyze = _systemd_analyze()
    root, r = _install(tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted((root / "etc/systemd/system").glob("*.service"))
    assert len(files) == 3
    v = subprocess.run([analyze, "verify", *map(str, files)], capture_output=True, text=True,
                       timeout=120)
    assert v.returncode == 0 and "claim-edge" not in v.stderr, v.stderr
    # The checker does fail a broken unit (so the pass above means something).
    bad = tmp_path / "claim-edge-bad.service"
    bad.write_text(files[0].read_text().replace("Restart=on-failure", "Restart=sometimes"))
    v = subprocess.run([analyze, "verify", str(bad)], capture_output=True, text=True, timeout=120)
    assert "claim-edge-bad.service:" in v.stderr and "sometimes" in v.stderr


def test_install_refuses_bad_input_and_writes_nothing(tmp_path):
    root = tmp_path / "root"
    r = subprocess.run(CLI + ["service", "install", "--profile", "no-such-device", "--root",
                              str(root)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no-such-device.toml: profile file not found" in r.stderr
    root, r = _install(tmp_path, "--user", "Root User")
    assert r.returncode == 2 and "not a valid system user name" in r.stderr
    root, r = _install(tmp_path, "--units", "serve,backup")
    assert r.returncode == 2 and "unknown unit 'backup'" in r.stderr
    assert not root.exists()
    with pytest.raises(ServiceError, match="absolute path"):
        render("kiosk-x86", Path("claim-edge"))


class NotifySocket:
    """What systemd listens on: a unix datagram socket the service gets as $NOTIFY_SOCKET."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = path

    def collect(self, until, timeout: float) -> list[str]:
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline and not until(got):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got.extend(self.sock.recv(4096).decode().splitlines())
            except TimeoutError:
                break
        return got

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    s = NotifySocket(tmp_path / "notify.sock")
    yield s
    s.close()


def _service_env(notify, tmp_path):
    return dict(os.environ, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="300000",
                HOME=str(tmp_path), PYTHONUNBUFFERED="1")


@pytest.mark.parametrize("command", [
    ["sync", "--profile", "kiosk-x86", "--port", "1"],     # no broker there: it keeps retrying
    ["serve", "--profile", "kiosk-x86", "--port", "0"],
], ids=["sync", "serve"])
def test_process_says_ready_feeds_the_watchdog_and_says_stopping(command, notify, tmp_path):
    store = tmp_path / "store.db"
    p = subprocess.Popen(CLI + command + ["--store", str(store)], env=_service_env(notify, tmp_path),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        got = notify.collect(lambda g: g.count("WATCHDOG=1") >= 3, timeout=60)
        assert got and got[0] == "READY=1", (got, p.poll())
        assert got.count("WATCHDOG=1") >= 3      # 0.3 s watchdog: fed about every 0.1 s
        p.send_signal(signal.SIGTERM)
        rest = notify.collect(lambda g: "STOPPING=1" in g, timeout=30)
        assert "STOPPING=1" in rest
        assert p.wait(timeout=30) in (0, 3)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_notifier_outside_systemd_and_for_another_pid_sends_nothing(notify):
    assert not Notifier({}).active and not Notifier({}).kick() and not Notifier({}).ready()
    other = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000",
                      "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_s is None and not other.kick()   # the watchdog is a parent's, not ours
    t = [0.0]
    mine = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "900000",
                     "WATCHDOG_PID": str(os.getpid())}, clock=lambda: t[0])
    sent = []
    for step in range(10):                 # 10 calls over 0.9 s: fed every 0.3 s, not per call
        t[0] = step * 0.1
        sent.append(mine.kick())
    assert sum(sent) == 3
    assert notify.collect(lambda g: len(g) >= 3, timeout=5) == ["WATCHDOG=1"] * 3


def test_notifier_reaches_an_abstract_socket():
    name = f"claim-edge-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready("serving")
        s.settimeout(5)
        assert s.recv(4096).decode().splitlines() == ["READY=1", "STATUS=serving"]
    finally:
        s.close()
