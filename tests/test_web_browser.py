"""The operator screen in a real browser: Debian's headless Chromium driven by Playwright, against
a real ``claim-edge serve`` process. The pages must show what the store holds (the dev model's
labels are random, so no test relies on a particular label)."""

import base64
import json
import os
import re

import pytest

from edge import samples
from edge.config import load_profile_file
from edge.store import Store
from edge.store.schema import AuditLog, KeyField, Label, Outbox, Photo
from edge.web.browser import ServerProcess, chromium_path


def _need_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("pip package 'playwright'")
    if chromium_path() is None:
        missing.append("Debian package 'chromium' (/usr/bin/chromium)")
    if missing:
        msg = "browser tests need " + " and ".join(missing)
        pytest.fail(msg, pytrace=False)


_need_browser()
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from edge.web.browser import launch  # noqa: E402

TIMEOUT = 30_000  # ms


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


@pytest.fixture
def served(profile_path, model_dir):
    with ServerProcess("--profile", str(profile_path), "--model", str(model_dir),
                       "--max-upload-mb", "1") as srv:
        yield srv


def open_store(profile_path):
    return Store.open(load_profile_file(profile_path).store.resolved)


ANALYSIS_TIMEOUT = 180_000  # ms: document photos go through OCR, slow on a busy 2-core machine


def open_claim(page, served, claim_id: str) -> None:
    """From the start page, open (create) a claim the way an operator does."""
    page.goto(served.url)
    page.fill("#claim-id", claim_id)
    page.click("text=Open claim")
    page.wait_for_url(re.compile(rf".*/claims/{re.escape(claim_id)}$"))


def wait_idle(page, n_jobs):
    expect(page.locator("#jobs .job")).to_have_count(n_jobs)
    expect(page.locator("#jobs .job[data-state=queued], #jobs .job[data-state=processing]")
           ).to_have_count(0, timeout=ANALYSIS_TIMEOUT)


def checklist_on_page(page):
    rows = page.locator("#checklist li.ck")
    return [(rows.nth(i).get_attribute("data-item"), rows.nth(i).get_attribute("data-status"))
            for i in range(rows.count())]


def test_capture_checklist_and_correction(page, served, profile_path, tmp_path):
    photos = samples.write_samples(tmp_path / "photos")
    open_claim(page, served, "CLM-WEB-1")
    expect(page.locator("#st-model")).to_contain_text("Model:")     # the status bar, on every page
    # before any photo: everything missing, the first required photo is the next item
    expect(page.locator("#next-item")).to_contain_text("Take a photo of")
    expect(page.locator("#checklist li.ck.missing").first).to_be_visible()

    # the camera input is what a phone opens its camera with
    cam = page.locator("#camera")
    assert cam.get_attribute("capture") == "environment"
    assert cam.get_attribute("accept") == "image/*"

    page.set_input_files("#files", [str(p) for p in photos])
    wait_idle(page, len(photos))
    expect(page.locator("#photos .thumb")).to_have_count(len(photos))
    expect(page.locator("#jobs .job[data-state=filed]")).to_have_count(len(photos))
    expect(page.locator("#st-sync")).to_contain_text(f"{len(photos)} pending")

    # the checklist on the page is the store's checklist, and the next item is its first gap
    from edge.checklist import claim_checklist
    profile = load_profile_file(profile_path)
    store = open_store(profile_path)
    try:
        items = claim_checklist("CLM-WEB-1", profile)
        assert Photo.select().where(Photo.claim == "CLM-WEB-1").count() == len(photos)
    finally:
        store.close()
    expect(page.locator("#checklist li.ck")).to_have_count(len(items))
    assert checklist_on_page(page) == [(it.item, it.status) for it in items]
    todo = [it for it in items if it.status == "missing"] or \
        [it for it in items if it.status != "present"]
    if todo:
        name = todo[0].item.split(": ", 1)[1]
        expect(page.locator("#next-item")).to_contain_text(name)
    # the blurred sample is flagged for a retake with the reason
    expect(page.locator("#jobs .job", has_text="vehicle_scene_blurred.jpg")).to_contain_text(
        "retake? blurred")

    # photo detail: labels as stored, image with its overlay, correct a field
    page.locator("#photos .thumb").first.click()
    page.wait_for_url(re.compile(r".*/photos/[0-9a-f-]{36}$"))
    uuid = page.url.rsplit("/", 1)[1]
    store = open_store(profile_path)
    try:
        labels = {lb.head: lb for lb in Label.select().where(Label.photo == uuid)}
        model_fields = [(f.name, f.value, f.source) for f in
                        KeyField.select().where(KeyField.photo == uuid).order_by(KeyField.id)]
    finally:
        store.close()
    for head, lb in labels.items():
        row = page.locator(f"table.labels tr[data-head={head}]")
        expect(row.locator("td.label")).to_have_text(lb.label)
        expect(row.locator("td.num")).to_have_text(f"{lb.score:.2f}")
    cat = labels["category"]
    expect(page.locator("table.labels tr[data-head=category]")).to_contain_text(
        "verified" if cat.verified else "to review")
    img = page.locator(".figure img")
    expect(img).to_be_visible()
    assert page.locator(".figure svg.overlay").count() == 1
    resp = page.request.get(served.url.rstrip("/") + img.get_attribute("src"))  # display copy
    assert resp.status == 200 and resp.headers["content-type"] == "image/jpeg"

    page.select_option("#field-name", "vendor")
    page.fill("#field-value", "Quick Fix Auto Repair")
    page.click("text=Save correction")
    expect(page.locator(".msg.ok")).to_contain_text("Saved: vendor = Quick Fix Auto Repair")
    expect(page.locator("tr.field.operator[data-field=vendor] td.value")).to_have_text(
        "Quick Fix Auto Repair")

    store = open_store(profile_path)
    try:
        rows = list(KeyField.select().where(KeyField.photo == uuid).order_by(KeyField.id))
        assert [(f.name, f.value, f.source) for f in rows] == \
            model_fields + [("vendor", "Quick Fix Auto Repair", "operator")]
        assert Outbox.get(Outbox.record_uuid == uuid).state == "pending"
        audit = AuditLog.select().where(AuditLog.action == "field.correct").get()
        detail = json.loads(audit.detail)
        assert detail["field"] == "vendor" and detail["value"] == "Quick Fix Auto Repair"
    finally:
        store.close()

    # back on the claim page, the photo list still shows every photo
    page.click("text=CLM-WEB-1")
    expect(page.locator("#photos .thumb")).to_have_count(len(photos))


def test_bad_uploads_show_a_message_and_nothing_breaks(page, served, tmp_path):
    photos = samples.write_samples(tmp_path / "photos")
    good = photos[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("not a photo")
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "huge.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(1_200_000))
    (bad / "cut.jpg").write_bytes(good.read_bytes()[:20_000])

    open_claim(page, served, "CLM-BAD")
    page.set_input_files("#files", [str(bad / n) for n in
                                    ("notes.txt", "empty.jpg", "huge.jpg", "cut.jpg")])
    # too large: refused in the page before sending (the server refuses it too, see
    # test_web_server); the others are refused by the device with their error codes
    expect(page.locator("#upload-msgs .msg.error")).to_contain_text("huge.jpg: not added")
    expect(page.locator("#upload-msgs")).to_contain_text("larger than the profile allows")
    wait_idle(page, 3)
    for name, code, words in [("notes.txt", "not_an_image", "not an image"),
                              ("empty.jpg", "empty_file", "empty"),
                              ("cut.jpg", "truncated_image", "cut short")]:
        job = page.locator("#jobs .job", has_text=name)
        expect(job).to_have_attribute("data-code", code)
        expect(job).to_contain_text(words)
        expect(job).to_contain_text("not added")
    expect(page.locator("#photos .thumb")).to_have_count(0)

    # a good photo after all that is filed
    page.set_input_files("#camera", str(good))
    wait_idle(page, 4)
    expect(page.locator("#photos .thumb")).to_have_count(1)
    expect(page.locator("#checklist li.ck")).not_to_have_count(0)


def test_drag_and_drop(browser, served, tmp_path):
    """Drop a photo on the drop zone, as on a kiosk. (The test's own script needs CSP bypass to
    build a DataTransfer; the page itself runs under its normal policy.)"""
    photo = samples.write_samples(tmp_path / "photos")[2]
    ctx = browser.new_context(bypass_csp=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT)
        open_claim(page, served, "CLM-DROP")
        data = base64.b64encode(photo.read_bytes()).decode()
        dt = page.evaluate_handle("""([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
            return dt; }""", [data, photo.name])
        page.dispatch_event("#drop", "drop", {"dataTransfer": dt})
        wait_idle(page, 1)
        expect(page.locator("#jobs .job[data-state=filed]")).to_contain_text(photo.name)
        expect(page.locator("#photos .thumb")).to_have_count(1)
    finally:
        ctx.close()


def test_without_javascript(browser, served, tmp_path):
    """The page still works with scripts off: the forms post, the server answers with pages."""
    photos = samples.write_samples(tmp_path / "photos")
    (tmp_path / "notes.txt").write_text("not a photo")
    ctx = browser.new_context(java_script_enabled=False)
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT)
        open_claim(page, served, "CLM-NOJS")
        page.set_input_files("#files", [str(photos[0]), str(tmp_path / "notes.txt")])
        page.click("#upload button[type=submit]")
        expect(page.locator(".msg.error")).to_contain_text("notes.txt: not added")
        expect(page.locator(".msg.error")).to_contain_text("not_an_image")
        # the good photo went on; reloading shows it once analysed
        for _ in range(ANALYSIS_TIMEOUT // 500):
            page.goto(served.url + "claims/CLM-NOJS")
            if page.locator("#photos .thumb").count():
                break
            page.wait_for_timeout(500)
        expect(page.locator("#photos .thumb")).to_have_count(1)
    finally:
        ctx.close()
