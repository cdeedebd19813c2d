"""One story across the classifier's heads: `category` and `heads.damage` must not contradict.

The heads are trained apart, so their argmaxes can disagree: a photo called `damage` (a damage
close-up) whose damage head says `none`, or a plate close-up with damage `severe`. The pairs that
tell one story are (vehicle, any damage), (damage, minor|moderate|severe) and (plate|vin|document|
other, none). Policies ([verify] consistency in the profile):

- ``joint`` (default): pick the consistent (category, damage) pair with the highest product of the
  two heads' probabilities. The category's score is that pair family's share of the consistent
  joint mass, the damage score its probability among the damage labels allowed with the category.
- ``review``: keep the argmaxes; a damage photo with damage `none` is not verified (goes to review).
- ``off``: keep the argmaxes as they are.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import CONSISTENCY
from ..result import HeadResult, Verification
from .verify import verify

POLICIES = CONSISTENCY
DAMAGED = ("minor", "moderate", "severe")


def allowed_damage(category: str) -> tuple[str, ...] | None:
    """Damage labels consistent with a category (None: any)."""
    if category == "vehicle":
        return None
    if category == "damage":
        return DAMAGED
    return ("none",)


def contradicts(category: str, damage: str) -> bool:
    allowed = allowed_damage(category)
    return allowed is not None and damage not in allowed


@dataclass(frozen=True)
class Story:
    category: HeadResult
    damage: HeadResult
    changed: bool                 # the joint rule moved a head off its own argmax
    review_reason: str = ""       # non-empty: the photo must go to review


def reconcile(category: HeadResult, damage: HeadResult, category_labels: tuple[str, ...],
              damage_labels: tuple[str, ...], policy: str = "joint") -> Story:
    """Make the category and damage heads tell one story (see the module docstring)."""
    if policy not in POLICIES:
        raise ValueError(f"consistency policy {policy!r} is not one of {', '.join(POLICIES)}")
    if len(category.probs) != len(category_labels) or len(damage.probs) != len(damage_labels):
        raise ValueError("head probabilities do not match their labels")
    if policy == "off":
        return Story(category, damage, False)
    if policy == "review":
        reason = ""
        if contradicts(category.label, damage.label):
            reason = f"category {category.label} but damage head {damage.label}"
        return Story(category, damage, False, reason)
    pd = dict(zip(damage_labels, damage.probs))
    best, best_j, mass = None, -1.0, {}
    for c, pc in zip(category_labels, category.probs):
        allowed = allowed_damage(c) or tuple(damage_labels)
        mass[c] = pc * sum(pd.get(d, 0.0) for d in allowed)
        for d in allowed:
            j = pc * pd.get(d, 0.0)
            if j > best_j:
                best, best_j = (c, d), j
    c, d = best
    total = sum(mass.values()) or 1.0
    allowed = allowed_damage(c) or tuple(damage_labels)
    within = sum(pd.get(x, 0.0) for x in allowed) or 1.0
    new_cat = HeadResult(c, float(mass[c] / total), category.probs)
    new_dmg = HeadResult(d, float(pd.get(d, 0.0) / within), damage.probs)
    return Story(new_cat, new_dmg, c != category.label or d != damage.label)


def label_heads(heads: dict[str, HeadResult], embedding, bundle, min_score: float,
                policy: str = "joint") -> tuple[dict[str, HeadResult], Verification | None]:
    """The classifier's heads made consistent under ``policy``, and the category's verification
    (prototype check of the final category; a contradiction under ``review`` is not verified).
    Shared by the pipeline and the toolkit's evaluation, so both report what a device outputs."""
    heads = dict(heads)
    category, damage = heads.get("category"), heads.get("damage")
    if category is None:
        return heads, None
    reason = ""
    if damage is not None:
        story = reconcile(category, damage, tuple(bundle.outputs["category"].labels),
                          tuple(bundle.outputs["damage"].labels), policy)
        heads["category"], heads["damage"] = story.category, story.damage
        reason = story.review_reason
    cat = heads["category"]
    v = verify(cat.label, cat.score, embedding, bundle.prototypes.get("category", {}), min_score)
    if reason and v.verified:
        v = Verification(False, v.similarity, reason)
    return heads, v
