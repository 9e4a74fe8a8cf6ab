"""Shared pieces of masa_lite's figures: colours, reading series out of a history, panels, legends,
and :func:`save` (PNG, written atomically). The figures themselves: :mod:`masa_lite.teach.plots`
(training runs), :mod:`masa_lite.teach.plots_meta` (the meta path) and
:mod:`masa_lite.teach.plots_efficient` (MASA-efficient and evaluation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from masa_lite.files import atomic_target
from masa_lite.stats import finite_number as finite

# Okabe-Ito: distinguishable under the common colour-vision deficiencies
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def pick_color(i: int) -> str:
    """The i-th colour of :data:`COLORS`, cycling."""
    return COLORS[i % len(COLORS)]


def series(records, key, xkey="step"):
    """(x, y) arrays for records whose ``key`` is a finite number; x falls back to the index."""
    xs, ys = [], []
    for i, r in enumerate(records):
        if finite(r.get(key)):
            xs.append(r[xkey] if finite(r.get(xkey)) else i)
            ys.append(float(r[key]))
    return np.asarray(xs, float), np.asarray(ys, float)


def empty_panel(ax, text="no data"):
    """Mark an axes that has nothing to draw."""
    ax.text(0.5, 0.5, text, ha="center", va="center", color="0.5", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def legend_outside(ax, where: str = "right", ncol: int = 1, fontsize: int = 8):
    """A legend beside (``where="right"``) or under (``"below"``) the axes, never over the data."""
    if where == "right":
        return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                         borderaxespad=0.0, ncol=ncol)
    return ax.legend(fontsize=fontsize, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol)


def fmt_edge(v: float) -> str:
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
    with atomic_target(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)

