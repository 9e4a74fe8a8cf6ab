"""Could the gate and the cutoff reach the issue's targets on this task? (docs/meta-awareness-study.md,
Finding 11)

For each run folder (``masa-lite train`` output with the meta path) at its last evaluation:

* **gate**: precision / recall / share gated as the margin is swept
  (:func:`masa_lite.study.frontier.gate_frontier`), for two predictors of a held-out problem's
  pass rate: the meta path's own (``calibration.jsonl``), and the *other runs*: the mean measured
  pass rate of the other run folders given on the same problems (per-problem knowledge that
  trained policies share, as in Finding 8);
* **cutoff** (with ``--samples N``): the run's step checkpoint samples 2N solutions per held-out
  problem; the first N give the problem's measured mean correct length, the second N are the
  rollouts the cutoff decides on (:func:`masa_lite.study.frontier.cutoff_frontier`), for two
  predicted lengths: the meta path's own, and that measured one;

    python scripts/control_frontier.py runs/eff/*/ --samples 8
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from masa_lite.config import load_config
from masa_lite.study.frontier import cutoff_frontier, gate_frontier, other_runs_pass_rates, reference_split
from masa_lite.files import read_jsonl
from masa_lite.reproduce import pairs_at


def _fmt(x) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:.2f}"


def gate_rows(pairs: dict[Path, list[dict]], run: Path) -> dict[str, list[dict]]:
    """The gate frontier of ``run``'s last evaluation for its meta path and for the other runs."""
    last = pairs_at(pairs[run])
    finals = {r: {p["id"]: p["actual_pass_rate"] for p in pairs_at(pairs[r])} for r in pairs}
    ref = other_runs_pass_rates(finals, run)
    at = [p for p in last if p["id"] in ref] if len(pairs) > 1 else last
    actual = [p["actual_pass_rate"] for p in at]
    out = {"meta path": gate_frontier([p["pred_pass_rate"] for p in at], actual)}
    if len(pairs) > 1:
        out["other runs"] = gate_frontier([ref[p["id"]] for p in at], actual)
    return out


def sample_lengths(run: Path, n: int, seed: int = 0, base: bool = False):
    """(records' ids, rollouts, config) from ``run``'s checkpoint at its last evaluation (``base``:
    from its base model, no adapter): 2n solutions per held-out problem, scored like the run's
    evaluation."""
    from masa_lite.grpo.rewards import score_rollouts
    from masa_lite.grpo.sampling import generate_rollouts
    from masa_lite.adapters import load_trained_adapters
    from masa_lite.models import load_model_and_tokenizer
    from masa_lite.task.prompts import prompt_format_for
    from masa_lite.task.records import eval_records

    cfg = load_config(path=run / "config.yaml")
    model, tok = load_model_and_tokenizer(cfg.model.name, device="cpu", dtype="fp32")
    if not base:
        step = pairs_at(read_jsonl(run / "calibration.jsonl"))[0]["step"]
        ckpt = run / f"ckpt-{step:06d}" / "adapter"
        if not ckpt.exists():
            raise FileNotFoundError(f"{ckpt} is missing: the cutoff frontier samples from the checkpoint "
                                    f"of the last evaluation (step {step}); keep it (save_every) or drop "
                                    f"--samples")
        model = load_trained_adapters(model, ckpt)
    model.eval()
    fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
    records = eval_records(cfg)
    torch.manual_seed(seed)
    rollouts = generate_rollouts(model, tok, [fmt.solution(r, None) for r in records], n=2 * n,
                                 max_new_tokens=cfg.rollout.max_new_tokens,
                                 temperature=cfg.rollout.temperature, batch_size=cfg.rollout.batch_size,
                                 engine=cfg.rollout.engine)
    score_rollouts(rollouts, records, cfg)
    return [r["id"] for r in records], rollouts, cfg


def cutoff_rows(sampled, pairs: list[dict], n: int) -> dict[str, list[dict]]:
    """The cutoff frontier on ``sampled`` (:func:`sample_lengths`) for the meta path's predicted
    length and for the measured one."""
    ids, rollouts, cfg = sampled
    pred = {p["id"]: p["pred_length"] for p in pairs_at(pairs)}
    lengths, correct, meta_ref, measured_ref = [], [], [], []
    for i, pid in enumerate(ids):
        group = rollouts[2 * n * i:2 * n * (i + 1)]
        decided, ok, ref = reference_split([r.length for r in group], [r.correct for r in group], n)
        lengths += decided
        correct += ok
        meta_ref += [pred.get(pid)] * n
        measured_ref += [ref] * n
    floor = cfg.efficient.cutoff_floor
    return {"meta path": cutoff_frontier(lengths, correct, meta_ref, floor=floor),
            "measured": cutoff_frontier(lengths, correct, measured_ref, floor=floor)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--samples", type=int, default=0,
                    help="solutions per half for the cutoff frontier (0: gate only)")
    args = ap.parse_args(argv)
    pairs = {run: read_jsonl(run / "calibration.jsonl") for run in args.runs}
    print("| run | predictor | margin | gated | precision | recall | F1 | zero-variance share |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        for who, rows in gate_rows(pairs, run).items():
            for r in rows:
                print(f"| {run} | {who} | {r['margin']} | {_fmt(r['gated'])} | {_fmt(r['precision'])} | "
                      f"{_fmt(r['recall'])} | {_fmt(r['f1'])} | {_fmt(r['base_rate'])} |")
    if not args.samples:
        return
    sampled = {run: sample_lengths(run, args.samples) for run in args.runs}
    print("\n| run | predicted length | factor | cut | precision | recall | F1 | wrong share |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        for who, rows in cutoff_rows(sampled[run], pairs[run], args.samples).items():
            for r in rows:
                print(f"| {run} | {who} | {r['factor']} | {_fmt(r['cut'])} | {_fmt(r['precision'])} | "
                      f"{_fmt(r['recall'])} | {_fmt(r['f1'])} | {_fmt(r['base_rate'])} |")


if __name__ == "__main__":
    main()
