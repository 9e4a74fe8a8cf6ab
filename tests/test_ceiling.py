"""The reference values beside calibration r (masa_lite/meta/ceiling.py), against hand-computed cases."""

import math

import numpy as np
import pytest

from masa_lite.meta.ceiling import level_oracle_corr, noise_ceiling_corr, pass_rate_ceilings


def test_level_oracle_by_hand():
    # level means 0.75 and 0.25; deviations (.25,.25,-.25,-.25) vs (.5,0,0,-.5): r = .25/(.5·√.5)
    assert level_oracle_corr([1, 1, 2, 2], [1.0, 0.5, 0.5, 0.0]) == pytest.approx(1 / math.sqrt(2))
    # a perfect step curve: the oracle is exact
    assert level_oracle_corr([1, 1, 2, 2], [0.9, 0.9, 0.1, 0.1]) == pytest.approx(1.0)
    # one level only: the oracle is a constant, r is undefined
    assert math.isnan(level_oracle_corr([3, 3, 3], [0.2, 0.5, 0.9]))


def test_noise_ceiling_by_hand():
    # n = 2: noise p(1-p)/(n-1) = (0, .25, .25, 0) → mean .125 = var(actual) → reliability 0
    assert noise_ceiling_corr([1.0, 0.5, 0.5, 0.0], 2) == pytest.approx(0.0)
    # n = 8, rates (1, 0.5): noise mean (0 + .25/7)/2 = 1/56, var .0625 → √(1 − 16/56)
    assert noise_ceiling_corr([1.0, 0.5], 8) == pytest.approx(math.sqrt(1 - 16 / 56))
    with pytest.raises(ValueError, match="n ≥ 2"):
        noise_ceiling_corr([0.5, 1.0], 1)


def test_noise_ceiling_matches_simulation():
    """Simulated 8-sample estimates of known rates: a predictor that knows the true rates scores
    about the ceiling computed from the estimates alone."""
    rng = np.random.default_rng(0)
    true = rng.uniform(0.1, 0.9, size=4000)
    est = rng.binomial(8, true) / 8
    r_true = float(np.corrcoef(true, est)[0, 1])
    assert noise_ceiling_corr(est, 8) == pytest.approx(r_true, abs=0.02)


def test_pass_rate_ceilings_keys():
    pairs = [{"level": 1 + i % 2, "actual_pass_rate": v} for i, v in enumerate([1.0, 0.25, 0.75, 0.0])]
    out = pass_rate_ceilings(pairs, 4)
    assert set(out) == {"calib_pass_level_oracle", "calib_pass_noise_ceiling"}
    assert out["calib_pass_level_oracle"] == pytest.approx(level_oracle_corr([1, 2, 1, 2], [1.0, 0.25, 0.75, 0.0]))
    assert pass_rate_ceilings(pairs[:1], 4) == {}


def test_ceiling_script_on_two_hand_made_runs(tmp_path, capsys):
    """scripts/calibration_ceiling.py reads run folders: its columns are the library's numbers."""
    import importlib.util
    import json
    from pathlib import Path

    import yaml

    from masa_lite.config import load_config, to_dict
    from masa_lite.task import synthetic

    spec = importlib.util.spec_from_file_location(
        "calibration_ceiling", Path(__file__).parents[1] / "scripts" / "calibration_ceiling.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    probs = synthetic.task_splits(n_per_level=2, seed=0)["test"]
    cfg = to_dict(load_config("tiny", overrides=["data.eval_per_level=2"]))
    runs = []
    for k in range(2):
        run = tmp_path / f"run{k}"
        run.mkdir()
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        pairs = [{"step": s, "id": p.id, "level": p.level,
                  "actual_pass_rate": ((i * (3 + k)) % 9) / 8 if s else 1 - p.level / 7,
                  "pred_pass_rate": 0.5 + 0.01 * i} for s in (0, 10) for i, p in enumerate(probs)]
        (run / "calibration.jsonl").write_text("".join(json.dumps(q) + "\n" for q in pairs))
        runs.append((run, pairs))
    script.main([str(r) for r, _ in runs] + ["--draws", "20"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(f"| {runs[0][0]} | 10 |")]
    cells = [float(c) for c in lines[0].strip("|").split("|")[3:]]
    last = [q for q in runs[0][1] if q["step"] == 10]
    actual = [q["actual_pass_rate"] for q in last]
    assert cells[1] == pytest.approx(level_oracle_corr([q["level"] for q in last], actual), abs=0.005)
    assert cells[2] == pytest.approx(noise_ceiling_corr(actual, 8), abs=0.005)
    other = [q["actual_pass_rate"] for q in runs[1][1] if q["step"] == 10]
    assert cells[4] == pytest.approx(float(np.corrcoef(other, actual)[0, 1]), abs=0.005)


def test_other_runs_pass_rates_by_hand():
    from masa_lite.study.frontier import other_runs_pass_rates
    finals = {"a": {"p1": 1.0, "p2": 0.5, "p3": 0.0},
              "b": {"p1": 0.5, "p2": 0.0},
              "c": {"p1": 0.0, "p2": 1.0, "p3": 1.0}}
    # for a: the mean of b and c on the problems both share with a (p3 is missing from b)
    assert other_runs_pass_rates(finals, "a") == pytest.approx({"p1": 0.25, "p2": 0.5})
    assert other_runs_pass_rates({"a": finals["a"]}, "a") == {}  # no other runs
