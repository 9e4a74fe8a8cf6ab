"""Figures for masa_lite runs: each function takes plain run data and returns a matplotlib Figure.

Inputs are what the trainer writes (see ``history.py``): a *history* is a list of dicts, training
steps (``"kind": "train"`` or no kind) and evaluations (``"kind": "eval"``) mixed; calibration
pairs, notion stats and deltas are lists of dicts. Missing keys and non-finite values (an entropy of
NaN) are skipped. Policy for empty input: a multi-panel figure marks an empty panel with text
("no data" / "not recorded"); a figure with nothing at all to draw raises ``ValueError``.

Nothing here calls ``plt.show()`` or picks a backend: in a notebook the returned figure displays
itself, in a script pass it to :func:`save`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# Okabe-Ito: distinguishable under the common colour-vision deficiencies
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _train(history) -> list[dict]:
    return [r for r in history if r.get("kind", "train") == "train"]


def _evals(history) -> list[dict]:
    return [r for r in history if r.get("kind") == "eval"]


def _series(records, key, xkey="step"):
    """(x, y) arrays for records whose ``key`` is a finite number; x falls back to the index."""
    xs, ys = [], []
    for i, r in enumerate(records):
        if _finite(r.get(key)):
            xs.append(r[xkey] if _finite(r.get(xkey)) else i)
            ys.append(float(r[key]))
    return np.asarray(xs, float), np.asarray(ys, float)


def _empty(ax, text="no data"):
    ax.text(0.5, 0.5, text, ha="center", va="center", color="0.5", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_outside(ax, where: str = "right", ncol: int = 1, fontsize: int = 8):
    """A legend beside (``where="right"``) or under (``"below"``) the axes, never over the data."""
    if where == "right":
        return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                         borderaxespad=0.0, ncol=ncol)
    return ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol)


def _fmt_edge(v: float) -> str:
    """A bin edge with 2 decimals, without a "−0.00"."""
    txt = f"{v:.2f}"
    return "0.00" if txt == "-0.00" else txt


def moving_average(values, window: int = 1) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start); same length as ``values``."""
    v = np.asarray(values, float)
    if window <= 1 or v.size == 0:
        return v.copy()
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def save(fig: Figure, path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG atomically (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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
        ok = [p for p in pairs if _finite(p.get(pkey)) and _finite(p.get(akey))]
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

META_PARTS = [("r_pass", "r_pass (pass rate)"), ("r_len", "r_len (length)"),
              ("r_notion", "r_notion (notions)"), ("meta_reward", "meta reward (mean)")]


def meta_reward_parts(history, smooth: int = 1) -> Figure:
    """r_pass, r_len, r_notion and the meta reward vs step (trailing mean over ``smooth`` steps).

    Raises ValueError when no training record has any of these keys (e.g. a plain GRPO run)."""
    recs = _train(history)
    fig, ax = plt.subplots(figsize=(8.8, 4))
    drawn = 0
    for i, (key, label) in enumerate(META_PARTS):
        x, y = _series(recs, key)
        if x.size == 0:
            continue
        kw = dict(color=_color(i), lw=2.2 if key == "meta_reward" else 1.4)
        if smooth > 1:
            ax.plot(x, y, color=_color(i), alpha=0.25, lw=0.8)
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
    _legend_outside(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 3. accuracy vs step / wall-clock (Fig. 4) ------------------------------------------------

_XKEY = {"step": "step", "wall": "wall_seconds"}


def time_to_reach(history, target: float, x: str = "wall") -> float | None:
    """First eval x (``wall_seconds`` for x="wall", ``step`` for x="step") with pass@1 >= target,
    in the order of x; None if the run never reaches it. No interpolation between evals."""
    if x not in _XKEY:
        raise ValueError(f"x must be 'step' or 'wall', got {x!r}")
    xs, ys = _series([r for r in _evals(history) if _finite(r.get(_XKEY[x]))], "pass@1", _XKEY[x])
    for xv, yv in sorted(zip(xs, ys)):
        if yv >= target:
            return float(xv)
    return None


def accuracy_curves(runs: dict[str, list[dict]], x: str = "step",
                    target: float | None = None) -> Figure:
    """Eval pass@1 (± standard error band) vs step or wall-clock minutes for several methods.
    Mirrors paper Fig. 4. With ``target`` (e.g. GRPO's final accuracy) draws it dashed and marks
    where each curve first reaches it. Raises ValueError if no run has an eval record."""
    if x not in _XKEY:
        raise ValueError(f"x must be 'step' or 'wall', got {x!r}")
    xkey, scale = _XKEY[x], (60.0 if x == "wall" else 1.0)
    fig, ax = plt.subplots(figsize=(8.8, 4.4))
    drawn = 0
    for i, (name, hist) in enumerate(runs.items()):
        ev = sorted((r for r in _evals(hist) if _finite(r.get(xkey)) and _finite(r.get("pass@1"))),
                    key=lambda r: r[xkey])
        if not ev:
            continue
        xs = np.array([r[xkey] for r in ev], float) / scale
        ys = np.array([r["pass@1"] for r in ev], float)
        ax.plot(xs, ys, "o-", ms=3.5, color=_color(i), label=name, gid=name)
        se = np.array([r.get("pass@1_se") if _finite(r.get("pass@1_se")) else np.nan for r in ev])
        if np.isfinite(se).any():
            ax.fill_between(xs, ys - se, ys + se, color=_color(i), alpha=0.18, lw=0)
        drawn += 1
        if target is not None:
            hit = time_to_reach(hist, target, x=x)
            if hit is not None:
                ax.plot([hit / scale], [target], "*", ms=12, color=_color(i), mec="k", gid="reach")
                txt = f"{hit / scale:.1f} min" if x == "wall" else f"step {hit:g}"
                ax.annotate(txt, (hit / scale, target), textcoords="offset points",
                            xytext=(4, -12 - 10 * i), fontsize=7, color=_color(i))
    if not drawn:
        plt.close(fig)
        raise ValueError("no run has an eval record with pass@1 and " + xkey)
    if target is not None:
        ax.axhline(target, color="0.3", ls="--", lw=1, label=f"target {target:.3f}")
    ax.set_xlabel("training step" if x == "step" else "training wall-clock (minutes, evaluation excluded)")
    ax.set_ylabel("held-out pass@1 (share correct, ± s.e.)")
    ax.set_title("Accuracy vs " + ("step" if x == "step" else "wall-clock time"))
    _legend_outside(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 4. gating / cutoff precision, recall, F1 (Table 3) ---------------------------------------

def control_prf_bars(results: dict[str, dict], paper: dict | None = None) -> Figure:
    """Grouped precision / recall / F1 bars for predictive gating and early cutoff, one bar per
    method. Mirrors paper Table 3. ``paper`` maps "gate_f1" / "cutoff_f1" to per-method values
    (same order as ``results``; None to skip) drawn as dashed black marks (gid "paper") across the
    F1 bars and labelled with the value. A metric that is missing or undefined (precision when
    nothing was gated: 0/0) is marked "n/a" instead of a bar; a panel with nothing at all reads
    "not recorded". The legend sits under the panels.
    """
    if not results:
        raise ValueError("control_prf_bars needs at least one method")
    names = list(results)
    for key, ref in (paper or {}).items():
        if ref is not None and len(ref) != len(names):
            raise ValueError(f"paper[{key!r}] has {len(ref)} values for {len(names)} methods")
    metrics = ["precision", "recall", "f1"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
    width = 0.8 / len(names)
    for ax, (prefix, title) in zip(axes, [("gate", "Predictive gating (skip a prompt)"),
                                          ("cutoff", "Early cutoff (stop a rollout)")]):
        ax.set_title(title)
        missing = []
        for j, name in enumerate(names):
            offs = np.arange(3) - 0.4 + width * (j + 0.5)
            vals = [results[name].get(f"{prefix}_{m}") for m in metrics]
            keep = [k for k, v in enumerate(vals) if _finite(v)]
            missing += [offs[k] for k in range(3) if k not in keep]
            if keep:
                bars = ax.bar(offs[keep], [vals[k] for k in keep], width * 0.95, color=_color(j),
                              label=name)
                ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
            ref = (paper or {}).get(f"{prefix}_f1")
            if ref is not None and _finite(ref[j]):
                first = not any(ln.get_gid() == "paper" for ln in ax.lines)
                ax.plot([offs[2] - width / 2, offs[2] + width / 2], [ref[j], ref[j]], "k--", lw=1.6,
                        gid="paper", label="paper F1 (Table 3)" if first else None)
                ax.annotate(f"paper {ref[j]:.3f}", (offs[2], ref[j]), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=7)
        if not ax.patches and not ax.lines:
            _empty(ax, "not recorded")
            continue
        for x in missing:
            ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
        ax.set_xticks(range(3), ["precision", "recall", "F1"])
        ax.set_xlim(-0.5, 2.5)
        ax.set_ylim(0, 1.1)
        ax.set_xlabel("metric, against the audited real outcome")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("score (0–1)")
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Meta-based controls vs the real outcome")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


# ---- 5. notion frequency in correct vs wrong rollouts -----------------------------------------

def notion_stats_from_history(history) -> list[dict]:
    """Flatten the evaluations' ``notion_freq`` into the records :func:`notion_frequency` draws:
    ``{"step", "notion", "freq_correct", "freq_wrong"}``."""
    return [{"step": e["step"], "notion": n, "freq_correct": f.get("correct"),
             "freq_wrong": f.get("wrong")}
            for e in _evals(history) for n, f in (e.get("notion_freq") or {}).items()]


def notion_frequency(stats: list[dict], notions: list[str] | None = None, top: int = 4,
                     title: str | None = None) -> Figure:
    """Share of correct (solid) vs incorrect (dashed) rollouts containing each notion, per step.
    Without ``notions``, shows the ``top`` most frequent ones. The legend sits under the axes.
    Raises ValueError with no data."""
    by = {}
    for s in stats:
        if _finite(s.get("step")) and s.get("notion") is not None:
            by.setdefault(s["notion"], []).append(s)
    if notions is None:
        def mean_freq(n):
            v = [s.get(k) for s in by[n] for k in ("freq_correct", "freq_wrong")]
            return float(np.mean([x for x in v if _finite(x)] or [0.0]))
        notions = sorted(by, key=lambda n: (-mean_freq(n), n))[:top]
    notions = [n for n in notions if n in by]
    if not notions:
        raise ValueError("no notion statistics to draw")
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, n in enumerate(notions):
        recs = sorted(by[n], key=lambda s: s["step"])
        for key, ls, lab in [("freq_correct", "-", "correct"), ("freq_wrong", "--", "wrong")]:
            x, y = _series(recs, key)
            if x.size:
                ax.plot(x, y, ls=ls, marker=".", color=_color(i), label=f"{n} ({lab})",
                        gid=f"{n}|{key}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step (held-out evaluations)")
    ax.set_ylabel("share of held-out rollouts using the notion (0–1)")
    ax.set_title(title or "Notion use: correct (solid) vs incorrect (dashed) rollouts")
    _legend_outside(ax, "below", ncol=min(4, 2 * len(notions)), fontsize=7)
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
    ok = [d for d in deltas if _finite(d.get("d_acc")) and _finite(d.get("d_meta"))]
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
        box.set(facecolor=_color(i), alpha=0.35)
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups):
        ax.scatter(i + 1 + rng.uniform(-0.12, 0.12, g.size), g, s=10, color=_color(i), zorder=3)
    ax.axhline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xticks(range(1, len(bins) + 1),
                  [f"[{_fmt_edge(meta[b].min())}, {_fmt_edge(meta[b].max())}]\nn = {b.size}"
                   for b in bins])
    ax.set_xlabel("Δ meta-awareness = after − before (quantile bins; > 0: predictions moved\n"
                  "closer to the real pass rate and length; mean drop in absolute error)")
    ax.set_ylabel("Δ accuracy = pass rate after − before")
    ax.set_title("Accuracy gain vs meta-awareness gain")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def shapley_bars(r2: dict, title: str | None = None) -> Figure:
    """Horizontal bars of a Shapley R² split (:func:`masa_lite.analysis.awareness_r2`), like the
    paper's Fig. 6. The bars are the *absolute* contributions to R² (in units of R²; they sum to
    the full R²), each labelled with its share of the full R² in percent — the paper reports the
    percentages. The title carries the full R² and n. Raises ValueError without shares."""
    if not r2.get("shares"):
        raise ValueError("shapley_bars needs a non-empty 'shares' (too few problems?)")
    names, vals = list(r2["shares"]), list(r2["shares"].values())
    total = r2.get("r2")
    fig, ax = plt.subplots(figsize=(6.5, 3))
    bars = ax.barh(names, vals, color="0.4")
    if _finite(total) and total != 0:
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
    recs = _train(history)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (title, keys) in zip(axes.flat, OVERVIEW_PANELS):
        ax.set_title(title)
        drawn = 0
        for i, key in enumerate(keys):
            x, y = _series(recs, key)
            if x.size:
                ax.plot(x, y, color=_color(i), lw=1.4, ls="-" if i == 0 else "--", label=key, gid=key)
                drawn += 1
        if not drawn:
            _empty(ax, "not recorded")
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(OVERVIEW_UNITS[title], fontsize=8)
        ax.grid(alpha=0.3)
        if "frac" in keys[0]:
            ax.set_ylim(-0.02, 1.02)

    fig.suptitle("Training overview")
    fig.tight_layout()
    return fig


# ---- 8. MASA-efficient per step: gated / cut shares and time per phase --------------------------

PHASES = [("seconds_meta", "meta rollouts"), ("seconds_generation", "solution rollouts"),
          ("seconds_scoring", "scoring + audits"), ("seconds_training", "policy update"),
          ("seconds_sft", "Expert SFT")]


def efficient_steps(runs: dict[str, list[dict]]) -> Figure:
    """Left: per training step, the share of prompts gated (solid) and of solution rollouts cut
    (dashed), for every run that records them. Right: mean seconds per step split by phase
    (:data:`PHASES`), one stacked bar per run. Raises ValueError without training records."""
    if not any(_train(h) for h in runs.values()):
        raise ValueError("efficient_steps needs training records")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.2, 1]})
    drawn = 0
    for i, (name, hist) in enumerate(runs.items()):
        recs = _train(hist)
        for key, ls, what in (("gated_frac", "-", "prompts gated"), ("cut_frac", "--", "rollouts cut")):
            x, y = _series(recs, key)
            if x.size:
                ax.plot(x, y, ls=ls, marker=".", color=_color(i), label=f"{name}: {what}",
                        gid=f"{name}|{key}")
                drawn += 1
    if drawn:
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training step (sequential mode after the warm-up)")
        ax.set_ylabel("share (0–1)")
        ax.grid(alpha=0.3)
        _legend_outside(ax, "below", ncol=1, fontsize=7)
    else:
        _empty(ax, "no gating or cutoff recorded")
    ax.set_title("Gated prompts and cut rollouts per step")
    names = list(runs)
    bottom = np.zeros(len(names))
    for j, (key, label) in enumerate(PHASES):
        vals = np.array([np.mean([r[key] for r in _train(runs[n]) if _finite(r.get(key))] or [0.0])
                         for n in names])
        bx.bar(range(len(names)), vals, bottom=bottom, color=_color(j), label=label, gid=key)
        bottom += vals
    bx.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    bx.set_xlabel("run")
    bx.set_ylabel("mean seconds per training step")
    bx.set_title("Where a step's time goes")
    _legend_outside(bx, "right", fontsize=7)
    bx.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 9. evaluation: pass@k and notion feed-in ---------------------------------------------------

def _ks(result: dict) -> list[int]:
    return sorted(int(k[5:]) for k, v in result.items()
                  if k.startswith("pass@") and k[5:].isdigit() and _finite(v))


def pass_at_k(results: dict[str, dict]) -> Figure:
    """Left: unbiased pass@k against k (log scale) per model; right: pass@1 per level per model.
    ``results`` maps a name to an evaluation result (``evaluation.evaluate_policy`` or an eval
    record): keys "pass@K" and "per_level" ({level: pass@1}). A result with only pass@1 (greedy)
    is one point at k = 1. Raises ValueError when no result has a pass@k."""
    if not any(_ks(r) for r in results.values()):
        raise ValueError("pass_at_k needs results with pass@k values")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (name, r) in enumerate(results.items()):
        ks = _ks(r)
        if ks:
            ax.plot(ks, [r[f"pass@{k}"] for k in ks], "o-", color=_color(i), label=name, gid=name)
    ax.set_xscale("log", base=2)
    all_ks = sorted({k for r in results.values() for k in _ks(r)})
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.minorticks_off()
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel("held-out pass@k (share of problems solved)")
    ax.set_ylim(0, 1.02)
    ax.set_title("pass@k")
    ax.grid(alpha=0.3)
    _legend_outside(ax, "below", ncol=min(3, len(results)))
    levels = sorted({str(lv) for r in results.values() for lv in (r.get("per_level") or {})},
                    key=lambda v: (len(v), v))
    width = 0.8 / max(len(results), 1)
    for i, (name, r) in enumerate(results.items()):
        per = {str(k): v for k, v in (r.get("per_level") or {}).items()}
        xs = [j for j, lv in enumerate(levels) if _finite(per.get(lv))]
        bx.bar(np.array(xs) - 0.4 + width * (i + 0.5), [per[levels[j]] for j in xs], width * 0.95,
               color=_color(i), label=name)
    if levels:
        bx.set_xticks(range(len(levels)), levels)
        bx.set_xlabel("level (number of operations)")
        bx.set_ylabel("held-out pass@1 (share correct)")
        bx.set_ylim(0, 1.02)
        bx.grid(axis="y", alpha=0.3)
        _legend_outside(bx, "below", ncol=min(3, len(results)))
    else:
        _empty(bx, "no per-level results")
    bx.set_title("pass@1 per level")
    fig.tight_layout()
    return fig


def feed_in(results: dict[str, dict]) -> Figure:
    """Notion feed-in at inference: pass@1 (± standard error) overall and per level for each
    condition (e.g. {"no feed-in": record, "feed-in": record}, records of
    ``trainer.evaluate_run``). Raises ValueError when no record has pass@1."""
    ok = {n: r for n, r in results.items() if _finite(r.get("pass@1"))}
    if not ok:
        raise ValueError("feed_in needs records with pass@1")
    levels = sorted({str(lv) for r in ok.values() for lv in (r.get("per_level") or {})},
                    key=lambda v: (len(v), v))
    cols = ["all"] + levels
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(ok)
    for i, (name, r) in enumerate(ok.items()):
        per = {str(k): v for k, v in (r.get("per_level") or {}).items()}
        vals = [r["pass@1"]] + [per.get(lv, np.nan) for lv in levels]
        xs = np.arange(len(cols)) - 0.4 + width * (i + 0.5)
        ax.bar(xs, vals, width * 0.95, color=_color(i), label=name, gid=name)
        if _finite(r.get("pass@1_se")):  # the standard error over problems, overall only
            ax.errorbar(xs[0], vals[0], yerr=r["pass@1_se"], fmt="none", ecolor="k", capsize=3)
    ax.set_xticks(range(len(cols)), ["all\n(± s.e.)"] + [f"level {lv}" for lv in levels])
    ax.set_ylabel("held-out pass@1 (share correct)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Notion feed-in at inference")
    ax.grid(axis="y", alpha=0.3)
    _legend_outside(ax, "right")
    fig.tight_layout()
    return fig


# ---- 10. several runs, several training signals -------------------------------------------------

def compare_runs(runs: dict[str, list[dict]], keys: list[tuple[str, str]]) -> Figure:
    """One panel per training signal, one line per run: ``keys`` is a list of (history key,
    axis label with its unit), e.g. ``[("r_pass", "r_pass (0–1)"), ("gated_frac", "share gated")]``.
    A key no run recorded leaves "not recorded". Raises ValueError without runs or keys."""
    if not runs or not keys:
        raise ValueError("compare_runs needs at least one run and one key")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], keys):
        drawn = 0
        for i, (name, hist) in enumerate(runs.items()):
            x, y = _series(_train(hist), key)
            if x.size:
                ax.plot(x, y, marker=".", color=_color(i), label=name, gid=f"{name}|{key}")
                drawn += 1
        ax.set_title(key)
        if not drawn:
            _empty(ax, "not recorded")
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
