"""The GRPO policy update (docs/method.md §3): group advantages of every path, then the clipped
surrogate loss on every completion token, micro-batched with gradient accumulation
(:mod:`masa_lite.grpo.losses`), AdamW + warm-up + grad-norm clip, ``policy_epochs`` passes.

Advantages: Â_i = (r_i − mean_g r)/(std_g r + ε) per group (:mod:`masa_lite.grpo.advantages`),
× the path's weight (``meta.loss_weight``), per token where field-level credit gives them
(:mod:`masa_lite.grpo.scored`). The step around it (rollouts, rewards, metrics, checkpoints) is
:func:`masa_lite.trainer.train`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from masa_lite.config import RunConfig
from masa_lite.distributed import SINGLE
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


def _row_betas(betas: torch.Tensor, device):
    """A micro-batch's KL weights: one float when every row has the same (the common case, the
    same arithmetic as before), else the [B] tensor on ``device``."""
    return float(betas[0]) if bool((betas == betas[0]).all()) else betas.to(device)


def _filler(tokenizer) -> Rollout:
    """A one-token completion for a rank with nothing to train; it joins the all-reduce with
    weight 0."""
    return Rollout(0, "0", "", [tokenizer.eos_token_id], 1, "eos")


@dataclass
class TrainRows:
    """The rows of one policy update: rollouts with their advantages (per token where field
    credit gives them), KL weights, and a loss weight (0: a filler that only joins the all-reduce)."""

    rollouts: list[Rollout]
    advs: torch.Tensor          # [N]
    tok_advs: list              # per rollout: a [T] tensor, or None
    betas: torch.Tensor         # [N] KL weight of each row's path
    weight: float = 1.0

    def take(self, idx: list[int]) -> "TrainRows":
        return TrainRows([self.rollouts[i] for i in idx], self.advs[idx], [self.tok_advs[i] for i in idx],
                         self.betas[idx], self.weight)


def train_rows(batches: list[Scored], g) -> TrainRows:
    """Group advantages of each path (× its weight), token advantages of field credit, KL weights;
    rollouts without completion tokens are dropped."""
    rollouts = [r for b in batches for r in b.rollouts]
    per_batch = [adv_lib.group_advantages(b.rewards, group_ids=b.group_ids, scale=g.adv_scale)
                 for b in batches]
    advs = torch.cat([a * b.weight for a, b in zip(per_batch, batches)]) if batches else torch.zeros(0)
    tok_advs = [None if t is None else t * b.weight
                for b, a in zip(batches, per_batch) for t in token_advantages(b, a, g.adv_scale)]
    betas = torch.tensor([g.kl_beta if b.kl_beta is None else b.kl_beta
                          for b in batches for _ in b.rollouts], dtype=torch.float32)
    return TrainRows(rollouts, advs, tok_advs, betas).take([i for i, r in enumerate(rollouts) if r.length > 0])


def policy_update(model, tokenizer, optimizer, scheduler, batches: list[Scored], cfg: RunConfig,
                  device, dp=None, drawn_rows: int | None = None) -> dict:
    """Advantages per group, then ``policy_epochs`` passes of the clipped loss; one optimiser step
    per epoch. Returns the step's training metrics.

    ``drawn_rows``: the rollouts the step drew (prompts × group size), gated prompts included. The
    row-based aggregations ("dr-grpo", "seq-mean") divide by it rather than by the rows trained,
    so that a gated prompt or a cut rollout never rescales the gradient of the others (with
    "token-mean", the paper's, skipping long zero-advantage rollouts does rescale it).

    Data parallel (``dp``, a :class:`masa_lite.distributed.DataParallel` of several ranks):
    ``batches`` hold this rank's groups only. The normalisers (rollouts and tokens of the whole
    step) are summed over ranks and each rank's loss is multiplied by the world size, so DDP's
    gradient *average* is the one-process gradient of the whole batch. Only the last micro-batch's
    backward all-reduces (:meth:`~masa_lite.distributed.DataParallel.sync`); a rank without rows
    runs one zero-weight filler so that it still takes part."""
    dp = dp or SINGLE
    g = cfg.grpo
    rows = train_rows(batches, g)
    # from the configuration, not the rows, so that it is the same on every rank (a rank may have none)
    with_kl = g.kl_beta > 0 or any((b.kl_beta or 0) > 0 for b in batches)
    metrics = {"loss": 0.0, "grad_norm": 0.0, "entropy": float("nan"), "clip_frac": 0.0,
               "approx_kl": 0.0, "train_tokens": 0}
    n_rows, num_tokens = dp.sum([len(rows.rollouts), float(sum(r.length for r in rows.rollouts))])
    if not n_rows:  # nothing to train on any rank
        return metrics
    if not rows.rollouts:  # nothing here, but the other ranks train: join their all-reduce
        rows = TrainRows([_filler(tokenizer)], torch.zeros(1), [None], torch.zeros(1), weight=0.0)
    # sort by length so micro-batches carry little padding
    rows = rows.take(sorted(range(len(rows.rollouts)),
                            key=lambda i: rows.rollouts[i].length + len(rows.rollouts[i].prompt)))
    norm_rows = max(n_rows, drawn_rows or 0)  # row-based normalisers: the batch as drawn
    pass_ = _Pass(model, tokenizer, optimizer, rows, cfg, device, dp, with_kl, norm_rows, num_tokens)
    total, gnorm = pass_.epochs()
    scheduler.step()
    # rows-weighted means of the micro-batch statistics, summed over ranks
    keys = ["clip_low_frac", "clip_high_frac", "approx_kl"] + (["kl_ref"] if with_kl else [])
    local = [total, pass_.ent_sum, pass_.ent_n, sum(k for k, _ in pass_.stats)]
    local += [sum(k * st.get(key, 0.0) for k, st in pass_.stats) for key in keys]
    total, ent_sum, ent_n, n, *weighted = dp.sum(local)
    avg = {key: w / n for key, w in zip(keys, weighted)}
    metrics.update(loss=total, grad_norm=float(gnorm), entropy=ent_sum / max(ent_n, 1.0),
                   clip_frac=avg["clip_low_frac"] + avg["clip_high_frac"],
                   approx_kl=avg["approx_kl"], train_tokens=int(num_tokens),
                   lr=scheduler.get_last_lr()[0])
    if with_kl:
        metrics["kl_ref"] = avg["kl_ref"]
    return metrics


class _Pass:
    """The ``policy_epochs`` passes over the micro-batches of one update, accumulating the
    entropy (first pass) and the clipping statistics (every pass) of the micro-batches."""

    def __init__(self, model, tokenizer, optimizer, rows: TrainRows, cfg: RunConfig, device, dp,
                 with_kl: bool, n_rows: int, num_tokens: float):
        self.model, self.tokenizer, self.optimizer = model, tokenizer, optimizer
        self.rows, self.cfg, self.device, self.dp = rows, cfg, device, dp
        self.with_kl, self.n_rows, self.num_tokens = with_kl, n_rows, num_tokens
        self.mbs = _micro_batches(len(rows.rollouts), cfg.grpo.micro_batch_size)
        self.net = dp.train_model(model)  # DDP wrapper on several ranks: its backward all-reduces
        self.autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                         if device.type == "cuda" and cfg.model.dtype in ("auto", "bf16", "bfloat16")
                         else torch.autocast("cpu", enabled=False))
        self.ent_sum, self.ent_n, self.stats = 0.0, 0.0, []

    def forward(self, idx, with_entropy=False, module=None):
        batch = build_policy_batch(self.tokenizer, [self.rows.rollouts[i] for i in idx], self.device)
        with self.autocast:
            # log-probs of the distribution that was sampled: logits / rollout.temperature
            logp, ent = losses.sequence_token_logprobs(
                self.model if module is None else module, batch["input_ids"], batch["attention_mask"],
                batch["logits_to_keep"], temperature=self.cfg.rollout.temperature,
                compute_entropy=with_entropy)
        return batch, logp, ent

    def epochs(self) -> tuple[float, torch.Tensor]:
        """Every pass: zero the gradients, accumulate the micro-batches, clip, step. Returns the
        last pass's summed loss and gradient norm."""
        g, old = self.cfg.grpo, None
        if g.policy_epochs > 1:  # π_old must be frozen before the first update
            with torch.no_grad():
                old = [self.forward(idx)[1] for idx in self.mbs]
        for epoch in range(g.policy_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for j, idx in enumerate(self.mbs):
                with self.dp.sync(last=j == len(self.mbs) - 1):
                    loss, st, ent, mask = self.micro_batch(idx, epoch, None if old is None else old[j])
                if not self.rows.weight:
                    continue
                total += loss.item()
                self.stats.append((len(idx), st))
                if ent is not None:
                    self.ent_sum += (ent * mask).sum().item()
                    self.ent_n += mask.sum().item()
            params = [p for p in self.model.parameters() if p.requires_grad]
            gnorm = torch.nn.utils.clip_grad_norm_(params, g.grad_clip if g.grad_clip > 0 else math.inf)
            self.optimizer.step()
        return total, gnorm

    def micro_batch(self, idx, epoch: int, old_logp):
        """The clipped loss of one micro-batch, backpropagated; (loss, stats, entropy, mask)."""
        g, rows, device = self.cfg.grpo, self.rows, self.device
        batch, logp, ent = self.forward(idx, with_entropy=(epoch == 0), module=self.net)
        mask = batch["completion_mask"]
        old_logp = old_logp if old_logp is not None else logp.detach()  # one epoch: ρ = 1
        ref = None
        if self.with_kl:  # reference = the base model: the same weights, adapter off
            with torch.no_grad(), self.model.disable_adapter():
                ref = self.forward(idx)[1]
        loss, st = losses.clipped_policy_loss(
            logp, old_logp, _advantage_matrix(rows.advs, rows.tok_advs, idx, mask).to(device), mask,
            eps_low=g.eps_low, eps_high=g.eps_high, dual_clip=g.dual_clip, aggregation=g.aggregation,
            max_completion_len=self.cfg.rollout.max_new_tokens, num_tokens=self.num_tokens,
            ref_logp=ref, beta=_row_betas(rows.betas[idx], device) if self.with_kl else 0.0,
            log_ratio_clamp=g.log_ratio_clamp)
        if g.aggregation != "token-mean":  # per-micro-batch means → weight by its share
            loss = loss * (len(idx) / self.n_rows)
        (loss * (rows.weight * self.dp.world_size)).backward()  # DDP averages over ranks
        return loss, st, ent, mask
