"""How close is a run's pass-rate calibration to what is reachable? (docs/meta-awareness-study.md, Finding 8)

For the first and the last evaluation of each run folder (``masa-lite train`` output) it prints:

* the meta path's pass-rate r (the yardstick, unchanged);
* the *level-oracle* r: a predictor that knows each level's mean measured pass rate and nothing
  about single problems (masa_lite/meta/ceiling.py);
* the *noise ceiling*: the r of a predictor that knows every problem's true pass rate, given the
  binomial noise of the measured one (masa_lite/meta/ceiling.py);
* on the synthetic task, the *persona* r: each problem's pass rate under the noisy solver the base
  model imitates (``persona.Persona``), simulated ``--draws`` times per problem. It says how much
  of the per-problem structure is the task's own and survives training;
* at the last evaluation, the *other runs* r: the mean final pass rate of the *other* runs given
  on the same held-out problems (other seeds, other settings) as the predictor. It measures the
  per-problem difficulty that trained policies share, beyond the level.

    python scripts/calibration_ceiling.py runs/study/*/seed*
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from masa_lite.config import load_config
from masa_lite.files import read_jsonl
from masa_lite.meta.ceiling import level_oracle_corr, noise_ceiling_corr
from masa_lite.reproduce import pairs_at
from masa_lite.stats import calibration
from masa_lite.study.frontier import other_runs_pass_rates
from masa_lite.task import synthetic


def persona_pass_rates(n_per_level: int, draws: int, seed: int = 0) -> dict[str, float]:
    """{problem id: share of ``draws`` persona solutions that reach the answer} on the test split."""
    rng = random.Random(seed)
    rates = {}
    for p in synthetic.task_splits(n_per_level=n_per_level, seed=0)["test"]:
        ok = sum(str(synthetic.write_solution(p.start, p.chain, rng=rng)[1]) == p.answer
                 for _ in range(draws))
        rates[p.id] = ok / draws
    return rates


def final_pass_rates(pairs: list[dict]) -> dict[str, float]:
    return {p["id"]: p["actual_pass_rate"] for p in pairs_at(pairs)}


def other_runs_corr(run: Path, finals: dict[Path, dict[str, float]]) -> float:
    """r between this run's final pass rates and the mean of the other runs' on the same problems."""
    ref = other_runs_pass_rates(finals, run)
    return calibration(list(ref.values()), [finals[run][i] for i in ref])["corr"]


def rows(pairs: list[dict], persona: dict[str, float] | None, n_samples: int, other_r: float):
    steps = sorted({p["step"] for p in pairs})
    for step in (steps[0], steps[-1]):
        at = pairs_at(pairs, step)
        actual = [p["actual_pass_rate"] for p in at]
        both = [(p["pred_pass_rate"], p["actual_pass_rate"]) for p in at if p["pred_pass_rate"] is not None]
        model_r = calibration(*zip(*both))["corr"] if both else float("nan")
        pers = (calibration([persona[p["id"]] for p in at], actual)["corr"]
                if persona and all(p["id"] in persona for p in at) else float("nan"))
        yield (step, len(at), model_r, level_oracle_corr([p["level"] for p in at], actual),
               noise_ceiling_corr(actual, n_samples), pers,
               other_r if step == steps[-1] else float("nan"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--draws", type=int, default=300, help="persona solutions per problem")
    args = ap.parse_args(argv)
    print("| run | step | problems | meta-path r | level-oracle r | noise ceiling | persona r | other runs r |")
    print("|---|---|---|---|---|---|---|---|")
    pairs = {run: read_jsonl(run / "calibration.jsonl") for run in args.runs}
    cache, finals = {}, {run: final_pass_rates(pairs[run]) for run in args.runs}
    for run in args.runs:
        cfg = load_config(path=run / "config.yaml")
        persona = None
        if cfg.data.task == "synthetic":
            key = cfg.data.eval_per_level
            if key not in cache:
                cache[key] = persona_pass_rates(key, args.draws)
            persona = cache[key]
        for step, n, *vals in rows(pairs[run], persona, cfg.data.eval_samples, other_runs_corr(run, finals)):
            print(f"| {run} | {step} | {n} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")


if __name__ == "__main__":
    main()
