"""One story across heads: the category/damage rule on constructed head outputs, and the pipeline
applying it with the shipped bundle."""
import itertools

import numpy as np
import pytest

from edge.classifier.consistency import contradicts, label_heads, reconcile
from edge.result import HeadResult

CAT = ("vehicle", "damage", "plate", "vin", "document", "other")
DMG = ("none", "minor", "moderate", "severe")


def heads(pc, pd):
    pc, pd = np.asarray(pc, float), np.asarray(pd, float)
    pc, pd = pc / pc.sum(), pd / pd.sum()
    return (HeadResult(CAT[int(pc.argmax())], float(pc.max()), tuple(pc)),
            HeadResult(DMG[int(pd.argmax())], float(pd.max()), tuple(pd)))


def test_an_undamaged_car_called_damage_with_damage_none_becomes_a_vehicle():
    c, d = heads([0.30, 0.60, 0.05, 0.02, 0.02, 0.01], [0.70, 0.20, 0.07, 0.03])
    s = reconcile(c, d, CAT, DMG, "joint")
    assert (s.category.label, s.damage.label) == ("vehicle", "none") and s.changed
    assert not contradicts(s.category.label, s.damage.label)


def test_a_sure_damage_close_up_keeps_damage_and_takes_the_likeliest_severity():
    c, d = heads([0.04, 0.90, 0.02, 0.02, 0.01, 0.01], [0.45, 0.15, 0.30, 0.10])
    s = reconcile(c, d, CAT, DMG, "joint")
    assert (s.category.label, s.damage.label) == ("damage", "moderate")
    # severity score is its share among the damaged labels
    assert s.damage.score == pytest.approx(0.30 / 0.55)


def test_a_plate_close_up_has_no_damage():
    c, d = heads([0.02, 0.02, 0.93, 0.01, 0.01, 0.01], [0.30, 0.05, 0.05, 0.60])
    s = reconcile(c, d, CAT, DMG, "joint")
    assert (s.category.label, s.damage.label) == ("plate", "none")


def test_a_damaged_whole_vehicle_is_left_alone():
    c, d = heads([0.55, 0.40, 0.02, 0.01, 0.01, 0.01], [0.05, 0.10, 0.15, 0.70])
    s = reconcile(c, d, CAT, DMG, "joint")
    assert (s.category.label, s.damage.label) == ("vehicle", "severe") and not s.changed


def test_joint_never_contradicts_and_keeps_consistent_argmaxes():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        c, d = heads(rng.dirichlet(np.full(6, 0.5)), rng.dirichlet(np.full(4, 0.5)))
        s = reconcile(c, d, CAT, DMG, "joint")
        assert not contradicts(s.category.label, s.damage.label)
        assert 0.0 <= s.category.score <= 1.0 and 0.0 <= s.damage.score <= 1.0
        if not contradicts(c.label, d.label):
            assert (s.category.label, s.damage.label) == (c.label, d.label)


def test_review_policy_flags_only_the_contradiction_and_off_changes_nothing():
    c, d = heads([0.30, 0.60, 0.05, 0.02, 0.02, 0.01], [0.70, 0.20, 0.07, 0.03])
    r = reconcile(c, d, CAT, DMG, "review")
    assert (r.category.label, r.damage.label) == ("damage", "none") and "damage" in r.review_reason
    o = reconcile(c, d, CAT, DMG, "off")
    assert (o.category, o.damage, o.review_reason) == (c, d, "")
    for pol in ("review", "off"):
        c2, d2 = heads([0.1, 0.8, 0.04, 0.02, 0.02, 0.02], [0.1, 0.7, 0.1, 0.1])
        assert reconcile(c2, d2, CAT, DMG, pol).review_reason == ""
    with pytest.raises(ValueError, match="not one of"):
        reconcile(c, d, CAT, DMG, "vote")


def test_label_heads_with_the_shipped_bundle_routes_the_contradiction_under_review():
    from edge.registry import resolve_model
    b = resolve_model("claim-classifier", None)
    emb = np.asarray(b.prototypes["category"]["damage"].vector, np.float32)  # a typical damage photo
    c, d = heads([0.05, 0.85, 0.04, 0.02, 0.02, 0.02], [0.60, 0.25, 0.10, 0.05])
    hs = {"category": c, "damage": d, "view": HeadResult("front", 0.9, (0.9, 0.02, 0.02, 0.02, 0.02, 0.02))}
    out, v = label_heads(hs, emb, b, 0.5, "review")
    assert (out["category"].label, out["damage"].label) == ("damage", "none")
    assert not v.verified and "damage head none" in v.reason
    out, v = label_heads(hs, emb, b, 0.5, "joint")
    assert (out["category"].label, out["damage"].label) == ("damage", "minor") and v.verified
    assert out["view"] == hs["view"]
    out, v = label_heads(hs, emb, b, 0.5, "off")
    assert (out["category"].label, out["damage"].label) == ("damage", "none") and v.verified


def test_every_pair_the_rule_can_output_is_consistent():
    for cat, dmg in itertools.product(CAT, DMG):
        ok = cat == "vehicle" or (cat == "damage") == (dmg != "none")
        assert contradicts(cat, dmg) == (not ok)


def test_a_profile_with_an_unknown_policy_is_rejected(tmp_path):
    from edge.config import ConfigError, PROFILE_DIR, load_profile
    text = (PROFILE_DIR / "kiosk-x86.toml").read_text().replace('consistency = "joint"', 'consistency = "vote"')
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="verify.consistency"):
        load_profile(str(p))
