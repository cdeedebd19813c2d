"""Screenshots of the operator screen, for the README and for looking at it without a browser.

    python -m edge.web.screenshots docs/ [--model DIR] [--photos DIR]

Starts ``claim-edge serve`` on a throw-away store, opens a claim in headless Chromium, adds the
photos through the page (the generated samples unless ``--photos`` is given), corrects a field,
and saves the files below. ``--ocr-all`` sets ``[ocr] always = true`` in the kiosk profile (read
every photo, as a document-scanner kiosk does), so that the text boxes OCR finds are drawn even
when the classifier does not call the invoice a document (with an untrained dev model):

    operator-claim.png        the claim page: next item, checklist, uploads, photos, status bar
    operator-photo.png        a photo's detail page: boxes, labels, fields and a correction
    operator-claim-phone.png  the claim page on a phone-sized screen
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from ..config import DEFAULT_PROFILE, PROFILE_DIR
from ..paths import expand
from ..samples import write_samples
from .browser import ServerProcess, launch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def settle(page) -> None:
    """Let every image of the page load: lazy images load once in view, so the viewport is
    made as tall as the page first."""
    size = page.viewport_size
    height = page.locator("body").bounding_box()["height"]
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    page.set_viewport_size(size)


def take(out: Path, model: str | None, photos: list[Path], claim: str, profile: str | None,
         ocr_all: bool = False, detail: str = "repair_invoice.jpg",
         correct: tuple[str, str] = ("vendor", "QUICK FIX AUTO REPAIR SDN BHD"),
         timeout_ms: int = 120_000) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=timeout_ms)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="claim-edge-shots-") as tmp:
        if ocr_all:
            text = (PROFILE_DIR / f"{profile or DEFAULT_PROFILE}.toml").read_text() \
                if not profile or not profile.endswith(".toml") else Path(profile).read_text()
            profile = str(Path(tmp) / "screenshots.toml")
            Path(profile).write_text(re.sub(r"(?m)^always = false", "always = true", text))
        args = ["--store", str(Path(tmp) / "store.db")]
        if profile:
            args += ["--profile", profile]
        if model:
            args += ["--model", model]
        saved = []
        with ServerProcess(*args) as srv, sync_playwright() as pw:
            browser = launch(pw)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(timeout_ms)
                page.goto(srv.url)
                page.fill("#claim-id", claim)
                page.click("text=Open claim")
                page.wait_for_url(re.compile(r".*/claims/[^/]+$"))
                page.set_input_files("#files", [str(p) for p in photos])
                expect(page.locator("#jobs .job")).to_have_count(len(photos))
                expect(page.locator("#jobs .job[data-state=queued], "
                                    "#jobs .job[data-state=processing]")).to_have_count(0)
                expect(page.locator("#photos .thumb")).to_have_count(len(photos))
                settle(page)
                claim_url = page.url
                saved.append(out / "operator-claim.png")
                page.screenshot(path=str(saved[-1]), full_page=True)

                thumbs = page.locator("#photos .thumb")
                chosen = thumbs.filter(has=page.locator(f'img[alt="{detail}"]'))
                (chosen if chosen.count() else thumbs.last).first.click()
                page.wait_for_url(re.compile(r".*/photos/[0-9a-f-]{36}$"))
                page.select_option("#field-name", correct[0])
                page.fill("#field-value", correct[1])
                page.click("text=Save correction")
                expect(page.locator(".msg.ok")).to_be_visible()
                settle(page)
                saved.append(out / "operator-photo.png")
                page.screenshot(path=str(saved[-1]), full_page=True)

                phone = browser.new_page(viewport={"width": 390, "height": 844},
                                         device_scale_factor=2, is_mobile=True, has_touch=True)
                phone.goto(claim_url)
                settle(phone)
                saved.append(out / "operator-claim-phone.png")
                phone.screenshot(path=str(saved[-1]), full_page=False)
            finally:
                browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.web.screenshots", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="folder for the PNG files (e.g. docs/)")
    p.add_argument("--model", help="classifier bundle (default: the profile's)")
    p.add_argument("--profile", help="device profile (default: kiosk-x86)")
    p.add_argument("--ocr-all", action="store_true", help="read text on every photo ([ocr] "
                   "always = true), whatever the classifier says")
    p.add_argument("--photos", help="folder or files to add (default: generated samples)",
                   nargs="*")
    p.add_argument("--claim", default="CLM-2026-0001", help="claim id shown")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="claim-edge-samples-") as tmp:
        if args.photos:
            photos = [Path(x) for x in expand(args.photos)
                      if Path(x).suffix.lower() in IMAGE_SUFFIXES]
        else:
            photos = write_samples(tmp)
        if not photos:
            print("no photos to add", file=sys.stderr)
            return 2
        try:
            saved = take(Path(args.out), args.model, photos, args.claim, args.profile,
                         ocr_all=args.ocr_all)
        except RuntimeError as e:
            print(f"screenshots: {e}", file=sys.stderr)
            return 1
    for s in saved:
        print(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
