"""Rollout speed: the compact engine against transformers ``generate``, side by side in one run.

The workload is one GRPO step's solution rollouts on the tiny task: ``--prompts`` training
problems of mixed levels (1–6) × ``--group`` rollouts = 128 rows by default, natural lengths
(each row stops at its own EOS, at most ``--max-new-tokens``), temperature 1, the bundled
masa-tiny model with a fresh LoRA adapter active, exactly as ``masa_lite.grpo.policy.setup`` builds it
for training. Each repeat runs both engines on the same prompts from the same torch seed (the
order alternates between repeats); the engines draw different random streams, so their lengths
differ a little and the fair measure is *effective* tokens per second: generated tokens (EOS
included) / wall seconds.

    OMP_NUM_THREADS=1 python benchmarks/rollout_speed.py --repeats 5 --out rollout.json

Prints measured numbers only; ``--out`` writes every repeat as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

if importlib.util.find_spec("masa_lite") is None:  # run from a checkout without installing it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENGINES = ("generate", "compact")


def build(opts):
    """The training model (LoRA adapter active) and ``prompts × group`` rows of real prompts."""
    from masa_lite.task import synthetic
    from masa_lite.config import load_config
    from masa_lite.grpo.policy import setup
    from masa_lite.task.prompts import prompt_format_for

    cfg = load_config("tiny", overrides=[f"model.device={opts.device}", f"seed={opts.seed}"])
    model, tok, _, _ = setup(cfg)
    fmt = prompt_format_for(cfg.model.name, tok)
    probs = synthetic.generate_problems(opts.prompts, levels=tuple(range(1, 7)), seed=opts.seed,
                                    split="train")
    return model, tok, [fmt.solution(p.to_record(), None) for p in probs]


def run_once(model, tok, prompts, engine: str, seed: int, opts) -> dict:
    from masa_lite.grpo.sampling import generate_rollouts

    device = next(model.parameters()).device
    seeds = list(range(seed, seed + len(prompts))) if opts.row_seeded else None
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    ros = generate_rollouts(model, tok, prompts, n=opts.group, max_new_tokens=opts.max_new_tokens,
                            temperature=1.0, batch_size=opts.batch_size, seeds=seeds, engine=engine)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall = time.perf_counter() - t0
    lengths = [r.length for r in ros]
    # row-steps a decode loop computes: generate runs every row of a chunk to the chunk's longest
    # row; the compact engine runs each row for its own length
    chunks = [lengths[i:i + opts.batch_size] for i in range(0, len(lengths), opts.batch_size)]
    computed = (sum(len(c) * max(c) for c in chunks) if engine == "generate" else sum(lengths))
    return {"engine": engine, "seconds": wall, "tokens": sum(lengths),
            "tokens_per_s": sum(lengths) / wall, "len_min": min(lengths), "len_max": max(lengths),
            "len_mean": sum(lengths) / len(lengths), "row_steps_computed": computed,
            "eos_frac": sum(r.stop_reason == "eos" for r in ros) / len(ros)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=16)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs of each engine first")
    p.add_argument("--row-seeded", action="store_true", help="one random stream per row")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    opts = p.parse_args(argv)
    model, tok, prompts = build(opts)
    for i in range(opts.warmup):
        for engine in ENGINES:
            run_once(model, tok, prompts, engine, 1000 + i, opts)
    runs = []
    for rep in range(opts.repeats):
        order = ENGINES if rep % 2 == 0 else ENGINES[::-1]
        for engine in order:
            runs.append({"repeat": rep, **run_once(model, tok, prompts, engine, opts.seed + rep, opts)})
    summary = {}
    for engine in ENGINES:
        mine = [r for r in runs if r["engine"] == engine]
        summary[engine] = {"tokens_per_s": sum(r["tokens"] for r in mine) / sum(r["seconds"] for r in mine),
                           "median_tokens_per_s": statistics.median(r["tokens_per_s"] for r in mine)}
    ratios = [c["tokens_per_s"] / g["tokens_per_s"] for c, g in
              zip(*([r for r in runs if r["engine"] == e] for e in ("compact", "generate")))]
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "device": str(next(model.parameters()).device), "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "rows": opts.prompts * opts.group,
              "batch_size": opts.batch_size, "row_seeded": opts.row_seeded,
              "torch": torch.__version__, "runs": runs, "summary": summary,
              "ratio_compact_over_generate": summary["compact"]["tokens_per_s"]
              / summary["generate"]["tokens_per_s"], "ratio_per_repeat": ratios}
    print(f"{result['date']}  {result['device']} ({result['threads']} threads)  "
          f"{result['rows']} rows ({opts.prompts} prompts x {opts.group}), batch {opts.batch_size}, "
          f"max {opts.max_new_tokens} new tokens, T=1{', row-seeded' if opts.row_seeded else ''}")
    for r in runs:
        print(f"  repeat {r['repeat']} {r['engine']:8s} {r['seconds']:6.2f} s  {r['tokens']:6d} tok  "
              f"{r['tokens_per_s']:7.0f} tok/s  lengths {r['len_min']}-{r['len_max']} "
              f"(mean {r['len_mean']:.0f})  row-steps computed {r['row_steps_computed']}")
    for engine in ENGINES:
        print(f"{engine:8s}: {summary[engine]['tokens_per_s']:.0f} tok/s (all repeats), "
              f"median {summary[engine]['median_tokens_per_s']:.0f}")
    print(f"ratio compact / generate: {result['ratio_compact_over_generate']:.2f} "
          f"(per repeat: {', '.join(f'{x:.2f}' for x in ratios)})")
    if opts.out is not None:
        opts.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
