"""The exercise checkers accept right answers and point at the usual wrong ones."""

import json

import numpy as np
import torch

from masa_lite.teach import exercises


def test_group_advantage_checker(capsys):
    def right(r, g):
        x = r.view(-1, g)
        a = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-6)
        return torch.where(x.std(1, keepdim=True) == 0, torch.zeros_like(a), a).view(-1)

    def population(r, g):
        x = r.view(-1, g)
        a = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True, unbiased=False) + 1e-6)
        return torch.where(x.std(1, keepdim=True) == 0, torch.zeros_like(a), a).view(-1)

    assert exercises.check_group_advantage(right)
    assert not exercises.check_group_advantage(population)
    assert "population std" in capsys.readouterr().out
    assert not exercises.check_group_advantage(lambda r, g: (r - r.view(-1, g).mean(1).repeat_interleave(g)))
    assert "Dr. GRPO" in capsys.readouterr().out


def test_clipped_loss_checker_names_the_missing_clip(capsys):
    def no_clip(logp, old, adv, mask, eps_low, eps_high, dual_clip):
        return (-adv[:, None] * torch.exp(logp - old) * mask).sum() / mask.sum()

    def symmetric(logp, old, adv, mask, eps_low, eps_high, dual_clip):
        a, rho = adv[:, None], torch.exp(logp - old)
        loss = torch.maximum(-a * rho, -a * rho.clamp(1 - eps_low, 1 + eps_low))
        loss = torch.where(a < 0, torch.minimum(loss, -a * dual_clip), loss)
        return (loss * mask).sum() / mask.sum()

    assert not exercises.check_clipped_loss(no_clip)
    assert "did not clip" in capsys.readouterr().out
    assert not exercises.check_clipped_loss(symmetric)
    assert "clip-higher" in capsys.readouterr().out


def test_meta_reward_checker_points_at_the_strict_interval(capsys):
    def strict(pr, ln, notions, problem, texts, correct, lengths, k=8):
        p = sum(correct) / len(correct)
        r_pass = 0.01 ** abs(pr / k - p) if pr is not None else 0.0
        good = [n for n, c in zip(lengths, correct) if c]
        r_len = float(ln is not None and bool(good) and min(good) < ln < max(good))
        kept = [n for n in dict.fromkeys(notions) if n not in problem]
        helps = [sum(c and n in t for t, c in zip(texts, correct))
                 - sum((not c) and n in t for t, c in zip(texts, correct)) > 0 for n in kept]
        return (r_pass + r_len + (sum(helps) / len(helps) if helps else 0.0)) / 3

    assert not exercises.check_meta_reward(strict)
    assert "includes its edges" in capsys.readouterr().out


def test_gate_checker_and_unfinished_or_crashing_answers(capsys):
    def middle_too(pred, std_max=0.1, margin=0.1):
        return [len(p) >= 2 and np.std(p) < std_max for p in pred]

    assert not exercises.check_gate(middle_too)
    assert "near 0 or near 1" in capsys.readouterr().out

    def unfinished(*a, **k):
        raise NotImplementedError

    assert not exercises.check_gate(unfinished)
    assert "not done yet" in capsys.readouterr().out
    assert not exercises.check_gate(lambda *a, **k: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


# ---- experiment exercises ---------------------------------------------------------------------

def _run(steps=6, finished=True, **switches):
    from masa_lite.config import load_config

    cfg = load_config("tiny", overrides=exercises.EXPERIMENT_BASE + [f"{k}={v}" for k, v in switches.items()])
    last = steps if finished else steps - 1
    hist = [{"kind": "eval", "step": 0, "pass@1": 0.5, "pass@1_se": 0.05, "n_problems": 32}]
    hist += [{"kind": "train", "step": s, "r_pass": 0.3 + 0.01 * s, "seconds_step": 2.0,
              "gated_frac": 0.0} for s in range(1, last + 1)]
    if finished:
        hist.append({"kind": "eval", "step": steps, "pass@1": 0.6, "pass@1_se": 0.04,
                     "n_problems": 32, "calib_pass_corr": 0.1})
    return {"switches": switches, "config": cfg, "history": hist, "seconds": 1.0}


def test_check_experiment_wants_the_switch_changed_and_both_runs_finished(capsys):
    ref = _run(**{"meta.credit": "rollout"})
    assert not exercises.check_experiment(ref, None, "meta.credit")
    assert "not done yet" in capsys.readouterr().out
    assert not exercises.check_experiment(ref, _run(**{"meta.credit": "rollout"}), "meta.credit")
    assert "both runs have meta.credit = 'rollout'" in capsys.readouterr().out
    assert not exercises.check_experiment(ref, _run(finished=False, **{"meta.credit": "field"}),
                                          "meta.credit")
    assert "experiment run did not finish" in capsys.readouterr().out
    assert not exercises.check_experiment(ref, _run(**{"meta.credit": "field", "seed": 3}), "meta.credit")
    assert "also differ in seed" in capsys.readouterr().out
    assert not exercises.check_experiment(None, ref, "meta.credit")
    assert "reference run is missing" in capsys.readouterr().out


def test_compare_to_reference_prints_the_difference_beside_the_reference_spread(tmp_path, capsys):
    """The student's pass@1 difference (0.7 − 0.6 = +0.100) beside the reference's mean ± sd and
    in how many seeds it was higher; a metric the reference lacks shows "–"; no file: a pointer."""
    ref, exp = _run(**{"meta.credit": "rollout"}), _run(**{"meta.credit": "field"})
    exp["history"][-1]["pass@1"] = 0.7
    path = tmp_path / "ex5.json"
    exercises.compare_to_reference(ref, exp, path)
    assert "no committed reference" in capsys.readouterr().out
    path.write_text(json.dumps({"seeds": [0, 1, 2], "summary": {"held-out pass@1": {
        "higher": 2, "difference": {"mean": 0.018, "sd": 0.016, "n": 3}}}}))
    exercises.compare_to_reference(ref, exp, path)
    lines = capsys.readouterr().out.splitlines()
    assert "seeds [0, 1, 2]" in lines[0]
    assert any("held-out pass@1" in ln and "+0.100" in ln and "+0.018 ± 0.016 (2/3)" in ln for ln in lines)
    assert any("r_pass (train, mean)" in ln and ln.rstrip().endswith("–") for ln in lines)


def test_check_experiment_reports_the_difference_without_claiming_an_effect(capsys):
    ref = _run(**{"efficient.gate_std": 0.1})
    exp = _run(**{"efficient.gate_std": 0.3})
    exp["history"][1]["gated_frac"] = 0.6
    assert exercises.check_experiment(ref, exp, "efficient.gate_std")
    out = capsys.readouterr().out
    assert "0.1 (reference) vs 0.3 (yours)" in out
    assert "prompts gated (train, mean)" in out and "+0.100" in out  # 0.6 over 6 steps
    assert "noise" in out and "several seeds" in out
    rows = dict((lab, (a, b)) for lab, a, b in exercises.experiment_table(ref, exp))
    assert rows["held-out pass@1"] == (0.6, 0.6)
    assert "calibration r (pass rate)" in rows and "rollouts cut (train, mean)" not in rows
