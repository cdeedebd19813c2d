"""Per-source evaluation (claim-edge eval category) on a small generated set laid out like
../shared/data, and the per-source arithmetic on constructed rows."""
from pathlib import Path

import pytest

from models.toolkit.classifier.evaluate_sources import policy_rows, source_metrics


def _row(source, true_cat, true_dmg, cat, dmg, verified=True, probs=None):
    return {"source": source, "synthetic": False, "key": source,
            "true": {"category": true_cat, "damage": true_dmg, "view": None},
            "pred": {"category": cat, "damage": dmg}, "verified": verified,
            **({"probs": probs} if probs else {})}


def test_source_metrics_count_what_the_issue_asks_per_source():
    rows = [
        _row("plate_scenes", "vehicle", "none", "vehicle", "none"),
        _row("plate_scenes", "vehicle", "none", "damage", "none"),           # the bug: a contradiction
        _row("plate_scenes", "plate", "none", "plate", "none"),              # plate fills the frame: right
        _row("plate_scenes", "vehicle", "none", "plate", "none"),            # a wide shot called plate: wrong
        _row("damage_severity", "damage", "minor", "vehicle", "minor"),
        _row("damage_severity", "damage", "severe", "damage", "moderate"),
        _row("damage_severity", "damage", "moderate", "damage", "none", verified=False),  # sent to review
        _row("plate_crops", "plate", "none", "plate", "none"),
    ]
    m = source_metrics(rows)
    assert set(m) == {"plate_scenes", "damage_severity", "plate_crops"}
    ps = m["plate_scenes"]
    assert (ps["n"], ps["undamaged_n"], ps["undamaged_ok"], ps["contradictions"]) == (4, 4, 0.5, 1)
    ds = m["damage_severity"]
    assert ds["damaged_ok"] == 2 / 3 and ds["severity_exact"] == 1 / 3
    assert ds["contradictions"] == 0 and ds["review_rate"] == 1 / 3  # routed to review: no contradiction
    assert "undamaged_n" not in m["plate_crops"]  # a plate crop is not a vehicle photo


def test_policies_rescored_from_the_heads_probabilities():
    probs = {"category": [0.3, 0.6, 0.04, 0.02, 0.02, 0.02], "damage": [0.7, 0.2, 0.07, 0.03]}
    r = {**_row("plate_scenes", "vehicle", "none", "damage", "none", probs=probs),
         "sims": {"vehicle": 0.9, "damage": 0.9}}
    ranges = {"vehicle": (0.5, 1.0), "damage": (0.5, 1.0)}
    (off,) = policy_rows([r], "off", ranges, 0.5)
    (rev,) = policy_rows([r], "review", ranges, 0.5)
    (joint,) = policy_rows([r], "joint", ranges, 0.5)
    assert (off["pred"]["category"], off["verified"]) == ("damage", True)
    assert (rev["pred"]["category"], rev["verified"]) == ("damage", False)
    assert (joint["pred"]["category"], joint["pred"]["damage"], joint["verified"]) == ("vehicle", "none", True)


def test_eval_category_reports_every_real_source_on_a_generated_set(tmp_path):
    from tests.test_train_e2e import make_data_dir
    from models.toolkit.classifier.evaluate import evaluate_bundle, format_report
    data = make_data_dir(tmp_path / "data", per_set=6)
    m, rows = evaluate_bundle(data, split="train", n_ood=6, n_docs=7, n_other=6, log=lambda s: None)
    real = {r["source"] for r in rows if not r["synthetic"]}
    assert "plate_scenes" in real and "plate_scene_crops" in real
    assert set(m["sources"]) == real
    for src, d in m["sources"].items():
        rs = [r for r in rows if r["source"] == src]
        assert d["n"] == len(rs)
        assert d["contradictions"] == sum(r["pred"]["category"] == "damage" and r["pred"]["damage"] == "none"
                                          and r["verified"] for r in rs)
    # the device rule (joint) leaves no contradiction in any source
    assert all(d["contradictions"] == 0 for d in m["sources"].values())
    assert "undamaged_ok" in m["sources"]["plate_scenes"] and "damaged_ok" in m["sources"]["damage_severity"]
    assert set(m["policies"]) == {"off", "review", "joint"}
    assert m["policies"]["joint"]["contradictions"] == 0 and m["policies"]["review"]["contradictions"] == 0
    text = format_report(m)
    for src in real:
        assert f"  {src} " in text
    assert "consistency policy" in text and "severity" in text


@pytest.mark.slow
def test_loso_trains_without_a_source_and_the_report_leads_with_it(tmp_path):
    import json
    import shutil
    from tests.test_train_e2e import make_data_dir
    from models.toolkit.classifier.cli import main
    from models.toolkit.classifier.evaluate import evaluate_bundle, format_report
    data = make_data_dir(tmp_path / "data", per_set=8)
    bundle = tmp_path / "bundle"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "claim-classifier", bundle)
    rc = main(["loso", str(data), "--size", "96", "--cache", str(tmp_path / "cache"), "--out", str(bundle),
               "--n-docs", "14", "--n-other", "7", "--n-ood", "4", "--epochs", "2", "--views-scale", "0.5",
               "--train-blocks", "0", "--cache-blocks", "2", "--freeze-neck", "--hold", "plate_scenes"])
    assert rc == 0
    loso = json.loads((bundle / "manifest.json").read_text())["metrics"]["loso"]
    ps = loso["plate_scenes"]
    assert ps["held_out"] == ["plate_scenes"] and ps["per_source"]["plate_scenes"]["n"] == 8
    assert 0.0 <= ps["per_source"]["plate_scenes"]["undamaged_ok"] <= 1.0
    m, _ = evaluate_bundle(data, bundle, split="train", n_ood=4, n_docs=7, n_other=6, log=lambda s: None)
    assert format_report(m).startswith("leave one source out")
    assert main(["loso", str(data), "--hold", "nowhere", "--cache", str(tmp_path / "cache")]) == 2
    # no bundle at --out to write the figures into: said before any run, not after them all
    assert main(["loso", str(data), "--hold", "plate_scenes", "--cache", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "nothing-here")]) == 2


def test_loso_over_several_seeds_reports_the_mean_and_the_spread():
    from models.toolkit.classifier.evaluate_sources import format_loso
    from models.toolkit.classifier.loso import over_seeds

    def run(und, contradictions=0):
        return {"held_out": ["vehicles"], "epochs": 6, "train_blocks": 0, "freeze_neck": True, "train_s": 10,
                "per_source": {"vehicles": {"n": 10, "category_acc": und, "undamaged_ok": und,
                                            "contradictions": contradictions}}}
    r = over_seeds([run(0.7), run(0.9), run(0.8, contradictions=2)])
    d = r["per_source"]["vehicles"]
    assert r["seeds"] == 3 and r["train_s"] == 30
    assert abs(d["undamaged_ok"] - 0.8) < 1e-9 and d["undamaged_ok_range"] == [0.7, 0.9]
    assert d["contradictions"] == 2  # the worst run's, not an average that hides one
    text = format_loso({"vehicles": r})
    assert "0.800" in text and "mean of 3 seeds; undamaged 0.700-0.900" in text
    assert over_seeds([run(0.7)]) == run(0.7)  # one seed: the run as it is
