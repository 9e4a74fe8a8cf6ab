"""The speed-up bound of MASA-efficient (masa_lite/study/cost.py) against hand-computed values."""

import pytest

from masa_lite.study.cost import max_meta_share, meta_share_of, relative_step_cost, speedup_bound


def test_cost_and_bound_by_hand():
    assert relative_step_cost(0.0) == 1.0 and speedup_bound(0.0) == 1.0  # GRPO itself
    # g = 0.37, c = 0.1, m = 0.2: 0.63 · 0.9 + 0.2 = 0.767 → 1.304×
    assert relative_step_cost(0.2, 0.37, 0.1) == pytest.approx(0.767)
    assert speedup_bound(0.2, 0.37, 0.1) == pytest.approx(1 / 0.767)
    # a meta path as long as the solutions: even every prompt gated gives no speed-up
    assert speedup_bound(1.0, 1.0, 0.0) == pytest.approx(1.0)
    assert speedup_bound(1.0, 0.37, 0.1) == pytest.approx(1 / 1.567)
    # 1.25× with g = 0.37, c = 0.1 allows m ≤ 0.8 − 0.567 = 0.233
    assert max_meta_share(1.25, 0.37, 0.1) == pytest.approx(0.233)
    assert speedup_bound(max_meta_share(1.25, 0.37, 0.1), 0.37, 0.1) == pytest.approx(1.25)
    assert max_meta_share(2.0) < 0  # without gating or cutoff nothing reaches 2×


def test_bad_shares_are_refused():
    with pytest.raises(ValueError, match="gated_share"):
        speedup_bound(0.1, 1.5)
    with pytest.raises(ValueError, match="meta_share"):
        relative_step_cost(-0.1)
    with pytest.raises(ValueError, match="target_speedup"):
        max_meta_share(0)


def test_meta_share_of_uses_parallel_steps_only():
    hist = [{"kind": "eval", "step": 0},
            {"kind": "train", "step": 1, "sequential": False, "meta_tokens": 300, "solution_tokens": 1000},
            {"kind": "train", "step": 2, "sequential": False, "meta_tokens": 500, "solution_tokens": 1000},
            {"kind": "train", "step": 3, "sequential": True, "meta_tokens": 400, "solution_tokens": 100}]
    assert meta_share_of(hist) == pytest.approx(0.4)
    assert meta_share_of([{"kind": "train", "solution_tokens": 10}]) is None
