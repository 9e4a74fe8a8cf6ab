"""Figures of MASA-efficient and evaluation: gate/cutoff precision, recall, F1 (Table 3), gated and
cut shares and time per phase, pass@k and notion feed-in. Same conventions as
:mod:`masa_lite.teach.plots`."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from masa_lite.history import train_records
from masa_lite.teach.plot_kit import (empty_panel, finite, legend_outside, pick_color, series)


# ---- 4. gating / cutoff precision, recall, F1 (Table 3) ---------------------------------------

def control_prf_bars(results: dict[str, dict], paper: dict | None = None) -> Figure:
    """Grouped precision / recall / F1 bars for predictive gating and early cutoff, one bar per
    method. Mirrors paper Table 3. ``paper`` maps "gate_f1" / "cutoff_f1" to per-method values
    (same order as ``results``; None to skip) drawn as dashed black marks (gid "paper") across the
    F1 bars and labelled with the value. A metric that is missing or undefined (precision when
    nothing was gated: 0/0) is marked "n/a" instead of a bar; a panel with nothing at all reads
    "not recorded". The legend sits under the panels. A value may be a list, one per seed: the bar
    is then the mean of the seeds that have a number, and each seed is a dot on it.
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
            seeds = [_seed_values(results[name].get(f"{prefix}_{m}")) for m in metrics]
            vals = [float(np.mean(v)) if v else None for v in seeds]
            keep = [k for k, v in enumerate(vals) if finite(v)]
            missing += [offs[k] for k in range(3) if k not in keep]
            if keep:
                bars = ax.bar(offs[keep], [vals[k] for k in keep], width * 0.95, color=pick_color(j),
                              label=name)
                ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
            for k in keep:
                if isinstance(results[name].get(f"{prefix}_{metrics[k]}"), (list, tuple)):
                    first = not any(ln.get_gid() == "seed" for ln in ax.lines)
                    ax.plot([offs[k]] * len(seeds[k]), seeds[k], "o", ms=3, color="0.15", gid="seed",
                            label="each seed" if first else None)
            ref = (paper or {}).get(f"{prefix}_f1")
            if ref is not None and finite(ref[j]):
                first = not any(ln.get_gid() == "paper" for ln in ax.lines)
                ax.plot([offs[2] - width / 2, offs[2] + width / 2], [ref[j], ref[j]], "k--", lw=1.6,
                        gid="paper", label="paper F1 (Table 3)" if first else None)
                ax.annotate(f"paper {ref[j]:.3f}", (offs[2], ref[j]), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=7)
        if not ax.patches and not ax.lines:
            empty_panel(ax, "not recorded")
            continue
        for x in missing:
            ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
        ax.set_xticks(range(3), ["precision", "recall", "F1"])
        ax.set_xlim(-0.5, 2.5)
        ax.set_ylim(0, 1.1)
        ax.set_xlabel("metric, against the audited real outcome")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("score (0–1)")
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles),
                   fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Meta-based controls vs the real outcome")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _seed_values(value) -> list[float]:
    """The finite numbers of a bar's value: one number, or a list of one per seed."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [float(v) for v in values if finite(v)]


# ---- 8. MASA-efficient per step: gated / cut shares and time per phase --------------------------

PHASES = [("seconds_meta", "meta rollouts"), ("seconds_generation", "solution rollouts"),
          ("seconds_scoring", "scoring + audits"), ("seconds_training", "policy update"),
          ("seconds_sft", "Expert SFT")]


def efficient_steps(runs: dict[str, list[dict]]) -> Figure:
    """Left: per training step, the share of prompts gated (solid) and of solution rollouts cut
    (dashed), for every run that records them. Right: mean seconds per step split by phase
    (:data:`PHASES`), one stacked bar per run. Raises ValueError without training records."""
    if not any(train_records(h) for h in runs.values()):
        raise ValueError("efficient_steps needs training records")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.2, 1]})
    drawn = 0
    for i, (name, hist) in enumerate(runs.items()):
        recs = train_records(hist)
        for key, ls, what in (("gated_frac", "-", "prompts gated"), ("cut_frac", "--", "rollouts cut")):
            x, y = series(recs, key)
            if x.size:
                ax.plot(x, y, ls=ls, marker=".", color=pick_color(i), label=f"{name}: {what}",
                        gid=f"{name}|{key}")
                drawn += 1
    if drawn:
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("training step (sequential mode after the warm-up)")
        ax.set_ylabel("share (0–1)")
        ax.grid(alpha=0.3)
        legend_outside(ax, "below", ncol=1, fontsize=7)
    else:
        empty_panel(ax, "no gating or cutoff recorded")
    ax.set_title("Gated prompts and cut rollouts per step")
    names = list(runs)
    bottom = np.zeros(len(names))
    for j, (key, label) in enumerate(PHASES):
        vals = np.array([np.mean([r[key] for r in train_records(runs[n]) if finite(r.get(key))] or [0.0])
                         for n in names])
        bx.bar(range(len(names)), vals, bottom=bottom, color=pick_color(j), label=label, gid=key)
        bottom += vals
    bx.set_xticks(range(len(names)), [n.replace(" (", "\n(") for n in names], fontsize=7)
    bx.set_xlabel("run")
    bx.set_ylabel("mean seconds per training step")
    bx.set_title("Where a step's time goes")
    legend_outside(bx, "right", fontsize=7)
    bx.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# ---- 9. evaluation: pass@k and notion feed-in ---------------------------------------------------

def _ks(result: dict) -> list[int]:
    return sorted(int(k[5:]) for k, v in result.items()
                  if k.startswith("pass@") and k[5:].isdigit() and finite(v))


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
            ax.plot(ks, [r[f"pass@{k}"] for k in ks], "o-", color=pick_color(i), label=name, gid=name)
    ax.set_xscale("log", base=2)
    all_ks = sorted({k for r in results.values() for k in _ks(r)})
    ax.set_xticks(all_ks, [str(k) for k in all_ks])
    ax.minorticks_off()
    ax.set_xlabel("k (samples per problem, log scale)")
    ax.set_ylabel("held-out pass@k (share of problems solved)")
    ax.set_ylim(0, 1.02)
    ax.set_title("pass@k")
    ax.grid(alpha=0.3)
    legend_outside(ax, "below", ncol=min(3, len(results)))
    levels = sorted({str(lv) for r in results.values() for lv in (r.get("per_level") or {})},
                    key=lambda v: (len(v), v))
    width = 0.8 / max(len(results), 1)
    for i, (name, r) in enumerate(results.items()):
        per = {str(k): v for k, v in (r.get("per_level") or {}).items()}
        xs = [j for j, lv in enumerate(levels) if finite(per.get(lv))]
        bx.bar(np.array(xs) - 0.4 + width * (i + 0.5), [per[levels[j]] for j in xs], width * 0.95,
               color=pick_color(i), label=name)
    if levels:
        bx.set_xticks(range(len(levels)), levels)
        bx.set_xlabel("level (number of operations)")
        bx.set_ylabel("held-out pass@1 (share correct)")
        bx.set_ylim(0, 1.02)
        bx.grid(axis="y", alpha=0.3)
        legend_outside(bx, "below", ncol=min(3, len(results)))
    else:
        empty_panel(bx, "no per-level results")
    bx.set_title("pass@1 per level")
    fig.tight_layout()
    return fig


def feed_in(results: dict[str, dict]) -> Figure:
    """Notion feed-in at inference: pass@1 (± standard error) overall and per level for each
    condition (e.g. {"no feed-in": record, "feed-in": record}, records of
    ``masa_lite.evaluation.evaluate_run``). Raises ValueError when no record has pass@1."""
    ok = {n: r for n, r in results.items() if finite(r.get("pass@1"))}
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
        ax.bar(xs, vals, width * 0.95, color=pick_color(i), label=name, gid=name)
        if finite(r.get("pass@1_se")):  # the standard error over problems, overall only
            ax.errorbar(xs[0], vals[0], yerr=r["pass@1_se"], fmt="none", ecolor="k", capsize=3)
    ax.set_xticks(range(len(cols)), ["all\n(± s.e.)"] + [f"level {lv}" for lv in levels])
    ax.set_ylabel("held-out pass@1 (share correct)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Notion feed-in at inference")
    ax.grid(axis="y", alpha=0.3)
    legend_outside(ax, "right")
    fig.tight_layout()
    return fig


def feed_in_over_seeds(by_method: dict[str, dict[str, list[float]]], conditions=None) -> Figure:
    """Notion feed-in over seeds: for each method (group) and condition (bar, e.g. "no feed-in",
    "predicted notions", "true notions"), the mean held-out pass@1 of the seeds that have a number
    (bar, labelled) and each seed's value (dots). ``by_method``: {method: {condition: [per seed]}};
    ``conditions``: their order and colours (default: as first met)."""
    conditions = list(conditions or dict.fromkeys(c for conds in by_method.values() for c in conds))
    if not conditions:
        raise ValueError("feed_in_over_seeds needs at least one method with a condition")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(conditions)
    seeds = 0
    for i, cond in enumerate(conditions):
        for j, conds in enumerate(by_method.values()):
            vals = _seed_values(conds.get(cond))
            if not vals:
                continue
            seeds = max(seeds, len(vals))
            x = j - 0.4 + width * (i + 0.5)
            labelled = {c.get_label() for c in ax.containers}
            bar = ax.bar([x], [np.mean(vals)], width * 0.95, color=pick_color(i), gid=cond,
                         label=None if cond in labelled else cond)
            ax.bar_label(bar, fmt="%.3f", fontsize=7, padding=2)
            ax.plot([x] * len(vals), vals, "o", ms=3, color="0.15", gid="seed",
                    label=None if ax.lines else "each seed")
    ax.set_xticks(range(len(by_method)), list(by_method))
    ax.set_ylabel("held-out pass@1 (share correct)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Notion feed-in at inference: mean of {seeds} seeds (bars), each seed (dots)")
    ax.grid(axis="y", alpha=0.3)
    legend_outside(ax, "right")
    fig.tight_layout()
    return fig


# ---- when does MASA-efficient pay? the cost model against measured speed-ups -------------------

def speedup_map(points: list[dict], cutoff_saving: float = 0.0) -> Figure:
    """The cost model's bound on the speed-up, 1 / ((1 − g)(1 − c) + m)
    (:mod:`masa_lite.study.cost`), over the meta path's cost m and the gated share g, with the
    measured regimes on it. ``points``: dicts with ``label``, ``m``, ``g`` and ``speedup`` (the
    measured one, None when not reached), optionally ``c`` (the cutoff's saving) and ``paper`` (True
    marks the paper's point). The 1× contour is where MASA-efficient starts to pay."""
    from masa_lite.study.cost import speedup_bound

    if not points:
        raise ValueError("speedup_map needs at least one measured regime")
    m = np.linspace(0, 1.3, 131)
    g = np.linspace(0, 0.8, 81)
    bound = np.array([[speedup_bound(mi, gi, cutoff_saving) for mi in m] for gi in g])
    fig, ax = plt.subplots(figsize=(7, 4.6))
    mesh = ax.pcolormesh(m, g, bound, cmap="RdYlGn", vmin=0.3, vmax=2.0, shading="auto")
    fig.colorbar(mesh, ax=ax, label="speed-up bound 1 / ((1 − g)(1 − c) + m)")
    cs = ax.contour(m, g, bound, levels=[0.5, 1.0, 1.28, 1.5], colors="k", linewidths=0.8)
    ax.clabel(cs, fmt=lambda v: f"{v:g}×", fontsize=8)
    for p in points:
        style = dict(marker="*", s=220, c="white", edgecolors="k") if p.get("paper") else \
            dict(marker="o", s=70, c="k")
        ax.scatter([p["m"]], [p["g"]], zorder=3, **style)
        measured = "not reached" if p.get("speedup") is None else f"{p['speedup']:.2f}×"
        bnd = speedup_bound(p["m"], p["g"], p.get("c", 0.0))
        right = p["m"] > 0.65  # labels of points on the right half go to their left
        ax.annotate(f"{p['label']}\nmeasured {measured}, bound {bnd:.2f}×", (p["m"], p["g"]),
                    xytext=(-8 if right else 8, 6), textcoords="offset points", fontsize=8,
                    ha="right" if right else "left",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", alpha=0.8))
    ax.set_xlabel("m: meta-path tokens per solution token")
    ax.set_ylabel("g: share of prompts gated")
    ax.set_title("When does MASA-efficient pay? (cost model, c = cutoff saving "
                 f"{cutoff_saving:.0%} on the map)", fontsize=10)
    fig.tight_layout()
    return fig
