"""Log-probs, clipped loss, aggregations and k3 KL against values computed by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from masa_lite.grpo.losses import aggregate_token_loss, broadcast_advantages, clipped_policy_loss, entropy_from_logits, kl_k3, left_padded_position_ids, selective_log_softmax, sequence_token_logprobs

# --------------------------------------------------------------------------------------------
# The hand-worked example: 2 sequences × 3 tokens, the last token of sequence 1 is padding.
# old log-probs are 0, so ρ = exp(logp). ε_low = 0.2, ε_high = 0.28, c = 10.
#
#   seq 0, Â = +1:  ρ = 1    → max(−1, −1)              = −1
#                   ρ = 1.5  → max(−1.5, −1.28)         = −1.28   (high clip)
#                   ρ = 0.5  → max(−0.5, −0.8)          = −0.5    (Â > 0: no low clip)
#   seq 1, Â = −2:  ρ = 0.5  → max(1.0, 1.6)            = 1.6     (low clip)
#                   ρ = 20   → max(40, 2.56) = 40 → min(40, 2·10) = 20   (dual clip)
#                   padding (ρ = e^200 would overflow: must be ignored)
# --------------------------------------------------------------------------------------------
RATIOS = [[1.0, 1.5, 0.5], [0.5, 20.0, 1.0]]
LOGP = torch.tensor([[math.log(x) for x in row] for row in RATIOS])
LOGP[1, 2] = 200.0
OLD = torch.zeros(2, 3)
ADV = torch.tensor([1.0, -2.0])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
PER_TOKEN = [[-1.0, -1.28, -0.5], [1.6, 20.0]]
TOTAL = sum(PER_TOKEN[0]) + sum(PER_TOKEN[1])  # 18.82


def loss_of(**kw):
    return clipped_policy_loss(LOGP, OLD, ADV, MASK, **kw)


def test_token_mean_by_hand():
    loss, _ = loss_of()
    assert loss.item() == pytest.approx(18.82 / 5, abs=1e-5)  # 3.764
    assert TOTAL == pytest.approx(18.82)


def test_seq_mean_by_hand():
    loss, _ = loss_of(aggregation="seq-mean")
    # seq 0: −2.78 / 3 = −0.92667; seq 1: 21.6 / 2 = 10.8; mean = 4.93667
    assert loss.item() == pytest.approx((-2.78 / 3 + 21.6 / 2) / 2, abs=1e-5)


def test_dr_grpo_by_hand():
    loss, _ = loss_of(aggregation="dr-grpo", max_completion_len=4)
    assert loss.item() == pytest.approx(18.82 / (2 * 4), abs=1e-5)  # 2.3525
    with pytest.raises(ValueError):
        loss_of(aggregation="dr-grpo")  # no constant normaliser given


def test_bnpo_is_local_token_mean_and_token_mean_accepts_global_count():
    bnpo, _ = loss_of(aggregation="bnpo", num_tokens=10)
    assert bnpo.item() == pytest.approx(18.82 / 5, abs=1e-5)  # local count, num_tokens ignored
    global_mean, _ = loss_of(num_tokens=10)
    assert global_mean.item() == pytest.approx(18.82 / 10, abs=1e-5)  # this micro-batch's share


def test_micro_batches_with_global_count_sum_to_full_batch_token_mean():
    full, _ = loss_of()
    parts = [clipped_policy_loss(LOGP[i : i + 1], OLD[i : i + 1], ADV[i : i + 1], MASK[i : i + 1], num_tokens=5)[0] for i in range(2)]
    assert (parts[0] + parts[1]).item() == pytest.approx(full.item(), abs=1e-5)


def test_dual_clip_disabled():
    loss, stats = loss_of(dual_clip=None)
    assert loss.item() == pytest.approx((-2.78 + 1.6 + 40.0) / 5, abs=1e-4)  # 7.764
    assert stats["dual_clip_frac"] == 0.0


def test_stats_by_hand():
    _, s = loss_of()
    assert s["clip_high_frac"] == pytest.approx(1 / 5)  # seq 0 token 1
    assert s["clip_low_frac"] == pytest.approx(1 / 5)  # seq 1 token 0
    assert s["dual_clip_frac"] == pytest.approx(1 / 5)  # seq 1 token 1
    assert s["ratio_mean"] == pytest.approx((1 + 1.5 + 0.5 + 0.5 + 20) / 5, abs=1e-5)  # 4.7
    # (ρ − 1) − log ρ per token: 0, 0.094535, 0.193147, 0.193147, 16.004268
    k = [r - 1 - math.log(r) for r in (1.0, 1.5, 0.5, 0.5, 20.0)]
    assert s["approx_kl"] == pytest.approx(sum(k) / 5, abs=1e-5)  # 3.29699
    assert math.isfinite(s["approx_kl"])


@pytest.mark.parametrize(
    "adv, ratio, expected, flag",
    [
        (1.0, 1.1, -1.1, None),  # inside the range: −Âρ
        (1.0, 1.4, -1.28, "clip_high_frac"),  # above 1 + ε_high with Â > 0: clipped
        (1.0, 0.6, -0.6, None),  # below 1 − ε_low with Â > 0: not clipped (pessimistic bound)
        (-1.0, 0.9, 0.9, None),  # inside
        (-1.0, 0.6, 0.8, "clip_low_frac"),  # below 1 − ε_low with Â < 0: clipped
        (-1.0, 2.0, 2.0, None),  # above 1 + ε_high with Â < 0: not clipped, below c
        (-1.0, 12.0, 10.0, "dual_clip_frac"),  # above c: dual clip caps at −Â·c
        (1.0, 12.0, -1.28, "clip_high_frac"),  # dual clip never applies to Â > 0
    ],
)
def test_single_token_cases(adv, ratio, expected, flag):
    loss, stats = clipped_policy_loss(
        torch.tensor([[math.log(ratio)]]), torch.zeros(1, 1), torch.tensor([adv]), torch.ones(1, 1)
    )
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    for name in ("clip_low_frac", "clip_high_frac", "dual_clip_frac"):
        assert stats[name] == (1.0 if name == flag else 0.0), name


def test_gradient_flows_only_through_unclipped_tokens():
    logp = LOGP.clone().requires_grad_(True)
    loss, _ = clipped_policy_loss(logp, OLD, ADV, MASK)
    loss.backward()
    # d(−Âρ)/dlogp = −Âρ, divided by 5 tokens; clipped, dual-clipped and padded tokens get 0
    expected = torch.tensor([[-1.0 / 5, 0.0, -0.5 / 5], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(logp.grad, expected, atol=1e-6, rtol=0)


def test_per_token_advantages_equal_broadcast():
    a, _ = loss_of()
    b, _ = clipped_policy_loss(LOGP, OLD, broadcast_advantages(ADV, MASK), MASK)
    assert a.item() == pytest.approx(b.item())
    assert broadcast_advantages(ADV, MASK).tolist() == [[1.0, 1.0, 1.0], [-2.0, -2.0, 0.0]]


def test_kl_k3_values():
    logp = torch.zeros(3)
    ref = torch.tensor([math.log(2.0), math.log(0.5), 0.0])
    # e^δ − δ − 1: 2 − ln 2 − 1 = 0.306853; 0.5 + ln 2 − 1 = 0.193147; 0
    torch.testing.assert_close(kl_k3(logp, ref), torch.tensor([1 - math.log(2), math.log(2) - 0.5, 0.0]))


def test_kl_term_is_added_with_beta():
    ref = torch.tensor([[math.log(2.0), 0.0, 0.0], [0.0, 0.0, 0.0]]) + LOGP.clamp(max=10)
    base, _ = loss_of()
    loss, stats = loss_of(ref_logp=ref, beta=0.1)
    # only token (0, 0) has δ ≠ 0: k3 = 1 − ln 2 = 0.306853, token-mean over 5 tokens
    assert stats["kl_ref"] == pytest.approx((1 - math.log(2)) / 5, abs=1e-5)
    assert loss.item() == pytest.approx(base.item() + 0.1 * (1 - math.log(2)) / 5, abs=1e-5)


def test_aggregate_rejects_unknown_mode():
    with pytest.raises(ValueError):
        aggregate_token_loss(torch.zeros(1, 1), torch.ones(1, 1), "sum")


# ------------------------------------------------------------------------ log-probs


@pytest.mark.parametrize("chunk_rows", [1, 2, 5, 21, 1000])
def test_selective_log_softmax_matches_naive(chunk_rows):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 7, 50, generator=g) * 3).requires_grad_(True)
    index = torch.randint(0, 50, (3, 7), generator=g)
    got = selective_log_softmax(logits, index, chunk_rows=chunk_rows)
    naive = F.log_softmax(logits, -1).gather(-1, index[..., None]).squeeze(-1)
    torch.testing.assert_close(got, naive)
    (g1,) = torch.autograd.grad(got.sum(), logits)
    (g2,) = torch.autograd.grad(naive.sum(), logits)
    torch.testing.assert_close(g1, g2)


def test_selective_log_softmax_upcasts_bf16():
    logits = torch.randn(4, 50).to(torch.bfloat16)
    index = torch.arange(4)
    got = selective_log_softmax(logits, index, chunk_rows=3)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, F.log_softmax(logits.float(), -1)[torch.arange(4), index])


def test_entropy_matches_naive():
    logits = torch.randn(2, 5, 50) * 2
    p = F.softmax(logits, -1)
    torch.testing.assert_close(entropy_from_logits(logits, chunk_rows=3), -(p * p.log()).sum(-1))
    assert entropy_from_logits(torch.zeros(1, 50)).item() == pytest.approx(math.log(50), abs=1e-5)


def test_position_ids_follow_left_padding():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert left_padded_position_ids(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def tiny_lm(request):
    """Random tiny causal LMs: Llama (rotary positions) and GPT-2 (absolute positions)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if request.param == "llama":
        cfg = LlamaConfig(
            vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            pad_token_id=0, bos_token_id=1, eos_token_id=2,
        )
        return request.param, LlamaForCausalLM(cfg).eval()
    cfg = GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2)
    return request.param, GPT2LMHeadModel(cfg).eval()


def _batch(prompts, completions, pad=0):
    """[left-padded prompt | right-padded completion] rows, as the rollout code builds them.

    `None` in a completion marks padding after EOS.
    """
    width = max(map(len, prompts))
    ids = [[pad] * (width - len(p)) + p + [pad if t is None else t for t in c] for p, c in zip(prompts, completions)]
    mask = [[0] * (width - len(p)) + [1] * len(p) + [int(t is not None) for t in c] for p, c in zip(prompts, completions)]
    return torch.tensor(ids), torch.tensor(mask)


@torch.no_grad()
def test_sequence_token_logprobs_left_padding_equals_unpadded(tiny_lm):
    kind, model = tiny_lm
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]
    completions = [[20, 21, 22, 23], [24, 25, 26, 27], [28, 29, 2, None]]  # row 2 ends early
    ids, mask = _batch(prompts, completions)
    for temperature in (1.0, 0.7):
        logp, ent = sequence_token_logprobs(model, ids, mask, logits_to_keep=4, temperature=temperature, compute_entropy=True, chunk_rows=5)
        assert logp.shape == ent.shape == (3, 4)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            c = [t for t in c if t is not None]
            row = torch.tensor([p + c])
            logits = model(row).logits[0, len(p) - 1 : -1] / temperature  # predict c
            ref = F.log_softmax(logits, -1)
            n = len(c)
            torch.testing.assert_close(logp[i, :n], ref[torch.arange(n), torch.tensor(c)], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(ent[i, :n], -(ref.exp() * ref).sum(-1), atol=1e-5, rtol=1e-5)
    if kind == "gpt2":
        # the check is sensitive to position ids: with absolute positions the default arange
        # gives different log-probs for a left-padded row. (Rotary embeddings only see position
        # differences, so for Llama a constant shift is harmless and no such check is possible.)
        naive = model(input_ids=ids, attention_mask=mask).logits[:, -5:-1]
        naive_logp = F.log_softmax(naive, -1).gather(-1, ids[:, -4:, None]).squeeze(-1)
        logp, _ = sequence_token_logprobs(model, ids, mask, logits_to_keep=4)
        assert not torch.allclose(naive_logp[1], logp[1], atol=1e-3)


def test_sequence_token_logprobs_is_differentiable(tiny_lm):
    _, model = tiny_lm
    ids, mask = _batch([[5, 6], [7]], [[8, 9], [10, 11]])
    logp, ent = sequence_token_logprobs(model, ids, mask, logits_to_keep=2)
    assert ent is None
    loss, _ = clipped_policy_loss(logp, logp.detach(), torch.tensor([1.0, -1.0]), torch.ones(2, 2))
    loss.backward()
    grad = model.lm_head.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_per_row_kl_weights_match_a_float_when_equal_and_drop_rows_with_zero():
    torch.manual_seed(0)
    logp, ref = -torch.rand(3, 4), -torch.rand(3, 4)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.float)
    adv = torch.zeros(3)
    args = dict(ref_logp=ref, aggregation="token-mean")
    same, _ = clipped_policy_loss(logp, logp.detach(), adv, mask, beta=0.5, **args)
    rows, _ = clipped_policy_loss(logp, logp.detach(), adv, mask, beta=torch.full((3,), 0.5), **args)
    assert torch.allclose(same, rows)
    # β only on row 1: the loss is row 1's k3 tokens over all 9 tokens (token-mean), × β
    only, st = clipped_policy_loss(logp, logp.detach(), adv, mask, beta=torch.tensor([0.0, 2.0, 0.0]), **args)
    d = ref[1, :2] - logp[1, :2]
    assert torch.allclose(only, 2.0 * (torch.exp(d) - d - 1).sum() / 9)
    assert st["kl_ref"] > 0  # the logged KL stays the unweighted mean over every row


def test_log_ratio_is_clamped_at_20_like_the_authors():
    """log ρ = 100 would give ρ = inf in float32 (and inf statistics); clamped, ρ = e^20."""
    logp, old, mask = torch.tensor([[100.0, 0.0]]), torch.zeros(1, 2), torch.ones(1, 2)
    loss, st = clipped_policy_loss(logp, old, torch.tensor([1.0]), mask, dual_clip=None)
    assert math.isfinite(st["ratio_mean"]) and math.isfinite(st["approx_kl"])
    assert st["ratio_mean"] == pytest.approx((math.exp(20.0) + 1.0) / 2, rel=1e-5)
    # the clamp is symmetric and configurable; None turns it off
    _, low = clipped_policy_loss(-logp, old, torch.tensor([1.0]), mask, log_ratio_clamp=5.0)
    assert low["ratio_mean"] == pytest.approx((math.exp(-5.0) + 1.0) / 2, rel=1e-5)
    _, off = clipped_policy_loss(logp, old, torch.tensor([1.0]), mask, log_ratio_clamp=None)
    assert math.isinf(off["ratio_mean"])
    # within the clamp nothing changes (the hand-worked example above)
    assert loss_of()[0].item() == pytest.approx(TOTAL / 5)
