"""Plate deskewing: the plate's outline warped to a flat rectangle, else its character row's
rotation undone (the RapidOCR views of edge.plates read it)."""

from __future__ import annotations

import cv2
import numpy as np


def rectify(crop: np.ndarray, out_h: int = 64) -> np.ndarray:
    """Deskew a plate crop: the plate's outline (largest bright quadrilateral) is warped to a
    flat rectangle; without a clear outline the small rotation of the character row (from the
    text's minimum-area rectangle) is undone. Returns a BGR image ``out_h`` high."""
    if crop.size == 0:
        return crop
    h, w = crop.shape[:2]
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    img = crop if crop.ndim == 3 else cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    quad = _plate_quad(gray)
    if quad is not None:
        tl, tr, br, bl = quad
        pw = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
        ph = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
        if ph > 4 and 1.5 < pw / ph < 8:
            ow = int(round(out_h * pw / ph))
            m = cv2.getPerspectiveTransform(quad.astype(np.float32),
                                            np.float32([[0, 0], [ow, 0], [ow, out_h], [0, out_h]]))
            return cv2.warpPerspective(img, m, (ow, out_h), flags=cv2.INTER_CUBIC,
                                       borderMode=cv2.BORDER_REPLICATE)
    # rotation only, from the dark strokes' orientation
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    pts = cv2.findNonZero(bw)
    angle = 0.0
    if pts is not None and len(pts) > 20:
        (_, _), (rw, rh), a = cv2.minAreaRect(pts)
        if rw < rh:
            a -= 90
        if a < -45:
            a += 90
        if a > 45:
            a -= 90
        angle = a if abs(a) <= 15 else 0.0
    if abs(angle) > 1.0:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REPLICATE)
    scale = out_h / h
    return cv2.resize(img, (max(1, int(round(w * scale))), out_h), interpolation=cv2.INTER_CUBIC)


def _order(pts: np.ndarray) -> np.ndarray:
    pts = pts.reshape(4, 2).astype(np.float32)
    s, d = pts.sum(1), np.diff(pts, axis=1).ravel()
    return np.array([pts[np.argmin(s)], pts[np.argmin(d)], pts[np.argmax(s)], pts[np.argmax(d)]])


def _plate_quad(gray: np.ndarray) -> np.ndarray | None:
    h, w = gray.shape[:2]
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    _, bw = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    cnts, _ = cv2.findContours(bw, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best = None
    for c in cnts:
        area = cv2.contourArea(c)
        if area < 0.25 * w * h or area > 0.98 * w * h:
            continue
        approx = cv2.approxPolyDP(c, 0.03 * cv2.arcLength(c, True), True)
        if len(approx) == 4 and cv2.isContourConvex(approx) and (best is None or area > best[0]):
            best = (area, approx)
    return _order(best[1]) if best is not None else None
