"""The explorers' pure parts (hand-computed), and their static fallback outside a kernel."""

import math

import pytest

from masa_lite.teach import widgets
from masa_lite.grpo.rollout import Rollout


def _ro(i, text, correct, reward):
    return Rollout(prompt_index=0, prompt="solve 1+1\n", text=text, token_ids=list(range(len(text))),
                   length=len(text), stop_reason="eos", correct=correct, reward=reward)


def test_token_contributions_are_minus_advantage_times_ratio_over_tokens():
    c = widgets.token_contributions(advantage=0.5, ratios=None, length=3, num_tokens=10)
    assert c.tolist() == pytest.approx([-0.05, -0.05, -0.05])
    c = widgets.token_contributions(advantage=-2.0, ratios=[1.0, 1.5], length=2, num_tokens=4)
    assert c.tolist() == pytest.approx([0.5, 0.75])


def test_token_view_colours_by_sign_and_escapes_html():
    h = widgets.token_view_html(["<a>", "b"], [math.log(0.5), 0.0], [-0.1, 0.2])
    assert "&lt;a&gt;" in h and "<a>" not in h
    assert "rgba(0,160,60,0.45)" in h            # raised, p = 0.5: alpha 0.15 + 0.6 · 0.5
    assert "rgba(200,40,40,0.15)" in h           # lowered, p = 1: no room to move


def test_rollout_group_html_lists_the_group_and_the_chosen_rollout():
    group = [_ro(0, "= 2", True, 1.0), _ro(1, "= 3", False, 0.0)]
    h = widgets.rollout_group_html({"problem": "1+1", "answer": "2"}, group, [0.7, -0.7], index=1)
    assert h.count("<tr") == 3 and "+0.70" in h and "-0.70" in h
    assert "rollout 1" in h and ">3</span>" in h


def test_meta_table_reports_correlation_and_filters():
    pairs = [{"id": i, "level": 1 + i % 2, "step": 0, "pred_pass_rate": p, "actual_pass_rate": a,
              "pred_length": 10, "actual_length": 12} for i, (p, a) in enumerate([(0.2, 0.1), (0.5, 0.6), (0.9, 0.8)])]
    h = widgets.meta_table_html(pairs)
    assert "3 prompts" in h and "MAE = 0.10" in h and "r = 0.95" in h  # cov .24 / sqrt(.2467 · .26)
    assert "1 prompts" in widgets.meta_table_html(pairs, level=2)


def test_control_outcomes_hand_computed():
    # prompt 0: agreed ≈ 1 and really all correct → gated, true positive
    # prompt 1: agreed ≈ 0 but mixed → gated, false positive
    # prompt 2: disagreeing predictions, all wrong → not gated, false negative
    pred_pass = [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    pred_len = [[10, 10], [5, 5], []]          # budgets 20, 10, none
    correct = [[True, True], [True, False], [False, False]]
    lengths = [[15, 25], [8, 30], [100, 100]]
    o = widgets.control_outcomes(pred_pass, pred_len, correct, lengths)
    assert o["gated_share"] == pytest.approx(2 / 3)
    assert (o["gate_precision"], o["gate_recall"]) == (0.5, 0.5)
    # cut: 25 > 20 (correct → false positive), 30 > 10 (wrong → true positive); wrong & uncut: two
    assert o["cut_share"] == pytest.approx(2 / 6)
    assert o["cutoff_precision"] == 0.5 and o["cutoff_recall"] == pytest.approx(1 / 3)
    assert o["tokens_saved_share"] == pytest.approx((5 + 20) / 278)


def test_control_outcomes_rejects_ragged_input():
    with pytest.raises(ValueError, match="one entry per prompt"):
        widgets.control_outcomes([[1.0]], [], [[True]], [[3]])


def test_explorers_fall_back_to_static_html_outside_a_kernel(capsys):
    group = [_ro(0, "= 2", True, 1.0)]
    assert widgets.rollout_browser([{"problem": "1+1", "answer": "2"}], [group], [[0.0]]) is None
    assert widgets.threshold_explorer([[1.0, 1.0]], [[3]], [[True]], [[4]], static=True) is None
    pairs = [{"id": 0, "level": 1, "step": 0, "pred_pass_rate": 0.5, "actual_pass_rate": 0.5}]
    assert widgets.meta_explorer(pairs) is None
    with pytest.raises(ValueError):
        widgets.meta_explorer([])
