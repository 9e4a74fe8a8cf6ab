"""One supervised (cross-entropy) step on (prompt, response) pairs, the prompt masked: Expert SFT
(:mod:`masa_lite.efficient.expert_sft`) and the tiny model's build
(:mod:`masa_lite.task.tiny_model`) both train with it."""

from __future__ import annotations

import torch

from masa_lite.distributed import SINGLE
from masa_lite.meta.credit import field_token_parts, token_char_ends


def supervised_batch(tokenizer, pairs: list[tuple[str, str]], device, label_fields=None) -> dict:
    """Right-padded (prompt + response + EOS) ids; labels −100 on prompt and padding, so the
    cross-entropy covers the response only. The mask comes from lengths, not from the pad id
    (many real tokenizers pad with EOS). A pair may carry a third item, False for a response cut
    by a length limit: it gets no EOS (the tiny model's lost traces must not learn to stop).

    ``label_fields`` (parts of ``meta.answer.PARTS``, e.g. ``("pass", "length")``): only the
    tokens of those JSON values of a meta answer are labelled (``efficient.sft_labels=values``);
    the rest of the answer is context. None labels the whole response (the paper's Expert SFT)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids, labels = [], []
    for prompt, response, *ends in pairs:
        p = tokenizer.encode(prompt, add_special_tokens=False)
        eos = [tokenizer.eos_token_id] if not ends or ends[0] else []
        r = tokenizer.encode(response, add_special_tokens=False) + eos
        ids.append(p + r)
        lab = list(r)
        if label_fields is not None:
            parts = field_token_parts(response, token_char_ends(tokenizer, r[:-1]), label_fields)
            lab = [t if part >= 0 else -100 for t, part in zip(r, parts + [-1])]
        labels.append([-100] * len(p) + lab)
    width = max(map(len, ids))
    return {
        "input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids],
                                       device=device),
        "labels": torch.tensor([y + [-100] * (width - len(y)) for y in labels], device=device),
    }


def sft_step(model, tokenizer, optimizer, pairs: list[tuple[str, str]], device,
             grad_clip: float = 1.0, dp=None, label_fields=None) -> float:
    """One supervised step: cross-entropy on the response tokens (+ EOS), prompt masked; with
    ``label_fields`` on those meta fields' value tokens only (:func:`supervised_batch`).

    Data parallel (``dp`` of several ranks; every rank holds the same ``pairs``): each rank takes
    its share of the pairs and weights its mean loss by its share of the response tokens (× the
    world size, as DDP averages), so the all-reduced gradient is the one-process gradient. A rank
    without pairs joins the all-reduce with a zero-weight copy of the first pair."""

    dp = dp or SINGLE
    model.train()
    optimizer.zero_grad(set_to_none=True)
    mine = [pairs[i] for i in dp.shard(len(pairs))]
    batch = supervised_batch(tokenizer, mine or pairs[:1], device, label_fields)
    loss = dp.train_model(model)(**batch).loss  # mean over this rank's response tokens
    if dp.enabled:
        n_here = float((batch["labels"][:, 1:] != -100).sum()) if mine else 0.0  # predicted tokens
        n_all = dp.sum([n_here])[0]
        (loss * (n_here / n_all * dp.world_size)).backward()
        value = dp.sum([loss.item() * n_here])[0] / n_all
    else:
        loss.backward()
        value = loss.item()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], grad_clip)
    optimizer.step()
    return value
