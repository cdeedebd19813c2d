"""Decoding the detector's outputs into boxes in original-image pixels, and the box maths
every pass shares (NMS, IoU, clipping)."""
from __future__ import annotations

import cv2
import numpy as np

from ..result import Detection


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def decode_level(cls_logits: np.ndarray, box: np.ndarray, stride: int, score_threshold: float,
                 max_candidates: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One level's raw outputs -> (boxes [N,4] x,y,w,h in input px, scores [N], class ids [N]).

    ``cls_logits`` [H, W, C] (or [1, H, W, C]), ``box`` [H, W, 4] (dx, dy, log w, log h)."""
    cls_logits = np.asarray(cls_logits, np.float32).reshape(cls_logits.shape[-3:])
    box = np.asarray(box, np.float32).reshape(box.shape[-3:])
    scores = sigmoid(cls_logits)
    ii, jj, cc = np.nonzero(scores >= score_threshold)
    if len(ii) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    s = scores[ii, jj, cc]
    if len(s) > max_candidates:
        keep = np.argsort(-s)[:max_candidates]
        ii, jj, cc, s = ii[keep], jj[keep], cc[keep], s[keep]
    p = box[ii, jj]
    cx = (jj + 0.5 + p[:, 0]) * stride
    cy = (ii + 0.5 + p[:, 1]) * stride
    w = np.exp(np.clip(p[:, 2], -6, 8)) * stride
    h = np.exp(np.clip(p[:, 3], -6, 8)) * stride
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)
    return boxes, s.astype(np.float32), cc.astype(np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float = 0.5,
        max_out: int = 100) -> np.ndarray:
    """Per-class NMS (OpenCV); indices of kept boxes, best score first."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    keep: list[int] = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        got = cv2.dnn.NMSBoxes([list(map(float, b)) for b in boxes[idx]],
                               [float(x) for x in scores[idx]], 0.0, float(iou))
        keep.extend(int(idx[k]) for k in np.asarray(got).reshape(-1))
    keep.sort(key=lambda k: -float(scores[k]))
    return np.asarray(keep[:max_out], np.int64)


def iou_xywh(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def centre_inside(box, outer) -> bool:
    """The centre of ``box`` (x, y, w, h) lies in ``outer``."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    return outer[0] <= cx <= outer[0] + outer[2] and outer[1] <= cy <= outer[1] + outer[3]


def to_original(boxes: np.ndarray, in_w: int, in_h: int, region: tuple[float, float, float, float]):
    """Input-pixel boxes of a stretched ``region`` (x, y, w, h in original px) -> original px."""
    rx, ry, rw, rh = region
    sx, sy = rw / in_w, rh / in_h
    out = np.asarray(boxes, np.float32).copy().reshape(-1, 4)
    out[:, 0] = out[:, 0] * sx + rx
    out[:, 1] = out[:, 1] * sy + ry
    out[:, 2] *= sx
    out[:, 3] *= sy
    return out


def clip_box(box, width: float, height: float) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    return x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)


def detector_input(bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image of any scale as the detector's input: stretched to ``size`` (w, h), RGB float32."""
    w_in, h_in = size
    h0, w0 = bgr.shape[:2]
    interp = cv2.INTER_AREA if w0 > w_in and h0 > h_in else cv2.INTER_LINEAR
    x = cv2.resize(bgr, (w_in, h_in), interpolation=interp)
    return cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)


def detections(levels, labels: list[str], size: tuple[int, int], region,
               score_threshold: float, nms_iou: float, max_out: int) -> list[Detection]:
    """Per-level raw outputs ``(stride, cls [H, W, C], box [H, W, 4])`` of one pass over
    ``region`` (x, y, w, h in original px) -> NMS-kept detections in original pixels."""
    B, S, C = [], [], []
    for stride, cls_logits, box in levels:
        b, s, c = decode_level(cls_logits, box, stride, score_threshold)
        B.append(b); S.append(s); C.append(c)
    boxes, scores, classes = np.concatenate(B), np.concatenate(S), np.concatenate(C)
    keep = nms(boxes, scores, classes, nms_iou, max_out)
    orig = to_original(boxes[keep], size[0], size[1], region)
    return [Detection(labels[int(classes[k])], tuple(float(v) for v in b), float(scores[k]))
            for k, b in zip(keep, orig)]
