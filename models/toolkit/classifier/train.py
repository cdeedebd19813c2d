"""Training: CPU frozen-backbone mode on cached trunk features, and a full fine-tune mode."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .features import capped, compute_features, view_image
from .net import CATEGORY, DAMAGE, VIEW, MultiTaskNet

LABELS = {"category": CATEGORY, "damage": DAMAGE, "view": VIEW}
LOSS_W = {"category": 1.0, "damage": 1.0, "view": 0.5, "proto": 0.5}


# damage label of a damaged car whose severity is not given: trains "not none" only
DAMAGED_UNKNOWN = "damaged"
_DAMAGED_ID = -2


def _label_id(labels, value):
    if not value:
        return -1
    if value == DAMAGED_UNKNOWN:
        return _DAMAGED_ID
    return labels.index(value)


def label_ids(samples, rows):
    return {head: torch.tensor([_label_id(labels, samples[i][head]) for i in rows], dtype=torch.long)
            for head, labels in LABELS.items()}


def multitask_loss(net, outs, y, smoothing=0.05):
    """Sum of per-head cross entropies; label -1 masks a head for a sample."""
    total, parts = 0.0, {}
    for head in LABELS:
        t = y[head]
        m = t >= 0
        if m.any():
            loss = F.cross_entropy(outs[head][m], t[m], label_smoothing=smoothing)
            total = total + LOSS_W[head] * loss
            parts[head] = float(loss.detach())
    m = y["damage"] == _DAMAGED_ID
    if m.any():
        # severity unknown: only P(none) is pushed down
        p_none = F.softmax(outs["damage"][m], dim=1)[:, 0]
        loss = -torch.log((1 - p_none).clamp_min(1e-6)).mean()
        total = total + LOSS_W["damage"] * loss
        parts["damaged"] = float(loss.detach())
    m = y["category"] >= 0
    if m.any():
        cl = net.heads.cosine_logits(outs["embedding"][m])
        loss = F.cross_entropy(cl, y["category"][m])
        total = total + LOSS_W["proto"] * loss
        parts["proto"] = float(loss.detach())
    return total, parts


def _sample_weights(samples, rows):
    cats = [samples[i]["category"] for i in rows]
    srcs = [samples[i]["source"] for i in rows]
    from collections import Counter
    sc = Counter(srcs)
    # balance categories, and sources within a category
    n_src_per_cat = Counter()
    for s in set(zip(cats, srcs)):
        n_src_per_cat[s[0]] += 1
    return np.array([1.0 / (n_src_per_cat[c] * sc[s]) for c, s in zip(cats, srcs)], np.float64)


class _Body(torch.nn.Module):
    """What CPU mode trains on cached features: the last ``train_blocks`` MBConv blocks (0 = none),
    conv_head + pooling, and the heads."""

    def __init__(self, net: MultiTaskNet, train_blocks: int, freeze_neck: bool = False):
        super().__init__()
        self.net = net
        self.split = len(net.trunk.blocks) - train_blocks
        self.freeze_neck = freeze_neck  # input is the pooled neck output: heads only

    def forward(self, x):
        if self.freeze_neck:
            return self.net.heads(x)
        return self.net.heads(self.net.neck(self.net.trunk.tail(x, self.split)))

    def train(self, mode: bool = True):
        # batch-norm running statistics stay ImageNet's (their affine is trained): batches of
        # cached features are class-balanced resamples, not the photos the device sees
        super().train(mode)
        for m in self.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
        return self


@torch.no_grad()
def pooled_neck(net: MultiTaskNet, feats: np.ndarray, bs: int = 256) -> np.ndarray:
    """Full-trunk features -> the frozen neck's pooled [N, 1280] output (float32)."""
    neck = net.neck.eval()
    return np.concatenate([neck(torch.from_numpy(feats[b:b + bs]).float()).numpy()
                           for b in range(0, len(feats), bs)])


@torch.no_grad()
def advance(net: MultiTaskNet, feats: np.ndarray, from_split: int, to_split: int, bs: int = 256) -> np.ndarray:
    """Run the frozen blocks[from_split:to_split] over cached features (float16 in and out): a
    cache made for more trained blocks serves a run that trains fewer."""
    if to_split == from_split:
        return feats
    blocks = net.trunk.blocks[from_split:to_split].eval()
    out = []
    for b in range(0, len(feats), bs):
        x = torch.from_numpy(feats[b:b + bs]).float()
        for blk in blocks:
            x = blk(x)
        out.append(x.numpy().astype(np.float16))
    return np.concatenate(out)


def cached_features(net: MultiTaskNet, samples, size, cache_dir: Path, *, train_blocks: int,
                    cache_blocks: int | None = None, views_scale=1.0, log=print):
    """Trunk features up to the last ``train_blocks`` blocks, read from (or written to) the cache
    made at ``cache_blocks`` (default: train_blocks)."""
    cache_blocks = train_blocks if cache_blocks is None else cache_blocks
    if cache_blocks < train_blocks:
        raise ValueError(f"a cache at {cache_blocks} trained blocks cannot serve {train_blocks}")
    n = len(net.trunk.blocks)
    cs = n - cache_blocks
    tag = "trunk" if cache_blocks == 0 else f"trunk{cs}"
    trunk = net.trunk.eval()
    feats, idx, views = compute_features(lambda x: trunk.prefix(x, cs), samples, size, cache_dir,
                                         views_scale=views_scale, log=log, tag=tag)
    return advance(net, feats, cs, n - train_blocks), idx, views


def training_features(net: MultiTaskNet, samples, size, cache_dir: Path, *, train_blocks: int,
                      cache_blocks=None, views_scale=1.0, freeze_neck=False, log=print):
    """(use, features, sample index per row, view per row) of the train+val photos: the input of
    what train_frozen trains (pooled neck output when freeze_neck)."""
    use = capped([s for s in samples if s["category"] is not None and s["split"] in ("train", "val")])
    cb = train_blocks if cache_blocks is None else cache_blocks
    log(f"[train] trunk features (cache at {len(net.trunk.blocks) - cb} blocks) for {len(use)} samples "
        "(train views + val)")
    feats, idx, views = cached_features(net, use, size, cache_dir, train_blocks=train_blocks,
                                        cache_blocks=cache_blocks, views_scale=views_scale, log=log)
    if freeze_neck:
        feats = pooled_neck(net, feats)
    return use, feats, idx, views


def train_frozen(net: MultiTaskNet, samples, cache_dir: Path, *, size=224, epochs=14, batch=128,
                 lr=2e-3, views_scale=1.0, seed=0, train_blocks=0, cache_blocks=None,
                 exclude_sources=(), severity_batch=32, freeze_neck=False, features=None, log=print):
    """CPU mode: the trunk up to its last ``train_blocks`` blocks is frozen and its output cached;
    those blocks, conv_head (+ BN affine) and the heads are trained. Each step also takes
    ``severity_batch`` rows of damaged cars with a severity label, balanced over minor/moderate/
    severe, for the damage head alone (the category-balanced batch holds about 8% of them).
    The epoch kept is the best on val category + damage presence + severity. ``freeze_neck`` (needs
    train_blocks=0) also keeps conv_head at its ImageNet weights and trains the heads alone on the
    pooled features (the cheap recipe of the leave-one-source-out runs). ``features``: what
    training_features returned, for several runs on the same frozen features. ``exclude_sources`` are left
    out of training and validation (leave-one-source-out runs; the feature cache is shared with
    the full run)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if freeze_neck and train_blocks:
        raise ValueError("freeze_neck trains the heads alone: train_blocks must be 0")
    body = _Body(net, train_blocks, freeze_neck)
    if features is None:
        features = training_features(net, samples, size, cache_dir, train_blocks=train_blocks,
                                     cache_blocks=cache_blocks, views_scale=views_scale,
                                     freeze_neck=freeze_neck, log=log)
    use, feats, idx, views = features
    feats = torch.from_numpy(feats)
    keep = [use[i]["source"] not in exclude_sources for i in idx]
    tr = [r for r, i in enumerate(idx) if use[i]["split"] == "train" and keep[r]]
    va = [r for r, i in enumerate(idx) if use[i]["split"] == "val" and keep[r]]
    if exclude_sources:
        log(f"[train] left out: {', '.join(sorted(exclude_sources))} ({len(keep) - sum(keep)} rows)")
    y_all = label_ids(use, idx)
    w = _sample_weights(use, [idx[r] for r in tr])
    w = w / w.sum()
    for p in net.trunk.parameters():
        p.requires_grad_(False)
    tail = list(net.trunk.blocks[body.split:].parameters())
    for p in tail:
        p.requires_grad_(True)
    params = [{"params": list(net.heads.parameters()), "lr": lr, "weight_decay": 1e-4}]
    max_lr = [lr]
    if not freeze_neck:
        params.append({"params": list(net.neck.conv_head.parameters()) + list(net.neck.bn1.parameters()),
                       "lr": lr * 0.25, "weight_decay": 1e-5})
        max_lr.append(lr * 0.25)
    if tail:
        params.append({"params": tail, "lr": lr * 0.1, "weight_decay": 1e-5})
        max_lr.append(lr * 0.1)
    opt = torch.optim.AdamW(params)
    sev_rows = {k: [r for r in tr if int(y_all["damage"][r]) == k] for k in (1, 2, 3)}
    sev_rows = {k: v for k, v in sev_rows.items() if v}
    steps_per_epoch = max(1, len(tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr,
                                                total_steps=epochs * steps_per_epoch, pct_start=0.15)
    best, best_state = -1.0, None
    history = []
    for ep in range(epochs):
        body.train()
        t0 = time.time()
        tot = 0.0
        for _ in range(steps_per_epoch):
            pick = rng.choice(len(tr), size=batch, p=w)
            rows = [tr[k] for k in pick]
            x = feats[rows].float()
            # feature-space noise / channel dropout as cheap extra augmentation
            x = F.dropout(x, 0.1)
            y = {h: y_all[h][rows] for h in y_all}
            loss, _ = multitask_loss(net, body(x), y)
            if severity_batch and sev_rows:
                srows = [int(rng.choice(sev_rows[k])) for k in
                         rng.choice(list(sev_rows), size=severity_batch)]
                xs = F.dropout(feats[srows].float(), 0.1)
                loss = loss + LOSS_W["damage"] * F.cross_entropy(
                    body(xs)["damage"], y_all["damage"][srows], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
        m = evaluate_cached(body, feats, va, y_all)
        score = m["category_acc"] + m["damage_presence_acc"] + _nz(m["severity_acc"])
        history.append({"epoch": ep + 1, "loss": tot / steps_per_epoch, **m})
        log(f"[train] epoch {ep + 1}/{epochs} loss {tot / steps_per_epoch:.3f} val cat {m['category_acc']:.3f} "
            f"dmg-presence {m['damage_presence_acc']:.3f} dmg {m['damage_acc']:.3f} "
            f"severity {m['severity_acc']:.3f} view {m['view_acc']:.3f} "
            f"({time.time() - t0:.0f}s)")
        if score > best:
            best = score
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    net.eval()
    # prototypes: mean L2-normalised embedding of the training samples (plain view) per category
    protos = prototypes_from(body, feats, [r for r in tr if views[r] == 0], y_all["category"])
    return {"history": history, "prototypes": protos, "n_train_rows": len(tr), "n_val_rows": len(va)}


def _nz(x: float) -> float:
    return 0.0 if x != x else x


@torch.no_grad()
def _embed_rows(body, feats, rows, bs=256):
    outs = {"category": [], "damage": [], "view": [], "embedding": []}
    for b in range(0, len(rows), bs):
        o = body(feats[rows[b:b + bs]].float())
        for k in outs:
            outs[k].append(o[k])
    return {k: torch.cat(v) if v else torch.zeros(0) for k, v in outs.items()}


@torch.no_grad()
def evaluate_cached(body, feats, rows, y_all):
    body.eval()
    o = _embed_rows(body, feats, rows)
    res = {}
    for head in ("category", "damage", "view"):
        t = y_all[head][rows]
        m = t >= 0
        res[f"{head}_acc"] = float((o[head][m].argmax(1) == t[m]).float().mean()) if m.any() else float("nan")
    t = y_all["damage"][rows]
    m = t >= 0
    sv = t >= 1
    res["severity_acc"] = float((o["damage"][sv].argmax(1) == t[sv]).float().mean()) if sv.any() else float("nan")
    res["damage_presence_acc"] = float(((o["damage"][m].argmax(1) == 0) == (t[m] == 0)).float().mean()) if m.any() else float("nan")
    return res


@torch.no_grad()
def prototypes_from(body, feats, rows, ycat):
    o = _embed_rows(body, feats, rows)
    e = F.normalize(o["embedding"], dim=1)
    t = ycat[rows]
    protos = {}
    for ci, c in enumerate(CATEGORY):
        m = t == ci
        if m.any():
            v = F.normalize(e[m].mean(0), dim=0)
            protos[c] = [round(float(x), 6) for x in v]
    return protos


# ----------------------------------------------------------------------------- full fine-tune

def train_full(net: MultiTaskNet, samples, *, size=224, epochs=10, batch=32, lr=3e-4, device=None,
               seed=0, log=print, workers=4):
    """GPU mode: every layer trained on augmented images decoded on the fly."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    use = [s for s in samples if s["category"] is not None and s["split"] == "train"]
    y_all = label_ids(use, list(range(len(use))))
    w = _sample_weights(use, list(range(len(use))))
    w = w / w.sum()

    class _DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(use)

        def __getitem__(self, i):
            v = int(np.random.default_rng().integers(1, 1 << 30))
            return torch.from_numpy(view_image(use[i], v, size)), i

    sampler = torch.utils.data.WeightedRandomSampler(w, num_samples=len(use), replacement=True)
    dl = torch.utils.data.DataLoader(_DS(), batch_size=batch, sampler=sampler, num_workers=workers,
                                     drop_last=True)
    net.to(device)
    opt = torch.optim.AdamW([
        {"params": net.trunk.parameters(), "lr": lr * 0.3},
        {"params": net.neck.parameters(), "lr": lr},
        {"params": net.heads.parameters(), "lr": lr * 3}], weight_decay=1e-5)
    for ep in range(epochs):
        net.train()
        t0, tot, n = time.time(), 0.0, 0
        for xb, ib in dl:
            x = ((xb.permute(0, 3, 1, 2) - 127.0) / 128.0).to(device)
            y = {h: y_all[h][ib].to(device) for h in y_all}
            loss, _ = multitask_loss(net, net(x), y)
            opt.zero_grad(); loss.backward(); opt.step()
            tot += float(loss); n += 1
        log(f"[train-full] epoch {ep + 1}/{epochs} loss {tot / max(1, n):.3f} ({time.time() - t0:.0f}s)")
    net.to("cpu").eval()
    # prototypes from plain views of the training samples
    embs = {c: [] for c in CATEGORY}
    with torch.no_grad():
        for s in use:
            x = torch.from_numpy(view_image(s, 0, size))[None].permute(0, 3, 1, 2)
            e = F.normalize(net((x - 127.0) / 128.0)["embedding"], dim=1)[0]
            embs[s["category"]].append(e)
    protos = {c: [round(float(x), 6) for x in F.normalize(torch.stack(v).mean(0), dim=0)]
              for c, v in embs.items() if v}
    return {"history": [], "prototypes": protos}
