"""pass@k and error bars against values computed by hand."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masa_lite.stats import bootstrap_ci, mean_pass_at_k, paired_difference, pass_at_k, standard_error


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 − C(3,2)/C(5,2) = 1 − 3/10
        (5, 0, 3, 0.0),  # no correct sample
        (5, 3, 3, 1.0),  # n − c = 2 < k: every 3-subset holds a correct one
        (5, 5, 1, 1.0),
        (8, 1, 4, 0.5),  # 1 − C(7,4)/C(8,4) = 1 − 35/70
        (32, 4, 8, 1 - 3108105 / 10518300),  # 1 − C(28,8)/C(32,8) = 0.704505
    ],
)
def test_pass_at_k_by_hand(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(5, 2, 6), (5, 6, 1), (-1, 0, 1), (5, -1, 1), (5, 2, 0), (5, 2, -1), (5, 1.5, 1)])
def test_pass_at_k_rejects_bad_input(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_equals_binomial_formula(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), abs=1e-9)


def test_pass_at_k_is_stable_for_large_n():
    # C(2000, 1000) overflows a float; the product form does not
    assert pass_at_k(2000, 1, 1000) == pytest.approx(0.5, abs=1e-9)
    assert pass_at_k(2000, 3, 1) == pytest.approx(3 / 2000, abs=1e-12)


def test_mean_pass_at_k():
    # (0.4 + 0 + 1) / 3
    assert mean_pass_at_k([(5, 2), (5, 0), (5, 5)], k=1) == pytest.approx(1.4 / 3)
    # (0.7 + 0 + 1) / 3
    assert mean_pass_at_k([(5, 2), (5, 0), (5, 5)], k=2) == pytest.approx(1.7 / 3)
    with pytest.raises(ValueError):
        mean_pass_at_k([], k=1)


def test_standard_error_by_hand():
    # values 0, 0.5, 1: mean 0.5, s² = (0.25 + 0 + 0.25) / 2 = 0.25, SE = 0.5 / √3
    assert standard_error([0.0, 0.5, 1.0]) == pytest.approx(0.5 / math.sqrt(3))
    assert standard_error([0.3, 0.3, 0.3]) == 0.0
    with pytest.raises(ValueError):
        standard_error([0.5])


def test_paired_difference_by_hand():
    # d = [0.2, 0.0, 0.3]: mean 1/6; s² = ((1/30)² + (1/6)² + (2/15)²) / 2 = 7/300
    mean, se = paired_difference(before=[0.2, 0.5, 0.1], after=[0.4, 0.5, 0.4])
    assert mean == pytest.approx(1 / 6)
    assert se == pytest.approx(math.sqrt(7 / 300) / math.sqrt(3))  # 0.088192
    with pytest.raises(ValueError):
        paired_difference([0.1, 0.2], [0.1])


def test_paired_difference_removes_shared_difficulty():
    # a uniform +0.05 on problems of very different difficulty: paired SE is 0,
    # while the unpaired SE of either run is large
    before = [0.0, 0.2, 0.4, 0.6, 0.8]
    after = [b + 0.05 for b in before]
    mean, se = paired_difference(before, after)
    assert mean == pytest.approx(0.05)
    assert se == pytest.approx(0.0, abs=1e-12)
    assert standard_error(before) > 0.1


def test_bootstrap_ci():
    values = [0.0, 0.25, 0.5, 0.75, 1.0] * 20  # mean 0.5, SE = 0.3553 / 10 ≈ 0.0355
    lo, hi = bootstrap_ci(values, confidence=0.95, n_boot=4000, seed=1)
    assert lo < 0.5 < hi
    se = standard_error(values)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)  # close to the normal interval
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)  # seeded
    assert bootstrap_ci([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4))
    with pytest.raises(ValueError):
        bootstrap_ci(values, confidence=1.5)


def test_notion_frequency_by_hand():
    from masa_lite.evaluation import notion_frequency

    texts = ["split 12*3 = 36", "no, recheck add", "split add", "mul"]
    correct = [True, False, True, False]
    f = notion_frequency(texts, correct, ["split", "recheck", "add"])
    assert f["split"] == {"correct": 1.0, "wrong": 0.0}
    assert f["recheck"] == {"correct": 0.0, "wrong": 0.5}
    assert f["add"] == {"correct": 0.5, "wrong": 0.5}
    only_right = notion_frequency(["add"], [True], ["add"])
    assert only_right["add"]["correct"] == 1.0 and math.isnan(only_right["add"]["wrong"])
