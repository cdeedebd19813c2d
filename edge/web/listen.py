"""Listening for the operator screen: the threaded server, the loopback check that decides whether
a token is needed, and ``serve`` (``claim-edge serve``), which runs the screen until interrupted."""

from __future__ import annotations

import http.server
import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path

from ..config import Profile
from ..service.notify import Notifier
from ..store import Store
from .app import MB, WebApp, WebError
from .server import MIN_TOKEN, TOKEN_ENV, Config, Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog (socketserver's default is 5): a burst of connections beyond it has
    # its SYNs dropped and retried after 1, 3, 7, 15 s. The kernel caps it at somaxconn.
    request_queue_size = 1024

    def __init__(self, addr, handler, ipv6: bool):
        if ipv6:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(app: WebApp, host: str = "127.0.0.1", port: int = 8080,
                token: str | None = None) -> tuple[Server, Config]:
    loopback = is_loopback(host)
    if not loopback and not token:
        raise WebError(f"Listening on {host} opens the screen to the network: give --token "
                       f"(or ${TOKEN_ENV}) as well.", code="token_required")
    if token is not None and len(token) < MIN_TOKEN:
        raise WebError(f"the token must be at least {MIN_TOKEN} characters",
                       code="token_too_short")
    cfg = Config(app, token or None, loopback)
    handler = type("BoundHandler", (Handler,), {"cfg": cfg})
    ipv6 = ":" in host
    srv = Server((host, port), handler, ipv6)
    cfg.port = srv.server_address[1]
    return srv, cfg


def serve(profile: Profile, store_path: Path, make_pipeline, *, host: str = "127.0.0.1",
          port: int = 8080, token: str | None = None, watch: str | None = None,
          claim: str | None = None, max_upload_mb: float | None = None,
          out=sys.stdout) -> int:
    """Run the screen until interrupted (Ctrl-C or SIGTERM). Returns an exit status."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if watch and not claim:
        print("claim-edge serve: --watch needs --claim (the claim the folder's photos go to)",
              file=sys.stderr)
        return 2
    if watch and not Path(watch).is_dir():
        print(f"claim-edge serve: --watch {watch}: not a folder", file=sys.stderr)
        return 2
    if not is_loopback(host) and not token:
        print(f"claim-edge serve: --listen {host} opens the screen to the network; give --token T "
              f"(or set {TOKEN_ENV}) as well", file=sys.stderr)
        return 2
    if token is not None and len(token) < MIN_TOKEN:
        print(f"claim-edge serve: the token must be at least {MIN_TOKEN} characters",
              file=sys.stderr)
        return 2
    pipeline = make_pipeline()
    store = Store.open(store_path)
    max_bytes = int(max_upload_mb * MB) if max_upload_mb else None
    app = WebApp(profile, store, pipeline, max_upload_bytes=max_bytes)
    try:
        srv, cfg = make_server(app, host, port, token)
    except (WebError, OSError) as e:
        store.close()
        if isinstance(e, WebError):
            print(f"claim-edge serve: {e.message}", file=sys.stderr)
            return 2
        print(f"claim-edge serve: cannot listen on {host}:{port}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    app.start()
    if watch:
        app.watch(watch, claim)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{cfg.port}/"
    print(f"claim-edge serve: {url} (store {store_path}, model {pipeline.bundle.name} "
          f"{pipeline.bundle.version}{', token required' if token else ''}"
          f"{f', watching {watch} for claim {claim}' if watch else ''}); Ctrl-C to stop",
          file=out, flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    notifier = Notifier()
    srv.service_actions = notifier.kick   # called by serve_forever's loop every poll
    notifier.ready(url)
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        notifier.stopping()
        srv.server_close()
        app.stop()
        store.close()
    return 0
