"""The detector network: the frozen EfficientNet-Lite0 trunk read at strides 8/16/32, the
FPN-lite head, the exported wrapper, and the training targets and loss of that head."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .data import LABELS

SIZE = 320
STRIDES = (8, 16, 32)
LEVEL_BLOCKS = (4, 10, 15)          # EfficientNet-Lite0 block outputs at strides 8, 16, 32
LEVEL_CH = (40, 112, 320)
# assignment by the box's longest side in input pixels (overlapping ranges: both levels learn)
LEVEL_RANGE = ((0, 72), (40, 180), (110, 10_000))


# ------------------------------------------------------------------------------------- network

class Levels(nn.Module):
    """Frozen trunk returning the block outputs at strides 8/16/32 (NCHW, normalised input)."""

    def __init__(self, eff):
        super().__init__()
        self.eff = eff

    def forward(self, x):
        e = self.eff
        x = e._swish(e._bn0(e._conv_stem(x)))
        outs = []
        for i, block in enumerate(e._blocks):
            x = block(x)
            if i in LEVEL_BLOCKS:
                outs.append(x)
        return outs


class Head(nn.Module):
    """Top-down FPN-lite (1x1 laterals, nearest upsample, add) + per-level 3x3 towers."""

    def __init__(self, ch: int = 48, n_cls: int = len(LABELS)):
        super().__init__()
        self.lat = nn.ModuleList(nn.Conv2d(c, ch, 1) for c in LEVEL_CH)
        # 3x3 towers only on the coarse levels: the stride-8 map (40x40) takes its context from
        # the top-down path and keeps 1x1 predictors (CPU training and inference stay cheap)
        self.tower = nn.ModuleList(nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU6())
                                   if i else nn.ReLU6() for i in range(len(LEVEL_CH)))
        self.tower2 = nn.ModuleList(nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU6())
                                    if i else nn.Identity() for i in range(len(LEVEL_CH)))
        self.cls = nn.ModuleList(nn.Conv2d(ch, n_cls, 1) for _ in LEVEL_CH)
        self.box = nn.ModuleList(nn.Conv2d(ch, 4, 1) for _ in LEVEL_CH)
        for c in self.cls:
            nn.init.constant_(c.bias, -4.0)

    def forward(self, feats):
        lat = [l(f) for l, f in zip(self.lat, feats)]
        p5 = lat[2]
        p4 = lat[1] + F.interpolate(p5, scale_factor=2.0, mode="nearest")
        p3 = lat[0] + F.interpolate(p4, scale_factor=2.0, mode="nearest")
        out = []
        for i, p in enumerate((p3, p4, p5)):
            t = self.tower2[i](self.tower[i](p))
            out.append((self.cls[i](t), self.box[i](t)))
        return out


class ExportDetector(nn.Module):
    """What ships: NHWC float32 0..255 -> cls_s8, box_s8, cls_s16, ... (NHWC)."""

    def __init__(self, levels: Levels, head: Head):
        super().__init__()
        self.levels, self.head = levels, head

    def forward(self, image):
        x = (image.permute(0, 3, 1, 2) - 127.0) / 128.0
        out = {}
        for s, (c, b) in zip(STRIDES, self.head(self.levels(x))):
            out[f"cls_s{s}"] = c.permute(0, 2, 3, 1)
            out[f"box_s{s}"] = b.permute(0, 2, 3, 1)
        return out


def build_levels(size: int = SIZE) -> Levels:
    from ..classifier.net import build_backbone
    return Levels(build_backbone(size, pretrained=True)).eval()


# ------------------------------------------------------------------------------------- targets

def targets(boxes, size: int = SIZE):
    """Per level: cls target [C,H,W] (0/1), box target [4,H,W], positive mask [H,W]."""
    out = []
    for (lo, hi), s in zip(LEVEL_RANGE, STRIDES):
        n = size // s
        cls = np.zeros((len(LABELS), n, n), np.float32)
        reg = np.zeros((4, n, n), np.float32)
        pos = np.zeros((n, n), np.float32)
        best = np.full((n, n), np.inf, np.float32)  # smaller box wins a shared cell
        ign = np.zeros((len(LABELS), n, n), np.float32)
        for l, x, y, w, h in boxes:
            if w < 2 or h < 2:
                continue
            c = LABELS.index(l)
            longest = max(w, h)
            cx, cy = x + w / 2, y + h / 2
            centres = (np.arange(n) + 0.5) * s
            if not lo <= longest <= hi:
                # out of this level's range: do not punish a detection inside the box centre
                i0, i1 = np.searchsorted(centres, [y + h * 0.25, y + h * 0.75])
                j0, j1 = np.searchsorted(centres, [x + w * 0.25, x + w * 0.75])
                ign[c, i0:i1, j0:j1] = 1
                continue
            rad = 1.25 * s
            ys = [i for i in range(n) if abs(centres[i] - cy) <= min(rad, h / 2) ]
            xs = [j for j in range(n) if abs(centres[j] - cx) <= min(rad, w / 2)]
            ci, cj = min(n - 1, int(cy // s)), min(n - 1, int(cx // s))
            cells = {(i, j) for i in ys for j in xs} | {(ci, cj)}
            for i, j in cells:
                cls[c, i, j] = 1
                if w * h < best[i, j]:
                    best[i, j] = w * h
                    reg[:, i, j] = (cx / s - (j + 0.5), cy / s - (i + 0.5),
                                    np.log(w / s), np.log(h / s))
                    pos[i, j] = 1
        ign = np.clip(ign - cls, 0, 1)
        out.append((cls, reg, pos, ign))
    return out


def focal(logits, t, ign, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    pt = p * t + (1 - p) * (1 - t)
    a = alpha * t + (1 - alpha) * (1 - t)
    return (a * (1 - pt) ** gamma * ce * (1 - ign)).sum()
