"""The supervised probe: can the meta path learn per-level difficulty from Expert-SFT targets?

Isolates the supervised route of docs/meta-awareness-study.md (Finding 1): meta answers sampled
from the current model are rewritten with a per-level target pass rate (optionally drawn as the
trainer sees it: correct answers among K samples) and trained on; :func:`level_calibration`
measures how well the mean predicted pass rate follows the levels. ``scripts/meta_sft_probe.py``
and ``tests/test_calibration_guard.py`` both run it.
"""

from __future__ import annotations

import numpy as np

from masa_lite.efficient.expert_sft import expert_target
from masa_lite.meta.diagnostics import mean_by_level
from masa_lite.meta.scoring import predictions_by_prompt, sample_meta
from masa_lite.stats import calibration


def binomial_rate(rate: float, k: int, rng) -> float:
    """The share of ``k`` draws from ``rng`` below ``rate``: a pass rate measured on K samples."""
    return sum(rng.random() < rate for _ in range(k)) / k


def probe_pairs(records, meta_rollouts, fmt, cfg, target_rate, target_length,
                keep_length_if_unsolved: bool = False) -> list[tuple[str, str]]:
    """(meta prompt, corrected answer) per record whose meta rollout parses: pass rate
    ``target_rate(level)``, length ``target_length(level)`` (:func:`expert_target`)."""
    pairs = []
    for rec, ro in zip(records, meta_rollouts):
        target = expert_target(ro.text, target_rate(rec["level"]), [target_length(rec["level"])],
                               k=cfg.meta.k, keep_length_if_unsolved=keep_length_if_unsolved)
        if target is not None:
            pairs.append((fmt.meta(rec), target))
    return pairs


def level_calibration(model, tokenizer, fmt, cfg, records, level_pass: dict, n: int) -> dict:
    """``n`` meta samples per record: the mean predicted pass rate per level (``per_level``),
    Pearson ``r`` of each record's mean with its level's rate in ``level_pass`` (nan when the
    predictions are constant), ``gap`` = level 1 minus level 6, and the share ``parsed`` of meta
    answers with a pass rate."""
    ros, preds = sample_meta(model, tokenizer, records, fmt, cfg, n)
    by = predictions_by_prompt(ros, preds, len(records), cfg.meta.k)
    parsed = [(rec["level"], float(np.mean(b["pass"]))) for rec, b in zip(records, by) if b["pass"]]
    xs = [x for _, x in parsed]
    ys = [level_pass[lv] for lv, _ in parsed]
    means = mean_by_level([lv for lv, _ in parsed], xs)
    r = calibration(xs, ys)["corr"]
    return {"r": r, "gap": means.get(1, 0.0) - means.get(6, 0.0), "per_level": means,
            "parsed": sum(p.pass_rate is not None for p in preds) / max(len(preds), 1)}
