"""GRPO with LoRA: the training loop that composes rollouts, rewards, advantages and the loss.

One step (docs/method.md §3):

1. draw ``prompts_per_step`` training problems;
2. sample G rollouts per prompt (:mod:`masa_lite.rollout`);
3. score them (:mod:`masa_lite.rewards`) → r_i;
4. group advantages Â_i = (r_i − mean_g r)/(std_g r + ε) (:mod:`masa_lite.advantages`);
5. clipped surrogate loss on every completion token, micro-batched with gradient accumulation
   (:mod:`masa_lite.losses`), AdamW + warm-up + grad-norm clip, ``policy_epochs`` passes;
6. metrics to the history, warnings when the learning signal is gone, atomic checkpoints.

The loop itself lives in :mod:`masa_lite.trainer`, where MASA's meta path and MASA-efficient's
controls are switches of the same step; this module holds the GRPO pieces it composes.
"""

from __future__ import annotations

import math

import torch

from masa_lite.config import RunConfig
from masa_lite.grpo import advantages as adv_lib
from masa_lite.grpo import losses
from masa_lite.grpo.rollout import Rollout
from masa_lite.grpo.scored import Scored, token_advantages


def build_policy_batch(tokenizer, rollouts: list[Rollout], device) -> dict:
    """Left-padded prompts + right-padded completions, and the completion mask [B, K]."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = [tokenizer.encode(r.prompt, add_special_tokens=False) for r in rollouts]
    width_p = max(map(len, prompts))
    width_c = max(1, max(len(r.token_ids) for r in rollouts))
    ids, attn, cmask = [], [], []
    for p, r in zip(prompts, rollouts):
        c = r.token_ids
        ids.append([pad] * (width_p - len(p)) + p + c + [pad] * (width_c - len(c)))
        attn.append([0] * (width_p - len(p)) + [1] * (len(p) + len(c)) + [0] * (width_c - len(c)))
        cmask.append([1] * len(c) + [0] * (width_c - len(c)))
    t = lambda x: torch.tensor(x, device=device)  # noqa: E731
    return {"input_ids": t(ids), "attention_mask": t(attn), "completion_mask": t(cmask).float(),
            "logits_to_keep": width_c}


def _micro_batches(n: int, size: int):
    return [list(range(s, min(n, s + size))) for s in range(0, n, size)]


def _advantage_matrix(advs, tok_advs, idx, mask) -> torch.Tensor:
    """Advantages of a micro-batch: [B] when every row has one advantage, else [B, T] with the
    per-token ones where given (field-level credit) and the row's advantage broadcast elsewhere."""
    if all(tok_advs[i] is None for i in idx):
        return advs[idx]
    out = advs[idx][:, None] * mask.detach().float().cpu()
    for row, i in enumerate(idx):
        if tok_advs[i] is not None:
            n = min(len(tok_advs[i]), out.shape[1])
            out[row, :n] = tok_advs[i][:n]
    return out


def _row_betas(betas: torch.Tensor):
    """A micro-batch's KL weights: one float when every row has the same (the common case, the
    same arithmetic as before), else the [B] tensor."""
    return float(betas[0]) if bool((betas == betas[0]).all()) else betas


def _filler(tokenizer) -> Rollout:
    """A one-token completion for a rank with nothing to train; it joins the all-reduce with
    weight 0."""
    return Rollout(0, "0", "", [tokenizer.eos_token_id], 1, "eos")


def policy_update(model, tokenizer, optimizer, scheduler, batches: list[Scored], cfg: RunConfig,
                  device, dp=None) -> dict:
    """Advantages per group, then ``policy_epochs`` passes of the clipped loss; one optimiser step
    per epoch. Returns the step's training metrics.

    Data parallel (``dp``, a :class:`masa_lite.distributed.DataParallel` of several ranks):
    ``batches`` hold this rank's groups only. The normalisers (rollouts and tokens of the whole
    step) are summed over ranks and each rank's loss is multiplied by the world size, so DDP's
    gradient *average* is the one-process gradient of the whole batch. Only the last micro-batch's
    backward all-reduces (:meth:`~masa_lite.distributed.DataParallel.sync`); a rank without rows
    runs one zero-weight filler so that it still takes part."""
    from masa_lite.distributed import SINGLE

    dp = dp or SINGLE
    g = cfg.grpo
    rollouts = [r for b in batches for r in b.rollouts]
    per_batch = [adv_lib.group_advantages(b.rewards, group_ids=b.group_ids, scale=g.adv_scale)
                 for b in batches]
    advs = torch.cat([a * b.weight for a, b in zip(per_batch, batches)]) if batches else torch.zeros(0)
    tok_advs = [None if t is None else t * b.weight
                for b, a in zip(batches, per_batch) for t in token_advantages(b, a, g.adv_scale)]
    betas = torch.tensor([g.kl_beta if b.kl_beta is None else b.kl_beta
                          for b in batches for _ in b.rollouts], dtype=torch.float32)
    keep = [i for i, r in enumerate(rollouts) if r.length > 0]
    rollouts, advs, tok_advs = [rollouts[i] for i in keep], advs[keep], [tok_advs[i] for i in keep]
    betas = betas[keep]
    # from the configuration, not the rows, so that it is the same on every rank (a rank may have none)
    with_kl = g.kl_beta > 0 or any((b.kl_beta or 0) > 0 for b in batches)
    metrics = {"loss": 0.0, "grad_norm": 0.0, "entropy": float("nan"), "clip_frac": 0.0,
               "approx_kl": 0.0, "train_tokens": 0}
    n_rows, num_tokens = dp.sum([len(rollouts), float(sum(r.length for r in rollouts))])
    if not n_rows:  # nothing to train on any rank
        return metrics
    weight = 1.0
    if not rollouts:  # nothing here, but the other ranks train: join their all-reduce
        rollouts, advs, weight, tok_advs = [_filler(tokenizer)], torch.zeros(1), 0.0, [None]
        betas = torch.zeros(1)
    # sort by length so micro-batches carry little padding
    order = sorted(range(len(rollouts)), key=lambda i: rollouts[i].length + len(rollouts[i].prompt))
    rollouts, advs, tok_advs = [rollouts[i] for i in order], advs[order], [tok_advs[i] for i in order]
    betas = betas[order]
    mbs = _micro_batches(len(rollouts), g.micro_batch_size)
    net = dp.train_model(model)  # DDP wrapper on several ranks: its backward all-reduces
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if device.type == "cuda" and cfg.model.dtype in ("auto", "bf16", "bfloat16")
                else torch.autocast("cpu", enabled=False))

    def forward(idx, with_entropy=False, module=model):
        batch = build_policy_batch(tokenizer, [rollouts[i] for i in idx], device)
        with autocast:
            # log-probs of the distribution that was sampled: logits / rollout.temperature
            logp, ent = losses.sequence_token_logprobs(
                module, batch["input_ids"], batch["attention_mask"], batch["logits_to_keep"],
                temperature=cfg.rollout.temperature, compute_entropy=with_entropy)
        return batch, logp, ent

    old = None
    if g.policy_epochs > 1:  # π_old must be frozen before the first update
        with torch.no_grad():
            old = [forward(idx)[1] for idx in mbs]
    ent_sum, ent_n, stats_acc = 0.0, 0.0, []
    for epoch in range(g.policy_epochs):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for j, idx in enumerate(mbs):
            with dp.sync(last=j == len(mbs) - 1):
                batch, logp, ent = forward(idx, with_entropy=(epoch == 0), module=net)
                mask = batch["completion_mask"]
                old_logp = old[j] if old is not None else logp.detach()  # one epoch: ρ = 1
                ref = None
                if with_kl:  # reference = the base model: the same weights, adapter off
                    with torch.no_grad(), model.disable_adapter():
                        ref = forward(idx)[1]
                loss, st = losses.clipped_policy_loss(
                    logp, old_logp, _advantage_matrix(advs, tok_advs, idx, mask).to(device), mask, eps_low=g.eps_low,
                    eps_high=g.eps_high, dual_clip=g.dual_clip, aggregation=g.aggregation,
                    max_completion_len=cfg.rollout.max_new_tokens, num_tokens=num_tokens,
                    ref_logp=ref, beta=_row_betas(betas[idx]).to(device) if with_kl else 0.0,
                    log_ratio_clamp=g.log_ratio_clamp)
                if g.aggregation != "token-mean":  # per-micro-batch means → weight by its share
                    loss = loss * (len(idx) / n_rows)
                (loss * (weight * dp.world_size)).backward()  # DDP averages over ranks
            if not weight:
                continue
            total += loss.item()
            stats_acc.append((len(idx), st))
            if ent is not None:
                ent_sum += (ent * mask).sum().item()
                ent_n += mask.sum().item()
        params = [p for p in model.parameters() if p.requires_grad]
        gnorm = torch.nn.utils.clip_grad_norm_(params, g.grad_clip if g.grad_clip > 0 else math.inf)
        optimizer.step()
    scheduler.step()
    # rows-weighted means of the micro-batch statistics, summed over ranks
    keys = ["clip_low_frac", "clip_high_frac", "approx_kl"] + (["kl_ref"] if with_kl else [])
    local = [total, ent_sum, ent_n, sum(k for k, _ in stats_acc)]
    local += [sum(k * s.get(key, 0.0) for k, s in stats_acc) for key in keys]
    total, ent_sum, ent_n, n, *weighted = dp.sum(local)
    avg = {key: w / n for key, w in zip(keys, weighted)}
    metrics.update(loss=total, grad_norm=float(gnorm), entropy=ent_sum / max(ent_n, 1.0),
                   clip_frac=avg["clip_low_frac"] + avg["clip_high_frac"],
                   approx_kl=avg["approx_kl"], train_tokens=int(num_tokens),
                   lr=scheduler.get_last_lr()[0])
    if with_kl:
        metrics["kl_ref"] = avg["kl_ref"]
    return metrics
