"""``masa-lite reproduce``: GRPO vs MASA vs MASA-efficient from one base model, one report.

From the same base model, task, seed and budget it trains each method
(:data:`METHODS`), evaluates each on the held-out split, and writes to the output folder:
the run folders (histories, checkpoints, calibration pairs), the figures of the method page's
claims table that the data supports, ``summary.md`` (with the paper's numbers beside ours) and
``summary.json``. Wall-clock is training time only (evaluation excluded), as in the paper's
Fig. 4.
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

from masa_lite.config import RunConfig, load_config, to_dict
from masa_lite.files import read_jsonl
from masa_lite.history import eval_records
# the report (numbers, markdown, verdicts) lives in reproduce_report; its names are used from here too
from masa_lite.reproduce_report import (PAPER, last_train_value, pairs_at,  # noqa: F401
                                        paper_marks, summarise, summary_markdown)

# method → config overrides on top of the profile
METHODS: dict[str, list[str]] = {
    "GRPO": ["meta.enabled=false"],
    "MASA": ["meta.enabled=true"],
    "MASA-efficient (no Expert SFT)": ["meta.enabled=true", "efficient.gating=true",
                                       "efficient.cutoff=true", "efficient.expert_sft=false"],
    "MASA-efficient": ["meta.enabled=true", "efficient.gating=true", "efficient.cutoff=true",
                       "efficient.expert_sft=true"],
}
# A baseline the paper does not run (``--methods ... "GRPO + level gate"``): GRPO with a free gate
# that knows only each level's running pass rate (no meta path, no cutoff) - what self-prediction
# has to beat. MASA-efficient runs judge the same free gate on their own prompts without it.
BASELINES: dict[str, list[str]] = {
    "GRPO + level gate": ["meta.enabled=false", "efficient.gating=true", "efficient.gate_source=level"],
}
# What `masa-lite reproduce` adds to the meta methods unless `--paper` is given: the study's
# calibrating setting (docs/meta-awareness-study.md, Findings 7 and 18). Each is a switch away from
# the paper (README, "Deviations from the paper"); user -m flags come after and win.
STUDY_SWITCHES: list[str] = ["meta.adapter=separate", "efficient.expert_sft=true",
                             "efficient.sft_unsolved=true", "efficient.sft_min_notion=0",
                             "efficient.sft_lr=2e-3", "efficient.sft_replay=4"]
def run_folder(name: str) -> str:
    """The run folder of a method inside a reproduce output folder ("MASA-efficient" → "masa-efficient")."""
    return name.lower().replace(" + ", " ").replace(" ", "_").replace("(", "").replace(")", "")


CONTROL_KEYS = ("gate_precision", "gate_recall", "gate_f1", "cutoff_precision", "cutoff_recall",
                "cutoff_f1")


def control_values(history) -> dict:
    """Gate and cutoff precision / recall / F1 of a run: their last training step's values, as the
    summary reports them (Table 3's bars)."""
    return {k: last_train_value(history, k) for k in CONTROL_KEYS}


def make_figures(runs, calib, fig_dir: Path) -> list[Path]:
    """The claims-table figures our data supports, written into ``fig_dir``; returns their paths."""
    from masa_lite.teach import plot_kit
    from masa_lite.teach import plots
    from masa_lite.teach import plots_efficient
    from masa_lite.teach import plots_meta

    fig_dir = Path(fig_dir)
    written = []

    def panel(name, step=None):
        return pairs_at(calib.get(name, []), step)

    first = next(iter(runs))
    panels = {"base": panel(first, 0)}
    for name in runs:
        panels[name] = panel(name)
    for q in ("pass_rate", "length"):
        written.append(plot_kit.save(plots_meta.calibration_scatter(panels, quantity=q),
                                  fig_dir / f"calibration_{q}.png"))
    target = eval_records(runs["GRPO"])[-1]["pass@1"] if "GRPO" in runs else None
    for x in ("step", "wall"):
        written.append(plot_kit.save(plots.accuracy_curves(runs, x=x, target=target),
                                  fig_dir / f"accuracy_vs_{x}.png"))
    ctrl = {n: control_values(h) for n, h in runs.items() if n.startswith("MASA-efficient")}
    if ctrl and any(v is not None for d in ctrl.values() for v in d.values()):
        written.append(plot_kit.save(plots_efficient.control_prf_bars(ctrl, paper=paper_marks(ctrl)),
                                  fig_dir / "gating_cutoff_prf.png"))
    if "MASA" in runs:
        try:
            written.append(plot_kit.save(plots_meta.meta_reward_parts(runs["MASA"], smooth=3),
                                      fig_dir / "meta_reward_parts.png"))
        except ValueError:
            pass
    for name in ("GRPO", "MASA"):
        try:
            fig = plots_meta.notion_use(runs.get(name, []), name)
        except ValueError:  # a run made before notion statistics were logged
            continue
        written.append(plot_kit.save(fig, fig_dir / f"notion_frequency_{run_folder(name)}.png"))
    written += _delta_figures(runs, calib, panel, fig_dir)
    return written


def _delta_figures(runs, calib, panel, fig_dir: Path) -> list[Path]:
    """Fig. 1c/d (Δaccuracy per bin of Δmeta-awareness) and a Fig. 6-like Shapley R² split, for
    the meta-trained method with the most problems; nothing when there are too few."""
    from masa_lite.meta import analysis
    from masa_lite.teach import plot_kit
    from masa_lite.teach import plots_meta

    name = next((n for n in ("MASA", "MASA-efficient") if n in runs), None)
    if name is None:
        return []
    deltas = analysis.meta_deltas(panel(name, 0), panel(name))
    written = []
    try:
        fig = plots_meta.delta_box(deltas)
        fig.axes[0].set_title(f"{name}: Δaccuracy vs Δmeta-awareness per held-out problem")
        written.append(plot_kit.save(fig, fig_dir / "delta_acc_vs_delta_meta.png"))
    except ValueError:
        return written
    r2 = analysis.awareness_r2(deltas)
    if r2["shares"]:
        written.append(plot_kit.save(plots_meta.shapley_bars(r2, title=name), fig_dir / "shapley_r2.png"))
    return written


def load_runs(out_dir, methods=None) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Histories and calibration pairs of the methods found in a reproduce output folder (or in a
    published ``figures/data`` folder): ({method: history}, {method: pairs})."""
    from masa_lite.history import read_history

    out = Path(out_dir)
    runs, calib = {}, {}
    for name in methods or [*METHODS, *BASELINES]:
        folder = out / run_folder(name)
        if not (folder / "history.jsonl").exists():
            continue
        runs[name] = read_history(folder)
        path = folder / "calibration.jsonl"
        calib[name] = (read_jsonl(path)
                       if path.exists() else [])
    if not runs:
        raise FileNotFoundError(f"no method runs under {out}: expected folders like "
                                f"{', '.join(run_folder(m) for m in METHODS)} written by masa-lite reproduce")
    return runs, calib


def figures(data_dir, out_dir) -> list[Path]:
    """Redraw every figure from saved runs (``masa-lite figures``): PNGs into ``out_dir``. A
    multi-seed folder (``seed<N>/`` inside) is drawn from its lowest seed, as its figures were, plus
    the figures over all its seeds (:func:`seed_figures`)."""
    seeds = sorted(int(p.name[4:]) for p in Path(data_dir).glob("seed*/") if p.name[4:].isdigit())
    runs, calib = load_runs(Path(data_dir) / f"seed{seeds[0]}" if seeds else data_dir)
    written = make_figures(runs, calib, Path(out_dir))
    return written + (seed_figures(Path(data_dir), seeds, None, Path(out_dir)) if seeds else [])


def seed_figures(out: Path, seeds, methods, fig_dir: Path) -> list[Path]:
    """The figures drawn over every seed (mean, and each seed's dot) for the numbers the summary
    gives as mean ± sd: ``accuracy_vs_step_seeds.png`` and, when MASA-efficient ran,
    ``gating_cutoff_prf_seeds.png`` (Table 3's bars). ``out`` holds ``seed<N>/`` folders."""
    from masa_lite.teach import plot_kit, plots, plots_efficient

    runs = {s: load_runs(out / f"seed{s}", methods)[0] for s in seeds}
    written = [plot_kit.save(plots.accuracy_over_seeds(runs), fig_dir / "accuracy_vs_step_seeds.png")]
    names = [n for n in dict.fromkeys(n for r in runs.values() for n in r) if n.startswith("MASA-efficient")]
    per_seed = {n: [control_values(r[n]) for r in runs.values() if n in r] for n in names}
    ctrl = {n: {k: [v[k] for v in vals] for k in vals[0]} for n, vals in per_seed.items()}
    if any(v is not None for d in ctrl.values() for vals in d.values() for v in vals):
        fig = plots_efficient.control_prf_bars(ctrl, paper=paper_marks(ctrl))
        fig.suptitle(f"Meta-based controls vs the real outcome: mean of {len(seeds)} seeds (bars), "
                     "each seed (dots)")
        written.append(plot_kit.save(fig, fig_dir / "gating_cutoff_prf_seeds.png"))
    return written


def _data_folders(out: Path, dest: Path, summary: dict):
    """(source, destination) run folders to publish: one per method, per seed for a multi-seed
    reproduce (``seed<N>/`` sub-folders, :mod:`masa_lite.reproduce_seeds`)."""
    seeds = summary.get("seeds")
    roots = [(out / f"seed{s}", dest / "data" / f"seed{s}") for s in seeds] if seeds else [(out, dest / "data")]
    for src_root, to_root in roots:
        for name in summary["methods"]:
            yield src_root / run_folder(name), to_root / run_folder(name)


def train_seconds_by_seed(summary: dict) -> dict:
    """{seed: training seconds summed over the methods} of a reproduce summary, one or several seeds."""
    def summed(one):
        return sum(r.get("train_seconds") or 0 for r in one["methods"].values())

    if "per_seed" in summary:
        return {s: summed(v) for s, v in summary["per_seed"].items()}
    return {str(summary["config"]["seed"]): summed(summary)}


def command_line(summary: dict, out, dest=None) -> str:
    """The ``masa-lite reproduce`` command that made ``summary`` (profile, seeds, overrides)."""
    parts = ["masa-lite reproduce", f"--profile {summary['profile']}"]
    if summary.get("seeds"):
        parts.append("--seeds " + " ".join(str(s) for s in summary["seeds"]))
    if list(summary["methods"]) != list(METHODS):
        parts.append("--methods " + " ".join(shlex.quote(m) for m in summary["methods"]))
    parts += [f"-o {o}" for o in summary.get("overrides", [])]
    meta = list(summary.get("meta_overrides", []))
    if meta[:len(STUDY_SWITCHES)] == STUDY_SWITCHES:  # the CLI's default: said by leaving them out
        meta = meta[len(STUDY_SWITCHES):]
    elif any("meta.enabled=true" in METHODS.get(m, []) for m in summary["methods"]):  # meta methods ran
        parts.append("--paper")
    parts += [f"-m {o}" for o in meta]
    parts.append(f"--out {out}")
    if dest is not None:
        parts.append(f"--publish {dest}")
    return " ".join(parts)


def publish(out_dir, figures_dir="figures") -> Path:
    """Copy a reproduce run's figures, its summary (``summary.md``, and its numbers as
    ``summary.json``) and the runs' data into ``figures_dir``, with their provenance (profile,
    seeds, commit, date, command) in ``provenance.json``."""
    import datetime
    import shutil
    import subprocess

    out, dest = Path(out_dir), Path(figures_dir)
    dest.mkdir(parents=True, exist_ok=True)
    summary = json.loads((out / "summary.json").read_text())
    for png in sorted((out / "figures").glob("*.png")):
        shutil.copy2(png, dest / png.name)
    for src, to in _data_folders(out, dest, summary):  # the data behind the figures
        to.mkdir(parents=True, exist_ok=True)
        for f in ("history.jsonl", "calibration.jsonl", "config.yaml"):
            if (src / f).exists():
                shutil.copy2(src / f, to / f)
    shutil.copy2(out / "summary.md", dest / "summary.md")
    (dest / "summary.json").write_text(json.dumps(numbers_only(summary), indent=1, default=str))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    seeds = summary.get("seeds") or [summary["config"]["seed"]]
    prov = {"command": command_line(summary, out, dest), "profile": summary["profile"],
            "seeds": seeds, "seed": seeds[0], "commit": commit,
            "date": datetime.date.today().isoformat(),
            "total_minutes": round(summary["total_seconds"] / 60, 1),
            "train_minutes_by_seed": {s: round(t / 60, 1) for s, t in train_seconds_by_seed(summary).items()},
            "figures": sorted(p.name for p in dest.glob("*.png"))}
    (dest / "provenance.json").write_text(json.dumps(prov, indent=1))
    return dest


def numbers_only(summary):
    """A summary without its run configuration and figure paths (at every level): the published
    ``summary.json`` that the README, notebooks and tests read numbers from."""
    if isinstance(summary, dict):
        return {k: numbers_only(v) for k, v in summary.items() if k not in ("config", "figures")}
    return [numbers_only(v) for v in summary] if isinstance(summary, list) else summary


def method_overrides(name: str, overrides=None, meta_overrides=None) -> list[str]:
    """The config overrides of one method: ``overrides`` (every method), then ``meta_overrides``
    (only the methods with the meta path, e.g. ``meta.adapter=separate``), then the method's own
    defining flags (:data:`METHODS`), which win."""
    if name not in METHODS and name not in BASELINES:
        raise ValueError(f"unknown method {name!r}: choose from {list(METHODS) + list(BASELINES)}")
    own = METHODS.get(name) or BASELINES[name]
    extra = list(meta_overrides or []) if "meta.enabled=true" in own else []
    return list(overrides or []) + extra + own


def reproduce(profile: str | None = None, out_dir: str = "runs/reproduce", overrides=None,
              methods=None, progress: bool = True, resume: bool = False, meta_overrides=None) -> dict:
    """Train and evaluate every method, then write figures and the summary.

    ``overrides`` apply to every method, ``meta_overrides`` to the meta methods only
    (:func:`method_overrides`). ``resume=True`` continues (or, when finished, reuses) a method's
    run found in ``out_dir``
    with the same configuration — the notebooks share runs this way — instead of retraining."""
    from masa_lite.history import read_history
    from masa_lite.trainer import train

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs, calib, t0, base = {}, {}, time.time(), None
    for name in methods or METHODS:
        cfg: RunConfig = load_config(profile, overrides=method_overrides(
            name, overrides, meta_overrides) + [f"out_dir={out / run_folder(name)}", f"method={name}"])
        train(cfg, progress=progress, resume=resume, base_eval=base)
        runs[name] = read_history(cfg.out_dir)
        calib[name] = read_jsonl(Path(cfg.out_dir) / "calibration.jsonl")
        if base is None:  # every method starts from the same base model: evaluate it once
            base = (eval_records(runs[name])[0], [p for p in calib[name] if p["step"] == 0])
    summary = summarise(runs, calib, cfg.profile)
    summary["total_seconds"] = time.time() - t0
    summary["config"] = to_dict(cfg)
    summary["overrides"], summary["meta_overrides"] = list(overrides or []), list(meta_overrides or [])
    summary["figures"] = [str(p) for p in make_figures(runs, calib, out / "figures")]
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    md = summary_markdown(summary) + f"\nTotal time {summary['total_seconds'] / 60:.1f} minutes.\n"
    (out / "summary.md").write_text(md)
    return summary
