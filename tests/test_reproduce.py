"""The reproduce report from hand-made run histories: speed-up, verdicts, figures, publishing."""

import json
import math

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


def test_speedup_counts_grpo_from_its_first_evaluation_at_its_final_accuracy():
    # GRPO's step-6 evaluation already scores its final 0.7 (evaluations are noisy): the speed-up
    # compares first arrivals, so GRPO against itself is 1 and MASA's is 50 / 80, not 100 / 80
    runs = {**RUNS, "GRPO": [_ev(0, 0, 0.5, 0.0), _ev(6, 50, 0.71, 0.0), _ev(12, 100, 0.7, 0.05)]}
    m = summarise(runs, {}, "tiny")["methods"]
    assert m["GRPO"]["speedup_vs_grpo"] == pytest.approx(1.0)
    assert m["MASA"]["speedup_vs_grpo"] == pytest.approx(50 / 80)


def test_speedup_with_audits_adds_the_audit_seconds_back():
    """The audit's rollouts are timed apart: 10 s of audit before the step-6 evaluation moves
    MASA-efficient's arrival at 0.7 from 40 to 50 s (speed-up 100/40 → 100/50); the meta share is
    meta tokens over solution tokens, and the level gate's numbers reach the row."""
    runs = json.loads(json.dumps(RUNS))
    eff = runs["MASA-efficient"]
    eff.insert(1, {"kind": "train", "step": 3, "seconds_audit": 10.0, "meta_tokens": 30,
                   "solution_tokens": 200, "level_gated_frac": 0.25, "level_gate_precision": 0.9,
                   "level_gate_f1": 0.5})
    m = summarise(runs, {}, "tiny")["methods"]["MASA-efficient"]
    assert m["speedup_vs_grpo"] == pytest.approx(2.5) and m["speedup_with_audits"] == pytest.approx(2.0)
    assert m["meta_share"] == pytest.approx(0.15)
    assert m["level_gated_share"] == 0.25 and m["level_gate_precision"] == 0.9
    md = summary_markdown(summarise(runs, {}, "tiny"))
    assert "0.15" in md and "0.25, 0.90, 0.50" in md


def test_markdown_states_agreement_and_disagreement():
    md = summary_markdown(summarise(RUNS, {}, "tiny"))
    assert "| MASA | 0.500 → 0.750 (± 0.020)" in md
    assert "after MASA 0.50 vs after GRPO 0.05: agrees" in md
    assert "speed-up to GRPO's final accuracy: 2.50× (paper 1.28×)" in md
    assert "gating F1 without → with Expert SFT: 0.30 → 0.45 (same direction" in md
    assert "would score" not in md  # no level-oracle numbers in these histories: no reference line
    runs = json.loads(json.dumps(RUNS))
    runs["MASA"][-1]["calib_pass_level_oracle"] = 0.48
    assert "would score – (GRPO), 0.48 (MASA), – (MASA-efficient" in summary_markdown(summarise(runs, {}, "tiny"))
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
    # Fig. 1c/d in one number: r of Δaccuracy with Δmeta-awareness, first to last evaluation
    from masa_lite.meta.analysis import acc_meta_corr, meta_deltas
    first, last = [p for p in pairs if p["step"] == 0], [p for p in pairs if p["step"] == 12]
    assert s["methods"]["MASA"]["acc_meta_corr"] == pytest.approx(acc_meta_corr(meta_deltas(first, last)))
    assert summarise(RUNS, {}, "tiny")["methods"]["MASA"]["acc_meta_corr"] is None
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


def test_method_overrides_reach_only_the_meta_methods():
    from masa_lite.reproduce import method_overrides

    meta = ["meta.adapter=separate", "efficient.expert_sft=true"]
    grpo = method_overrides("GRPO", ["seed=3"], meta)
    assert grpo == ["seed=3", "meta.enabled=false"]
    masa = method_overrides("MASA", ["seed=3"], meta)
    assert masa[:3] == ["seed=3"] + meta and masa[-1] == "meta.enabled=true"
    # a method's defining flags come last and win: the no-SFT variant stays without Expert SFT
    ns = method_overrides("MASA-efficient (no Expert SFT)", None, meta)
    assert ns.index("efficient.expert_sft=false") > ns.index("efficient.expert_sft=true")
    from masa_lite.config import load_config

    assert load_config("tiny", overrides=ns).efficient.expert_sft is False
    assert load_config("tiny", overrides=method_overrides("MASA", None, meta)).meta.adapter == "separate"


def _seed_summary(shift: float) -> dict:
    runs = json.loads(json.dumps(RUNS))
    runs["MASA"][-1]["calib_pass_corr"] += shift
    runs["GRPO"][-1]["calib_pass_corr"] += 0.1 * shift
    s = summarise(runs, {}, "tiny")
    s.update(overrides=["grpo.steps=12"], meta_overrides=["meta.adapter=separate"], config={"seed": 0})
    return s


def test_seeds_aggregate_by_hand():
    from masa_lite.reproduce_seeds import aggregate, mean_sd, seeds_markdown

    assert mean_sd([1.0, 2.0, None, float("nan"), 3.0]) == {"mean": 2.0, "sd": 1.0, "n": 3,
                                                             "values": [1.0, 2.0, 3.0]}
    assert mean_sd([0.4])["sd"] is None and mean_sd([None])["mean"] is None
    # MASA r 0.5 + (−0.6, 0, 0.3) = (−0.1, 0.5, 0.8): mean 0.4, sd √(0.25+0.01+0.16)/… by hand
    agg = aggregate({s: _seed_summary(d) for s, d in zip((0, 1, 2), (-0.6, 0.0, 0.3))})
    r = agg["methods"]["MASA"]["calib_pass_corr"]
    assert r["values"] == pytest.approx([-0.1, 0.5, 0.8])
    assert r["mean"] == pytest.approx(0.4) and r["sd"] == pytest.approx(math.sqrt(0.42 / 2))
    assert agg["seeds"] == [0, 1, 2] and agg["meta_overrides"] == ["meta.adapter=separate"]
    md = seeds_markdown(agg)
    assert "seeds 0, 1, 2" in md and "| MASA | 0.75 ± 0.00 | 0.40 ± 0.46 |" in md
    # GRPO r 0.05 + (−0.06, 0, 0.03): MASA above it in seeds 1 and 2 only
    assert "Pass-rate calibration r after MASA above GRPO's: 2 of 3 seeds." in md
    assert "Expert SFT raised gate F1: 3 of 3 seeds." in md
    agg["methods"]["MASA"]["pass@1"] = mean_sd([0.7, None, 0.8])  # a number two seeds have
    assert "| MASA | 0.75 ± 0.07 (2 of 3 seeds) |" in seeds_markdown(agg)


def test_publish_multi_seed_keeps_every_seed(tmp_path):
    from masa_lite.reproduce import command_line
    from masa_lite.reproduce_seeds import aggregate, seeds_markdown

    out = tmp_path / "run"
    agg = aggregate({s: _seed_summary(0.1 * s) for s in (10, 4)})
    agg.update(total_seconds=120.0)
    for seed in (10, 4):
        for name in RUNS:
            folder = out / f"seed{seed}" / run_folder(name)
            folder.mkdir(parents=True)
            (folder / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in RUNS[name]))
            pairs = [{"step": s, "id": i, "level": 1 + i % 6, "pred_pass_rate": i / 10 + seed / 100,
                      "actual_pass_rate": (i + s / 12 * (i % 3)) / 14, "pred_length": 10.0 + i,
                      "actual_length": 12.0 + i} for s in (0, 12) for i in range(10)]
            (folder / "calibration.jsonl").write_text("".join(json.dumps(q) + "\n" for q in pairs))
    (out / "figures").mkdir(parents=True)
    (out / "summary.json").write_text(json.dumps(agg))
    (out / "summary.md").write_text(seeds_markdown(agg))
    dest = publish(out, tmp_path / "figures")
    prov = json.loads((dest / "provenance.json").read_text())
    assert prov["seeds"] == [10, 4] and prov["profile"] == "tiny"
    assert prov["train_minutes_by_seed"] == {"10": round(430 / 60, 1), "4": round(430 / 60, 1)}  # 100 + 160 + 90 + 80 s
    assert prov["command"] == command_line(agg, out, dest)
    assert "--seeds 10 4" in prov["command"] and "-m meta.adapter=separate" in prov["command"]
    assert "--methods" not in prov["command"]  # all four methods: the default
    agg["methods"] = {m: agg["methods"][m] for m in ("GRPO", "MASA-efficient (no Expert SFT)")}
    assert "--methods GRPO 'MASA-efficient (no Expert SFT)' -o" in command_line(agg, out)
    for seed in (10, 4):
        assert (dest / "data" / f"seed{seed}" / "masa" / "history.jsonl").exists()
    runs, cal = load_runs(dest / "data" / "seed4")
    assert runs["MASA"] == RUNS["MASA"] and cal["MASA"][0]["pred_pass_rate"] == pytest.approx(0.04)
    # `masa-lite figures` on a multi-seed folder draws the lowest seed (4, not seed10 that sorts first as text)
    redrawn = figures(dest / "data", tmp_path / "redrawn")
    assert "calibration_pass_rate.png" in {p.name for p in redrawn}
    for name in RUNS:  # seed 4 is the one read: without its histories there is nothing to draw
        (dest / "data" / "seed4" / run_folder(name) / "history.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="seed4"):
        figures(dest / "data", tmp_path / "r2")


def test_reproduce_seeds_end_to_end(tmp_path, capsys):
    """`masa-lite reproduce --seeds 0 1` trains each seed into its own folder and reports both."""
    from masa_lite.cli import main

    out = tmp_path / "rep"
    rc = main(["reproduce", "--profile", "tiny", "--seeds", "0", "1", "--methods", "GRPO", "MASA",
               "--out", str(out), "-o", "grpo.steps=1", "-o", "grpo.prompts_per_step=2",
               "-o", "data.eval_per_level=1", "-o", "data.eval_samples=2", "-o", "rollout.max_new_tokens=64",
               "-o", "rollout.group_size=2",
               "-m", "meta.group_size=2", "-m", "meta.eval_group_size=2", "--publish", str(tmp_path / "pub")])
    assert rc == 0
    agg = json.loads((out / "summary.json").read_text())
    assert agg["seeds"] == [0, 1] and list(agg["methods"]) == ["GRPO", "MASA"]
    for seed in (0, 1):
        assert (out / f"seed{seed}" / "masa" / "history.jsonl").exists()
        assert agg["per_seed"][str(seed)]["config"]["seed"] == seed
    # the meta-only override reached MASA and not GRPO
    assert agg["per_seed"]["0"]["config"]["meta"]["group_size"] == 2
    from masa_lite.config import load_config

    assert load_config(path=out / "seed0" / "grpo" / "config.yaml").meta.group_size == 8
    acc = agg["methods"]["MASA"]["pass@1"]
    assert acc["n"] == 2 and acc["values"] == [agg["per_seed"][s]["methods"]["MASA"]["pass@1"] for s in ("0", "1")]
    prov = json.loads((tmp_path / "pub" / "provenance.json").read_text())
    assert prov["seeds"] == [0, 1] and "--seeds 0 1 --methods GRPO MASA -o grpo.steps=1" in prov["command"]
    assert "seeds 0, 1" in capsys.readouterr().out


def test_the_cli_gives_the_meta_methods_the_study_switches_unless_paper():
    from masa_lite.cli import build_parser, reproduce_meta_overrides
    from masa_lite.config import load_config
    from masa_lite.reproduce import STUDY_SWITCHES, command_line, method_overrides

    parse = build_parser().parse_args
    assert reproduce_meta_overrides(parse(["reproduce"])) == STUDY_SWITCHES
    assert reproduce_meta_overrides(parse(["reproduce", "--paper"])) == []
    mine = reproduce_meta_overrides(parse(["reproduce", "-m", "efficient.sft_replay=0"]))
    assert mine == STUDY_SWITCHES + ["efficient.sft_replay=0"]
    cfg = load_config("tiny", overrides=method_overrides("MASA", None, mine))
    assert cfg.efficient.sft_replay == 0 and cfg.meta.adapter == "separate"   # the user's -m wins
    paper = load_config("tiny", overrides=method_overrides("MASA", None, []))
    assert (paper.meta.adapter, paper.efficient.expert_sft, paper.efficient.sft_replay) == ("shared", False, 0)
    # the recorded command repeats what was run: the default leaves the switches out, --paper says so
    s = _seed_summary(0.0)
    s["meta_overrides"] = STUDY_SWITCHES + ["meta.kl_beta=0.1"]
    line = command_line(s, "runs/x")
    assert "--paper" not in line and "-m meta.kl_beta=0.1" in line and "meta.adapter" not in line
    s["meta_overrides"] = []
    assert "--paper" in command_line(s, "runs/x")
    s["methods"] = {"GRPO": s["methods"]["GRPO"]}   # no meta method: nothing to say
    assert "--paper" not in command_line(s, "runs/x")
