"""Draw the meta-awareness study's calibration figure from finished training runs.

One panel per run at its last evaluation (predicted vs actual pass rate of each held-out problem,
coloured by level, with y = x and the least-squares fit), after a first panel with the base model
(step 0 of the first run). Writes the PNG and a provenance JSON beside it (the runs, their
commands as recorded in each run's config, seeds, steps, date).

    python scripts/study_figure.py --out figures/study_calibration_pass_rate.png \\
        --run "GRPO=runs/grpo100" --run "separate adapter + Expert SFT, seed 0=runs/study/x/seed0" ...

A run may name several folders, comma-separated (``--run "MASA, 3 seeds=a,b,c"``): their pairs are
pooled in one panel (each point one problem in one seed). ``--no-base`` leaves out the base panel
(the two-panel GRPO-vs-MASA figure that reads at README width).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import yaml

from masa_lite.files import read_jsonl
from masa_lite.teach import plots_meta


def pairs_at(run: Path, step: int | None = None) -> tuple[int, list[dict]]:
    """Calibration pairs of ``run`` at ``step`` (default: its last evaluation)."""
    pairs = read_jsonl(run / "calibration.jsonl")
    if not pairs:
        raise SystemExit(f"{run}/calibration.jsonl has no calibration pairs: is it a finished run?")
    step = max(p["step"] for p in pairs) if step is None else step
    return step, [p for p in pairs if p["step"] == step]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--run", action="append", required=True, metavar="LABEL=FOLDER[,FOLDER...]",
                    help="a panel: its label and masa-lite train output folders (pooled)")
    ap.add_argument("--no-base", action="store_true", help="no panel for the base model")
    args = ap.parse_args(argv)
    runs = []
    for item in args.run:
        label, _, folder = item.partition("=")
        if not folder:
            ap.error(f"--run {item!r} must look like LABEL=FOLDER")
        runs.append((label, [Path(f) for f in folder.split(",")]))
    panels, provenance = {}, []
    if not args.no_base:
        _, base = pairs_at(runs[0][1][0], 0)
        panels["base model (step 0)"] = base
    for label, folders in runs:
        pooled = []
        for folder in folders:
            step, pairs = pairs_at(folder)
            pooled += pairs
            cfg = yaml.safe_load((folder / "config.yaml").read_text())
            provenance.append({"label": label, "folder": str(folder), "step": step,
                               "seed": cfg.get("seed"), "config": cfg})
        panels[f"{label} (step {step})"] = pooled
    fig = plots_meta.calibration_scatter(panels, quantity="pass_rate")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110, bbox_inches="tight")
    meta = {"figure": args.out.name, "date": datetime.date.today().isoformat(),
            "seeds": sorted({p["seed"] for p in provenance}), "runs": provenance}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print("wrote", args.out, "and", args.out.with_suffix(".json"))


if __name__ == "__main__":
    main()
