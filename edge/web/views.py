"""Server-rendered HTML. Every value from the store or the operator goes through ``h()``."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from urllib.parse import quote

from ..checklist import CheckItem
from ..config import FIELD_NAMES
from ..corrections import MAX_FIELD_VALUE
from ..quality import REASONS
from ..store.schema import (OPERATOR, Claim, KeyField, Label, Outbox, Photo,
                            ScenarioAssignment)
from ..store.schema import Image as ImageRow
from .app import MB, Job, WebApp


def h(v) -> str:
    return escape("" if v is None else str(v), quote=True)


def claim_url(claim_id: str) -> str:
    return "/claims/" + quote(claim_id, safe="")


def photo_url(photo_uuid) -> str:
    return f"/photos/{photo_uuid}"


def thumb_url(sha: str, size: str = "thumb") -> str:
    return f"/thumbs/{sha}.jpg?s={size}"


def age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def page(title: str, body: str, app: WebApp, csrf: str, *, claim: str | None = None) -> str:
    data = f' data-claim="{h(claim)}" data-live="{h(claim_url(claim))}/live"' if claim else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{h(csrf)}">
<title>{h(title)} - claim-edge</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head><body{data} data-max-upload="{app.max_upload_bytes}">
<header class="top"><a class="brand" href="/">claim-edge</a>
<span class="device">{h(app.profile.device.name or app.profile.device.id)}</span></header>
<div id="statusbar" class="statusbar" aria-label="Device status">{status_bar(app)}</div>
<main>{body}</main>
</body></html>"""


def status_bar(app: WebApp) -> str:
    s = app.status()
    m = s["model"]
    untrained = m["provenance"] != "trained"
    disk_low = s["free_mb"] < s["min_free_mb"]
    parts = [
        f'<span class="st" id="st-sync">Sync: <b>{s["pending"]}</b> pending'
        + (f', oldest {h(age(s["oldest_pending_age_s"]))}' if s["pending"] else "")
        + (f', <span class="bad">{s["quarantined"]} quarantined</span>' if s["quarantined"] else "")
        + "</span>",
        f'<span class="st {"good" if s["broker_reachable"] else "bad"}" id="st-broker" '
        f'title="{h(s["broker"])}">Broker: '
        f'{"reachable" if s["broker_reachable"] else "not reachable"}'
        "</span>",
        f'<span class="st{" warn" if untrained else ""}" id="st-model">Model: {h(m["name"])} '
        f'{h(m["version"])}{" (untrained)" if untrained else ""}</span>',
        f'<span class="st{" bad" if disk_low else ""}" id="st-disk">Disk: '
        f'{s["free_mb"] / 1000:,.1f} GB free</span>',
    ]
    return "".join(parts)


# --- home ---------------------------------------------------------------------------------------

def home(app: WebApp, csrf: str, error: str = "", value: str = "") -> str:
    rows = []
    for c in Claim.select().order_by(Claim.created_at.desc()).limit(200):
        n = Photo.select().where(Photo.claim == c.id).count()
        rows.append(f'<li><a href="{h(claim_url(c.id))}">{h(c.id)}</a> '
                    f'<span class="muted">{n} photo{"s" if n != 1 else ""}, created '
                    f'{c.created_at:%Y-%m-%d %H:%M} UTC</span></li>')
    err = f'<p class="msg error" role="alert">{h(error)}</p>' if error else ""
    body = f"""<h1>Claims</h1>
<form class="card" method="post" action="/claims">
<input type="hidden" name="csrf" value="{h(csrf)}">
<label for="claim-id">Claim id (new or existing)</label>
<div class="row"><input id="claim-id" name="claim" required maxlength="64" value="{h(value)}"
 pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{{0,63}}" autocomplete="off" placeholder="e.g. CLM-2026-0001"
 title="1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit">
<button type="submit">Open claim</button></div>{err}
</form>
<ul class="claims">{"".join(rows) or '<li class="muted">No claims on this device yet.</li>'}</ul>"""
    return page("Claims", body, app, csrf)


# --- claim --------------------------------------------------------------------------------------

STATUS_TEXT = {"present": "present", "missing": "missing", "invalid": "to fix",
               "doubtful": "doubtful"}


def item_status(it: CheckItem) -> tuple[str, str]:
    """(css class, words) for a checklist item; a doubtful photo with quality issues is 'to
    retake'."""
    if it.status == "doubtful" and it.detail.startswith("retake"):
        return "retake", "to retake"
    return it.status, STATUS_TEXT.get(it.status, it.status)


def next_item(items: list[CheckItem]) -> CheckItem | None:
    for it in items:
        if it.status == "missing":
            return it
    return next((it for it in items if it.status != "present"), None)


def _item_name(it: CheckItem) -> str:
    kind, _, name = it.item.partition(": ")
    return name if kind in ("photo", "field") and name else it.item


def next_banner(items: list[CheckItem]) -> str:
    it = next_item(items)
    if it is None:
        if not items:
            return '<div class="next done">Nothing is required by this profile.</div>'
        return '<div class="next done" id="next-item">Claim file complete: every required ' \
               'photo and field is present.</div>'
    cls, words = item_status(it)
    what = "Take a photo of" if it.item.startswith("photo:") and it.status == "missing" else \
        ("Retake" if cls == "retake" else "Check")
    link = (f' <a href="{h(photo_url(it.photo_uuid))}">open the photo</a>'
            if it.photo_uuid else "")
    return (f'<div class="next {h(cls)}" id="next-item" role="alert"><span class="label">Next'
            f'</span> <strong>{h(what)} {h(_item_name(it))}</strong> '
            f'<span class="why">{h(words)}{": " + h(it.detail) if it.detail else ""}</span>'
            f'{link}</div>')


def checklist_html(items: list[CheckItem]) -> str:
    if not items:
        return '<p class="muted">This profile requires nothing.</p>'
    done = sum(it.status == "present" for it in items)
    nxt = next_item(items)
    rows = []
    for it in items:
        cls, words = item_status(it)
        link = (f' <a href="{h(photo_url(it.photo_uuid))}">photo</a>' if it.photo_uuid else "")
        rows.append(f'<li class="ck {h(cls)}{" is-next" if it is nxt else ""}" '
                    f'data-item="{h(it.item)}" data-status="{h(it.status)}">'
                    f'<span class="badge">{h(words)}</span> <span class="item">{h(it.item)}</span>'
                    f'<span class="detail">{h(it.detail)}</span>{link}</li>')
    return (f'<p class="progress"><b>{done}</b> of {len(items)} done</p>'
            f'<ul class="checklist">{"".join(rows)}</ul>')


JOB_TEXT = {"queued": "waiting", "processing": "analysing…", "filed": "filed",
            "already": "already in this claim", "failed": "not added"}


def jobs_html(jobs: list[Job]) -> str:
    if not jobs:
        return ""
    rows = []
    for j in jobs[:30]:
        if j.state == "failed":
            detail = f'{h(j.message)} <span class="err-code">({h(j.code)})</span>'
        elif j.photo_uuid:
            detail = f'<a href="{h(photo_url(j.photo_uuid))}">{h(j.summary)}</a>'
        else:
            detail = ""
        code = f' data-code="{h(j.code)}"' if j.code else ""
        rows.append(f'<li class="job {h(j.state)}" data-job="{h(j.id)}" data-state="{h(j.state)}"'
                    f'{code}>'
                    f'<span class="name">{h(j.name)}</span> <span class="state">'
                    f'{h(JOB_TEXT.get(j.state, j.state))}</span> <span class="detail">{detail}'
                    f'</span></li>')
    return f'<ul class="jobs">{"".join(rows)}</ul>'


def photos_html(claim_id: str) -> str:
    photos = list(Photo.select().where(Photo.claim == claim_id).order_by(Photo.captured_at.desc()))
    if not photos:
        return '<p class="muted">No photos yet.</p>'
    purged = {sha for (sha,) in ImageRow.select(ImageRow.sha256).where(
        ImageRow.sha256.in_([p.sha256 for p in photos]) & ImageRow.purged_at.is_null(False))
        .tuples()}
    cards = []
    for p in photos:
        issues = json.loads(p.quality_issues or "[]")
        mark = "verified" if p.verified else "to review"
        q = (f'<span class="q bad">retake: {h(", ".join(i.replace("_", " ") for i in issues))}'
             '</span>' if issues else "")
        if p.sha256 in purged:
            picture = '<span class="gone">original removed by retention</span>'
        else:
            picture = (f'<img src="{h(thumb_url(p.sha256))}" alt="{h(Path(p.source_path).name)}"'
                       ' loading="lazy" width="160" height="120">')
        cards.append(f'<a class="thumb" href="{h(photo_url(p.uuid))}" data-photo="{p.uuid}">'
                     f'{picture}<span class="cap">{h(p.category or "?")} '
                     f'<span class="{"good" if p.verified else "warn"}">'
                     f'{mark}</span>{q}</span></a>')
    return f'<div class="grid">{"".join(cards)}</div>'


def claim_fragments(app: WebApp, claim_id: str) -> dict:
    items, photos = app.cached_view(
        claim_id, lambda: (app.checklist(claim_id), photos_html(claim_id)))
    return {"next": next_banner(items), "checklist": checklist_html(items),
            "jobs": jobs_html(app.jobs(claim_id)), "photos": photos,
            "statusbar": status_bar(app), "busy": app.busy(claim_id)}


def claim_page(app: WebApp, claim_id: str, csrf: str, messages: list[str] | None = None) -> str:
    f = claim_fragments(app, claim_id)
    msgs = "".join(f'<p class="msg error" role="alert">{h(m)}</p>' for m in messages or [])
    action = h(claim_url(claim_id)) + "/photos"
    body = f"""<p class="crumbs"><a href="/">Claims</a> / <b>{h(claim_id)}</b></p>
<h1>Claim {h(claim_id)}</h1>
<div id="next">{f["next"]}</div>
<div class="cols">
<section class="capture card">
<h2>Add photos</h2>
<form id="upload" method="post" action="{action}" enctype="multipart/form-data">
<input type="hidden" name="csrf" value="{h(csrf)}">
<div id="drop" class="drop" tabindex="0">
<p><label class="button primary" for="camera">Take a photo</label>
<input id="camera" class="file" type="file" name="photo" accept="image/*" capture="environment">
<label class="button" for="files">Choose files</label>
<input id="files" class="file" type="file" name="photo" accept="image/*" multiple></p>
<p class="muted">or drop photos here (up to {app.max_upload_bytes / MB:g} MB each)</p>
<noscript><button type="submit">Upload</button></noscript>
</div></form>
<div id="upload-msgs" aria-live="polite">{msgs}</div>
<ul id="sending" class="jobs"></ul>
<div id="jobs" aria-live="polite">{f["jobs"]}</div>
</section>
<section class="card">
<h2>Checklist</h2>
<div id="checklist">{f["checklist"]}</div>
</section>
</div>
<section class="card"><h2>Photos</h2><div id="photos">{f["photos"]}</div></section>"""
    return page(f"Claim {claim_id}", body, app, csrf, claim=claim_id)


# --- photo detail -------------------------------------------------------------------------------

COLORS = {"plate": "#1f77b4", "vin": "#9467bd", "damage": "#d62728", "text": "#2ca02c"}


def _overlay(result: dict, width: int, height: int) -> str:
    shapes = []
    for d in result.get("detections") or []:
        try:
            x, y, w, hh = (float(v) for v in d["box"])
        except (KeyError, TypeError, ValueError):
            continue
        c = COLORS.get(d.get("label"), "#ff7f0e")
        shapes.append(f'<g class="det"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                      f'height="{hh:.1f}" stroke="{c}"/><text x="{x:.1f}" y="{max(y - 6, 14):.1f}" '
                      f'fill="{c}">{h(d.get("label"))} {float(d.get("score", 0)):.2f}'
                      f'{" zoom" if d.get("zoomed") else ""}</text></g>')
    for t in result.get("text") or []:
        try:
            pts = " ".join(f"{float(px):.1f},{float(py):.1f}" for px, py in t["box"])
        except (KeyError, TypeError, ValueError):
            continue
        shapes.append(f'<polygon class="txt" points="{pts}" stroke="{COLORS["text"]}">'
                      f'<title>{h(t.get("text"))}</title></polygon>')
    sw = 3.0  # screen pixels (non-scaling stroke)
    return (f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
            f'stroke-width="{sw:.1f}" font-size="{max(14, int(height / 40))}" aria-hidden="true">'
            f'{"".join(shapes)}</svg>')


def photo_page(app: WebApp, photo: Photo, csrf: str, *, error: str = "", saved: str = "",
               form_name: str = "", form_value: str = "") -> str:
    result = json.loads(photo.result_json or "{}")
    img = photo.image
    purged = img.purged_at is not None
    name = Path(photo.source_path).name
    if purged:
        figure = '<p class="muted">The original was removed by retention; results are kept.</p>'
    else:
        figure = (f'<div class="figure">'
                  f'<img src="{h(thumb_url(photo.sha256, "view"))}" alt="{h(name)}">'
                  f'{_overlay(result, photo.width, photo.height)}</div>')
    ndet, ntxt = len(result.get("detections") or []), len(result.get("text") or [])
    figure += (f'<p class="muted" id="box-count">{ndet} detection box{"es" if ndet != 1 else ""},'
               f' {ntxt} text box{"es" if ntxt != 1 else ""} drawn</p>')

    label_rows = []
    for lb in Label.select().where(Label.photo == photo.uuid).order_by(Label.id):
        ver = ""
        if lb.verified is not None:
            ver = ('<span class="good verified">&#10003; verified</span>' if lb.verified else
                   '<span class="warn">not verified: to review</span>')
            if lb.similarity is not None:
                ver += f' <span class="muted">similarity {lb.similarity:.2f}</span>'
        label_rows.append(f'<tr data-head="{h(lb.head)}"><th>{h(lb.head)}</th><td class="label">'
                          f'{h(lb.label)}</td><td class="num">{lb.score:.2f}</td>'
                          f'<td>{ver}</td></tr>')
    issues = json.loads(photo.quality_issues or "[]")
    quality = ("good" if not issues else
               "; ".join(h(REASONS.get(i, i)) for i in issues))
    zones = [s.scenario for s in ScenarioAssignment.select().where(
        ScenarioAssignment.photo == photo.uuid).order_by(ScenarioAssignment.scenario)]

    fields = list(KeyField.select().where(KeyField.photo == photo.uuid)
                  .order_by(KeyField.name, KeyField.id))
    latest: dict[str, int] = {}   # the latest row of a field is the one the checklist uses
    rows_of: dict[str, int] = {}
    for f in fields:
        latest[f.name] = f.id
        rows_of[f.name] = rows_of.get(f.name, 0) + 1
    field_rows = []
    for f in fields:
        kind = "operator" if f.source == OPERATOR else "model"
        in_use = latest[f.name] == f.id and rows_of[f.name] > 1
        check = "valid" if f.valid else '<span class="bad">invalid</span>'
        field_rows.append(
            f'<tr class="field {kind}{" in-use" if in_use else ""}" data-field="{h(f.name)}" '
            f'data-source="{h(f.source)}"><th>{h(f.name)}</th><td class="value">{h(f.value)}</td>'
            f'<td class="num">{f.confidence:.2f}</td>'
            f'<td>{check}{": " + h(f.reason) if f.reason else ""}</td><td>{h(f.source)}</td>'
            f'<td class="muted">{f.created_at:%Y-%m-%d %H:%M:%S}{" (in use)" if in_use else ""}'
            f'</td></tr>')
    fields_table = (f'<table class="fields"><thead><tr><th>field</th><th>value</th>'
                    f'<th>confidence</th><th>check</th><th>source</th><th>when (UTC)</th></tr>'
                    f'</thead><tbody>{"".join(field_rows)}</tbody></table>' if field_rows else
                    '<p class="muted" id="no-fields">No fields were read from this photo.</p>')

    notice = ""
    mine = [f for f in fields if f.name == saved and f.source == OPERATOR]
    if mine:
        f = mine[-1]
        check = "" if f.valid else f" Check it: {f.reason or 'not valid'}."
        notice = (f"Saved: {saved} = {f.value}.{check} It is kept beside the model's value and "
                  "sent at the next sync.")
        form_name = form_name or saved
    doc = Label.get_or_none((Label.photo == photo.uuid) & (Label.head == "document"))
    required = app.profile.documents.required_fields.get(doc.label, []) if doc else []
    ordered = list(dict.fromkeys([*required, *(f.name for f in fields), *FIELD_NAMES]))
    chosen = form_name or (required[0] if required else (fields[0].name if fields else "plate"))
    options = "".join(f'<option value="{h(n)}"{" selected" if n == chosen else ""}>{h(n)}'
                      f'{" (required)" if n in required else ""}</option>' for n in ordered)
    err = f'<p class="msg error" role="alert">{h(error)}</p>' if error else ""
    note = f'<p class="msg ok" role="status">{h(notice)}</p>' if notice else ""

    sync_line = _sync_state(photo.uuid, sum(f.source == OPERATOR for f in fields))
    texts = "".join(f'<li>{h(t.get("text"))} <span class="muted">{float(t.get("score", 0)):.2f}'
                    f'</span></li>' for t in result.get("text") or [])
    dets = "".join(f'<li>{h(d.get("label"))} {float(d.get("score", 0)):.2f}'
                   f'{" (zoomed)" if d.get("zoomed") else ""}</li>'
                   for d in result.get("detections") or [])
    body = f"""<p class="crumbs"><a href="/">Claims</a> / <a href="{h(claim_url(photo.claim_id))}">
{h(photo.claim_id)}</a> / <b>{h(name)}</b></p>
<h1>{h(name)}</h1>
<div class="cols detail">
<section class="card">{figure}</section>
<section class="card">
<h2>Labels</h2>
<table class="labels"><tbody>{"".join(label_rows)}</tbody></table>
<p>Quality: <span class="{"good" if not issues else "bad"}" id="quality">{quality}</span></p>
<p>Filed under: {h(", ".join(zones) or "-")}</p>
{f"<h3>Detections</h3><ul>{dets}</ul>" if dets else ""}
{f"<h3>Text read</h3><ul class='text'>{texts}</ul>" if texts else ""}
<p class="muted">{photo.width}x{photo.height}, captured {photo.captured_at:%Y-%m-%d %H:%M:%S} UTC,
model {h(photo.model_name)} {h(photo.model_version)}</p>
</section>
</div>
<section class="card" id="fields">
<h2>Fields</h2>
{fields_table}
<form id="correct" method="post" action="{h(photo_url(photo.uuid))}/fields" class="row">
<input type="hidden" name="csrf" value="{h(csrf)}">
<label for="field-name">Correct a field</label>
<select id="field-name" name="name">{options}</select>
<input id="field-value" name="value" required maxlength="{MAX_FIELD_VALUE}" value="{h(form_value)}"
 autocomplete="off" placeholder="the value as it should read">
<button type="submit">Save correction</button>
</form>{err}{note}
<p class="muted">A correction is stored next to the model's value (which is kept), logged, and
sent with the photo at the next sync.</p>
{sync_line}
</section>"""
    return page(name, body, app, csrf, claim=None)


def _sync_state(photo_uuid, corrections: int) -> str:
    """Where the photo's record stands with central, and which revision (sync/protocol.py)."""
    row = Outbox.get_or_none(Outbox.record_uuid == photo_uuid)
    rev = f" (revision {corrections}: {corrections} correction{'s' if corrections != 1 else ''})" \
        if corrections else ""
    if row is None:
        text, cls = "not queued for sync", "muted"
    elif row.state == "acked":
        text, cls = f"synced to central {row.acked_at:%Y-%m-%d %H:%M:%S} UTC{rev}", "good"
    elif row.state == "quarantined":
        text, cls = f"not synced: {row.reason or 'quarantined'}", "bad"
    else:
        why = f": {row.reason}" if row.reason else ""
        text, cls = f"waiting to sync{rev}{why}", "warn"
    return f'<p id="sync-state">Sync: <span class="{cls}">{h(text)}</span></p>'


def error_page(app: WebApp | None, csrf: str, status: int, message: str) -> str:
    body = (f'<h1>{status}</h1><p class="msg error" role="alert">{h(message)}</p>'
            f'<p><a href="/">Back to the claims</a></p>')
    if app is None:
        return (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{status}</title>'
                f'<link rel="stylesheet" href="/static/app.css"><main>{body}</main></html>')
    return page(str(status), body, app, csrf)
