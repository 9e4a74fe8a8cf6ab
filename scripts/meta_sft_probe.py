"""Can the tiny model's meta path represent per-problem difficulty at all? A supervised probe.

Trains the LoRA adapter with Expert-SFT steps (masa.sft_step) on meta answers whose pass rate is
the base model's measured pass rate of the problem's *level* (from its model card) and whose
length is a per-level constant, then reports the mean predicted pass rate per level of held-out
problems and its correlation with those targets. ``--noisy`` replaces each target by what the
trainer sees: the count of correct answers among K samples, Binomial(K, level pass rate).
Measured 2026-11-29, 40 steps, seeds 0–2 (docs/meta-awareness-study.md, Finding 1): clean
targets at lr 5e-3 r = 0.69 ± 0.15 with the answer format breaking in some seeds; noisy targets
at lr 5e-3 0.37 ± 0.18, at lr 2e-3 0.68 ± 0.18 (16 a step) and 0.83 ± 0.01 (32 a step).

    python scripts/meta_sft_probe.py --noisy --lr 2e-3 --batch 32 --steps 40 --seed 0
"""

import argparse
import random

import torch

from masa_lite import supervised
from masa_lite.config import load_config
from masa_lite.grpo.policy import setup
from masa_lite.task.records import eval_records, training_pool
from masa_lite.task.prompts import prompt_format_for
from masa_lite.study.probe import binomial_rate, level_calibration, probe_pairs
from masa_lite.meta.scoring import sample_meta

LEVEL_PASS = {1: .89, 2: .69, 3: .47, 4: .37, 5: .23, 6: .18}  # masa-tiny's card


def measure(model, tok, fmt, cfg, held, tag):
    m = level_calibration(model, tok, fmt, cfg, held, LEVEL_PASS, 4)
    means = {lv: round(v, 2) for lv, v in m["per_level"].items()}
    print(f"{tag}: mean p̂ per level {means}; r with the per-level targets "
          f"{m['r']:.2f}; pass rate parsed in {m['parsed']:.0%}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--noisy", action="store_true",
                    help="targets as the trainer sees them: the count of K sampled solutions that "
                         "are correct, Binomial(K, level pass rate), instead of the level's rate")
    ap.add_argument("--values-only", action="store_true",
                    help="label only the pass_rate and solution_length values of each target "
                         "(efficient.sft_labels=values), not the whole meta answer")
    ap.add_argument("--level-pass", default=None,
                    help="comma-separated pass rates of levels 1..6 to use as targets instead of "
                         "the model card's, e.g. the flatter curve GRPO leaves after 50 steps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.level_pass:
        rates = [float(x) for x in args.level_pass.split(",")]
        if len(rates) != 6:
            ap.error("--level-pass needs 6 comma-separated rates, one per level")
        LEVEL_PASS.update(zip(range(1, 7), rates))
    cfg = load_config("tiny")
    model, tok, _, _ = setup(cfg)
    fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
    pool, held = training_pool(cfg), eval_records(cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    measure(model, tok, fmt, cfg, held, "base")
    for step in range(1, args.steps + 1):
        batch = rng.sample(pool, args.batch)
        ros, _ = sample_meta(model, tok, batch, fmt, cfg, 1)
        def target_rate(level):
            return binomial_rate(LEVEL_PASS[level], cfg.meta.k, rng) if args.noisy else LEVEL_PASS[level]

        pairs = probe_pairs(batch, ros, fmt, cfg, target_rate, lambda level: 40 + 15 * level)
        if not pairs:
            continue
        loss = supervised.sft_step(model, tok, opt, pairs, next(model.parameters()).device,
                                   label_fields=("pass", "length") if args.values_only else None)
        if step % 10 == 0:
            measure(model, tok, fmt, cfg, held, f"step {step} (loss {loss:.3f})")


if __name__ == "__main__":
    main()
