"""The project's own plate recogniser (``kind: plate_reader`` bundle: CNN + CTC, int8) and its
decoding: greedy CTC, the layout prior that settles letter/digit confusions (``ShapePrior``),
and the vote of an ensemble's networks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..documents.doctype import softmax
from .layouts import PATTERNS, TO_DIGIT, TO_LETTER

CTC_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def ctc_input(plate_bgr: np.ndarray, width: int = 128, height: int = 32) -> np.ndarray:
    """The CTC recogniser's input: the plate stretched to width x height, RGB float 0..255."""
    interp = cv2.INTER_AREA if plate_bgr.shape[1] > width else cv2.INTER_CUBIC
    x = cv2.resize(plate_bgr, (width, height), interpolation=interp)
    return cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)


def _confidence(probs) -> float:
    # the mean of the kept characters' probabilities times the least of them: one doubtful
    # character lowers it
    return float(np.sqrt(np.mean(probs) * np.min(probs))) if len(probs) else 0.0


def _ctc_runs(p: np.ndarray) -> list[tuple[int, list[int]]]:
    """The greedy path's characters: (class, time steps of its run) per kept character."""
    runs, prev = [], 0
    for t, k in enumerate(p.argmax(-1)):
        if k != 0 and k == prev:
            runs[-1][1].append(t)
        elif k != 0:
            runs.append((int(k), [t]))
        prev = k
    return runs


def ctc_greedy(logits: np.ndarray, alphabet: str = CTC_ALPHABET) -> tuple[str, float]:
    """Greedy CTC decoding of [T, C] logits (class 0 = blank): text and confidence."""
    p = softmax(logits)
    runs = _ctc_runs(p)
    text = "".join(alphabet[k - 1] for k, _ in runs)
    return text, _confidence([p[ts, k].max() for k, ts in runs])


@dataclass(frozen=True)
class ShapePrior:
    """How often each letter/digit layout (``LLLDDD``) occurs per region, counted on the plate
    reader's training labels (``models.toolkit.plates.reader shapes``). It settles the
    letter/digit confusions (O/0, I/1, B/8 ...) that the recogniser's probabilities leave
    open, on US plates too, which have no fixed layout."""

    counts: dict[str, dict[str, int]]
    weight: float          # log prior's weight against the recogniser's log probabilities
    floor: float           # probability of a confusion partner the recogniser gave ~0
    smoothing: float = 0.5
    layouts: int = 200     # possible layouts the smoothing spreads over

    @classmethod
    def from_manifest(cls, raw: dict) -> "ShapePrior | None":
        d = raw.get("shape_prior")
        if not d:
            return None
        return cls({r: {k: int(v) for k, v in c.items()} for r, c in d["counts"].items()},
                   float(d["weight"]), float(d["floor"]), float(d.get("smoothing", 0.5)),
                   int(d.get("layouts", 200)))

    # per region: (counts, named layouts, top count, total); filled on first use, since
    # ctc_decode asks for up to 2^max_open reads per plate
    _tables: dict = field(default_factory=dict, compare=False, repr=False)

    def _table(self, region: str):
        if region not in self._tables:
            counts = self.counts.get(region)
            if counts is None:  # any region: all counts together
                counts = {}
                for c in self.counts.values():
                    for k, v in c.items():
                        counts[k] = counts.get(k, 0) + v
            # A named layout is as likely as the region's most frequent one: the photos' mix of
            # layouts is their place and year's (the Brazilian ones predate Mercosul plates), so
            # counts only rank the shapes no layout names.
            named = {lay for r in ([region] if region in PATTERNS else PATTERNS)
                     for lay, _ in PATTERNS[r]}
            top = max(counts.values(), default=0)
            n = sum(counts.values()) + sum(top - counts.get(lay, 0) for lay in named)
            self._tables[region] = (counts, named, top, n)
        return self._tables[region]

    def knows(self, region: str) -> bool:
        """Whether the counts hold the region's plates ("" : any region, all counts)."""
        return not region or region in self.counts

    def log_prob(self, text: str, region: str = "") -> float:
        counts, named, top, n = self._table(region)
        shape = shape_of(text)
        c = top if shape in named else counts.get(shape, 0)
        return float(np.log((c + self.smoothing) / (n + self.smoothing * self.layouts)))


def shape_of(text: str) -> str:
    return "".join("D" if c.isdigit() else "L" for c in text)


def ctc_decode(logits: np.ndarray, alphabet: str = CTC_ALPHABET, prior: ShapePrior | None = None,
               region: str = "", max_open: int = 8) -> tuple[str, float]:
    """CTC decoding with the layout prior: each greedy character may be swapped for its
    letter/digit confusion partner; the read maximising log p(characters) + weight x log
    prior(layout) is kept. Its confidence is the greedy one times that read's share of the
    alternatives. Without a prior this is ``ctc_greedy``."""
    if prior is None:
        return ctc_greedy(logits, alphabet)
    p = softmax(logits)
    opts = []
    for k, ts in _ctc_runs(p):
        c = alphabet[k - 1]
        partner = (TO_DIGIT if c.isalpha() else TO_LETTER).get(c)
        o = [(c, float(p[ts, k].max()))]
        if partner and partner in alphabet:
            o.append((partner, max(float(p[ts, alphabet.index(partner) + 1].max()), prior.floor)))
        opts.append(o)
    if not opts:
        return "", 0.0
    # only the most doubtful characters stay open (2^max_open reads at most)
    open_ = sorted((i for i, o in enumerate(opts) if len(o) > 1),
                   key=lambda i: -opts[i][1][1])[:max_open]
    scores = {}
    for choice in itertools.product(*[range(len(opts[i])) if i in open_ else [0]
                                      for i in range(len(opts))]):
        chars = [opts[i][j] for i, j in enumerate(choice)]
        text = "".join(c for c, _ in chars)
        scores[text] = sum(np.log(q) for _, q in chars) + prior.weight * prior.log_prob(text, region)
    best = max(scores, key=scores.get)
    share = 1.0 / sum(np.exp(v - scores[best]) for v in scores.values())
    return best, _confidence([o[0][1] for o in opts]) * share


def ctc_vote(logits: np.ndarray, alphabet: str = CTC_ALPHABET, prior: ShapePrior | None = None,
             region: str = "") -> tuple[str, float]:
    """One network's [T, C] logits (``ctc_decode``), or several networks' [M, T, C]: each is
    read with the prior and the read most of them give is kept (a tie: the most confident one).
    Networks trained from different seeds put a character's peak on different steps, so their
    logits cannot be averaged; their reads can. Confidence: the kept read's times the share of
    the networks that give it."""
    if logits.ndim == 2:
        return ctc_decode(logits, alphabet, prior, region)
    reads = [ctc_decode(lg, alphabet, prior, region) for lg in logits]
    votes = {t: sum(r[0] == t for r in reads) for t, _ in reads}
    text, conf = max(reads, key=lambda r: (votes[r[0]], r[1]))
    return text, conf * votes[text] / len(reads)


class CtcPlateRecognizer:
    """The project's own plate recogniser (``kind: plate_reader`` bundle, CNN + CTC, int8)."""

    name = "ctc"
    # trained on crops as a detector box gives them: the rectified view lost reads on val
    # (plate_photos boxes 22/35 vs 32/35)
    rectify = False

    def __init__(self, bundle, threads: int = 2):
        from ..inference import TFLiteModel
        self.bundle = bundle
        self.model = TFLiteModel(bundle.model_file, bundle.signature, threads)
        self.alphabet = str(bundle.raw.get("alphabet", CTC_ALPHABET))
        self.prior = ShapePrior.from_manifest(bundle.raw)

    def logits(self, plate_bgr: np.ndarray) -> np.ndarray:
        x = ctc_input(plate_bgr, self.bundle.input.width, self.bundle.input.height)
        return self.model.run(**{self.bundle.input.name: x[None]})["logits"][0]

    def read(self, plate_bgr: np.ndarray, region: str = "") -> list[tuple[str, float]]:
        if plate_bgr.size == 0:
            return []
        text, conf = ctc_vote(self.logits(plate_bgr), self.alphabet, self.prior, region)
        return [(text, conf)] if text else []
