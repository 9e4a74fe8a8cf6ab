"""Group-relative advantages against values computed by hand."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from masa_lite.grpo.advantages import group_advantages, group_index, group_stats, zero_variance_mask

EPS = 1e-6


def close(actual, expected, tol=1e-6):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float32), atol=tol, rtol=0)


def test_one_group_of_four_uses_sample_std():
    # mean 0.5; sample std = sqrt((4 · 0.25) / 3) = sqrt(1/3) = 0.57735
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), group_size=4)
    a = 0.5 / (math.sqrt(1 / 3) + EPS)  # 0.866024...
    close(adv, [a, -a, -a, a])
    # the population std (0.5) would have given ±1
    assert abs(adv[0].item() - 1.0) > 0.1


def test_two_groups_of_two():
    # each group {1, 0}: mean 0.5, sample std sqrt(0.5) = 0.70711 → ±0.70711
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0]), group_size=2)
    a = 0.5 / (math.sqrt(0.5) + EPS)
    close(adv, [a, -a, -a, a])


def test_unequal_groups_by_arbitrary_ids():
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    ids = torch.tensor([7, 3, 7, 3, 3, 9])
    # group 7 = {1, 0}: ±0.5 / sqrt(0.5)
    a7 = 0.5 / (math.sqrt(0.5) + EPS)
    # group 3 = {1, 0, 0}: mean 1/3, var = ((2/3)² + 2·(1/3)²) / 2 = 1/3, std = 0.57735
    s3 = math.sqrt(1 / 3) + EPS
    # group 9 = {1}: a single rollout has no baseline → 0
    close(group_advantages(rewards, group_ids=ids), [a7, (2 / 3) / s3, -a7, -(1 / 3) / s3, -(1 / 3) / s3, 0.0])


def test_dr_grpo_scale_none():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), group_size=3, scale="none")
    # group 1 {1,0,0}: mean 1/3 → [2/3, -1/3, -1/3]; group 2 {1,1,1}: 0
    close(adv, [2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0])


def test_batch_scale():
    # group means 0.5 and 1 → centred [0.5, -0.5, 0, 0]
    # batch std of [1, 0, 1, 1]: mean 0.75, var = (3·0.0625 + 0.5625) / 3 = 0.25 → 0.5
    adv = group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), group_size=2, scale="batch")
    a = 0.5 / (0.5 + EPS)
    close(adv, [a, -a, 0.0, 0.0])


def test_batch_scale_differs_from_group_scale():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    assert not torch.allclose(group_advantages(r, group_size=4), group_advantages(r, group_size=4, scale="batch"))


@pytest.mark.parametrize("scale", ["group", "none", "batch"])
def test_zero_variance_groups_are_exactly_zero(scale):
    # 3 × 0.9 in float32 leaves r − mean = 6e-8, which / (0 + 1e-6) would be 0.06
    r = torch.tensor([0.9, 0.9, 0.9, 1.0, 0.0, 1.0])
    adv = group_advantages(r, group_size=3, scale=scale)
    assert torch.equal(adv[:3], torch.zeros(3))
    assert (adv[3:] != 0).all()


def test_group_of_one_is_zero():
    assert torch.equal(group_advantages(torch.tensor([1.0, 0.0]), group_size=1), torch.zeros(2))


def test_group_arguments_are_validated():
    r = torch.zeros(6)
    with pytest.raises(ValueError):
        group_advantages(r)  # neither
    with pytest.raises(ValueError):
        group_advantages(r, group_ids=torch.zeros(6), group_size=3)  # both
    with pytest.raises(ValueError):
        group_advantages(r, group_size=4)  # 6 is not a multiple of 4
    with pytest.raises(ValueError):
        group_advantages(r, group_size=3, scale="batchnorm")


def test_group_index_is_dense_in_sorted_label_order():
    index, g = group_index(4, group_ids=torch.tensor([10, -2, 10, 5]))
    assert g == 3
    assert index.tolist() == [2, 0, 2, 1]


def test_zero_variance_mask_and_stats():
    r = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 3])
    # groups: 0 {1,1} all correct, 1 {0,0} all wrong, 2 {1,0} mixed, 3 {0,1,1} mixed
    assert zero_variance_mask(r, ids).tolist() == [True, True, False, False]
    assert group_stats(r, ids) == {
        "num_groups": 4,
        "frac_zero_variance": 0.5,
        "num_all_correct": 1,
        "num_all_wrong": 1,
        "num_mixed": 2,
    }
    assert zero_variance_mask(torch.tensor([0.5, 0.5, 0.5, 0.2]), group_size=2).tolist() == [True, False]


group_rewards = st.lists(
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=1, max_size=6), min_size=1, max_size=5
)


@settings(max_examples=60, deadline=None)
@given(group_rewards, st.sampled_from(["group", "none", "batch"]))
def test_each_group_sums_to_zero_and_ids_match_blocks(groups, scale):
    rewards = torch.tensor([r for g in groups for r in g])
    ids = torch.tensor([i for i, g in enumerate(groups) for _ in g])
    adv = group_advantages(rewards, group_ids=ids, scale=scale)
    for i in range(len(groups)):
        assert abs(adv[ids == i].sum().item()) < 1e-4  # Σ_i (r_i − mean_g) = 0
    # shuffling the rollouts shuffles the advantages the same way
    perm = torch.randperm(len(rewards))
    torch.testing.assert_close(group_advantages(rewards[perm], group_ids=ids[perm], scale=scale), adv[perm])
    if len(set(len(g) for g in groups)) == 1:  # equal sizes: group_size gives the same result
        torch.testing.assert_close(group_advantages(rewards, group_size=len(groups[0]), scale=scale), adv)
