"""The operator screen over plain HTTP, against a real ``claim-edge serve`` process: upload limits
and type checks, CSRF, Host and token guards, thumbnails, corrections, the watched folder."""

import datetime
import http.client
import json
import os
import re
import shutil
import socket
import time
import uuid
from urllib.parse import quote, urlencode, urlsplit

import peewee
import pytest

from edge import samples
from edge.config import load_profile_file
from edge.store import Store
from edge.store.schema import AuditLog, Image, KeyField, Outbox, Photo, utcnow
from edge.corrections import check_field
from edge.web.browser import ServerProcess

from conftest import ROOT, run_cli

LIMIT_MB = 0.25  # generated samples are 35-240 kB; a 300 kB file is over the limit


class Client:
    def __init__(self, url: str):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.csrf = ""

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path, **headers):
        return self.request("GET", path, headers=headers)

    def page_csrf(self) -> str:
        _, _, body = self.get("/")
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
        return self.csrf

    def form(self, path, fields, **headers):
        return self.request("POST", path, urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", **headers})

    def upload(self, claim, files, csrf=True, accept_json=True, form_csrf=False):
        boundary = "----claimedgetest" + uuid.uuid4().hex
        parts = []
        if form_csrf:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n'
                         f'{self.csrf}\r\n'.encode())
        for name, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; '
                         f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                         .encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if accept_json:
            headers["Accept"] = "application/json"
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.request("POST", f"/claims/{claim}/photos", body, headers)

    def upload_raw(self, claim, name, data, csrf=True):
        """As the page's script sends a photo: the file as the body, its name in a header."""
        headers = {"Content-Type": "application/octet-stream", "Accept": "application/json",
                   "X-File-Name": quote(name)}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.request("POST", f"/claims/{quote(claim, safe='')}/photos", data, headers)

    def wait_jobs(self, claim, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            _, _, body = self.get(f"/claims/{claim}/jobs")
            jobs = json.loads(body)
            if len(jobs) >= n and all(j["state"] in ("filed", "already", "failed") for j in jobs):
                return jobs
            time.sleep(0.2)
        raise AssertionError(f"jobs not done: {jobs}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_dir):
    tmp = tmp_path_factory.mktemp("web")
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp / "store" / "store.db"}"')
    broker = socket.socket()  # a listening port stands in for the broker: "reachable"
    broker.bind(("127.0.0.1", 0))
    broker.listen()
    src = src.replace("port = 1883", f"port = {broker.getsockname()[1]}")
    profile = tmp / "profile.toml"
    profile.write_text(src)
    photos = samples.write_samples(tmp / "photos")
    watch = tmp / "watch"
    watch.mkdir()
    with ServerProcess("--profile", str(profile), "--model", str(model_dir),
                       "--max-upload-mb", str(LIMIT_MB), "--watch", str(watch),
                       "--claim", "WATCHED") as srv:
        c = Client(srv.url)
        c.page_csrf()
        status, _, _ = c.form("/claims", {"claim": "C-1", "csrf": c.csrf})
        assert status == 303
        status, _, _ = c.upload("C-1", [("vehicle_scene.jpg", photos[2].read_bytes())])
        assert status == 200
        c.wait_jobs("C-1", 1)
        yield dict(srv=srv, client=c, profile=profile, photos={p.name: p for p in photos},
                   store=tmp / "store" / "store.db", watch=watch)
    broker.close()


def test_pages_and_status(server):
    c = server["client"]
    status, headers, body = c.get("/")
    assert status == 200 and b"C-1" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert b"http://" not in body.replace(b"http://127.0.0.1", b"")  # nothing from elsewhere
    status, _, body = c.get("/status")
    s = json.loads(body)
    assert set(s) >= {"pending", "oldest_pending_age_s", "broker_reachable", "model", "free_mb"}
    assert s["model"]["name"] and s["free_mb"] > 0 and s["broker_reachable"] is True
    assert s["pending"] >= 1 and s["oldest_pending_age_s"] >= 0  # the photo filed at setup
    _, _, body = c.get("/status/bar")
    bar = json.loads(body)["statusbar"]
    assert "Broker: reachable" in bar and f"{s['pending']}</b> pending" in bar
    assert c.get("/claims/NOPE")[0] == 404
    assert c.get("/static/app.js")[0] == 200 and c.get("/static/app.css")[0] == 200


def test_upload_limits_and_type_checks(server):
    c, photos = server["client"], server["photos"]
    ok = photos["plate_closeup.jpg"].read_bytes()
    assert len(ok) < LIMIT_MB * 1024 * 1024

    # too large: refused from its Content-Length, before it is stored
    big = b"\xff\xd8\xff" + b"\0" * int(LIMIT_MB * 1024 * 1024 * 1.5)
    status, _, body = c.upload_raw("C-1", "big.jpg", big)
    assert status == 413
    err = json.loads(body)["error"]
    assert err["code"] == "file_too_large" and "MB" in err["message"]
    assert c.get("/")[0] == 200  # and the server goes on

    for name, data, code in [
            ("empty.jpg", b"", "empty_file"),
            ("notes.jpg", b"this is not a photo", "not_an_image"),
            ("photo.heic", b"\0\0\0\x18ftypheic" + b"\0" * 64, "unsupported_format")]:
        status, _, body = c.upload_raw("C-1", name, data)
        out = json.loads(body)
        assert status == 400, out
        assert out["error"]["code"] == code and out["jobs"][0]["state"] == "failed"
        assert out["jobs"][0]["name"] == name

    # a JPEG cut short passes the type check, then fails in decoding with its own code
    assert c.upload_raw("C-1", "cut.jpg", ok[: len(ok) // 2])[0] == 200
    # a good photo after all that is filed; the name survives non-ASCII and path parts
    assert c.upload_raw("C-1", "../Fahrzeug vorn é.jpg", ok)[0] == 200
    jobs = {j["name"]: j for j in c.wait_jobs("C-1", 7)}
    assert jobs["cut.jpg"]["state"] == "failed" and jobs["cut.jpg"]["code"] == "truncated_image"
    assert jobs["Fahrzeug vorn é.jpg"]["state"] in ("filed", "already")
    assert jobs["empty.jpg"]["code"] == "empty_file"
    assert jobs["big.jpg"]["state"] == "failed" and jobs["big.jpg"]["code"] == "file_too_large"
    # nothing is left in the upload spool once photos are filed or refused
    assert not any((server["store"].parent / "incoming").glob("*.upload"))

    # the claim page lists each refusal with its reason
    status, _, body = c.get("/claims/C-1")
    assert status == 200
    for code in ("empty_file", "not_an_image", "unsupported_format", "truncated_image"):
        assert code.encode() in body

    # without the script, a form post of several files: each file is checked on its own
    dark = photos["vehicle_scene_dark.jpg"].read_bytes()
    status, _, page = c.upload("C-1", [("x.txt", b"hello"), ("vehicle_scene_dark.jpg", dark)],
                               csrf=False, accept_json=False, form_csrf=True)
    assert status == 400 and b"x.txt: not added" in page and b"not_an_image" in page
    jobs = {j["name"]: j for j in c.wait_jobs("C-1", 9)}
    assert jobs["vehicle_scene_dark.jpg"]["state"] in ("filed", "already")
    # a form post over the limit: a 413 page, and the server still answers afterwards
    status, _, page = c.upload("C-1", [("big.jpg", big)], csrf=False, accept_json=False,
                               form_csrf=True)
    assert status == 413 and b"over the limit" in page
    assert c.get("/")[0] == 200

    # no CSRF token, wrong content type, chunked body, a claim that does not exist
    assert c.upload_raw("C-1", "p.jpg", ok, csrf=False)[0] == 403
    assert c.upload("C-1", [("p.jpg", ok)], csrf=False, accept_json=False)[0] == 403
    assert c.request("POST", "/claims/C-1/photos", b"{}",
                     {"Content-Type": "application/json"})[0] == 415
    status, _, _ = c.request("POST", "/claims/C-1/photos", iter([b"abc"]),
                             {"Content-Type": "multipart/form-data; boundary=x",
                              "Transfer-Encoding": "chunked"})
    assert status == 411
    assert c.upload_raw("NOPE", "p.jpg", ok)[0] == 404


def test_abandoned_upload_leaves_nothing(server):
    c, photos = server["client"], server["photos"]
    data = photos["vehicle_scene.jpg"].read_bytes()
    before = len(json.loads(c.get("/claims/C-1/jobs")[2]))
    with socket.create_connection((c.host, c.port), timeout=10) as sock:
        sock.sendall((f"POST /claims/C-1/photos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: application/octet-stream\r\nX-File-Name: gone.jpg\r\n"
                      f"X-CSRF-Token: {c.csrf}\r\nContent-Length: {len(data)}\r\n\r\n").encode()
                     + data[:5000])
    time.sleep(0.5)
    jobs = json.loads(c.get("/claims/C-1/jobs")[2])
    assert len(jobs) == before and "gone.jpg" not in {j["name"] for j in jobs}
    assert not any((server["store"].parent / "incoming").glob("*.*"))
    assert c.get("/")[0] == 200


def test_accepted_uploads_survive_a_restart(profile_path, model_dir, tmp_path):
    """An upload is written to <store>/incoming/ before it is acknowledged; one that was not
    filed when the server stopped is filed at the next start."""
    store_dir = profile_path.parent / "store"
    st = Store.open(store_dir / "store.db")
    try:
        st.ensure_claim("C-R", load_profile_file(profile_path))
    finally:
        st.close()
    incoming = store_dir / "incoming"
    incoming.mkdir(parents=True)
    photo = samples.write_samples(tmp_path / "photos")[0]
    (incoming / "k1.upload").write_bytes(photo.read_bytes())
    (incoming / "k1.json").write_text(json.dumps({"claim": "C-R", "name": "left.jpg"}))
    (incoming / "k2.part").write_bytes(b"half an upload")
    with ServerProcess("--profile", str(profile_path), "--model", str(model_dir)) as srv:
        c = Client(srv.url)
        jobs = c.wait_jobs("C-R", 1)
        assert [(j["name"], j["state"]) for j in jobs] == [("left.jpg", "filed")]
    assert sorted(p.name for p in incoming.iterdir()) == []
    st = Store.open(store_dir / "store.db")
    try:
        p = Photo.get(Photo.claim == "C-R")
        assert p.source_path == "upload/left.jpg"
    finally:
        st.close()


def test_host_header_guard(server):
    c = server["client"]
    status, _, body = c.get("/", Host="evil.example:8080")
    assert status == 400 and b"Sync:" not in body and b"csrf" not in body
    assert c.get("/", Host=f"localhost:{c.port}")[0] == 200


def test_claim_id_is_checked(server):
    c = server["client"]
    status, _, body = c.form("/claims", {"claim": "../etc", "csrf": c.csrf})
    assert status == 400 and b"A claim id is" in body
    assert c.form("/claims", {"claim": "C-2"})[0] == 403  # no CSRF token


def test_thumbnail_made_once_and_cached(server):
    c = server["client"]
    st = Store.open(server["store"])
    try:
        sha = Photo.select().where(Photo.claim == "C-1").first().sha256
    finally:
        st.close()
    status, headers, first = c.get(f"/thumbs/{sha}.jpg?s=thumb")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert first[:3] == b"\xff\xd8\xff"
    cached = server["store"].parent / "thumbs" / sha[:2] / f"{sha}-320.jpg"
    mtime = cached.stat().st_mtime_ns
    status, _, second = c.get(f"/thumbs/{sha}.jpg?s=thumb")
    assert second == first and cached.stat().st_mtime_ns == mtime
    assert c.get(f"/thumbs/{sha}.jpg?s=thumb", **{"If-None-Match": headers["ETag"]})[0] == 304
    assert c.get(f"/thumbs/{'0' * 64}.jpg")[0] == 404
    assert c.get(f"/thumbs/{sha}.jpg?s=huge")[0] == 404


def test_correction_is_stored_beside_model_value_and_requeued(server):
    c = server["client"]
    st = Store.open(server["store"])
    try:
        photo = Photo.select().where(Photo.claim == "C-1").first()
        u = photo.uuid
        # what a field reader would have stored (in place of what the shipped readers found),
        # and the record already synced
        KeyField.delete().where((KeyField.photo == u) & (KeyField.name == "plate")).execute()
        KeyField.create(photo=u, name="plate", value="A8C1234", confidence=0.55, valid=True,
                        source="ocr")
        Outbox.update(state="acked", ack_status="committed").where(
            Outbox.record_uuid == u).execute()
    finally:
        st.close()
    status, _, body = c.form(f"/photos/{u}/fields", {"name": "plate", "value": " ABC  1234 ",
                                                     "csrf": c.csrf})
    assert status == 303
    status, _, body = c.get(f"/photos/{u}?saved=plate")
    plate = check_field("plate", "ABC 1234")[0]  # normalised as OCR values are
    assert f"Saved: plate = {plate}".encode() in body and b"A8C1234" in body
    # the page says the correction is not at central yet, and which revision it will be
    assert b"Sync: <span class=\"warn\">waiting to sync (revision 1: 1 correction): operator " \
           b"corrected plate" in body
    st = Store.open(server["store"])
    try:
        rows = list(KeyField.select().where((KeyField.photo == u) & (KeyField.name == "plate"))
                    .order_by(KeyField.id))
        assert [(r.value, r.source) for r in rows] == [("A8C1234", "ocr"), (plate, "operator")]
        assert rows[1].confidence == 1.0 and rows[1].valid
        ob = Outbox.get(Outbox.record_uuid == u)
        assert ob.state == "pending" and ob.ack_status is None and "plate" in ob.reason
        # at the back of the outbox, where the sync worker's scan will find it
        assert ob.id == Outbox.select(peewee.fn.MAX(Outbox.id)).scalar()
        # once central acks the revision (what sync/device/worker.py writes), the page says so
        Outbox.update(state="acked", ack_status="committed", acked_at=datetime.datetime(
            2026, 1, 2, 3, 4, 5)).where(Outbox.record_uuid == u).execute()
        _, _, page = c.get(f"/photos/{u}")
        assert b"synced to central 2026-01-02 03:04:05 UTC (revision 1: 1 correction)" in page
        audit = AuditLog.select().where((AuditLog.action == "field.correct")
                                        & (AuditLog.subject == str(u))).get()
        d = json.loads(audit.detail)
        assert d["previous"] == "A8C1234" and d["value"] == plate and audit.actor == "operator"
    finally:
        st.close()
    # a correction is validated like a value read by OCR: a VIN with a wrong check digit is
    # stored (the operator's word) but marked invalid, and the page says so
    assert c.form(f"/photos/{u}/fields", {"name": "vin", "value": "1HGCM82633A004353",
                                          "csrf": c.csrf})[0] == 303
    _, _, body = c.get(f"/photos/{u}?saved=vin")
    assert b"Saved: vin = 1HGCM82633A004353. Check it:" in body
    st = Store.open(server["store"])
    try:
        vin = KeyField.get((KeyField.photo == u) & (KeyField.name == "vin"))
        assert vin.source == "operator" and vin.valid is False and vin.reason
    finally:
        st.close()
    # refused corrections say why and store nothing
    for fields, msg in [({"name": "colour", "value": "red"}, b"Unknown field"),
                        ({"name": "plate", "value": "   "}, b"Type the correct value"),
                        ({"name": "plate", "value": "x" * 201}, b"at most 200")]:
        status, _, body = c.form(f"/photos/{u}/fields", {**fields, "csrf": c.csrf})
        assert status == 400 and msg in body
    assert c.form(f"/photos/{u}/fields", {"name": "plate", "value": "Z"})[0] == 403
    assert c.form(f"/photos/{uuid.uuid4()}/fields", {"name": "plate", "value": "Z",
                                                    "csrf": c.csrf})[0] == 404


def test_boxes_from_the_stored_result_are_drawn(server):
    c = server["client"]
    st = Store.open(server["store"])
    try:
        photo = Photo.select().where(Photo.claim == "C-1").first()
        result = json.loads(photo.result_json)
        result["detections"] = [{"label": "plate", "box": [100.0, 200.0, 300.0, 80.0],
                                 "score": 0.91, "zoomed": True}]
        result["text"] = [{"box": [[10, 20], [110, 20], [110, 50], [10, 50]], "text": "ABC<1234>",
                           "score": 0.8}]
        Photo.update(result_json=json.dumps(result)).where(Photo.uuid == photo.uuid).execute()
    finally:
        st.close()
    status, _, body = c.get(f"/photos/{photo.uuid}")
    page = body.decode()
    assert status == 200
    assert f'viewBox="0 0 {photo.width} {photo.height}"' in page
    assert '<rect x="100.0" y="200.0" width="300.0" height="80.0"' in page
    assert 'points="10.0,20.0 110.0,20.0 110.0,50.0 10.0,50.0"' in page
    assert "ABC&lt;1234&gt;" in page and "ABC<1234>" not in page  # escaped
    assert "1 detection box, 1 text box drawn" in page


def test_watched_folder_files_new_photos(server):
    c = server["client"]
    shutil.copy(server["photos"]["vehicle_scene.jpg"], server["watch"] / "cam0001.jpg")
    (server["watch"] / "readme.txt").write_text("not a photo")
    jobs = {j["name"]: j for j in c.wait_jobs("WATCHED", 2)}
    assert jobs["cam0001.jpg"]["state"] == "filed"
    assert jobs["readme.txt"]["state"] == "failed" and jobs["readme.txt"]["code"] == "not_an_image"
    st = Store.open(server["store"])
    try:
        assert Photo.select().where(Photo.claim == "WATCHED").count() == 1
    finally:
        st.close()


def test_purged_original_is_not_shown(server):
    """Retention removes originals (identity documents after 30 days): their cached copies go
    with them and the photo page says the original is gone."""
    c = server["client"]
    c.upload_raw("C-1", "licence.jpg", samples.jpeg_bytes(samples.plate_closeup("PURGE1")))
    job = next(j for j in c.wait_jobs("C-1", 1) if j["name"] == "licence.jpg")
    u = job["photo_uuid"]
    st = Store.open(server["store"])
    try:
        sha = Photo.get(Photo.uuid == u).sha256
    finally:
        st.close()
    assert c.get(f"/thumbs/{sha}.jpg?s=view")[0] == 200
    cached = server["store"].parent / "thumbs" / sha[:2] / f"{sha}-1280.jpg"
    assert cached.is_file()
    st = Store.open(server["store"])
    try:
        Image.update(purged_at=utcnow()).where(Image.sha256 == sha).execute()
    finally:
        st.close()
    assert c.get(f"/thumbs/{sha}.jpg?s=view")[0] == 404
    assert not cached.exists()
    status, _, body = c.get(f"/photos/{u}")
    assert status == 200 and b"removed by retention" in body and sha.encode() not in body
    status, _, body = c.get("/claims/C-1")
    assert b"original removed by retention" in body and sha.encode() not in body


def test_thumbnail_sweep(tmp_path, profile_path):
    from edge.web.thumbs import sweep
    st = Store.open(load_profile_file(profile_path).store.resolved)
    try:
        stale = st.root / "thumbs" / "ab" / ("ab" * 32 + "-320.jpg")
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"x")
        assert sweep(st) == 1 and not stale.exists()
    finally:
        st.close()


def test_token_required_off_loopback(profile_path, model_dir):
    r = run_cli("serve", "--profile", str(profile_path), "--model", str(model_dir),
                "--listen", "0.0.0.0", "--port", "0", timeout=60,
                env={k: v for k, v in os.environ.items() if k != "CLAIM_EDGE_WEB_TOKEN"})
    assert r.returncode == 2 and "--token" in r.stderr


def test_token_auth(profile_path, model_dir):
    token = "s3cret-token-123"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the broker is "not reachable"
    profile_path.write_text(profile_path.read_text().replace("port = 1883", f"port = {port}"))
    with ServerProcess("--profile", str(profile_path), "--model", str(model_dir),
                       "--listen", "0.0.0.0", "--token", token) as srv:
        assert "token required" in srv.output
        c = Client(srv.url)
        for path in ("/", "/status", "/claims/X", f"/thumbs/{'a' * 64}.jpg"):
            status, _, body = c.get(path)
            assert status == 401 and b"access token" in body and b"Sync:" not in body
        assert c.get("/?token=wrong-token-xx")[0] == 401
        assert c.get("/", Cookie="claim_edge_token=wrong-token-xx")[0] == 401
        status, headers, _ = c.get(f"/?token={token}")
        assert status == 303 and headers["Location"] == "/"
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/", Cookie=cookie.split(";")[0])[0] == 200
        status, _, body = c.get("/status", Authorization=f"Bearer {token}")
        assert status == 200 and json.loads(body)["broker_reachable"] is False
        # off loopback, any Host is accepted (the token is the guard)
        assert c.get("/", Host="claim-device.local", Authorization=f"Bearer {token}")[0] == 200
        assert c.get("/static/app.css")[0] == 200  # no secrets in the stylesheet
