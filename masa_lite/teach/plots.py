"""Figures of training runs: each function takes plain run data and returns a matplotlib Figure.

Inputs are what the trainer writes (see ``history.py``): a *history* is a list of dicts, training
steps (``"kind": "train"`` or no kind) and evaluations (``"kind": "eval"``) mixed; calibration
pairs, notion stats and deltas are lists of dicts. Missing keys and non-finite values (an entropy of
NaN) are skipped. Policy for empty input: a multi-panel figure marks an empty panel with text
("no data" / "not recorded"); a figure with nothing at all to draw raises ``ValueError``.

Nothing here calls ``plt.show()`` or picks a backend: in a notebook the returned figure displays
itself, in a script pass it to :func:`save`.

Figures of the meta path: :mod:`masa_lite.teach.plots_meta`; of MASA-efficient and evaluation:
:mod:`masa_lite.teach.plots_efficient`; shared pieces (colours, :func:`~masa_lite.teach.plot_kit.save`):
:mod:`masa_lite.teach.plot_kit`.
"""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from masa_lite.stats import X_KEYS, time_to_reach
from masa_lite.history import eval_records, train_records
from masa_lite.teach.plot_kit import empty_panel, finite, legend_outside, pick_color, series


# ---- 3. accuracy vs step / wall-clock (Fig. 4) ------------------------------------------------

def accuracy_curves(runs: dict[str, list[dict]], x: str = "step",
                    target: float | None = None) -> Figure:
    """Eval pass@1 (± standard error band) vs step or wall-clock minutes for several methods.
    Mirrors paper Fig. 4. With ``target`` (e.g. GRPO's final accuracy) draws it dashed and marks
    where each curve first reaches it. Raises ValueError if no run has an eval record."""
    if x not in X_KEYS:
        raise ValueError(f"x must be 'step' or 'wall', got {x!r}")
    xkey, scale = X_KEYS[x], (60.0 if x == "wall" else 1.0)
    fig, ax = plt.subplots(figsize=(8.8, 4.4))
    drawn = 0
    for i, (name, hist) in enumerate(runs.items()):
        ev = sorted((r for r in eval_records(hist) if finite(r.get(xkey)) and finite(r.get("pass@1"))),
                    key=lambda r: r[xkey])
        if not ev:
            continue
        xs = np.array([r[xkey] for r in ev], float) / scale
        ys = np.array([r["pass@1"] for r in ev], float)
        ax.plot(xs, ys, "o-", ms=3.5, color=pick_color(i), label=name, gid=name)
        se = np.array([r.get("pass@1_se") if finite(r.get("pass@1_se")) else np.nan for r in ev])
        if np.isfinite(se).any():
            ax.fill_between(xs, ys - se, ys + se, color=pick_color(i), alpha=0.18, lw=0)
        drawn += 1
        if target is not None:
            hit = time_to_reach(hist, target, x=x)
            if hit is not None:
                ax.plot([hit / scale], [target], "*", ms=12, color=pick_color(i), mec="k", gid="reach")
                txt = f"{hit / scale:.1f} min" if x == "wall" else f"step {hit:g}"
                ax.annotate(txt, (hit / scale, target), textcoords="offset points",
                            xytext=(4, -12 - 10 * i), fontsize=7, color=pick_color(i))
    if not drawn:
        plt.close(fig)
        raise ValueError("no run has an eval record with pass@1 and " + xkey)
    if target is not None:
        ax.axhline(target, color="0.3", ls="--", lw=1, label=f"target {target:.3f}")
    ax.set_xlabel("training step" if x == "step" else "training wall-clock (minutes, evaluation excluded)")
    ax.set_ylabel("held-out pass@1 (share correct, ± s.e.)")
    ax.set_title("Accuracy vs " + ("step" if x == "step" else "wall-clock time"))
    legend_outside(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 7. training dashboard ---------------------------------------------------------------------

OVERVIEW_PANELS = [("accuracy / reward", ["accuracy", "reward"]),
                   ("zero-variance fraction", ["zero_variance_frac"]),
                   ("mean length (tokens)", ["len_mean"]), ("entropy", ["entropy"]),
                   ("seconds per step", ["seconds_step"]), ("grad norm", ["grad_norm"])]
OVERVIEW_UNITS = {"accuracy / reward": "share correct (solid) /\nmean reward (dashed)", "zero-variance fraction":
                  "share of groups", "mean length (tokens)": "tokens per rollout",
                  "entropy": "nats per token", "seconds per step": "seconds",
                  "grad norm": "L2 norm (before clipping)"}


def training_overview(history) -> Figure:
    """2×3 dashboard of the training records: accuracy / reward, zero-variance fraction, mean
    length, entropy, seconds per step and grad norm; a missing key leaves "not recorded"."""
    recs = train_records(history)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (title, keys) in zip(axes.flat, OVERVIEW_PANELS):
        ax.set_title(title)
        drawn = 0
        for i, key in enumerate(keys):
            x, y = series(recs, key)
            if x.size:
                ax.plot(x, y, color=pick_color(i), lw=1.4, ls="-" if i == 0 else "--", label=key, gid=key)
                drawn += 1
        if not drawn:
            empty_panel(ax, "not recorded")
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(OVERVIEW_UNITS[title], fontsize=8)
        ax.grid(alpha=0.3)
        if "frac" in keys[0]:
            ax.set_ylim(-0.02, 1.02)

    fig.suptitle("Training overview")
    fig.tight_layout()
    return fig


# ---- 10. several runs, several training signals -------------------------------------------------

def compare_runs(runs: dict[str, list[dict]], keys: list[tuple[str, str]], cols: int | None = None) -> Figure:
    """One panel per training signal, one line per run: ``keys`` is a list of (history key,
    axis label with its unit), e.g. ``[("r_pass", "r_pass (0–1)"), ("gated_frac", "share gated")]``.
    A key may carry a third item, its y-range (e.g. ``("accuracy", "share correct", (0, 1))``).
    ``cols`` panels a row (default: all in one row). A key no run recorded leaves "not recorded".
    Raises ValueError without runs or keys."""
    if not runs or not keys:
        raise ValueError("compare_runs needs at least one run and one key")
    cols = min(cols or len(keys), len(keys))
    rows = -(-len(keys) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in grid.ravel()[len(keys):]:  # the last row's empty places
        ax.remove()
    axes = grid.ravel()[:len(keys)]
    for ax, (key, label, *ylim) in zip(axes, keys):
        drawn = 0
        for i, (name, hist) in enumerate(runs.items()):
            x, y = series(train_records(hist), key)
            if x.size:
                ax.plot(x, y, marker=".", color=pick_color(i), label=name, gid=f"{name}|{key}")
                drawn += 1
        ax.set_title(key)
        if not drawn:
            empty_panel(ax, "not recorded")
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        if ylim:
            ax.set_ylim(*ylim[0])
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   fontsize=8)
    fig.tight_layout(rect=(0, 0.1 / rows, 1, 1))
    return fig


def accuracy_over_seeds(runs_by_seed: dict, x: str = "step") -> Figure:
    """Held-out pass@1 against step for several methods over seeds: the mean over the seeds that
    evaluated at a step (line) and each seed's value (dots), so a reader sees the spread the
    summary's mean ± sd stands for. ``runs_by_seed``: {seed: {method: history}}."""
    if x != "step":
        raise ValueError("accuracy_over_seeds draws against step only (wall-clock differs per seed)")
    methods = list(dict.fromkeys(m for runs in runs_by_seed.values() for m in runs))
    if not methods:
        raise ValueError("accuracy_over_seeds needs at least one run with evaluations")
    fig, ax = plt.subplots(figsize=(8.8, 4.4))
    for i, name in enumerate(methods):
        by_step: dict[float, list[float]] = {}
        for runs in runs_by_seed.values():
            for r in eval_records(runs.get(name, [])):
                if finite(r.get("step")) and finite(r.get("pass@1")):
                    by_step.setdefault(r["step"], []).append(r["pass@1"])
        steps = sorted(by_step)
        ax.plot(steps, [np.mean(by_step[s]) for s in steps], "-", color=pick_color(i),
                label=f"{name} (mean of {len(runs_by_seed)} seeds)", gid=name)
        for s in steps:
            off = (i - (len(methods) - 1) / 2) * 0.35  # side by side, not on top of each other
            ax.plot([s + off] * len(by_step[s]), by_step[s], ".", ms=4, color=pick_color(i), alpha=0.7)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out pass@1")
    ax.set_title("Accuracy over seeds: mean (line) and each seed (dots)")
    ax.grid(alpha=0.3)
    legend_outside(ax, "right")
    fig.tight_layout()
    return fig

