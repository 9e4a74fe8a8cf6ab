"""Notion feed-in on the committed cpu runs: 07's reference figure (``figures/feed_in_seeds.png``).

For each seed's final MASA and MASA-efficient checkpoints, held-out pass@1 on the runs' own
evaluation set (120 problems × ``data.eval_samples``, the trainer's seeds) three ways:

* **no feed-in** — the trainer's last evaluation, recomputed (the script checks it matches the
  run's ``history.jsonl``, so the adapters loaded are the ones that were evaluated);
* **predicted notions** — the meta path runs first and its most-predicted notions go into the
  solution prompt (paper §4; ``masa-lite eval --feed-in``);
* **true notions** — the problem's own notions go in instead: an upper bound on what feed-in could
  give this model, which tells "the model cannot use a hint" apart from "the predicted notions are
  wrong";
* and the base model (the same network, adapters off) without and with the true notions: could it
  use a hint before RL?

The differences are paired (same problems, same sampling seed), so each seed's standard error is
that of the per-problem differences.

    python scripts/feed_in_reference.py --runs runs/cpu3_final --seeds 0 1 2 --out figures

``--runs``: the committed cpu run's checkpoints (``masa-lite reproduce --profile cpu --seeds 0 1 2``,
the command in ``figures/provenance.json``; checkpoints are not committed, only their histories).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from masa_lite.adapters import load_trained_adapters
from masa_lite.checkpoint import latest_checkpoint
from masa_lite.config import load_config
from masa_lite.evaluation import calibration_pairs, evaluate_policy, evaluate_run
from masa_lite.history import eval_records as history_evals
from masa_lite.history import read_history
from masa_lite.models import load_model_and_tokenizer
from masa_lite.reproduce import run_folder
from masa_lite.stats import paired_difference
from masa_lite.task import synthetic
from masa_lite.task.prompts import prompt_format_for
from masa_lite.task.records import eval_records
from masa_lite.teach import plot_kit, plots_efficient

METHODS = ("MASA", "MASA-efficient")
CONDITIONS = ("no feed-in", "predicted notions", "true notions")


def per_problem_pass(pairs: list[dict]) -> list[float]:
    return [p["actual_pass_rate"] for p in pairs]


def paired(base: list[float], other: list[float]) -> dict:
    """Mean change other − base over the same problems, and its standard error."""
    diff, se = paired_difference(base, other)
    return {"diff": diff, "se": se}


def evaluate_one(run_dir: Path, base_model: bool) -> dict:
    """The three conditions for one run's last checkpoint; with ``base_model``, also the base
    model's two (the same network in every method of a seed, so measured with the first only)."""
    cfg = load_config(path=run_dir / "config.yaml")
    ckpt = latest_checkpoint(run_dir)
    torch.manual_seed(cfg.seed)
    model, tok = load_model_and_tokenizer(cfg.model.name, device="cpu", dtype=cfg.model.dtype)
    model = load_trained_adapters(model, ckpt / "adapter")
    fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
    records = eval_records(cfg)
    step = cfg.grpo.steps
    plain, plain_pairs = evaluate_run(model, tok, fmt, records, cfg, step=step, wall=0.0)
    logged = history_evals(read_history(run_dir))[-1]["pass@1"]
    if abs(plain["pass@1"] - logged) > 1e-9:
        raise RuntimeError(f"{run_dir}: recomputed pass@1 {plain['pass@1']} ≠ logged {logged}")
    fed, fed_pairs = evaluate_run(model, tok, fmt, records, cfg, step=step, wall=0.0, feed_in=True)
    true = solve(model, tok, fmt, records, cfg, [r["notions"] for r in records])
    base = per_problem_pass(plain_pairs)
    out = {"checkpoint": ckpt.name, "problems": len(records), "samples": cfg.data.eval_samples,
           "pass@1": {"no feed-in": plain["pass@1"], "predicted notions": fed["pass@1"],
                      "true notions": true["pass@1"]},
           "per_level": {"no feed-in": plain.get("per_level"), "predicted notions": fed.get("per_level"),
                         "true notions": true.get("per_level")},
           "paired": {"predicted notions": paired(base, per_problem_pass(fed_pairs)),
                      "true notions": paired(base, true["pass"])}}
    if not base_model:
        return out
    with model.disable_adapter():  # the base model: can it use a true hint at all?
        plain0 = solve(model, tok, fmt, records, cfg, None)
        true0 = solve(model, tok, fmt, records, cfg, [r["notions"] for r in records])
    out["base"] = {"pass@1": {"no feed-in": plain0["pass@1"], "true notions": true0["pass@1"]},
                   "paired": {"true notions": paired(plain0["pass"], true0["pass"])}}
    return out


def solve(model, tok, fmt, records, cfg, notions) -> dict:
    """pass@1 as the trainer evaluates it, with ``notions`` (one list per problem, or None) in the
    solution prompt; ``pass``: each problem's pass rate."""
    res = evaluate_policy(model, tok, records, fmt.solution, n_samples=cfg.data.eval_samples,
                          max_new_tokens=cfg.rollout.max_new_tokens, batch_size=cfg.rollout.batch_size,
                          ks=(1,), seed=cfg.seed, notions=notions, notion_vocab=synthetic.NOTIONS, cfg=cfg)
    res["pass"] = per_problem_pass(calibration_pairs(res.pop("per_problem"), None, 0))
    return res


def summarise(result: dict) -> dict:
    """Means over the seeds, rounded to 3 decimals: each group's pass@1 per condition and its paired
    change against no feed-in (the base model's from the first method's runs: the same network)."""
    def mean(values):
        return round(sum(values) / len(values), 3)

    first = next(iter(result["methods"].values()))
    groups = {"base model": [s["base"] for s in first.values()]}
    groups.update({m: list(seeds.values()) for m, seeds in result["methods"].items()})
    return {name: {"pass@1": {c: mean([s["pass@1"][c] for s in runs]) for c in runs[0]["pass@1"]},
                   "change": {c: mean([s["paired"][c]["diff"] for s in runs]) for c in runs[0]["paired"]},
                   "seeds_lower": {c: sum(s["paired"][c]["diff"] < 0 for s in runs) for c in runs[0]["paired"]}}
            for name, runs in groups.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="runs/cpu3_final", help="a `reproduce --seeds` output folder")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="figures")
    args = ap.parse_args()
    result = {"command": f"python scripts/feed_in_reference.py --runs {args.runs} --seeds "
                         f"{' '.join(map(str, args.seeds))} --out {args.out}",
              "seeds": args.seeds, "methods": {}}
    for name in METHODS:
        result["methods"][name] = {}
        for seed in args.seeds:
            one = evaluate_one(Path(args.runs) / f"seed{seed}" / run_folder(name), name == METHODS[0])
            result["methods"][name][str(seed)] = one
            for who, res in ((name, one), ("  base model", one.get("base"))):
                if res is None:
                    continue
                print(who, seed, {k: round(v, 3) for k, v in res["pass@1"].items()},
                      {k: f"{v['diff']:+.3f} ± {v['se']:.3f}" for k, v in res["paired"].items()},
                      flush=True)
    result["mean"] = summarise(result)
    out = Path(args.out)
    (out / "feed_in.json").write_text(json.dumps(result, indent=1) + "\n")
    print(plot_kit.save(figure(result), out / "feed_in_seeds.png"))
    print(json.dumps(result["mean"], indent=1))


def figure(result: dict):
    """The reference figure: pass@1 per group and condition, mean of the seeds and each seed."""
    first = result["methods"][METHODS[0]]  # the base model is the same network in every run
    by_method = {"base model": {c: [s["base"]["pass@1"][c] for s in first.values()]
                                for c in ("no feed-in", "true notions")}}
    by_method.update({m: {c: [s["pass@1"][c] for s in seeds.values()] for c in CONDITIONS}
                      for m, seeds in result["methods"].items()})
    return plots_efficient.feed_in_over_seeds(by_method, CONDITIONS)


if __name__ == "__main__":
    main()
