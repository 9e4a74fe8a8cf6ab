"""Meta-path diagnostics against hand-computed values."""

import math

import pytest

from masa_lite.meta import diagnostics as md


def test_mean_by_level_and_gap():
    by = md.mean_by_level([1, 1, 6, 6, 3], [0.8, 1.0, 0.2, None, 0.5])
    assert by == {1: pytest.approx(0.9), 3: 0.5, 6: 0.2}
    assert md.level_gap(by) == pytest.approx(0.7)
    assert md.level_gap({2: 0.5}) is None


def test_value_entropy_hand_values():
    assert md.value_entropy([3, 3, 3, 3]) == 0.0
    assert md.value_entropy([1, 2]) == pytest.approx(math.log(2))
    # 3 of one value, 1 of another: −(¾ ln ¾ + ¼ ln ¼)
    assert md.value_entropy([5, 5, 5, 0]) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_within_group_spread_skips_single_votes():
    # std of (0, 1) is 0.5, of (0.5, 0.5) is 0; [0.3] has one vote and is skipped
    assert md.within_group_spread([[0.0, 1.0], [0.5, 0.5], [0.3]]) == pytest.approx(0.25)


def test_advantage_variance_shares_one_part_moves():
    # only r_pass varies inside the group: it carries all of r_meta's variance
    rows = [(1.0, 1.0, 0.5), (0.0, 1.0, 0.5)]
    shares = md.advantage_variance_shares(rows, [0, 0])
    assert shares == {"pass": pytest.approx(1.0), "length": pytest.approx(0.0), "notion": pytest.approx(0.0)}


def test_advantage_variance_shares_hand_example():
    # group of 2: pass (1, 0), notion (0, 1) cancel → r_meta constant → no variance at all
    shares = md.advantage_variance_shares([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)], [0, 0])
    assert all(math.isnan(v) for v in shares.values())
    # pass (1, 0), notion (1, 0) with weight ⅓ each: equal shares ½, ½
    shares = md.advantage_variance_shares([(1.0, 0.0, 1.0), (0.0, 0.0, 0.0)], [0, 0])
    assert shares["pass"] == pytest.approx(0.5) and shares["notion"] == pytest.approx(0.5)
    # pass (1, 0) and notion (0, 0.5): r_meta = (⅓, ⅙); cov(pass/3, r) ∝ (⅙)(⅙)·2 … share 2, notion −1
    shares = md.advantage_variance_shares([(1.0, 0.0, 0.0), (0.0, 0.0, 0.5)], [7, 7])
    assert shares["pass"] == pytest.approx(2.0) and shares["notion"] == pytest.approx(-1.0)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_shares_are_within_group_only():
    # two groups, each internally constant: between-group differences are no advantage
    shares = md.advantage_variance_shares([(1, 1, 1), (1, 1, 1), (0, 0, 0), (0, 0, 0)], [0, 0, 1, 1])
    assert all(math.isnan(v) for v in shares.values())


def test_enabled_parts_only():
    shares = md.advantage_variance_shares([(1.0, 0.0, 0.9), (0.0, 1.0, 0.1)], [0, 0], enabled=("pass",))
    assert shares == {"pass": pytest.approx(1.0)}


def test_train_and_eval_diagnostics_keys():
    d = md.train_diagnostics([1, 6], [[0.875, 0.875], [0.125, 0.5]],
                             [(1.0, 0, 0), (0.5, 0, 0), (0.2, 0, 0), (0.9, 0, 0)], [0, 0, 1, 1])
    assert d["meta_pred_pass_L1"] == 0.875 and d["meta_pred_pass_L6"] == pytest.approx(0.3125)
    assert d["meta_pass_entropy_L1"] == 0.0 and d["meta_pass_entropy_L6"] == pytest.approx(math.log(2))
    assert d["meta_pred_gap"] == pytest.approx(0.5625)
    assert d["meta_pass_spread"] == pytest.approx(0.1875 / 2)
    assert d["meta_adv_share_pass"] == pytest.approx(1.0)
    pairs = [{"level": 1, "pred_pass_rate": 0.9, "actual_pass_rate": 1.0},
             {"level": 6, "pred_pass_rate": 0.1, "actual_pass_rate": 0.25}]
    e = md.eval_diagnostics(pairs, [[0.875, 0.875], [0.0, 0.25]])
    assert e["pred_pass_gap"] == pytest.approx(0.8) and e["actual_pass_gap"] == pytest.approx(0.75)
    assert e["pass_entropy_L1"] == 0.0 and e["pass_spread"] == pytest.approx(0.0625)
