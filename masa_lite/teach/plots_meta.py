"""Figures of the meta path: calibration (Fig. 1a/b), reward parts, notion frequency and
Δaccuracy vs Δmeta-awareness (Fig. 1c/d). Same conventions as :mod:`masa_lite.teach.plots`."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from masa_lite.history import eval_records, train_records
from masa_lite.teach.plot_kit import (COLORS, finite, fmt_edge, legend_outside, moving_average,
                                      pick_color, series)


# ---- 1. calibration (Fig. 1a/b) ---------------------------------------------------------------

_CALIB_KEYS = {"pass_rate": ("pred_pass_rate", "actual_pass_rate", "pass rate"),
               "length": ("pred_length", "actual_length", "solution length (tokens)")}
_CALIB_AXES = {"pass_rate": ("predicted pass rate p̂ (0–1)", "actual pass rate p (0–1)"),
               "length": ("predicted length ℓ̂ (tokens)", "actual correct length (tokens)")}


def calibration_scatter(panels: dict[str, list[dict]], quantity: str = "pass_rate",
                        title: str | None = None) -> Figure:
    """Predicted vs actual pass rate or length, one panel per model. Mirrors paper Fig. 1a/b.

    Points are coloured by level; each panel has the y = x line (gid "identity") and a
    least-squares fit (gid "fit") labelled with its slope and Pearson r, or "no fit" when there
    are fewer than 3 points or the predictions are constant.
    """
    if quantity not in _CALIB_KEYS:
        raise ValueError(f"quantity must be one of {sorted(_CALIB_KEYS)}, got {quantity!r}")
    if not panels:
        raise ValueError("calibration_scatter needs at least one panel")
    pkey, akey, name = _CALIB_KEYS[quantity]
    data = {}
    for label, pairs in panels.items():
        ok = [p for p in pairs if finite(p.get(pkey)) and finite(p.get(akey))]
        data[label] = (np.array([p[pkey] for p in ok], float), np.array([p[akey] for p in ok], float),
                       [p.get("level") for p in ok])
    levels = sorted({lv for *_, lvs in data.values() for lv in lvs}, key=lambda v: (v is None, str(v)))
    cmap = plt.get_cmap("viridis")
    lv_color = {lv: cmap(i / max(len(levels) - 1, 1) * 0.9) for i, lv in enumerate(levels)}
    if quantity == "pass_rate":
        lo, hi = 0.0, 1.0
    else:
        allv = np.concatenate([np.concatenate([x, y]) for x, y, _ in data.values()] + [np.zeros(1)])
        lo, hi = 0.0, float(allv.max()) * 1.05 or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.6), squeeze=False)
    for ax, (label, (x, y, lvs)) in zip(axes[0], data.items()):
        ax.set_title(f"{label.replace(' (', chr(10) + '(')} (n = {len(x)})", fontsize=10)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(_CALIB_AXES[quantity][0], fontsize=9)
        ax.set_ylabel(_CALIB_AXES[quantity][1], fontsize=9)
        ax.plot([lo, hi], [lo, hi], color="0.4", ls="--", lw=1, label="y = x", gid="identity")
        for lv in levels:
            m = np.array([v == lv for v in lvs], bool)
            if m.any():
                ax.scatter(x[m], y[m], s=18, alpha=0.75, color=lv_color[lv], clip_on=False,
                           label=f"level {lv}")
        if len(x) >= 3 and np.ptp(x) > 0:
            slope, icpt = np.polyfit(x, y, 1)
            r = np.corrcoef(x, y)[0, 1] if np.ptp(y) > 0 else float("nan")
            rtxt = f"{r:.2f}" if math.isfinite(r) else "n/a"
            ax.plot([lo, hi], [icpt + slope * lo, icpt + slope * hi], color=COLORS[3], lw=1.8,
                    label=f"fit: slope {slope:.2f}, r = {rtxt}", gid="fit")
        else:
            ax.plot([], [], " ", label="no fit", gid="fit")
        if len(x) == 0:
            ax.text(0.5, 0.5, "no data", ha="center", color="0.5", transform=ax.transAxes)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"Predicted vs actual {name}")
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # keep the suptitle clear of the panel titles
    return fig


# ---- 2. meta reward parts ---------------------------------------------------------------------

# the history keys of the meta reward's parts (masa_lite.meta.reward) and their mean, with labels
REWARD_SERIES = [("r_pass", "r_pass (pass rate)"), ("r_len", "r_len (length)"),
                 ("r_notion", "r_notion (notions)"), ("meta_reward", "meta reward (mean)")]


def meta_reward_parts(history, smooth: int = 1) -> Figure:
    """r_pass, r_len, r_notion and the meta reward vs step (trailing mean over ``smooth`` steps).

    Raises ValueError when no training record has any of these keys (e.g. a plain GRPO run)."""
    recs = train_records(history)
    fig, ax = plt.subplots(figsize=(8.8, 4))
    drawn = 0
    for i, (key, label) in enumerate(REWARD_SERIES):
        x, y = series(recs, key)
        if x.size == 0:
            continue
        kw = dict(color=pick_color(i), lw=2.2 if key == "meta_reward" else 1.4)
        if smooth > 1:
            ax.plot(x, y, color=pick_color(i), alpha=0.25, lw=0.8)
            y = moving_average(y, smooth)
        ax.plot(x, y, label=label, gid=key, **kw)
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise ValueError("history has no meta reward keys (r_pass, r_len, r_notion, meta_reward)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel("mean reward over meta rollouts (0–1)")
    ax.set_title("Meta reward parts" + (f" (moving average over {smooth} steps)" if smooth > 1 else ""))
    legend_outside(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 5. notion frequency in correct vs wrong rollouts -----------------------------------------

def notion_stats_from_history(history) -> list[dict]:
    """Flatten the evaluations' ``notion_freq`` into the records :func:`notion_frequency` draws:
    ``{"step", "notion", "freq_correct", "freq_wrong"}``."""
    return [{"step": e["step"], "notion": n, "freq_correct": f.get("correct"),
             "freq_wrong": f.get("wrong")}
            for e in eval_records(history) for n, f in (e.get("notion_freq") or {}).items()]


def notion_frequency(stats: list[dict], notions: list[str] | None = None, top: int = 4,
                     title: str | None = None) -> Figure:
    """Share of correct (solid) vs incorrect (dashed) rollouts containing each notion, per step.
    Without ``notions``, shows the ``top`` most frequent ones. The legend sits under the axes.
    Raises ValueError with no data."""
    by = {}
    for s in stats:
        if finite(s.get("step")) and s.get("notion") is not None:
            by.setdefault(s["notion"], []).append(s)
    if notions is None:
        def mean_freq(n):
            v = [s.get(k) for s in by[n] for k in ("freq_correct", "freq_wrong")]
            return float(np.mean([x for x in v if finite(x)] or [0.0]))
        notions = sorted(by, key=lambda n: (-mean_freq(n), n))[:top]
    notions = [n for n in notions if n in by]
    if not notions:
        raise ValueError("no notion statistics to draw")
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, n in enumerate(notions):
        recs = sorted(by[n], key=lambda s: s["step"])
        for key, ls, lab in [("freq_correct", "-", "correct"), ("freq_wrong", "--", "wrong")]:
            x, y = series(recs, key)
            if x.size:
                ax.plot(x, y, ls=ls, marker=".", color=pick_color(i), label=f"{n} ({lab})",
                        gid=f"{n}|{key}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step (held-out evaluations)")
    ax.set_ylabel("share of held-out rollouts using the notion (0–1)")
    ax.set_title(title or "Notion use: correct (solid) vs incorrect (dashed) rollouts")
    legend_outside(ax, "below", ncol=min(4, 2 * len(notions)), fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


TASK_NOTIONS = ["split", "recheck", "carry", "mul"]


def notion_use(history, name: str, notions: list[str] | None = None) -> Figure:
    """:func:`notion_frequency` of one run's evaluations (``notion_freq`` in its history), titled
    with the run's ``name``; by default the synthetic task's telling notions (:data:`TASK_NOTIONS`).
    Raises ValueError when the run recorded no notion statistics."""
    stats = notion_stats_from_history(history)
    if not stats:
        raise ValueError(f"{name}: the run recorded no notion statistics")
    return notion_frequency(stats, notions=TASK_NOTIONS if notions is None else notions,
                            title=f"{name}: notion use, correct (solid) vs incorrect (dashed)")


# ---- 6. Δaccuracy vs Δmeta-awareness (Fig. 1c/d) ----------------------------------------------

def quantile_bins(values, max_bins: int = 4, min_per_bin: int = 3) -> list[np.ndarray]:
    """Indices of ``values`` split into up to ``max_bins`` equal-count bins by rank (quantiles),
    fewer when there are under ``min_per_bin`` points per bin; empty list for no values."""
    v = np.asarray(values, float)
    if v.size == 0:
        return []
    n_bins = max(1, min(max_bins, v.size // min_per_bin))
    return [b for b in np.array_split(np.argsort(v, kind="stable"), n_bins) if b.size]


def delta_box(deltas: list[dict], max_bins: int = 4) -> Figure:
    """Δaccuracy per quantile bin of Δmeta-awareness, as box plots with the points overlaid.
    Mirrors paper Fig. 1c/d. Raises ValueError when no entry has finite d_acc and d_meta."""
    ok = [d for d in deltas if finite(d.get("d_acc")) and finite(d.get("d_meta"))]
    if not ok:
        raise ValueError("delta_box needs entries with finite d_acc and d_meta")
    meta = np.array([d["d_meta"] for d in ok], float)
    acc = np.array([d["d_acc"] for d in ok], float)
    bins = quantile_bins(meta, max_bins)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = [acc[b] for b in bins]
    bp = ax.boxplot(groups, positions=range(1, len(bins) + 1), widths=0.5, patch_artist=True,
                    showfliers=False, medianprops=dict(color="k"))
    for i, box in enumerate(bp["boxes"]):
        box.set(facecolor=pick_color(i), alpha=0.35)
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups):
        ax.scatter(i + 1 + rng.uniform(-0.12, 0.12, g.size), g, s=10, color=pick_color(i), zorder=3)
    ax.axhline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(range(1, len(bins) + 1),
                  [f"[{fmt_edge(meta[b].min())}, {fmt_edge(meta[b].max())}]\nn = {b.size}"
                   for b in bins])
    ax.set_xlabel("Δ meta-awareness = after − before (quantile bins; > 0: predictions moved\n"
                  "closer to the real pass rate and length; mean drop in absolute error)")
    ax.set_ylabel("Δ accuracy = pass rate after − before")
    ax.set_title("Accuracy gain vs meta-awareness gain")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def shapley_bars(r2: dict, title: str | None = None) -> Figure:
    """Horizontal bars of a Shapley R² split (:func:`masa_lite.meta.analysis.awareness_r2`), like the
    paper's Fig. 6. The bars are the *absolute* contributions to R² (in units of R²; they sum to
    the full R²), each labelled with its share of the full R² in percent — the paper reports the
    percentages. The title carries the full R² and n. Raises ValueError without shares."""
    if not r2.get("shares"):
        raise ValueError("shapley_bars needs a non-empty 'shares' (too few problems?)")
    names, vals = list(r2["shares"]), list(r2["shares"].values())
    total = r2.get("r2")
    fig, ax = plt.subplots(figsize=(6.5, 3))
    bars = ax.barh(names, vals, color="0.4")
    if finite(total) and total != 0:
        ax.bar_label(bars, [f"{v:.3f} ({v / total:.0%} of R²)" for v in vals], fontsize=7, padding=3)
    else:
        ax.bar_label(bars, [f"{v:.3f}" for v in vals], fontsize=7, padding=3)
    lo, hi = min(0.0, min(vals)), max(0.0, max(vals))
    ax.set_xlim(lo - 0.05 * (hi - lo or 1), hi + 0.45 * (hi - lo or 1))  # room for the labels
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("Shapley contribution to R² (absolute; the bars sum to R²)")
    head = f"{title}: " if title else ""
    ax.set_title(f"{head}Δaccuracy explained, R² = {r2['r2']:.2f}, n = {r2['n']}")
    fig.tight_layout()
    return fig


