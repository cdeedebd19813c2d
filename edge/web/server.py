"""HTTP for the operator screen, on the standard library's ``http.server``.

Bound to 127.0.0.1 by default. Listening elsewhere (the device's LAN) needs ``--token``: the
first visit is ``http://DEVICE:PORT/?token=T``, which sets an HttpOnly cookie; scripts may send
``Authorization: Bearer T`` instead. Every POST carries the page's CSRF token, and on loopback
the Host header must name the loopback address (no DNS rebinding from a web page).
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import re
import secrets
import uuid as uuidlib
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..errors import PhotoError
from ..store.schema import Claim, Photo
from . import assets, views
from .app import WebApp, WebError, jobs_json
from .body import FORM_LIMIT, MULTIPART_OVERHEAD, BodyReading, parse_multipart
from .thumbs import SIZES, NoImage, thumbnail

log = logging.getLogger("claim_edge.web")

TOKEN_ENV = "CLAIM_EDGE_WEB_TOKEN"
COOKIE = "claim_edge_token"
MIN_TOKEN = 8
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


class Handler(BodyReading, http.server.BaseHTTPRequestHandler):
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
        if self.close_connection:
            self.send_header("Connection", "close")
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
        else:  # no status bar, no CSRF token for a caller not let in
            bare = code in ("unauthorized", "bad_host")
            self.html(views.error_page(None if bare else self.cfg.app, self.cfg.csrf, status,
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
        path = url.path
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
            if method == "POST":
                self.close_connection = True  # its body may be unread
            self.fail(e.status, e.message, e.code)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - the screen answers, whatever went wrong
            log.exception("%s %s failed", method, self.path)
            self.close_connection = True
            self.fail(500, f"Something went wrong on the device: {type(e).__name__}: {e}",
                      "internal_error")
        finally:
            db = self.cfg.app.store.db
            if not db.is_closed():
                db.close()

    def _route(self, method: str, path: str, query: dict) -> None:
        parts = [unquote(p) for p in path.split("/") if p]
        app = self.cfg.app
        if method == "GET" and not parts:
            return self.html(views.home(app, self.cfg.csrf))
        if method == "GET" and parts == ["status"]:
            return self.json(app.status())
        if method == "GET" and parts == ["status", "bar"]:
            return self.json({"statusbar": views.status_bar(app)})
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
        """Photos for a claim: the page's script sends each one as the raw request body (with
        X-File-Name), streamed to disk; without the script the form posts multipart."""
        ctype = self.headers.get("Content-Type") or ""
        if self.headers.get("X-File-Name") is not None:
            return self._upload_raw(claim_id)
        if not ctype.startswith("multipart/form-data"):
            raise WebError("Upload photos with the page's form.", 415, "bad_upload")
        app = self.cfg.app
        body = self._read_body(app.max_upload_bytes + MULTIPART_OVERHEAD)
        if body is None:
            return
        parts = parse_multipart(body, ctype)
        del body
        form = {n: [d.decode("utf-8", "replace")] for n, f, d in parts if f is None}
        if not self._csrf_ok(form):
            raise WebError("The page is out of date: reload it and try again.", 403, "csrf")
        files = [(f, d) for n, f, d in parts if f is not None and (f or d)]
        if not files:
            raise WebError("No photo in the upload: choose or take a photo first.", 400,
                           "no_file")
        if len(files) > self.cfg.max_files:
            raise WebError(f"At most {self.cfg.max_files} photos per upload.", 400, "too_many")
        jobs = []
        for f, d in files:
            jobs.append(app.submit_upload(claim_id, f, d))
        self._answer_upload(claim_id, jobs)

    def _upload_raw(self, claim_id: str) -> None:
        if not self._csrf_ok(None):
            raise WebError("The page is out of date: reload it and try again.", 403, "csrf")
        app = self.cfg.app
        if Claim.get_or_none(Claim.id == claim_id) is None:
            raise WebError(f"No claim '{claim_id}' on this device.", 404, "no_claim")
        name = unquote(self.headers.get("X-File-Name") or "")
        declared = self.headers.get("Content-Length") or ""
        if declared.isdigit() and int(declared) > app.max_upload_bytes:
            try:
                app.check_upload(int(declared), b"")
            except PhotoError as e:
                app.refuse(claim_id, name, e)
        n = self._body_length(app.max_upload_bytes)
        if n is None:
            return
        chunks = self._chunks(n)
        try:
            job = app.submit_stream(claim_id, name, n, chunks)
            for _ in chunks:  # the rest of a refused upload: read, so the browser sees why
                pass
        except ConnectionError as e:
            log.info("upload of %s to %s abandoned: %s", name, claim_id, e)
            self.close_connection = True
            return
        self._answer_upload(claim_id, [job])

    def _answer_upload(self, claim_id: str, jobs) -> None:
        app = self.cfg.app
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
            msgs = [f"{j.name}: not added: {j.message} ({j.code})" for j in failed]
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


__all__ = ["Handler", "Config"]
