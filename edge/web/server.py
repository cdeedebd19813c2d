"""HTTP for the operator screen, on the standard library's ``http.server``.

Bound to 127.0.0.1 by default. Listening elsewhere (the device's LAN) needs ``--token``: the
first visit is ``http://DEVICE:PORT/?token=T``, which sets an HttpOnly cookie; scripts may send
``Authorization: Bearer T`` instead. Every POST carries the page's CSRF token, and on loopback
the Host header must name the loopback address (no DNS rebinding from a web page).
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import uuid as uuidlib
from email.parser import BytesParser
from email.policy import HTTP
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..config import Profile
from ..store import Store
from ..store.schema import Claim, Photo
from . import assets, views
from .app import WebApp, WebError, jobs_json
from .thumbs import SIZES, NoImage, thumbnail

log = logging.getLogger("claim_edge.web")

TOKEN_ENV = "CLAIM_EDGE_WEB_TOKEN"
COOKIE = "claim_edge_token"
FORM_LIMIT = 64 * 1024          # url-encoded forms (claim id, a field correction)
MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around one uploaded file
DRAIN_LIMIT = 256 * 1024 * 1024  # an over-limit body up to this is read and dropped, so the
                                 # browser gets the answer instead of a reset connection

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Config:
    def __init__(self, app: WebApp, token: str | None, loopback: bool, max_files: int = 20):
        self.app = app
        self.token = token
        self.loopback = loopback
        self.csrf = secrets.token_urlsafe(24)
        self.max_files = max_files
        self.port = 0


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str | None, bytes]]:
    """(field name, filename or None, bytes) for each part of a multipart/form-data body."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise WebError("Malformed upload (not multipart).", code="bad_upload")
    parts = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        filename = part.get_param("filename", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        parts.append((str(name), None if filename is None else str(filename), data))
    return parts


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "claim-edge"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 60
    cfg: Config

    # --- plumbing -----------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # noqa: D401 - quiet unless debugging
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if ctype.startswith("text/html"):
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def html(self, text: str, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, text.encode("utf-8"), "text/html; charset=utf-8", headers)

    def json(self, obj, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json",
                   {"Cache-Control": "no-store"})

    def redirect(self, location: str, headers: dict | None = None) -> None:
        self._send(303, b"", "text/plain", {"Location": location, **(headers or {})})

    def wants_json(self) -> bool:
        return "application/json" in (self.headers.get("Accept") or "")

    def fail(self, status: int, message: str, code: str = "error") -> None:
        if self.wants_json():
            self.json({"error": {"code": code, "message": message}}, status)
        else:
            authed = status != 401
            self.html(views.error_page(self.cfg.app if authed else None, self.cfg.csrf, status,
                                       message), status)

    # --- guards -------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        if not self.cfg.loopback:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in ("127.0.0.1", "localhost", "[::1]")

    def _authed(self, query: dict) -> tuple[bool, bool]:
        """(authorised, token given in the URL: set the cookie)."""
        token = self.cfg.token
        if not token:
            return True, False
        given = (query.get("token") or [""])[0]
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True, True
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(),
                                                              token.encode()):
            return True, False
        cookie = SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            pass
        c = cookie.get(COOKIE)
        return bool(c and hmac.compare_digest(c.value.encode(), token.encode())), False

    def _csrf_ok(self, form: dict | None) -> bool:
        given = self.headers.get("X-CSRF-Token") or ((form or {}).get("csrf") or [""])[0]
        return hmac.compare_digest(given.encode(), self.cfg.csrf.encode())

    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None after answering 411/413 (an over-limit body is drained)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.fail(411, "Send the upload with a Content-Length.", "length_required")
            return None
        try:
            n = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self.close_connection = True
            self.fail(411, "Send the upload with a Content-Length.", "length_required")
            return None
        if n < 0:
            self.close_connection = True
            self.fail(400, "Bad Content-Length.", "bad_request")
            return None
        if n > limit:
            self.close_connection = True
            if n <= DRAIN_LIMIT:
                left = n
                try:
                    while left > 0:
                        chunk = self.rfile.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        left -= len(chunk)
                except OSError:
                    pass
            app = self.cfg.app
            self.fail(413, f"Not added: the upload is {n / 1e6:.1f} MB, over the limit of "
                           f"{app.max_upload_bytes / 1e6:.1f} MB per photo "
                           f"(file_too_large).", "file_too_large")
            return None
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            return None
        return data

    # --- dispatch -----------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = unquote(url.path)
        try:
            if not self._host_ok():
                self.fail(400, "Open this page as http://127.0.0.1 or http://localhost.",
                          "bad_host")
                return
            if path.startswith("/static/"):
                return self._static(path)
            if path == "/favicon.ico":
                return self._send(204, b"", "image/x-icon", {"Cache-Control": "max-age=86400"})
            ok, set_cookie = self._authed(query)
            if not ok:
                self.fail(401, "This device's screen needs its access token: open the address "
                               "with ?token=... as given by the operator.", "unauthorized")
                return
            if set_cookie:
                cookie = (f"{COOKIE}={self.cfg.token}; HttpOnly; SameSite=Strict; Path=/; "
                          "Max-Age=43200")
                self.redirect(url.path or "/", {"Set-Cookie": cookie})
                return
            self._route(method, path, query)
        except WebError as e:
            self.fail(e.status, e.message, e.code)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - the screen answers, whatever went wrong
            log.exception("%s %s failed", method, self.path)
            self.fail(500, f"Something went wrong on the device: {type(e).__name__}: {e}",
                      "internal_error")
        finally:
            db = self.cfg.app.store.db
            if not db.is_closed():
                db.close()

    def _route(self, method: str, path: str, query: dict) -> None:
        parts = [p for p in path.split("/") if p]
        app = self.cfg.app
        if method == "GET" and not parts:
            return self.html(views.home(app, self.cfg.csrf))
        if method == "GET" and parts == ["status"]:
            return self.json(app.status())
        if parts == ["claims"] and method == "POST":
            return self._create_claim()
        if len(parts) >= 2 and parts[0] == "claims":
            claim_id = parts[1]
            claim = Claim.get_or_none(Claim.id == claim_id)
            if claim is None:
                raise WebError(f"No claim '{claim_id}' on this device.", 404, "no_claim")
            rest = parts[2:]
            if method == "GET" and not rest:
                return self.html(views.claim_page(app, claim_id, self.cfg.csrf))
            if method == "GET" and rest == ["live"]:
                return self.json(views.claim_fragments(app, claim_id))
            if method == "GET" and rest == ["jobs"]:
                return self.json(jobs_json(app.jobs(claim_id)))
            if method == "POST" and rest == ["photos"]:
                return self._upload(claim_id)
        if len(parts) >= 2 and parts[0] == "photos":
            photo = self._photo(parts[1])
            rest = parts[2:]
            if method == "GET" and not rest:
                return self.html(views.photo_page(app, photo, self.cfg.csrf,
                                                  saved=(query.get("saved") or [""])[0]))
            if method == "POST" and rest == ["fields"]:
                return self._correct(photo)
        if method == "GET" and len(parts) == 2 and parts[0] == "thumbs":
            return self._thumb(parts[1], (query.get("s") or ["thumb"])[0])
        raise WebError("No such page.", 404, "not_found")

    # --- handlers -----------------------------------------------------------------------------
    def _static(self, path: str) -> None:
        files = {"/static/app.css": (assets.CSS, "text/css; charset=utf-8"),
                 "/static/app.js": (assets.JS, "text/javascript; charset=utf-8")}
        if path not in files:
            raise WebError("No such file.", 404, "not_found")
        text, ctype = files[path]
        self._send(200, text.encode(), ctype, {"Cache-Control": "max-age=3600"})

    def _form(self) -> dict | None:
        ctype = self.headers.get("Content-Type") or ""
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise WebError("Send the form as the page does.", 415, "bad_form")
        body = self._read_body(FORM_LIMIT)
        if body is None:
            return None
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        if not self._csrf_ok(form):
            raise WebError("The page is out of date: reload it and try again.", 403, "csrf")
        return form

    def _create_claim(self) -> None:
        form = self._form()
        if form is None:
            return
        value = (form.get("claim") or [""])[0]
        try:
            claim_id = self.cfg.app.create_claim(value)
        except WebError as e:
            return self.html(views.home(self.cfg.app, self.cfg.csrf, e.message, value), e.status)
        self.redirect(views.claim_url(claim_id))

    def _upload(self, claim_id: str) -> None:
        app = self.cfg.app
        ctype = self.headers.get("Content-Type") or ""
        if not ctype.startswith("multipart/form-data"):
            raise WebError("Upload photos with the page's form.", 415, "bad_upload")
        if not self.headers.get("X-CSRF-Token") and self.wants_json():
            raise WebError("The page is out of date: reload it and try again.", 403, "csrf")
        limit = app.max_upload_bytes * self.cfg.max_files + MULTIPART_OVERHEAD
        if self.headers.get("X-CSRF-Token"):  # the page's script sends one photo per request
            limit = app.max_upload_bytes + MULTIPART_OVERHEAD
        body = self._read_body(limit)
        if body is None:
            return
        parts = parse_multipart(body, ctype)
        form = {n: [d.decode("utf-8", "replace")] for n, f, d in parts if f is None}
        if not self._csrf_ok(form):
            raise WebError("The page is out of date: reload it and try again.", 403, "csrf")
        files = [(f, d) for n, f, d in parts if f is not None and (f or d)]
        if not files:
            raise WebError("No photo in the upload: choose or take a photo first.", 400,
                           "no_file")
        if len(files) > self.cfg.max_files:
            raise WebError(f"At most {self.cfg.max_files} photos per upload.", 400, "too_many")
        jobs = [app.submit_upload(claim_id, f, d) for f, d in files]
        failed = [j for j in jobs if j.state == "failed"]
        if self.wants_json():
            out = {"jobs": jobs_json(jobs)}
            status = 200
            if failed and len(failed) == len(jobs):
                j = failed[0]
                out["error"] = {"code": j.code, "message": f"{j.message} ({j.code})"}
                status = 413 if j.code == "file_too_large" else 400
            return self.json(out, status)
        if failed:
            msgs = [f"{j.name}: not added: {j.message} ({j.code})"
                    for j in failed]
            return self.html(views.claim_page(app, claim_id, self.cfg.csrf, msgs), 400)
        self.redirect(views.claim_url(claim_id))

    def _photo(self, ident: str) -> Photo:
        try:
            u = uuidlib.UUID(ident)
        except ValueError:
            raise WebError("No such photo.", 404, "no_photo") from None
        photo = Photo.get_or_none(Photo.uuid == u)
        if photo is None:
            raise WebError("No such photo.", 404, "no_photo")
        return photo

    def _correct(self, photo: Photo) -> None:
        form = self._form()
        if form is None:
            return
        name = (form.get("name") or [""])[0]
        value = (form.get("value") or [""])[0]
        app = self.cfg.app
        try:
            app.correct_field(str(photo.uuid), name, value)
        except WebError as e:
            return self.html(views.photo_page(app, photo, self.cfg.csrf, error=e.message,
                                              form_name=name, form_value=value), e.status)
        self.redirect(f"{views.photo_url(photo.uuid)}?saved={quote(name)}#fields")

    def _thumb(self, name: str, size: str) -> None:
        m = re.fullmatch(r"([0-9a-f]{64})\.jpg", name)
        if not m or size not in SIZES:
            raise WebError("No such image.", 404, "not_found")
        sha = m.group(1)
        etag = f'"{sha}-{SIZES[size]}"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            path = thumbnail(self.cfg.app.store, sha, size)
        except NoImage:
            raise WebError("This image is not on the device.", 404, "no_image") from None
        self._send(200, path.read_bytes(), "image/jpeg",
                   {"Cache-Control": "private, max-age=31536000, immutable", "ETag": etag})


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

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
    if token is not None and len(token) < 8:
        raise WebError("The token must be at least 8 characters.", code="token_too_short")
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
    pipeline = make_pipeline()
    store = Store.open(store_path)
    max_bytes = int(max_upload_mb * 1024 * 1024) if max_upload_mb else None
    app = WebApp(profile, store, pipeline, max_upload_bytes=max_bytes)
    try:
        srv, cfg = make_server(app, host, port, token)
    except WebError as e:
        print(f"claim-edge serve: {e.message}", file=sys.stderr)
        return 2
    except OSError as e:
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
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        srv.server_close()
        app.stop()
        store.close()
    return 0


__all__ = ["serve", "make_server", "Handler", "parse_multipart"]
