"""Guard: the meta path's supervised route to calibration must keep working.

The one setting that has been measured to calibrate the bundled model's meta path is Expert SFT
on noisy per-problem targets with a gentle step (``efficient.sft_lr=2e-3``, 32 targets a step;
docs/meta-awareness-study.md, Finding 1: r = 0.83 ± 0.01 over 3 seeds). This runs that route —
the trainer's own functions: ``sample_meta``, ``expert_target``, ``supervised.sft_step`` on the meta
path's own adapter (``meta.adapter=separate``) — for 40 steps, seeded, and fails if the mean
predicted pass rate stops following difficulty. Targets are what the trainer sees: the count of
correct answers among K samples, drawn at the level's pass rate from the model card."""

import json
import random

import numpy as np
import pytest

from masa_lite.config import load_config
from masa_lite.efficient.expert_sft import expert_target, sft_optimizer
from masa_lite.grpo.policy import setup
from masa_lite.meta.scoring import predictions_by_prompt, sample_meta
from masa_lite.models import BUNDLED_MODELS, META_ADAPTER, adapter_parameters, meta_adapter
from masa_lite.supervised import sft_step
from masa_lite.task.prompts import prompt_format_for
from masa_lite.task.records import eval_records, training_pool

CARD = BUNDLED_MODELS["masa-tiny"] / "card.json"
pytestmark = pytest.mark.skipif(not CARD.exists(), reason="the bundled model has not been built")


def _measure(model, tok, fmt, cfg, held, level_pass):
    ros, preds = sample_meta(model, tok, held, fmt, cfg, cfg.meta.eval_group_size)
    by = predictions_by_prompt(ros, preds, len(held), cfg.meta.k)
    xs, ys, per_level = [], [], {}
    for rec, b in zip(held, by):
        if b["pass"]:
            xs.append(float(np.mean(b["pass"])))
            ys.append(level_pass[rec["level"]])
            per_level.setdefault(rec["level"], []).append(xs[-1])
    parsed = sum(p.pass_rate is not None for p in preds) / len(preds)
    means = {lv: float(np.mean(v)) for lv, v in per_level.items()}
    return {"r": float(np.corrcoef(xs, ys)[0, 1]) if np.std(xs) > 0 else 0.0, "parsed": parsed,
            "gap": means.get(1, 0.0) - means.get(6, 0.0), "per_level": means}


def test_expert_sft_teaches_the_meta_adapter_the_difficulty_slope():
    levels = json.loads(CARD.read_text())["metrics"]["levels"]
    level_pass = {int(lv): m["pass@1"] for lv, m in levels.items()}
    level_len = {int(lv): m["len_correct"] for lv, m in levels.items()}
    cfg = load_config("tiny", overrides=["meta.enabled=true", "meta.adapter=separate",
                                         "efficient.expert_sft=true", "efficient.sft_lr=2e-3",
                                         "data.eval_per_level=10", "seed=0"])
    model, tok, _, _ = setup(cfg)
    fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
    pool, held = training_pool(cfg), eval_records(cfg)
    opt = sft_optimizer(adapter_parameters(model, META_ADAPTER), cfg)
    device = next(model.parameters()).device
    rng = random.Random(0)
    before = _measure(model, tok, fmt, cfg, held, level_pass)
    for _ in range(40):
        batch = rng.sample(pool, 32)
        ros, _ = sample_meta(model, tok, batch, fmt, cfg, 1)
        pairs = []
        for rec, ro in zip(batch, ros):
            correct = sum(rng.random() < level_pass[rec["level"]] for _ in range(cfg.meta.k))
            target = expert_target(ro.text, correct / cfg.meta.k, [level_len[rec["level"]]],
                                   k=cfg.meta.k, keep_length_if_unsolved=True)
            if target is not None:
                pairs.append((fmt.meta(rec), target))
        with meta_adapter(model):
            sft_step(model, tok, opt, pairs, device)
    after = _measure(model, tok, fmt, cfg, held, level_pass)
    print("before", before, "after", after)
    assert abs(before["r"]) < 0.3 and before["gap"] < 0.15  # the base model is not calibrated
    assert after["parsed"] >= 0.8, after  # the answer format survives
    assert after["r"] >= 0.5 and after["gap"] >= 0.2, after  # the slope is learned
