"""A real Mosquitto on a free loopback port and a TCP proxy that cuts, stalls and half-opens
the link: used by the sync tests, ``claim-edge bench sync`` and the soak script.
Nothing here is a stand-in: the broker is the mosquitto binary with the shipped ACL."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

ACL_FILE = Path(__file__).resolve().parents[2] / "firmware_config" / "mosquitto" / "acl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None)


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


class Broker:
    """mosquitto with password file, the project's ACL file and persistence, in ``workdir``."""

    def __init__(self, workdir: str | os.PathLike, users: dict[str, str], port: int | None = None,
                 max_packet_size: int = 2 * 1024 * 1024, acl_file: str | os.PathLike = ACL_FILE,
                 extra: str = ""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = dict(users)
        self.proc: subprocess.Popen | None = None
        self.binary = find_mosquitto()
        if self.binary is None:
            raise FileNotFoundError("mosquitto not installed (apt-get install mosquitto)")
        passwd = self.dir / "passwd"
        passwd.write_text("")
        os.chmod(passwd, 0o600)
        for user, pw in self.users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (self.dir / "data").mkdir(exist_ok=True)
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        import getpass
        self.conf.write_text(f"""per_listener_settings false
user {getpass.getuser()}
allow_anonymous false
password_file {passwd}
acl_file {acl_file}
listener {self.port} 127.0.0.1
persistence true
persistence_location {self.dir / 'data'}/
autosave_interval 1
persistent_client_expiration 1d
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 64
max_packet_size {max_packet_size}
log_dest file {self.log}
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
{extra}
""")

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.proc.kill()
            raise RuntimeError(f"mosquitto did not start: {self.log_text()[-2000:]}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target. ``cut()`` resets every connection; ``stall()``
    stops forwarding both ways while the sockets stay open (a half-open link); ``drop_down``
    discards what the target sends (acks lost) until the next cut. Counts the bytes sent up."""

    def __init__(self, target_port: int, port: int | None = None, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self.stalled = threading.Event()
        self.drop_down = threading.Event()
        self.refuse = threading.Event()
        self.stall_at: int | None = None   # stall by itself once this many bytes went up
        self.drop_down_at: int | None = None   # start dropping downstream likewise
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._closed = False
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", self.port))
        self._srv.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                cli, _ = self._srv.accept()
            except OSError:
                return
            if self.refuse.is_set():
                cli.close()
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
            except OSError:
                cli.close()
                continue
            self.connections += 1
            with self._lock:
                self._socks += [cli, up]
            threading.Thread(target=self._pump, args=(cli, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, cli, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        try:
            while not self._closed:
                if self.stalled.is_set():
                    time.sleep(0.02)
                    continue
                r, _, _ = select.select([src], [], [], 0.05)
                if not r:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if upward:
                    self.bytes_up += len(data)
                    if self.stall_at is not None and self.bytes_up >= self.stall_at:
                        self.stall_at = None
                        self.stalled.set()
                    if self.drop_down_at is not None and self.bytes_up >= self.drop_down_at:
                        self.drop_down_at = None
                        self.drop_down.set()
                else:
                    if self.drop_down.is_set():
                        continue
                    self.bytes_down += len(data)
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def cut(self) -> None:
        """Reset every open connection (both sides see the link drop)."""
        with self._lock:
            socks, self._socks = self._socks, []
        self.drop_down.clear()
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._srv.close()


def kill_process(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
