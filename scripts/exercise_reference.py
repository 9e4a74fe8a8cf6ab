"""The experiment exercises' multi-seed reference: ex5 (meta credit) and ex6 (gate threshold),
each setting trained with several seeds, so that a student's one run can be read against a spread.

Each exercise trains its reference switch and the solution's switch with the exercise's own
settings (``exercises.EXPERIMENT_BASE``; ex6 adds its gating flags, as the notebook does), once per
seed (``seed=N``, which also redraws the training prompts and evaluation samples), and measures
the metrics that the exercise's check cell prints (``exercises.experiment_table``). It writes, per
exercise, ``<name>.json`` (every value per seed, mean ± sd, the command, the commit) and
``<name>.md`` (the table) into ``notebooks/exercises/reference/``. Runs go to
``runs/exercise_reference/`` and finished ones are reused.

    OMP_NUM_THREADS=1 nice -n 19 python scripts/exercise_reference.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

from masa_lite.reproduce_seeds import mean_sd
from masa_lite.teach import exercises

# name → (switch, the reference's value, the solution's value, the base overrides of the notebook)
EXERCISES = {
    "ex5_meta_credit": ("meta.credit", "rollout", "field", exercises.EXPERIMENT_BASE),
    "ex6_gate_threshold": ("efficient.gate_std", 0.1, 0.3, exercises.EXPERIMENT_BASE + [
        "efficient.gating=true", "efficient.warmup_steps=2", "efficient.gate_margin=0.25"]),
}
OUT_MD = Path(__file__).resolve().parent.parent / "notebooks" / "exercises" / "reference"


ZERO_VARIANCE = "zero-variance groups (train, mean)"


def zero_variance(run: dict) -> float | None:
    vals = [h["zero_variance_frac"] for h in run["history"]
            if h.get("kind") == "train" and h.get("zero_variance_frac") is not None]
    return sum(vals) / len(vals) if vals else None


def run_seed(name: str, seed: int, runs: Path) -> dict:
    """Train the reference and the solution's setting of one exercise with one seed; their
    metrics as {label: {"reference", "experiment", "difference"}} and the two runs' seconds."""
    switch, ref_value, exp_value, base = EXERCISES[name]
    base = list(base) + [f"seed={seed}"]
    folder = runs / name / f"seed{seed}"
    ref = exercises.train_experiment({switch: ref_value}, folder / "reference", base=base)
    exp = exercises.train_experiment({switch: exp_value}, folder / "experiment", base=base, reference=ref)
    table = exercises.experiment_table(ref, exp)
    # the base rate a gate's precision must beat: groups that had one reward for all, among the
    # prompts rolled out (a gated prompt is rolled out only when audited)
    table.append((ZERO_VARIANCE, zero_variance(ref), zero_variance(exp)))
    rows = {label: {"reference": a, "experiment": b,
                    "difference": None if a is None or b is None else b - a}
            for label, a, b in table}
    return {"metrics": rows, "seconds": {"reference": ref["seconds"], "experiment": exp["seconds"]}}


def fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean']:+.3f}" if stat["sd"] is None else f"{stat['mean']:.3f} ± {stat['sd']:.3f}"


def markdown(result: dict) -> str:
    sw, ref_v, exp_v = result["switch"], result["reference_value"], result["experiment_value"]
    lines = [f"# {result['exercise']}: `{sw}` = {ref_v} (reference) vs {exp_v} (the solution)", "",
             f"Mean ± sd over seeds {', '.join(map(str, result['seeds']))} (sample sd); the difference is "
             "the solution's run minus the reference's, seed by seed. \"higher\" counts the seeds in "
             "which the solution's value was higher.", "",
             "| metric | reference | solution | difference | higher | per seed (reference → solution) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for label, s in result["summary"].items():
        per = "; ".join("–" if a is None or b is None else f"{a:.3f} → {b:.3f}"
                        for a, b in zip(s["reference"]["values_by_seed"], s["experiment"]["values_by_seed"]))
        diff = s["difference"]
        lines.append(f"| {label} | {fmt(s['reference'])} | {fmt(s['experiment'])} | "
                     f"{fmt(diff)} | {s['higher']}/{diff['n']} | {per} |")
    lines += ["", f"Command: `{result['command']}` (commit {result['commit'] or 'unknown'}, "
              f"{result['date']}; {result['minutes']:.1f} minutes of training in all, "
              f"{result['machine']}).", ""]
    return "\n".join(lines)


def summarise(name: str, per_seed: dict[int, dict]) -> dict:
    labels = list(next(iter(per_seed.values()))["metrics"])
    summary = {}
    for label in labels:
        cols = {k: [per_seed[s]["metrics"].get(label, {}).get(k) for s in per_seed]
                for k in ("reference", "experiment", "difference")}
        summary[label] = {k: {**mean_sd(v), "values_by_seed": v} for k, v in cols.items()}
        summary[label]["higher"] = sum(1 for d in cols["difference"] if d is not None and d > 0)
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--exercises", nargs="+", choices=list(EXERCISES), default=list(EXERCISES))
    ap.add_argument("--runs", type=Path, default=Path("runs/exercise_reference"))
    ap.add_argument("--out", type=Path, default=OUT_MD)
    ap.add_argument("--machine", default="2 CPU cores shared with other jobs, nice 19, OMP_NUM_THREADS=1",
                    help="how the runs were made, for the record (their seconds depend on it)")
    args = ap.parse_args(argv)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.exercises:
        t0 = time.time()
        per_seed = {s: run_seed(name, s, args.runs) for s in args.seeds}
        switch, ref_value, exp_value, base = EXERCISES[name]
        result = {"exercise": name, "switch": switch, "reference_value": ref_value,
                  "experiment_value": exp_value, "base_overrides": list(base), "seeds": args.seeds,
                  "command": "python scripts/exercise_reference.py --seeds "
                             + " ".join(map(str, args.seeds)) + f" --exercises {name}",
                  "commit": commit, "date": datetime.date.today().isoformat(),
                  "minutes": sum(sum(r["seconds"].values()) for r in per_seed.values()) / 60,
                  "wall_minutes": (time.time() - t0) / 60, "machine": args.machine,
                  "summary": summarise(name, per_seed),
                  "per_seed": {str(s): r for s, r in per_seed.items()}}
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / f"{name}.md").write_text(markdown(result))
        print(markdown(result))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
