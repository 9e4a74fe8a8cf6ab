"""The reproduce report from hand-made run histories: speed-up, verdicts, figures, publishing."""

import json

import pytest

from masa_lite.reproduce import (figures, load_runs, make_figures, publish, run_folder, summarise,
                                 summary_markdown)


def _ev(step, wall, acc, corr=None):
    return {"kind": "eval", "step": step, "wall_seconds": wall, "pass@1": acc, "pass@1_se": 0.02,
            "n_samples": 8, "n_problems": 90, "pass@8": min(1.0, acc + 0.2), "calib_pass_corr": corr,
            "calib_len_corr": corr}


RUNS = {
    "GRPO": [_ev(0, 0, 0.5, 0.0), {"kind": "train", "step": 1, "tokens_generated": 100},
             _ev(6, 50, 0.6, 0.0), _ev(12, 100, 0.7, 0.05)],
    "MASA": [_ev(0, 0, 0.5, 0.0), _ev(6, 80, 0.72, 0.3), _ev(12, 160, 0.75, 0.5)],
    "MASA-efficient (no Expert SFT)": [_ev(0, 0, 0.5, 0.0), _ev(12, 90, 0.65, 0.2),
                                       {"kind": "train", "step": 12, "gated_frac": 0.2, "gate_f1": 0.3,
                                        "cutoff_f1": 0.5}],
    "MASA-efficient": [_ev(0, 0, 0.5, 0.0), _ev(6, 40, 0.71, 0.4), _ev(12, 80, 0.74, 0.6),
                       {"kind": "train", "step": 12, "gated_frac": 0.4, "gate_f1": 0.45,
                        "gate_precision": 0.5, "gate_recall": 0.4, "cutoff_f1": 0.6}],
}


def test_summary_numbers():
    s = summarise(RUNS, {}, "tiny")
    m = s["methods"]
    assert s["grpo_final"] == 0.7
    assert m["MASA"]["seconds_to_grpo_final"] == 80 and m["MASA"]["speedup_vs_grpo"] == pytest.approx(1.25)
    assert m["MASA-efficient"]["speedup_vs_grpo"] == pytest.approx(2.5)
    assert m["MASA-efficient (no Expert SFT)"]["seconds_to_grpo_final"] is None
    assert m["GRPO"]["tokens_generated"] == 100 and m["MASA-efficient"]["gated_share"] == 0.4


def test_markdown_states_agreement_and_disagreement():
    md = summary_markdown(summarise(RUNS, {}, "tiny"))
    assert "| MASA | 0.500 → 0.750 (± 0.020)" in md
    assert "after MASA 0.50 vs after GRPO 0.05: agrees" in md
    assert "speed-up to GRPO's final accuracy: 2.50× (paper 1.28×)" in md
    assert "gating F1 without → with Expert SFT: 0.30 → 0.45 (same direction" in md
    worse = json.loads(json.dumps(RUNS))
    worse["MASA"][-1]["calib_pass_corr"] = -0.1
    assert "**disagrees**" in summary_markdown(summarise(worse, {}, "tiny"))


def test_figures_and_publish(tmp_path):
    pairs = [{"step": s, "id": i, "level": 1 + i % 6, "pred_pass_rate": i / 10,
              "actual_pass_rate": (i + s / 12 * (i % 3)) / 14, "pred_length": 10.0 + i + (i % 4) * s,
              "actual_length": 12.0 + i} for s in (0, 12) for i in range(10)]
    calib = {name: pairs for name in RUNS}
    out = tmp_path / "run"
    written = make_figures(RUNS, calib, out / "figures")
    names = {p.name for p in written}
    assert {"calibration_pass_rate.png", "calibration_length.png", "accuracy_vs_step.png",
            "accuracy_vs_wall.png", "gating_cutoff_prf.png", "delta_acc_vs_delta_meta.png",
            "shapley_r2.png"} <= names
    s = summarise(RUNS, calib, "tiny")
    s.update(total_seconds=60.0, config={"seed": 0})
    (out / "summary.json").write_text(json.dumps(s))
    (out / "summary.md").write_text(summary_markdown(s))
    dest = publish(out, tmp_path / "figures")
    prov = json.loads((dest / "provenance.json").read_text())
    assert prov["profile"] == "tiny" and prov["seed"] == 0 and set(prov["figures"]) == names
    # the data behind the figures travels with them, and `figures` redraws them without training
    for name in RUNS:
        (out / run_folder(name)).mkdir(parents=True, exist_ok=True)
        (out / run_folder(name) / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in RUNS[name]))
        (out / run_folder(name) / "calibration.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    dest = publish(out, tmp_path / "figures2")
    runs, cal = load_runs(dest / "data")
    assert list(runs) == list(RUNS) and runs["MASA"] == RUNS["MASA"] and cal["GRPO"] == pairs
    redrawn = figures(dest / "data", tmp_path / "redrawn")
    assert {p.name for p in redrawn} == names and all(p.exists() for p in redrawn)


def test_load_runs_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="masa-efficient"):
        load_runs(tmp_path)
