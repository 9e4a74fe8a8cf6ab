"""Token log-probs, the clipped GRPO/DAPO policy loss, its aggregations, and the k3 KL estimator.

Everything here works on per-token tensors of shape [B, T] (B rollouts, T completion positions)
with a `mask` that is 1 on real completion tokens and 0 on padding.

1. `selective_log_softmax` gathers log π(y_t) of the *sampled* tokens chunk by chunk, so the
   full [B, T, V] float32 log-softmax is never built (V ≈ 150k for Qwen: 0.6 GB per 1k tokens).
2. `sequence_token_logprobs` runs the model once and returns log π(y_t) (and optionally the
   entropy) for the last `logits_to_keep` tokens, with position ids that follow left padding.
3. `clipped_policy_loss` is the PPO-style surrogate with clip-higher and dual clip
   (docs/method.md §3); `aggregate_token_loss` turns per-token losses into one number
   ("token-mean", "seq-mean", "dr-grpo", "bnpo"); `kl_k3` is an optional penalty to a reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

AGGREGATIONS = ("token-mean", "seq-mean", "dr-grpo", "bnpo")


def selective_log_softmax(logits: torch.Tensor, index: torch.Tensor, chunk_rows: int = 256) -> torch.Tensor:
    """log softmax(logits)[..., index] for logits [..., V] and index [...]; float32 result.

    log π(y) = z_y − logsumexp(z), computed `chunk_rows` positions at a time in float32 (bf16
    log-probs are too coarse for importance ratios). Differentiable.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_index = index.reshape(-1, 1)
    out = []
    # one split, not a slice per chunk: split's backward joins the chunks' gradients with a single
    # cat, where every slice would add its own zero-padded full-size gradient (quadratic in chunks)
    for z, idx in zip(flat_logits.split(chunk_rows), flat_index.split(chunk_rows)):
        z = z.float()
        z_y = z.gather(-1, idx).squeeze(-1)
        out.append(z_y - torch.logsumexp(z, dim=-1))  # log π(y) = z_y − log Σ_v exp z_v
    if not out:
        return logits.new_zeros(index.shape, dtype=torch.float32)
    return torch.cat(out).reshape(index.shape)


def entropy_from_logits(logits: torch.Tensor, chunk_rows: int = 256) -> torch.Tensor:
    """Entropy H = −Σ_v π(v) log π(v) per position, logits [..., V] → [...], chunk-wise."""
    flat = logits.reshape(-1, logits.shape[-1])
    out = []
    for start in range(0, flat.shape[0], chunk_rows):
        logp = F.log_softmax(flat[start : start + chunk_rows].float(), dim=-1)
        out.append(-(logp.exp() * logp).sum(-1))  # H = −Σ_v π(v) log π(v)
    if not out:
        return logits.new_zeros(logits.shape[:-1], dtype=torch.float32)
    return torch.cat(out).reshape(logits.shape[:-1])


def left_padded_position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that start at 0 on the first real token: cumsum(mask) − 1, clamped at 0.

    With left padding the default arange would give the first real token position = #pads, so
    rotary embeddings would see a different sequence from the unpadded one.
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def sequence_token_logprobs(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    temperature: float = 1.0,
    compute_entropy: bool = False,
    chunk_rows: int = 256,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log π(y_t | y_<t) for the last `logits_to_keep` tokens of each row: ([B, K], entropy [B, K] | None).

    `input_ids` is [left-padded prompt | completion]; K = completion width. Logits at position
    t predict token t + 1, so we keep K + 1 positions and drop the last. Logits are divided by
    the sampling `temperature` so the log-probs are those of the distribution that was sampled.
    """
    k = logits_to_keep
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=left_padded_position_ids(attention_mask),
        logits_to_keep=k + 1,  # only the completion's logits are computed by the LM head
        use_cache=False,
    )
    logits = out.logits[:, -(k + 1) : -1, :]  # slicing also covers models that ignore logits_to_keep
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, -k:]
    logp = selective_log_softmax(logits, targets, chunk_rows)
    entropy = entropy_from_logits(logits.detach(), chunk_rows) if compute_entropy else None
    return logp, entropy


def broadcast_advantages(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-rollout Â [B] → per-token Â [B, T] (Â_{i,t} = Â_i on real tokens, 0 on padding)."""
    return advantages.float()[:, None] * mask.float()


def aggregate_token_loss(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    aggregation: str = "token-mean",
    max_completion_len: int | None = None,
    num_tokens: float | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss [B, T] to a scalar.

    * "token-mean" (DAPO, the MASA paper): Σ_{i,t} L_{i,t} / Σ_i |o_i|. Pass `num_tokens` = the
      token count of the *whole* batch when it is split into micro-batches for gradient
      accumulation, so that the summed micro-batch losses equal the full-batch token mean.
    * "seq-mean" (original GRPO): (1/B) Σ_i (1/|o_i|) Σ_t L_{i,t}; long answers weigh less per token.
    * "dr-grpo" (Dr. GRPO): Σ_{i,t} L_{i,t} / (B · max_completion_len), a constant normaliser.
    * "bnpo" (TRL's loss_type="bnpo"): Σ_{i,t} L_{i,t} / Σ_i |o_i| over the *local* (micro-)batch
      only; equal to "token-mean" when the batch is not split, and it ignores `num_tokens`.
    """
    m = mask.to(per_token.dtype)
    per_token = torch.where(m > 0, per_token, torch.zeros_like(per_token))  # padding may hold inf/nan
    total = per_token.sum()
    if aggregation == "token-mean":
        denom = m.sum() if num_tokens is None else per_token.new_tensor(float(num_tokens))
        return total / denom.clamp(min=1.0)  # Σ L / Σ|o_i|
    if aggregation == "bnpo":
        return total / m.sum().clamp(min=1.0)  # Σ L / Σ|o_i|, local batch
    if aggregation == "seq-mean":
        per_seq = per_token.sum(-1) / m.sum(-1).clamp(min=1.0)  # (1/|o_i|) Σ_t L_{i,t}
        return per_seq.mean()  # (1/B) Σ_i
    if aggregation == "dr-grpo":
        if max_completion_len is None:
            raise ValueError("aggregation='dr-grpo' needs max_completion_len (the generation budget)")
        return total / (per_token.shape[0] * max_completion_len)  # Σ L / (B · L_max)
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(π_θ ‖ π_ref) from samples of π_θ (Schulman 2020).

    k3 = exp(δ) − δ − 1 with δ = log π_ref − log π_θ: unbiased, always ≥ 0, low variance.
    Combine as loss = policy_loss + β · aggregate_token_loss(k3, mask) (see `clipped_policy_loss`).
    """
    delta = ref_logp - logp  # δ = log π_ref(y) − log π_θ(y)
    return torch.exp(delta) - delta - 1  # k3 = e^δ − δ − 1


def clipped_policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    dual_clip: float | None = 10.0,
    aggregation: str = "token-mean",
    max_completion_len: int | None = None,
    num_tokens: float | None = None,
    ref_logp: torch.Tensor | None = None,
    beta: float | torch.Tensor = 0.0,
    log_ratio_clamp: float | None = 20.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate loss (to minimise) and diagnostics.

    logp, old_logp, mask: [B, T]; advantages: [B] (broadcast to tokens) or [B, T].
    `dual_clip=None` disables the dual clip. With `ref_logp` the k3 KL to the reference is
    aggregated the same way, logged as stats["kl_ref"] and added to the loss with weight `beta`
    (a float, or a [B] tensor of one weight per row).
    `log_ratio_clamp` clamps log ρ to [−c, c] before the exponential, as the authors' verl code
    does (c = 20): a token whose probability moved by more than e^20 would otherwise give ρ = inf
    in float32 and a NaN loss; beyond the clamp the token gets no gradient. None: no clamp.
    """
    mask = mask.float()
    adv = broadcast_advantages(advantages, mask) if advantages.ndim == 1 else advantages.float()
    log_ratio = torch.where(mask > 0, logp - old_logp, torch.zeros_like(logp))  # padding: ρ = 1
    if log_ratio_clamp is not None:
        log_ratio = log_ratio.clamp(-log_ratio_clamp, log_ratio_clamp)  # log ρ ∈ [−20, 20]
    ratio = torch.exp(log_ratio)  # ρ = π_θ / π_old = exp(log π_θ − log π_old)

    unclipped = -adv * ratio  # −Â ρ
    clipped = -adv * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)  # −Â clip(ρ, 1−ε_low, 1+ε_high)
    per_token = torch.maximum(unclipped, clipped)  # L = max(−Âρ, −Â clip(ρ, ·))
    dual_active = torch.zeros_like(mask, dtype=torch.bool)
    if dual_clip is not None:
        if dual_clip <= 1:
            raise ValueError("dual_clip must be > 1")
        capped = torch.minimum(per_token, -adv * dual_clip)  # L = min(L, −Â c) ...
        per_token = torch.where(adv < 0, capped, per_token)  # ... only for Â < 0
        dual_active = (adv < 0) & (ratio > dual_clip)

    loss = aggregate_token_loss(per_token, mask, aggregation, max_completion_len, num_tokens)

    def masked_mean(x: torch.Tensor) -> float:
        return ((x.float() * mask).sum() / mask.sum().clamp(min=1.0)).item()

    with torch.no_grad():
        stats = {
            "clip_low_frac": masked_mean((ratio < 1 - eps_low) & (adv < 0)),  # clip binds, Â < 0
            "clip_high_frac": masked_mean((ratio > 1 + eps_high) & (adv > 0)),  # clip binds, Â > 0
            "dual_clip_frac": masked_mean(dual_active),
            "ratio_mean": masked_mean(ratio),
            # KL(π_old ‖ π_θ) ≈ E_old[(ρ − 1) − log ρ]  (k3 with samples from π_old)
            "approx_kl": masked_mean((ratio - 1) - log_ratio),
            "policy_loss": loss.item(),
        }
    if ref_logp is not None:
        ref_logp = torch.where(mask > 0, ref_logp, logp.detach())  # δ = 0 on padding (no inf·0 grads)
        per_token_kl = kl_k3(logp, ref_logp)
        kl = aggregate_token_loss(per_token_kl, mask, aggregation, max_completion_len, num_tokens)
        if torch.is_tensor(beta):  # one β per row (e.g. a KL on the meta path only)
            loss = loss + aggregate_token_loss(per_token_kl * beta.to(per_token_kl)[:, None], mask,
                                               aggregation, max_completion_len, num_tokens)
        else:
            loss = loss + beta * kl  # loss = L_clip + β · KL_k3(π_θ ‖ π_ref)
        stats["kl_ref"] = kl.item()
    return loss, stats
