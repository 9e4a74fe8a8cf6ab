"""``masa-lite reproduce --seeds 0 1 2``: the same comparison in several seeds, mean ± sd.

One seed proves nothing about learning (README, "Research discipline"). This runs
:func:`masa_lite.reproduce.reproduce` once per seed into ``<out>/seed<N>/`` and writes, at the top
of ``<out>``, ``summary.json`` (every number of every seed, with mean and sample sd) and
``summary.md`` (mean ± sd per method, and in how many seeds each of the paper's directions holds).
The figures are those of the lowest seed, plus two drawn over every seed
(:func:`masa_lite.reproduce.seed_figures`); the summary is over all of them.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from masa_lite.reproduce import PAPER, reproduce, seed_figures, train_seconds_by_seed

# summary row key → column title of the multi-seed table
COLUMNS = [("pass@1", "pass@1"), ("calib_pass_corr", "pass-rate r"),
           ("calib_pass_level_oracle", "level-oracle r"), ("calib_pass_mae", "pass-rate MAE"),
           ("calib_len_corr", "length r"), ("train_seconds", "train s"),
           ("speedup_vs_grpo", "speed-up vs GRPO"), ("speedup_with_audits", "speed-up, audits counted"),
           ("meta_share", "meta tokens / solution token"), ("gated_share", "gated share"),
           ("gate_precision", "gate precision"), ("gate_f1", "gate F1"),
           ("level_gate_precision", "level-gate precision"), ("level_gate_f1", "level-gate F1"),
           ("cutoff_f1", "cutoff F1"), ("acc_meta_corr", "Δacc ~ Δmeta r")]


def mean_sd(values) -> dict:
    """Mean, sample sd (ddof 1; None for one value) and the values that had a number."""
    vals = [float(v) for v in values
            if v is not None and not isinstance(v, bool) and math.isfinite(float(v))]
    if not vals:
        return {"mean": None, "sd": None, "n": 0, "values": []}
    m = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
    return {"mean": m, "sd": sd, "n": len(vals), "values": vals}


def aggregate(per_seed: dict[int, dict]) -> dict:
    """{seed: reproduce summary} → one summary whose method rows hold :func:`mean_sd` per number."""
    seeds = list(per_seed)
    first = per_seed[seeds[0]]
    methods = {}
    for name in first["methods"]:
        keys = first["methods"][name].keys()
        methods[name] = {k: mean_sd([per_seed[s]["methods"].get(name, {}).get(k) for s in seeds])
                         for k in keys}
    return {"profile": first["profile"], "seeds": seeds, "methods": methods,
            "overrides": first.get("overrides", []), "meta_overrides": first.get("meta_overrides", []),
            "config": first.get("config", {}),
            "per_seed": {str(s): per_seed[s] for s in seeds}}


def _cell(stat: dict, seeds: int | None = None) -> str:
    """mean ± sd; "(n of N seeds)" when only some seeds have the number (e.g. a speed-up exists
    only where GRPO's final accuracy was reached)."""
    if stat["mean"] is None:
        return "–"
    cell = f"{stat['mean']:.2f}" + (f" ± {stat['sd']:.2f}" if stat["sd"] is not None else "")
    return cell + (f" ({stat['n']} of {seeds} seeds)" if seeds and stat["n"] < seeds else "")


def direction_counts(agg: dict) -> list[str]:
    """In how many seeds each of the paper's directions holds, seed by seed."""
    out, per = [], agg["per_seed"]
    n = len(per)

    def count(test):
        return sum(1 for s in per.values() if test(s["methods"]))

    m = agg["methods"]
    if "GRPO" in m and "MASA" in m:
        k = count(lambda r: _gt(r["MASA"].get("calib_pass_corr"), r["GRPO"].get("calib_pass_corr")))
        out.append(f"- Pass-rate calibration r after MASA above GRPO's: {k} of {n} seeds.")
        k = count(lambda r: _gt(r["MASA"].get("acc_meta_corr"), 0.0))
        out.append(f"- After MASA, accuracy rose more where meta-awareness rose more (Δacc ~ Δmeta r > 0, "
                   f"Fig. 1c/d): {k} of {n} seeds.")
    if "MASA-efficient" in m:
        k = count(lambda r: _gt(r["MASA-efficient"].get("speedup_vs_grpo"), 1.0))
        out.append(f"- MASA-efficient reached GRPO's final accuracy sooner (speed-up > 1): {k} of {n} "
                   f"seeds (paper {PAPER['speedup']}×).")
    if "MASA-efficient" in m and "GRPO + level gate" in m:
        k = count(lambda r: _gt(r["MASA-efficient"].get("gate_precision"),
                                r["GRPO + level gate"].get("gate_precision")))
        out.append(f"- The meta path gated with higher precision than the free level gate: {k} of {n} seeds.")
        k = count(lambda r: _gt(r["MASA-efficient"].get("speedup_vs_grpo"),
                                r["GRPO + level gate"].get("speedup_vs_grpo") or 0.0))
        out.append(f"- MASA-efficient faster than GRPO + level gate: {k} of {n} seeds.")
    if "MASA-efficient" in m and "MASA-efficient (no Expert SFT)" in m:
        for key, label in (("gate_f1", "gate"), ("cutoff_f1", "cutoff")):
            k = count(lambda r: _gt(r["MASA-efficient"].get(key),
                                    r["MASA-efficient (no Expert SFT)"].get(key)))
            out.append(f"- Expert SFT raised {label} F1: {k} of {n} seeds.")
    return out


def _gt(a, b) -> bool:
    return a is not None and b is not None and a > b


def seeds_markdown(agg: dict) -> str:
    """The multi-seed report: mean ± sd (sample sd over seeds) per method, then the directions."""
    seeds = ", ".join(str(s) for s in agg["seeds"])
    lines = [f"# masa-lite reproduce — profile `{agg['profile']}`, seeds {seeds}", "",
             "Mean ± sd over seeds (sample sd). *level-oracle r*: the pass-rate r a predictor "
             "that knows only each level's mean pass rate would score (masa_lite/meta/ceiling.py).",
             "",
             "| method | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + " --- |" * (1 + len(COLUMNS))]
    for name, row in agg["methods"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(row[k], len(agg["seeds"])) if k in row else "–"
                                                 for k, _ in COLUMNS) + " |")
    lines += ["", "## Against the paper, seed by seed", ""] + direction_counts(agg)
    return "\n".join(lines) + "\n"


def reproduce_seeds(profile: str | None, seeds, out_dir: str = "runs/reproduce", overrides=None,
                    meta_overrides=None, methods=None, progress: bool = True,
                    resume: bool = False) -> dict:
    """Run :func:`masa_lite.reproduce.reproduce` for each seed, then write the aggregate."""
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"--seeds needs distinct seeds (got {seeds})")
    out, t0, per_seed = Path(out_dir), time.time(), {}
    for seed in seeds:
        per_seed[seed] = reproduce(profile, out_dir=str(out / f"seed{seed}"),
                                   overrides=list(overrides or []) + [f"seed={seed}"],
                                   meta_overrides=meta_overrides, methods=methods,
                                   progress=progress, resume=resume)
    agg = aggregate(per_seed)
    agg["overrides"] = list(overrides or [])  # without the per-seed seed=N
    agg["total_seconds"] = time.time() - t0  # this call; runs reused with --resume cost little
    lowest = out / f"seed{min(seeds)}" / "figures"
    if (out / "figures").exists():
        shutil.rmtree(out / "figures")
    shutil.copytree(lowest, out / "figures")
    seed_figures(out, seeds, methods, out / "figures")
    agg["figures"] = [str(p) for p in sorted((out / "figures").glob("*.png"))]
    (out / "summary.json").write_text(json.dumps(agg, indent=1, default=str))
    train = mean_sd(train_seconds_by_seed(agg).values())
    (out / "summary.md").write_text(
        seeds_markdown(agg) + f"\nFigures: seed {min(seeds)}, except the two `*_seeds.png` (every "
        f"seed). Training time per seed, summed over "
        f"the methods (evaluation excluded): {_cell(train)} s. This call took "
        f"{agg['total_seconds'] / 60:.1f} minutes (runs found in --out are reused with --resume).\n")
    return agg
