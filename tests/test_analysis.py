"""Δaccuracy vs Δmeta-awareness and the Shapley R² split, against hand-computed values."""

import numpy as np
import pytest

from masa_lite.meta import analysis


def test_meta_deltas_per_problem():
    before = [{"id": "a", "level": 1, "actual_pass_rate": 0.5, "pred_pass_rate": 0.9,
               "actual_length": 50, "pred_length": 100}]
    after = [{"id": "a", "level": 1, "actual_pass_rate": 0.75, "pred_pass_rate": 0.7,
              "actual_length": 40, "pred_length": 44},
             {"id": "b", "level": 2, "actual_pass_rate": 0.1}]          # no 'before': skipped
    (d,) = analysis.meta_deltas(before, after)
    assert d["d_acc"] == pytest.approx(0.25)
    assert d["d_pass"] == pytest.approx(0.4 - 0.05)                      # |p̂−p| 0.4 → 0.05
    assert d["d_len"] == pytest.approx(1.0 - 0.1)                        # 50/50 → 4/40
    assert d["d_meta"] == pytest.approx((0.35 + 0.9) / 2)


def test_meta_deltas_without_predictions_or_correct_rollouts():
    before = [{"id": 1, "actual_pass_rate": 0.0, "pred_pass_rate": None, "actual_length": None}]
    after = [{"id": 1, "actual_pass_rate": 0.5, "pred_pass_rate": 0.5, "actual_length": 30, "pred_length": 30}]
    (d,) = analysis.meta_deltas(before, after)
    assert d["d_pass"] is None and d["d_len"] is None and d["d_meta"] is None


def test_r_squared_of_an_exact_line_and_of_noise_free_parts():
    x = np.arange(10.0)
    assert analysis.r_squared(x[:, None], 3 * x + 1) == pytest.approx(1.0)
    assert analysis.r_squared(np.zeros((4, 0)), [1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.0)


def test_shapley_r2_splits_orthogonal_features_by_their_own_r2():
    # two centred, orthogonal features: y = 2·a + b → R²(a) = 4/5, R²(b) = 1/5, shares equal them
    a = np.array([1.0, -1.0, 1.0, -1.0])
    b = np.array([1.0, 1.0, -1.0, -1.0])
    shares = analysis.shapley_r2({"a": a, "b": b}, 2 * a + b)
    assert shares["a"] == pytest.approx(0.8) and shares["b"] == pytest.approx(0.2)


def test_shapley_r2_shares_a_duplicated_feature_equally_and_sums_to_full_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    z = rng.normal(size=40)
    y = x + 0.5 * rng.normal(size=40)
    shares = analysis.shapley_r2({"x": x, "x copy": x.copy(), "z": z}, y)
    full = analysis.r_squared(np.column_stack([x, z]), y)
    assert shares["x"] == pytest.approx(shares["x copy"])
    assert sum(shares.values()) == pytest.approx(full)


def test_awareness_r2_needs_enough_problems():
    assert analysis.awareness_r2([])["shares"] == {}
    with pytest.raises(ValueError):
        analysis.shapley_r2({}, [1.0])


def test_acc_meta_corr_by_hand():
    # Δmeta rises with Δacc on four problems, one problem without Δmeta is left out
    deltas = [{"d_acc": a, "d_meta": m} for a, m in ((0.0, 0.0), (0.1, 0.1), (0.2, 0.2), (0.3, 0.4), (0.4, 0.3))]
    deltas.append({"d_acc": 5.0, "d_meta": None})
    # x = (0, .1, .2, .3, .4), y the same with the last two swapped:
    # Σ(x−x̄)(y−ȳ) = 0.09 and Σ(x−x̄)² = Σ(y−ȳ)² = 0.1 → r = 0.09 / 0.1 = 0.9
    assert analysis.acc_meta_corr(deltas) == pytest.approx(0.9)
    # opposite direction: r = −0.9
    assert analysis.acc_meta_corr([{**d, "d_acc": -d["d_acc"]} for d in deltas[:5]]) == pytest.approx(-0.9)
    assert analysis.acc_meta_corr(deltas[:4]) is None  # fewer than 5 problems
    assert analysis.acc_meta_corr([{"d_acc": 0.1, "d_meta": 0.1}] * 6) is None  # no spread
