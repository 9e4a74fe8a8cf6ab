"""Threshold sweeps of the gate and the cutoff (masa_lite/study/frontier.py) against
hand-computed values, and scripts/control_frontier.py's gate part on hand-made run folders."""

import json
import math

import pytest

from masa_lite.study.frontier import cutoff_frontier, gate_frontier, reference_split


def test_gate_frontier_by_hand():
    pred = [1.0, 0.95, 0.9, 0.5, 0.05, None]
    actual = [1.0, 0.875, 1.0, 0.5, 0.0, 1.0]  # zero variance: problems 0, 2, 4, 5
    tight, loose = gate_frontier(pred, actual, margins=(0.0, 0.1))
    # margin 0: only p̂ = 1.0 gated → 1 TP; recall 1/4
    assert tight["gated"] == pytest.approx(1 / 6)
    assert (tight["precision"], tight["recall"]) == pytest.approx((1.0, 0.25))
    # margin 0.1: 1.0, 0.95, 0.9, 0.05 gated → TP 3 (0, 2, 4), FP 1 (0.95 on 0.875); FN 1 (no prediction)
    assert loose["gated"] == pytest.approx(4 / 6)
    assert (loose["precision"], loose["recall"]) == pytest.approx((0.75, 0.75))
    assert loose["f1"] == pytest.approx(0.75)
    assert loose["base_rate"] == pytest.approx(4 / 6)


def test_cutoff_frontier_by_hand():
    # reference length 10: factor 1 → budget 10, factor 2 → 20 (floor 8 does not bind)
    lengths = [5, 12, 15, 25, 30]
    correct = [True, True, False, False, True]
    ref = [10.0, 10.0, 10.0, 10.0, None]  # the last has no reference: never cut
    f1_row, f2_row = cutoff_frontier(lengths, correct, ref, factors=(1.0, 2.0))
    # factor 1: cut 12, 15, 25 → TP 2 (15, 25), FP 1 (12); wrong rollouts 2 → recall 1
    assert f1_row["cut"] == pytest.approx(3 / 5)
    assert (f1_row["precision"], f1_row["recall"]) == pytest.approx((2 / 3, 1.0))
    assert f1_row["f1"] == pytest.approx(0.8)
    # factor 2: cut 25 only → precision 1, recall 1/2
    assert (f2_row["precision"], f2_row["recall"], f2_row["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    assert f2_row["base_rate"] == pytest.approx(2 / 5)
    # the floor: a reference of 1 token gives a budget of 8, not 1
    row, = cutoff_frontier([7, 9], [False, False], [1.0, 1.0], factors=(1.0,), floor=8)
    assert row["cut"] == pytest.approx(0.5)


def test_nothing_gated_gives_nan_precision():
    row, = gate_frontier([0.5, 0.6], [1.0, 0.0], margins=(0.1,))
    assert row["gated"] == 0 and math.isnan(row["precision"]) and row["recall"] == 0


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one prediction per problem"):
        gate_frontier([0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="one length"):
        cutoff_frontier([1, 2], [True], [1.0, 1.0])


def test_control_frontier_script_gate_rows(tmp_path):
    """The script's 'other runs' predictor is the mean of the other folders' measured pass rates."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "control_frontier", Path(__file__).resolve().parents[1] / "scripts" / "control_frontier.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    runs = {}
    for name, act in (("a", [1.0, 0.5]), ("b", [1.0, 0.0]), ("c", [0.0, 1.0])):
        rows = [{"step": 0, "id": f"p{i}", "level": 1, "actual_pass_rate": 0.5, "pred_pass_rate": 0.5}
                for i in range(2)]
        rows += [{"step": 10, "id": f"p{i}", "level": 1, "actual_pass_rate": a, "pred_pass_rate": 1.0}
                 for i, a in enumerate(act)]
        runs[tmp_path / name] = rows
    out = mod.gate_rows(runs, tmp_path / "a")
    # run a's meta path: p̂ = 1.0 on both → gated 1.0, precision 1/2 (p0 has 1.0, p1 has 0.5)
    meta = out["meta path"][0]
    assert (meta["gated"], meta["precision"]) == pytest.approx((1.0, 0.5))
    # other runs: p0 → mean(1.0, 0.0) = 0.5, p1 → mean(0.0, 1.0) = 0.5 → nothing gated
    assert out["other runs"][0]["gated"] == 0
    json.dumps(out)  # plain numbers: printable and storable


def test_persona_cutoff_script_simulates_what_the_cutoff_decides(monkeypatch):
    """scripts/persona_cutoff.py: per problem the first N persona solutions give the reference
    length (mean of the right ones), the second N are decided; a capped solution counts as wrong.
    Checked on a stand-in persona whose solutions are scripted."""
    import importlib.util
    from pathlib import Path

    from masa_lite.task import synthetic
    from masa_lite.task.persona import Persona

    spec = importlib.util.spec_from_file_location(
        "persona_cutoff", Path(__file__).resolve().parents[1] / "scripts" / "persona_cutoff.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    prob = synthetic.make_problem(1, __import__("random").Random(0))
    monkeypatch.setattr(mod.synthetic, "task_splits", lambda n, seed=0: {"test": [prob]})
    # (text length, right?) in draw order: 2 reference draws, then 2 decided ones
    script = iter([(9, True), (19, True), (29, False), (499, True)])

    def fake(start, chain, rng, persona):
        n, ok = next(script)
        return "x" * n, int(prob.answer) if ok else int(prob.answer) + 1, []

    monkeypatch.setattr(mod.synthetic, "write_solution", fake)
    lengths, correct, ref = mod.simulate(Persona(), samples=2, max_new_tokens=400)
    assert lengths == [30, 400]  # tokens ('x' is one each) + EOS, capped at 400
    assert correct == [False, False]  # the second one was right but ran past the cap
    assert ref == [15.0, 15.0]  # mean of 10 and 20


def test_reference_split_by_hand():
    """First n rollouts: the reference (mean length of the right ones); second n: decided."""
    decided, ok, ref = reference_split([10, 30, 99, 40, 50, 60], [1, 0, 1, 0, 1, 0], 3)
    assert (decided, ok, ref) == ([40, 50, 60], [False, True, False], (10 + 99) / 2)
    assert reference_split([10, 20], [False, True], 1)[2] is None  # no right one: no reference
    with pytest.raises(ValueError, match="2n = 4 rollouts"):
        reference_split([1, 2, 3], [True, True, True], 2)
