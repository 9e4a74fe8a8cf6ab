"""Summarise meta-awareness study runs: one row per setting, mean ± sd over its seeds.

Each setting is a folder of seed runs (``runs/study/<setting>/seed<N>``, each a ``masa-lite
train`` output folder). For the last evaluation of every run it reads held-out pass@1, pass-rate
calibration (Pearson r and MAE of mean predicted vs actual pass rate), length calibration r and
the predicted / actual level gap (mean p̂ at the easiest level minus the hardest), the two
reference values of masa_lite/meta/ceiling.py (level-oracle r, noise-ceiling r), and prints a
markdown table with mean ± sd over seeds.

    python scripts/study_table.py runs/study/*
"""

from __future__ import annotations

import argparse
from pathlib import Path

from masa_lite.files import read_jsonl
from masa_lite.history import read_history
from masa_lite.meta.ceiling import pass_rate_ceilings
from masa_lite.reproduce import pairs_at
from masa_lite.reproduce_seeds import mean_sd as seed_stats

COLUMNS = [("pass@1", "pass@1"), ("calib_pass_corr", "pass-rate r"), ("calib_pass_mae", "MAE"),
           ("calib_len_corr", "length r"), ("pred_pass_gap", "p̂ gap L1−L6"),
           ("actual_pass_gap", "actual gap"), ("pass_spread", "p̂ spread"),
           ("calib_pass_level_oracle", "level-oracle r"), ("calib_pass_noise_ceiling", "noise ceiling r")]


def mean_sd(values: list[float]) -> str:
    stat = seed_stats(values)
    if stat["mean"] is None:
        return "—"
    return f"{stat['mean']:.2f}" + (f" ± {stat['sd']:.2f}" if stat["sd"] is not None else "")


def last_eval(run: Path) -> dict | None:
    """The run's last evaluation; runs made before the ceilings were logged get them computed from
    their calibration pairs (masa_lite/meta/ceiling.py)."""
    evals = [h for h in read_history(run) if h.get("kind") == "eval"]
    if not evals:
        return None
    last = dict(evals[-1])
    pairs_file = run / "calibration.jsonl"
    if "calib_pass_level_oracle" not in last and pairs_file.exists():
        pairs = pairs_at(read_jsonl(pairs_file), last["step"])
        last.update(pass_rate_ceilings(pairs, last.get("n_samples", 0)))
    return last


def summarise(setting: Path) -> tuple[str, int, int, dict]:
    runs = sorted(p for p in setting.iterdir() if (p / "history.jsonl").exists())
    finals = [e for e in map(last_eval, runs) if e is not None]
    step = min((e["step"] for e in finals), default=0)
    return setting.name, len(finals), step, {k: mean_sd([e.get(k) for e in finals]) for k, _ in COLUMNS}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="+", type=Path)
    args = ap.parse_args(argv)
    print("| setting | seeds | step | " + " | ".join(name for _, name in COLUMNS) + " |")
    print("|" + "---|" * (3 + len(COLUMNS)))
    for setting in args.settings:
        if setting.is_dir():
            name, n, step, row = summarise(setting)
            print(f"| {name} | {n} | {step} | " + " | ".join(row[k] for k, _ in COLUMNS) + " |")


if __name__ == "__main__":
    main()
