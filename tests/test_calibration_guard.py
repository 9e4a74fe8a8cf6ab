"""Guard: the meta path's supervised route to calibration must keep working.

The one setting that has been measured to calibrate the bundled model's meta path is Expert SFT
on noisy per-problem targets with a gentle step (``efficient.sft_lr=2e-3``, 32 targets a step;
docs/meta-awareness-study.md, Finding 1: r = 0.83 ± 0.01 over 3 seeds). This runs that route —
the trainer's own functions through :mod:`masa_lite.study.probe`: ``sample_meta``, ``expert_target``, ``supervised.sft_step`` on the meta
path's own adapter (``meta.adapter=separate``) — for 40 steps, seeded, and fails if the mean
predicted pass rate stops following difficulty. Targets are what the trainer sees: the count of
correct answers among K samples, drawn at the level's pass rate from the model card."""

import json
import random

import pytest

from masa_lite.config import load_config
from masa_lite.efficient.expert_sft import sft_optimizer
from masa_lite.grpo.policy import setup
from masa_lite.study.probe import binomial_rate, level_calibration, probe_pairs
from masa_lite.meta.scoring import sample_meta
from masa_lite.models import BUNDLED_MODELS, META_ADAPTER, adapter_parameters, meta_adapter
from masa_lite.supervised import sft_step
from masa_lite.task.prompts import prompt_format_for
from masa_lite.task.records import eval_records, training_pool

CARD = BUNDLED_MODELS["masa-tiny"] / "card.json"
pytestmark = pytest.mark.skipif(not CARD.exists(), reason="the bundled model has not been built")


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
    before = level_calibration(model, tok, fmt, cfg, held, level_pass, cfg.meta.eval_group_size)
    for _ in range(40):
        batch = rng.sample(pool, 32)
        ros, _ = sample_meta(model, tok, batch, fmt, cfg, 1)
        pairs = probe_pairs(batch, ros, fmt, cfg,
                            lambda level: binomial_rate(level_pass[level], cfg.meta.k, rng),
                            level_len.__getitem__, keep_length_if_unsolved=True)
        with meta_adapter(model):
            sft_step(model, tok, opt, pairs, device)
    after = level_calibration(model, tok, fmt, cfg, held, level_pass, cfg.meta.eval_group_size)
    print("before", before, "after", after)
    assert abs(before["r"]) < 0.3 and before["gap"] < 0.15  # the base model is not calibrated
    assert after["parsed"] >= 0.8, after  # the answer format survives
    assert after["r"] >= 0.5 and after["gap"] >= 0.2, after  # the slope is learned
