"""Synthetic images drawn with OpenCV/numpy: claim documents the real data lacks (photographed on
a table: perspective, blur, glare, shadow), `other` images for training, and out-of-domain
families for open-set evaluation. Deterministic: ``render(kind, seed)`` always gives the same image.
"""
from __future__ import annotations

import cv2
import numpy as np

DOC_KINDS = ["driver_license", "vehicle_registration", "id_card", "insurance_card",
             "repair_estimate", "accident_report", "receipt_photo"]
OTHER_KINDS = ["noise_texture", "blobs", "landscape"]
# open-set evaluation only: "ood_texture" is a texture family the `other` generator never makes;
# "indoor" and "graphic" are families it never makes either.
OOD_KINDS = ["ood_texture", "indoor", "graphic"]

FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN]
WORDS = ("JOHN SMITH MARIA GARCIA LEE CHEN ANNA MULLER OAK STREET MAIN AVE SPRINGFIELD RIVERSIDE "
         "LAKE VIEW PARK ROAD NORTH SOUTH CLASS C ORGAN DONOR VETERAN HEIGHT WEIGHT EYES BRN BLU "
         "SEX M F ISSUED EXPIRES DOB VEHICLE MAKE MODEL TOYOTA FORD HONDA BMW VIN PLATE OWNER "
         "POLICY INSURER COVERAGE LIABILITY AGENT PHONE LABOR PARTS PAINT BUMPER DOOR FENDER "
         "HOOD PANEL HEADLAMP REPAIR ESTIMATE TOTAL TAX SUBTOTAL DATE TIME LOCATION WITNESS "
         "DRIVER DAMAGE DESCRIPTION SKETCH SIGNATURE QTY PRICE AMOUNT INVOICE CASH CHANGE").split()
TITLES = {
    "driver_license": ["DRIVER LICENSE", "DRIVER'S LICENSE", "DRIVING LICENCE", "OPERATOR LICENSE"],
    "vehicle_registration": ["VEHICLE REGISTRATION", "REGISTRATION CARD", "CERTIFICATE OF REGISTRATION"],
    "id_card": ["IDENTIFICATION CARD", "IDENTITY CARD", "NATIONAL ID", "ID CARD"],
    "insurance_card": ["INSURANCE ID CARD", "PROOF OF INSURANCE", "AUTO INSURANCE CARD"],
    "repair_estimate": ["REPAIR ESTIMATE", "ESTIMATE OF REPAIR", "BODY SHOP ESTIMATE"],
    "accident_report": ["ACCIDENT REPORT", "MOTOR VEHICLE ACCIDENT REPORT", "TRAFFIC COLLISION REPORT"],
    "receipt_photo": ["RECEIPT", "TAX INVOICE", "INVOICE", "CASH RECEIPT"],
}
STATES = ["CALIFORNIA", "TEXAS", "FLORIDA", "NEW YORK", "OHIO", "ONTARIO", "BAVARIA", "VICTORIA"]


def _word(rng, n=None):
    n = n or int(rng.integers(1, 4))
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _num(rng, n):
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def _date(rng):
    return f"{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d}/{int(rng.integers(1950, 2030))}"


def _text(img, s, org, rng, scale, color=(20, 20, 20), thick=None, font=None):
    font = FONTS[int(rng.integers(0, len(FONTS)))] if font is None else font
    thick = thick or max(1, int(round(scale * 1.6)))
    cv2.putText(img, s, (int(org[0]), int(org[1])), font, scale, color, thick, cv2.LINE_AA)


def _pastel(rng):
    return tuple(int(x) for x in rng.integers(150, 250, 3))


def _dark(rng):
    return tuple(int(x) for x in rng.integers(0, 90, 3))


def _face(img, x, y, w, h, rng):
    cv2.rectangle(img, (x, y), (x + w, y + h), tuple(int(v) for v in rng.integers(120, 220, 3)), -1)
    skin = tuple(int(v) for v in (rng.integers(60, 200), rng.integers(90, 190), rng.integers(120, 230)))
    cv2.ellipse(img, (x + w // 2, y + int(h * 0.42)), (int(w * 0.28), int(h * 0.3)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (x + w // 2, y + h), (int(w * 0.45), int(h * 0.35)), 0, 180, 360, _dark(rng), -1)
    cv2.ellipse(img, (x + w // 2, y + int(h * 0.25)), (int(w * 0.3), int(h * 0.15)), 0, 180, 360, _dark(rng), -1)


def _card(kind, rng):
    W, H = 640, 404
    c0, c1 = np.array(_pastel(rng), np.float32), np.array(_pastel(rng), np.float32)
    t = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]
    img = (c0 * (1 - t) + c1 * t).repeat(H, 0).astype(np.uint8)
    # guilloche background lines
    for k in range(int(rng.integers(3, 9))):
        a, f, ph = rng.uniform(10, 60), rng.uniform(0.005, 0.03), rng.uniform(0, 6.3)
        ys = (H / 2 + a * np.sin(np.arange(W) * f + ph) + rng.uniform(-150, 150)).astype(np.int32)
        pts = np.stack([np.arange(W), ys], 1)[None]
        cv2.polylines(img, pts, False, tuple(int(v) for v in np.array(_pastel(rng)) - 30), 1, cv2.LINE_AA)
    band = _dark(rng) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(0, 255, 3))
    bh = int(rng.integers(50, 80))
    cv2.rectangle(img, (0, 0), (W, bh), band, -1)
    light = (245, 245, 245)
    _text(img, str(rng.choice(STATES)), (15, bh * 0.45), rng, 0.6, light, 1)
    _text(img, str(rng.choice(TITLES[kind])), (15, bh * 0.9), rng, rng.uniform(0.8, 1.1), light, 2)
    x_text = 20
    if kind in ("driver_license", "id_card") or rng.random() < 0.2:
        fw = int(rng.integers(130, 170))
        _face(img, 20, bh + 20, fw, int(fw * 1.25), rng)
        x_text = 40 + fw
    y = bh + 40
    fields = {
        "driver_license": ["DL " + _num(rng, 8), "DOB " + _date(rng), "EXP " + _date(rng), "CLASS C"],
        "id_card": ["ID " + _num(rng, 9), "DOB " + _date(rng), "EXP " + _date(rng), "SEX " + str(rng.choice(["M", "F"]))],
        "vehicle_registration": ["PLATE " + _word(rng, 1)[:3] + _num(rng, 4), "VIN 1HGCM" + _num(rng, 12),
                                 "MAKE " + _word(rng, 1), "EXP " + _date(rng)],
        "insurance_card": ["POLICY " + _num(rng, 10), "EFF " + _date(rng), "EXP " + _date(rng),
                           "VIN 2T1BU" + _num(rng, 12), "INSURER " + _word(rng, 2)],
    }[kind]
    fields += [_word(rng, 2), _num(rng, 4) + " " + _word(rng, 2)]
    rng.shuffle(fields)
    for fld in fields:
        if y > H - 20:
            break
        _text(img, fld, (x_text, y), rng, rng.uniform(0.5, 0.8), _dark(rng))
        y += int(rng.integers(32, 48))
    if rng.random() < 0.6:  # signature
        pts = np.cumsum(rng.normal(0, 6, (30, 2)), 0) + [x_text + 60, H - 40]
        pts[:, 0] = np.linspace(x_text + 20, x_text + 220, 30)
        cv2.polylines(img, [pts.astype(np.int32)[None]][0], False, (40, 30, 90), 2, cv2.LINE_AA)
    if kind in ("vehicle_registration", "insurance_card") and rng.random() < 0.7:  # barcode
        x0 = W - 220
        for i in range(int(rng.integers(40, 70))):
            xx = x0 + int(i * 3.0)
            if rng.random() < 0.5:
                cv2.line(img, (xx, H - 70), (xx, H - 20), (10, 10, 10), int(rng.integers(1, 3)))
    cv2.rectangle(img, (0, 0), (W - 1, H - 1), (90, 90, 90), 1)
    return img


def _page(kind, rng):
    if kind == "receipt_photo":
        W, H = int(rng.integers(300, 380)), int(rng.integers(700, 900))
    else:
        W, H = 600, 848
    paper = int(rng.integers(225, 256))
    img = np.full((H, W, 3), paper, np.uint8)
    img = (img.astype(np.int16) + rng.integers(-5, 6, (1, 1, 3))).clip(0, 255).astype(np.uint8)
    ink = _dark(rng) if rng.random() < 0.3 else (25, 25, 25)
    mono = cv2.FONT_HERSHEY_PLAIN if kind == "receipt_photo" else None
    y = 45
    title = str(rng.choice(TITLES[kind]))
    if kind == "receipt_photo":
        _text(img, _word(rng, 2), (20, y), rng, 1.3, ink, 1, mono); y += 28
        _text(img, _num(rng, 3) + " " + _word(rng, 2), (20, y), rng, 1.0, ink, 1, mono); y += 24
        _text(img, title, (20, y), rng, 1.3, ink, 2, mono); y += 30
        _text(img, "DATE " + _date(rng), (20, y), rng, 1.0, ink, 1, mono); y += 30
        while y < H - 120:
            _text(img, _word(rng, 2)[:16], (20, y), rng, 1.0, ink, 1, mono)
            _text(img, f"{rng.uniform(1, 99):.2f}", (W - 90, y), rng, 1.0, ink, 1, mono)
            y += int(rng.integers(20, 28))
        cv2.line(img, (15, y), (W - 15, y), ink, 1); y += 28
        _text(img, "TOTAL", (20, y), rng, 1.4, ink, 2, mono)
        _text(img, f"{rng.uniform(10, 500):.2f}", (W - 110, y), rng, 1.4, ink, 2, mono)
        return img
    hdr = _dark(rng) if rng.random() < 0.5 else ink
    _text(img, title, (30, y), rng, rng.uniform(0.9, 1.2), hdr, 2); y += 40
    _text(img, _word(rng, 3) + "  TEL " + _num(rng, 10), (30, y), rng, 0.5, ink); y += 30
    cv2.line(img, (25, y), (W - 25, y), ink, 2); y += 30
    for _ in range(int(rng.integers(3, 6))):  # header fields
        _text(img, f"{_word(rng, 1)}: {_word(rng, 2)}", (30, y), rng, 0.55, ink)
        _text(img, f"{_word(rng, 1)}: {_date(rng)}", (W // 2 + 10, y), rng, 0.55, ink)
        y += 28
    if kind == "accident_report":
        # sketch boxes with two cars + checkboxes
        bx, by = 30, y + 10
        cv2.rectangle(img, (bx, by), (W - 30, by + 220), ink, 2)
        cv2.line(img, (bx, by + 110), (W - 30, by + 110), ink, 1)
        cv2.line(img, (W // 2, by), (W // 2, by + 220), ink, 1)
        for _ in range(2):
            cx, cy = int(rng.integers(bx + 60, W - 90)), int(rng.integers(by + 40, by + 180))
            box = cv2.boxPoints(((cx, cy), (70, 34), float(rng.uniform(0, 180)))).astype(np.int32)
            cv2.polylines(img, [box], True, ink, 2)
        cv2.arrowedLine(img, (bx + 40, by + 200), (bx + 140, by + 150), ink, 2)
        y = by + 250
        for _ in range(int(rng.integers(4, 8))):
            if y > H - 40:
                break
            cv2.rectangle(img, (32, y - 14), (46, y), ink, 1)
            if rng.random() < 0.4:
                cv2.line(img, (32, y - 14), (46, y), ink, 1)
            _text(img, _word(rng, 3), (56, y), rng, 0.5, ink)
            y += 30
    else:
        cols = [30, int(W * 0.55), int(W * 0.7), int(W * 0.85)]
        cv2.rectangle(img, (25, y - 20), (W - 25, y + 8), tuple(int(v) for v in np.array(_pastel(rng)) - 40), -1)
        for c, h in zip(cols, ["DESCRIPTION", "QTY", "PRICE", "AMOUNT"]):
            _text(img, h, (c, y), rng, 0.45, ink)
        y += 30
        while y < H - 130:
            _text(img, _word(rng, 2), (cols[0], y), rng, 0.5, ink)
            _text(img, str(int(rng.integers(1, 5))), (cols[1], y), rng, 0.5, ink)
            _text(img, f"{rng.uniform(5, 400):.2f}", (cols[2], y), rng, 0.5, ink)
            _text(img, f"{rng.uniform(5, 900):.2f}", (cols[3], y), rng, 0.5, ink)
            cv2.line(img, (25, y + 9), (W - 25, y + 9), (180, 180, 180), 1)
            y += int(rng.integers(26, 34))
        for lab in ("SUBTOTAL", "TAX", "TOTAL"):
            _text(img, lab, (cols[2] - 30, y), rng, 0.55, ink)
            _text(img, f"{rng.uniform(50, 5000):.2f}", (cols[3], y), rng, 0.55, ink)
            y += 30
    return img


def _table(rng, H, W):
    kind = rng.integers(0, 4)
    base = np.array(rng.integers(40, 200, 3), np.float32)
    if kind == 0:  # wood grain
        x = np.linspace(0, rng.uniform(20, 60), W)[None, :] + rng.normal(0, 1, (H, 1)).cumsum(0) * 0.05
        g = (np.sin(x + 3 * np.sin(np.linspace(0, 6, H))[:, None]) * 0.5 + 0.5)[..., None]
        img = base * (0.7 + 0.3 * g)
    elif kind == 1:  # fabric / noise
        n = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), rng.uniform(0.8, 3))
        img = base * (1 + 0.15 * n[..., None])
    elif kind == 2:  # car seat / dashboard: dark, smooth gradient
        t = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
        img = base * 0.4 * (0.6 + 0.6 * t) * np.ones((1, W, 1), np.float32)
    else:  # plain surface with speckle
        img = base * np.ones((H, W, 1), np.float32) + rng.normal(0, 6, (H, W, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def _photograph(doc, rng, out_hw=None):
    """Place a flat document on a table with perspective, shadow, glare, blur, noise, JPEG."""
    H, W = out_hw or (int(rng.choice([480, 540, 600])), int(rng.choice([480, 640, 720])))
    bg = _table(rng, H, W)
    dh, dw = doc.shape[:2]
    fill = rng.uniform(0.55, 0.95)
    s = fill * min(W / dw, H / dh)
    cw, ch = dw * s, dh * s
    cx, cy = W / 2 + rng.uniform(-0.1, 0.1) * W, H / 2 + rng.uniform(-0.1, 0.1) * H
    ang = np.deg2rad(rng.uniform(-15, 15))
    base = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = base @ R.T + [cx, cy]
    dst += rng.normal(0, 0.04, (4, 2)) * [cw, ch]  # perspective
    src = np.float32([[0, 0], [dw, 0], [dw, dh], [0, dh]])
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(doc, M, (W, H), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((dh, dw), 255, np.uint8), M, (W, H))
    # drop shadow
    sh = cv2.GaussianBlur(np.roll(mask, (int(rng.integers(3, 12)), int(rng.integers(3, 12))), (0, 1)), (0, 0), 6)
    out = bg.astype(np.float32) * (1 - 0.45 * sh[..., None] / 255.0)
    m = mask[..., None].astype(np.float32) / 255.0
    out = out * (1 - m) + warped.astype(np.float32) * m
    # lighting gradient / hand shadow
    if rng.random() < 0.6:
        gx, gy = rng.uniform(-1, 1, 2)
        xx, yy = np.meshgrid(np.linspace(-1, 1, W), np.linspace(-1, 1, H))
        out *= (1 + 0.3 * (gx * xx + gy * yy))[..., None]
    if rng.random() < 0.4:
        poly = (rng.uniform(0, 1, (4, 2)) * [W, H]).astype(np.int32)
        smask = np.zeros((H, W), np.float32)
        cv2.fillPoly(smask, [poly], 1.0)
        smask = cv2.GaussianBlur(smask, (0, 0), 25)
        out *= (1 - rng.uniform(0.2, 0.5) * smask)[..., None]
    # glare
    if rng.random() < 0.5:
        gm = np.zeros((H, W), np.float32)
        cv2.ellipse(gm, (int(rng.uniform(0, W)), int(rng.uniform(0, H))),
                    (int(rng.uniform(20, W / 3)), int(rng.uniform(10, H / 4))), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        gm = cv2.GaussianBlur(gm, (0, 0), rng.uniform(8, 30))
        out = out + gm[..., None] * rng.uniform(80, 200)
    out = np.clip(out + rng.normal(0, rng.uniform(1, 6), out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.0))
    if rng.random() < 0.2:  # motion blur
        k = int(rng.integers(5, 13))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        out = cv2.filter2D(out, -1, ker)
    ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 95))])
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


def render_document(kind: str, seed: int) -> np.ndarray:
    """A photographed document (RGB uint8)."""
    rng = np.random.default_rng(seed)
    if kind in ("driver_license", "vehicle_registration", "id_card", "insurance_card"):
        if kind == "vehicle_registration" and rng.random() < 0.5:
            doc = _page("repair_estimate", rng)  # registration as a printed page
            _text(doc, "VEHICLE REGISTRATION", (30, 45), rng, 1.0, (20, 20, 20), 2)
        else:
            doc = _card(kind, rng)
    else:
        doc = _page(kind, rng)
    return _photograph(doc, rng)


# --------------------------------------------------------------------------- other / OOD

def _noise_texture(rng, H=384, W=384):
    img = np.zeros((H, W, 3), np.float32)
    for s in (2, 6, 18, 50):
        n = cv2.GaussianBlur(rng.normal(0, 1, (H, W, 3)).astype(np.float32), (0, 0), s)
        img += n / (n.std() + 1e-6) * rng.uniform(0, 1)
    img = (img - img.min()) / (np.ptp(img) + 1e-6)
    c0, c1 = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
    return (c0 * (1 - img) + c1 * img).astype(np.uint8)


def _blobs(rng, H=384, W=384):
    img = np.full((H, W, 3), rng.integers(0, 255, 3), np.uint8)
    for _ in range(int(rng.integers(5, 25))):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(10, 120)), c, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 8))


def _landscape(rng, H=384, W=512):
    sky0, sky1 = rng.integers(120, 255, 3), rng.integers(60, 200, 3)
    hz = int(rng.uniform(0.3, 0.7) * H)
    t = np.linspace(0, 1, hz)[:, None, None]
    img = np.zeros((H, W, 3), np.float32)
    img[:hz] = sky0 * (1 - t) + sky1 * t
    g0 = rng.integers(20, 160, 3)
    img[hz:] = g0 + rng.normal(0, 12, (H - hz, W, 3))
    xs = np.arange(W)
    ridge = hz - (np.abs(np.cumsum(rng.normal(0, 3, W))) + rng.uniform(5, 60)).astype(int)
    for x in xs:
        img[max(0, ridge[x]):hz, x] = g0 * 0.7
    return np.clip(cv2.GaussianBlur(img, (0, 0), 1.5), 0, 255).astype(np.uint8)


def _ood_texture(rng, H=384, W=384):
    """Regular textures: stripes, checkerboards, weaves, tiles."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    k = int(rng.integers(0, 3))
    f = rng.uniform(0.05, 0.4)
    ang = rng.uniform(0, np.pi)
    u = xx * np.cos(ang) + yy * np.sin(ang)
    v = -xx * np.sin(ang) + yy * np.cos(ang)
    if k == 0:
        g = (np.sin(u * f) > 0).astype(np.float32)
    elif k == 1:
        g = ((np.floor(u * f / 3) + np.floor(v * f / 3)) % 2).astype(np.float32)
    else:
        g = 0.5 + 0.25 * np.sin(u * f) + 0.25 * np.sin(v * f * 1.3)
    c0, c1 = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
    img = c0 * (1 - g[..., None]) + c1 * g[..., None] + rng.normal(0, 8, (H, W, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _indoor(rng, H=384, W=512):
    """A room-like scene: wall/floor/ceiling perspective, a window, furniture boxes."""
    img = np.zeros((H, W, 3), np.uint8)
    wall = tuple(int(v) for v in rng.integers(120, 240, 3))
    floor = tuple(int(v) for v in rng.integers(40, 160, 3))
    img[:] = wall
    vx, vy = int(rng.uniform(0.3, 0.7) * W), int(rng.uniform(0.35, 0.55) * H)
    bw, bh = int(W * rng.uniform(0.3, 0.5)), int(H * rng.uniform(0.3, 0.45))
    x0, y0, x1, y1 = vx - bw // 2, vy - bh // 2, vx + bw // 2, vy + bh // 2
    cv2.fillPoly(img, [np.array([[0, H], [W, H], [x1, y1], [x0, y1]])], floor)
    cv2.fillPoly(img, [np.array([[0, 0], [x0, y0], [x0, y1], [0, H]])], tuple(int(v * 0.85) for v in wall))
    cv2.fillPoly(img, [np.array([[W, 0], [x1, y0], [x1, y1], [W, H]])], tuple(int(v * 0.75) for v in wall))
    cv2.fillPoly(img, [np.array([[0, 0], [W, 0], [x1, y0], [x0, y0]])], tuple(int(min(255, v * 1.1)) for v in wall))
    if rng.random() < 0.7:  # window
        wx, wy = int(rng.uniform(x0, x1 - 40)), int(rng.uniform(y0, y1 - 50))
        cv2.rectangle(img, (wx, wy), (wx + 50, wy + 60), (235, 225, 200), -1)
        cv2.line(img, (wx + 25, wy), (wx + 25, wy + 60), (80, 80, 80), 2)
    for _ in range(int(rng.integers(1, 5))):  # furniture
        fx, fy = int(rng.uniform(0, W - 80)), int(rng.uniform(y1, H - 40))
        fw, fh = int(rng.uniform(50, 160)), int(rng.uniform(30, 120))
        c = tuple(int(v) for v in rng.integers(20, 200, 3))
        cv2.rectangle(img, (fx, fy - fh), (fx + fw, fy), c, -1)
        cv2.rectangle(img, (fx + 5, fy - fh - 15), (fx + fw - 5, fy - fh), tuple(int(v * 0.8) for v in c), -1)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2))
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _graphic(rng, H=384, W=384):
    """Text-free flat graphics: icons, polygons, lines, logos-like shapes."""
    img = np.full((H, W, 3), rng.integers(180, 255, 3), np.uint8)
    for _ in range(int(rng.integers(3, 12))):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        k = rng.integers(0, 3)
        if k == 0:
            pts = (rng.uniform(0, 1, (int(rng.integers(3, 7)), 2)) * [W, H]).astype(np.int32)
            cv2.fillPoly(img, [pts], c, cv2.LINE_AA)
        elif k == 1:
            cv2.line(img, tuple(int(v) for v in rng.integers(0, W, 2)), tuple(int(v) for v in rng.integers(0, H, 2)), c, int(rng.integers(2, 15)), cv2.LINE_AA)
        else:
            cv2.rectangle(img, tuple(int(v) for v in rng.integers(0, W, 2)), tuple(int(v) for v in rng.integers(0, H, 2)), c, -1)
    return img


def render(kind: str, seed: int) -> np.ndarray:
    if kind in DOC_KINDS:
        return render_document(kind, seed)
    rng = np.random.default_rng(seed)
    fn = {"noise_texture": _noise_texture, "blobs": _blobs, "landscape": _landscape,
          "ood_texture": _ood_texture, "indoor": _indoor, "graphic": _graphic}[kind]
    return np.ascontiguousarray(fn(rng))
