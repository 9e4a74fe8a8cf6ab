"""Figures: each function returns a Figure with the expected axes and artists, by hand-made data."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from masa_lite import stats
from masa_lite.teach import plot_kit
from masa_lite.teach import plots
from masa_lite.teach import plots_efficient
from masa_lite.teach import plots_meta


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def gid_lines(ax, gid):
    return [ln for ln in ax.lines if ln.get_gid() == gid]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def legend_texts(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


# ---- calibration ------------------------------------------------------------------------------

def pairs(preds, actuals, levels):
    return [{"pred_pass_rate": p, "actual_pass_rate": a, "pred_length": None if p is None else 100 * p,
             "actual_length": 100 * a + 20, "level": lv} for p, a, lv in zip(preds, actuals, levels)]


def test_calibration_fit_matches_polyfit_and_has_identity():
    x = [0.1, 0.3, 0.5, 0.7, 0.9, None]
    y = [0.2, 0.25, 0.6, 0.65, 0.95, 0.5]
    fig = plots_meta.calibration_scatter({"base": pairs(x, y, [1, 1, 2, 2, 3, 3]),
                                     "MASA": pairs(x, y, [1] * 6), "GRPO": pairs(x, y, [2] * 6)})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    ax = fig.axes[0]
    ident = gid_lines(ax, "identity")
    assert len(ident) == 1 and list(ident[0].get_xdata()) == [0, 1] == list(ident[0].get_ydata())
    (fit,) = gid_lines(ax, "fit")
    fx, fy = np.asarray(fit.get_xdata(), float), np.asarray(fit.get_ydata(), float)
    slope, icpt = np.polyfit(x[:5], y[:5], 1)
    assert (fy[1] - fy[0]) / (fx[1] - fx[0]) == pytest.approx(slope)
    assert fy[0] - fx[0] * slope == pytest.approx(icpt)
    r = np.corrcoef(x[:5], y[:5])[0, 1]
    assert f"fit: slope {slope:.2f}, r = {r:.2f}" in legend_texts(ax)
    assert "(n = 5)" in ax.get_title()  # the None prediction is dropped
    assert len(ax.collections) == 3 and len(fig.axes[1].collections) == 1  # one scatter per level
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)


@pytest.mark.parametrize("x", [[0.5, 0.8], [0.4, 0.4, 0.4, 0.4]])
def test_calibration_no_fit_for_few_points_or_constant_x(x):
    fig = plots_meta.calibration_scatter({"GRPO": pairs(x, [0.1, 0.9, 0.5, 0.2][:len(x)], [1] * len(x))})
    (fit,) = gid_lines(fig.axes[0], "fit")
    assert len(fit.get_xdata()) == 0
    assert "no fit" in legend_texts(fig.axes[0])


def test_calibration_length_uses_shared_range_and_tolerates_empty_panel():
    a = pairs([0.1, 0.5, 0.9], [0.2, 0.4, 0.8], [1, 2, 3])     # lengths up to 100 * 0.8 + 20 = 100
    b = pairs([0.2, 0.4, 0.6], [0.1, 0.2, 0.3], [1, 1, 1])
    fig = plots_meta.calibration_scatter({"a": a, "b": b, "empty": []}, quantity="length", title="len")
    assert fig._suptitle.get_text() == "len"
    lims = [ax.get_xlim() for ax in fig.axes] + [ax.get_ylim() for ax in fig.axes]
    assert lims == [(0.0, pytest.approx(105.0))] * 6
    assert "no data" in texts(fig.axes[2]) and "no fit" in legend_texts(fig.axes[2])
    (fit,) = gid_lines(fig.axes[0], "fit")
    slope = np.polyfit([10, 50, 90], [40, 60, 100], 1)[0]
    fx, fy = fit.get_xdata(), fit.get_ydata()
    assert (fy[1] - fy[0]) / (fx[1] - fx[0]) == pytest.approx(slope)


def test_calibration_rejects_bad_input():
    with pytest.raises(ValueError, match="quantity"):
        plots_meta.calibration_scatter({"a": []}, quantity="notion")
    with pytest.raises(ValueError, match="at least one panel"):
        plots_meta.calibration_scatter({})


# ---- meta reward parts ------------------------------------------------------------------------

def test_moving_average_by_hand():
    assert plot_kit.moving_average([1, 2, 3, 4], 2).tolist() == [1, 1.5, 2.5, 3.5]
    assert plot_kit.moving_average([3, 6, 9], 3).tolist() == [3, 4.5, 6]
    assert plot_kit.moving_average([1, 5], 1).tolist() == [1, 5]
    assert plot_kit.moving_average([], 4).size == 0


def test_meta_reward_parts_draws_present_keys_and_smooths():
    hist = [{"kind": "train", "step": s, "r_pass": 0.1 * s, "r_len": float(s % 2),
             "meta_reward": 0.3} for s in range(1, 6)]
    hist.append({"kind": "eval", "step": 5, "pass@1": 0.4})
    fig = plots_meta.meta_reward_parts(hist)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert {ln.get_gid() for ln in ax.lines} == {"r_pass", "r_len", "meta_reward"}
    fig = plots_meta.meta_reward_parts(hist, smooth=2)
    (ln,) = gid_lines(fig.axes[0], "r_len")
    assert list(ln.get_ydata()) == pytest.approx([1, 0.5, 0.5, 0.5, 0.5])
    assert len(fig.axes[0].lines) == 6  # faint raw line under each smoothed one


def test_meta_reward_parts_raises_for_plain_grpo():
    with pytest.raises(ValueError, match="meta reward"):
        plots_meta.meta_reward_parts([{"step": 1, "accuracy": 0.5, "reward": 0.5}])
    with pytest.raises(ValueError):
        plots_meta.meta_reward_parts([])


# ---- accuracy curves and time to reach --------------------------------------------------------

def ev(step, wall, acc, se=None):
    r = {"kind": "eval", "step": step, "wall_seconds": wall, "pass@1": acc,
         "per_level": {"1": acc}}
    if se is not None:
        r["pass@1_se"] = se
    return r


RUN = [{"kind": "train", "step": 1, "accuracy": 0.99}, ev(30, 180, 0.5), ev(10, 60, 0.2),
       ev(20, 120, 0.35), {"kind": "eval", "step": 40, "pass@1": 0.9}]


def test_time_to_reach_by_hand():
    assert stats.time_to_reach(RUN, 0.35) == 120.0      # >= is inclusive, evals sorted by x
    assert stats.time_to_reach(RUN, 0.4) == 180.0
    assert stats.time_to_reach(RUN, 0.1) == 60.0
    assert stats.time_to_reach(RUN, 0.6) is None        # the step-40 eval has no wall_seconds
    assert stats.time_to_reach(RUN, 0.6, x="step") == 40.0  # ...but counts by step
    assert stats.time_to_reach(RUN, 0.95, x="step") is None  # train accuracy 0.99 is ignored
    assert stats.time_to_reach([], 0.1) is None
    with pytest.raises(ValueError):
        stats.time_to_reach(RUN, 0.1, x="tokens")


def test_accuracy_curves_wall_band_and_target():
    grpo = [ev(10, 60, 0.2, 0.05), ev(20, 120, 0.4, 0.05)]
    fast = [ev(10, 30, 0.3), ev(20, 60, 0.45)]
    fig = plots.accuracy_curves({"GRPO": grpo, "MASA-efficient": fast, "no evals": [{"step": 1}]},
                                x="wall", target=0.4)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    (g,) = gid_lines(ax, "GRPO")
    assert list(g.get_xdata()) == [1.0, 2.0] and list(g.get_ydata()) == [0.2, 0.4]
    assert gid_lines(ax, "no evals") == []
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 1  # only GRPO has se
    reach = sorted(ln.get_xdata()[0] for ln in gid_lines(ax, "reach"))
    assert reach == [1.0, 2.0]
    assert "target 0.400" in legend_texts(ax) and "minutes" in ax.get_xlabel()
    fig = plots.accuracy_curves({"GRPO": grpo}, target=0.9)
    assert gid_lines(fig.axes[0], "reach") == []
    assert list(gid_lines(fig.axes[0], "GRPO")[0].get_xdata()) == [10, 20]


def test_accuracy_curves_raises_without_evals():
    with pytest.raises(ValueError, match="eval"):
        plots.accuracy_curves({"GRPO": [{"step": 1, "accuracy": 0.3}]})
    with pytest.raises(ValueError):
        plots.accuracy_curves({"GRPO": [ev(1, 1, 0.1)]}, x="tokens")


# ---- gating / cutoff bars ---------------------------------------------------------------------

PRF = {"no SFT": {"gate_precision": 0.5, "gate_recall": 0.4, "gate_f1": 0.44,
                  "cutoff_precision": 0.7, "cutoff_recall": 0.8, "cutoff_f1": 0.75},
       "SFT": {"gate_precision": 0.6, "gate_recall": 0.5, "gate_f1": 0.55,
               "cutoff_precision": 0.9, "cutoff_f1": 0.85}}


def test_control_prf_bars_heights_and_paper_markers():
    fig = plots_efficient.control_prf_bars(PRF, paper={"gate_f1": (0.411, 0.485), "cutoff_f1": (0.732, None)})
    gate, cut = fig.axes
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert sorted(p.get_height() for p in gate.patches) == sorted([0.5, 0.4, 0.44, 0.6, 0.5, 0.55])
    assert len(cut.patches) == 5  # SFT has no cutoff_recall
    assert sorted(ln.get_ydata()[0] for ln in gid_lines(gate, "paper")) == [0.411, 0.485]
    assert all(ln.get_linestyle() == "--" for ln in gate.lines)
    assert [ln.get_ydata()[0] for ln in gid_lines(cut, "paper")] == [0.732]
    assert "paper 0.411" in texts(gate) and "paper 0.485" in texts(gate)  # the marks are labelled
    (leg,) = fig.legends  # one legend for both panels, under them
    labels = [t.get_text() for t in leg.get_texts()]
    assert labels.count("paper F1 (Table 3)") == 1 and {"no SFT", "SFT"} <= set(labels)
    assert gate.get_legend() is None and cut.get_legend() is None
    assert texts(cut).count("n/a") == 1  # SFT's missing cutoff recall is marked, not hidden


def test_control_prf_bars_marks_undefined_precision():
    fig = plots_efficient.control_prf_bars({"none gated": {"gate_precision": float("nan"), "gate_recall": 0.0,
                                                  "gate_f1": 0.0}})
    assert "n/a" in texts(fig.axes[0]) and len(fig.axes[0].patches) == 2


def test_reproduce_paper_marks_follow_method_names():
    from masa_lite.reproduce import paper_marks

    marks = paper_marks(["MASA-efficient (no Expert SFT)", "MASA-efficient"])
    assert marks == {"gate_f1": (0.411, 0.485), "cutoff_f1": (0.732, 0.836)}
    assert paper_marks(["MASA-efficient", "other"]) == {"gate_f1": (0.485, None),
                                                        "cutoff_f1": (0.836, None)}


def test_control_prf_bars_over_seeds_draws_the_mean_and_each_seed():
    """Per-seed lists: the bar is the mean of the seeds with a number (a None seed is left out), each
    seed a dot; a metric no seed has is n/a."""
    fig = plots_efficient.control_prf_bars({"SFT": {"gate_precision": [0.6, 1.0, None],
                                                    "gate_recall": [0.2, 0.4, 0.3],
                                                    "gate_f1": [None, None, None]}})
    gate = fig.axes[0]
    assert sorted(p.get_height() for p in gate.patches) == pytest.approx([0.3, 0.8])
    dots = gid_lines(gate, "seed")
    assert sorted(y for d in dots for y in d.get_ydata()) == pytest.approx([0.2, 0.3, 0.4, 0.6, 1.0])
    assert "n/a" in texts(gate)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels.count("each seed") == 1
    plt.close(fig)


def test_seed_figures_match_the_summary_means(tmp_path, monkeypatch):
    """The Table 3 bars over seeds are the means of the values the per-seed summaries report (the
    last training step's), drawn from runs laid out as ``reproduce --seeds`` writes them."""
    from masa_lite.reproduce import seed_figures

    for seed, prec in ((0, 0.5), (1, 0.9)):
        run = tmp_path / f"seed{seed}" / "masa-efficient"
        run.mkdir(parents=True)
        rows = [{"kind": "eval", "step": 0, "pass@1": 0.4},
                {"kind": "train", "step": 1, "gate_precision": 0.1, "cutoff_f1": 0.2},
                {"kind": "train", "step": 2, "gate_precision": prec, "cutoff_f1": 0.6},
                {"kind": "eval", "step": 2, "pass@1": 0.5}]
        (run / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    drawn = {}
    real_save = plot_kit.save

    def keep(fig, path):
        drawn[Path(path).name] = fig
        return real_save(fig, path)

    monkeypatch.setattr(plot_kit, "save", keep)
    written = seed_figures(tmp_path, [0, 1], None, tmp_path / "figs")
    assert [p.name for p in written] == ["accuracy_vs_step_seeds.png", "gating_cutoff_prf_seeds.png"]
    assert all(p.exists() for p in written)
    gate, cut = drawn["gating_cutoff_prf_seeds.png"].axes
    assert [p.get_height() for p in gate.patches] == pytest.approx([0.7])
    assert [p.get_height() for p in cut.patches] == pytest.approx([0.6])


def test_feed_in_over_seeds_bars_are_means_with_seed_dots():
    fig = plots_efficient.feed_in_over_seeds({"base": {"no feed-in": [0.6, 0.7]},
                                              "MASA": {"no feed-in": [0.8, 0.9], "hint": [0.5, None]}})
    ax = fig.axes[0]
    assert sorted(p.get_height() for p in ax.patches) == pytest.approx([0.5, 0.65, 0.85])
    dots = gid_lines(ax, "seed")
    assert sorted(y for d in dots for y in d.get_ydata()) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["base", "MASA"]
    assert "2 seeds" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == ["each seed", "hint", "no feed-in"]  # each once, "hint" though base lacks it
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        plots_efficient.feed_in_over_seeds({})


def test_control_prf_bars_bad_input():
    with pytest.raises(ValueError):
        plots_efficient.control_prf_bars({})
    with pytest.raises(ValueError, match="values for 2 methods"):
        plots_efficient.control_prf_bars(PRF, paper={"gate_f1": (0.4,)})
    fig = plots_efficient.control_prf_bars({"gate only": {"gate_f1": 0.3}})
    assert len(fig.axes[0].patches) == 1 and "not recorded" in texts(fig.axes[1])


# ---- notion frequency -------------------------------------------------------------------------

STATS = [{"step": s, "notion": n, "freq_correct": fc * s, "freq_wrong": fw}
         for s in (1, 2, 3) for n, fc, fw in [("carry", 0.3, 0.2), ("prime", 0.1, 0.05),
                                               ("modulo", 0.2, 0.3)]]
STATS.append({"notion": "carry", "freq_correct": 1.0, "freq_wrong": 1.0})  # no step: skipped


def test_notion_frequency_top_and_styles():
    fig = plots_meta.notion_frequency(STATS, top=2)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(ax.lines) == 4
    assert {ln.get_gid().split("|")[0] for ln in ax.lines} == {"carry", "modulo"}
    (c,) = gid_lines(ax, "carry|freq_correct")
    (w,) = gid_lines(ax, "carry|freq_wrong")
    assert c.get_linestyle() == "-" and w.get_linestyle() == "--"
    assert list(c.get_xdata()) == [1, 2, 3] and list(c.get_ydata()) == pytest.approx([0.3, 0.6, 0.9])
    fig = plots_meta.notion_frequency(STATS, notions=["prime", "absent"])
    assert {ln.get_gid() for ln in fig.axes[0].lines} == {"prime|freq_correct", "prime|freq_wrong"}
    leg = ax.get_legend()  # under the axes, not over the data
    assert leg.get_bbox_to_anchor().y0 < ax.get_window_extent().y0


def test_notion_use_titles_and_raises_without_stats():
    hist = [{"kind": "eval", "step": s, "notion_freq": {"split": {"correct": 0.5, "wrong": 0.25},
                                                        "mul": {"correct": 0.1, "wrong": 0.9},
                                                        "add": {"correct": 0.9, "wrong": 0.9}}}
            for s in (0, 6)]
    fig = plots_meta.notion_use(hist, "MASA")
    ax = fig.axes[0]
    assert ax.get_title().startswith("MASA: notion use")
    assert {ln.get_gid().split("|")[0] for ln in ax.lines} == {"split", "mul"}  # TASK_NOTIONS only
    with pytest.raises(ValueError, match="GRPO"):
        plots_meta.notion_use([{"kind": "eval", "step": 0}], "GRPO")


def test_notion_frequency_raises_when_empty():
    with pytest.raises(ValueError):
        plots_meta.notion_frequency([])
    with pytest.raises(ValueError):
        plots_meta.notion_frequency(STATS, notions=["absent"])


# ---- delta box --------------------------------------------------------------------------------

def test_quantile_bins_by_hand():
    bins = plots_meta.quantile_bins([5, 1, 4, 2, 3, 0, 11, 7, 9, 6, 8, 10])
    assert [sorted(b.tolist()) for b in bins] == [[1, 3, 5], [0, 2, 4], [7, 9, 10], [6, 8, 11]]
    assert len(plots_meta.quantile_bins(range(7))) == 2
    assert len(plots_meta.quantile_bins([0.3, 0.1])) == 1
    assert plots_meta.quantile_bins([]) == []


def test_delta_box_bins_and_skips_bad_entries():
    d = [{"d_acc": 0.01 * i, "d_meta": 0.1 * i} for i in range(12)]
    d += [{"d_acc": float("nan"), "d_meta": 1.0}, {"d_meta": 0.5}]
    fig = plots_meta.delta_box(d)
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 4 and all("n = 3" in lab for lab in labels)
    assert len(ax.patches) == 4  # one box per bin
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    assert sorted(ys) == pytest.approx([0.01 * i for i in range(12)])
    assert len(plots_meta.delta_box(d[:4]).axes[0].get_xticklabels()) == 1
    assert "after − before" in ax.get_xlabel() and "after − before" in ax.get_ylabel()


def test_delta_box_bin_edges_have_two_decimals():
    d = [{"d_acc": 0.1 * i, "d_meta": v} for i, v in
         enumerate([-2.3, -1.0, -0.5, -0.2, -0.1, -0.0044, -2.9e-05, 0.01, 0.1, 0.23, 0.5, 0.97])]
    labels = [t.get_text().split("\n")[0] for t in plots_meta.delta_box(d).axes[0].get_xticklabels()]
    assert labels == ["[-2.30, -0.50]", "[-0.20, 0.00]", "[0.00, 0.10]", "[0.23, 0.97]"]
    assert not any("e-" in lab or "-0.00" in lab for lab in labels)


def test_delta_box_raises_when_empty():
    with pytest.raises(ValueError):
        plots_meta.delta_box([])
    with pytest.raises(ValueError):
        plots_meta.delta_box([{"d_acc": 0.1}])


# ---- training overview ------------------------------------------------------------------------

def test_training_overview_marks_missing_keys():
    hist = [{"step": s, "accuracy": 0.1 * s, "reward": 0.1 * s, "zero_variance_frac": 0.5,
             "len_mean": 40.0 + s, "seconds_step": 2.0, "entropy": float("nan") if s == 2 else 1.0}
            for s in (1, 2, 3)] + [dict(ev(3, 10, 0.9), accuracy=0.9)]  # eval: not a train step
    fig = plots.training_overview(hist)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    by_title = {ax.get_title(): ax for ax in fig.axes}
    assert "not recorded" in texts(by_title["grad norm"]) and not by_title["grad norm"].lines
    (acc,) = gid_lines(by_title["accuracy / reward"], "accuracy")
    assert list(acc.get_xdata()) == [1, 2, 3]  # the eval record is not a training step
    assert list(gid_lines(by_title["entropy"], "entropy")[0].get_xdata()) == [1, 3]
    assert "not recorded" not in texts(by_title["entropy"])
    empty = plots.training_overview([])
    assert all("not recorded" in texts(ax) for ax in empty.axes)


# ---- save -------------------------------------------------------------------------------------

def test_save_writes_png_atomically(tmp_path):
    fig = plots.training_overview([{"step": 1, "accuracy": 0.5}])
    out = plot_kit.save(fig, tmp_path / "sub" / "overview.png")
    assert out == tmp_path / "sub" / "overview.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["overview.png"]


def test_save_failure_keeps_old_file_and_no_tmp(tmp_path, monkeypatch):
    out = tmp_path / "fig.png"
    out.write_bytes(b"old")
    fig = plots.training_overview([])

    def broken(fname, **kw):
        with open(fname, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(OSError):
        plot_kit.save(fig, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_notion_stats_from_history_flattens_evaluations():
    hist = [{"kind": "eval", "step": 0, "notion_freq": {"split": {"correct": 0.5, "wrong": 0.25}}},
            {"kind": "train", "step": 1},
            {"kind": "eval", "step": 6, "notion_freq": {"split": {"correct": 0.75, "wrong": None}}},
            {"kind": "eval", "step": 7}]
    stats = plots_meta.notion_stats_from_history(hist)
    assert stats == [{"step": 0, "notion": "split", "freq_correct": 0.5, "freq_wrong": 0.25},
                     {"step": 6, "notion": "split", "freq_correct": 0.75, "freq_wrong": None}]
    fig = plots_meta.notion_frequency(stats)
    assert {ln.get_gid() for ln in fig.axes[0].lines} == {"split|freq_correct", "split|freq_wrong"}


def test_shapley_bars_draw_each_share_and_state_r2():
    fig = plots_meta.shapley_bars({"n": 12, "r2": 0.5, "shares": {"a": 0.3, "b": 0.2}}, title="MASA")
    ax = fig.axes[0]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.3, 0.2])
    assert ax.get_title() == "MASA: Δaccuracy explained, R² = 0.50, n = 12"
    assert "absolute" in ax.get_xlabel() and "sum to R²" in ax.get_xlabel()
    assert texts(ax) == ["0.300 (60% of R²)", "0.200 (40% of R²)"]
    with pytest.raises(ValueError):
        plots_meta.shapley_bars({"n": 2, "r2": float("nan"), "shares": {}})


def test_calibration_suptitle_clear_of_panel_titles():
    fig = plots_meta.calibration_scatter({"a": pairs([0.1, 0.5, 0.9], [0.2, 0.4, 0.8], [1, 2, 3]),
                                     "MASA-efficient (no Expert SFT)": pairs([0.2], [0.3], [1])})
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    sup = fig._suptitle.get_window_extent(r)
    assert all(sup.y0 > ax.title.get_window_extent(r).y1 for ax in fig.axes)


def test_every_axis_has_labels():
    hist = [{"kind": "train", "step": s, "r_pass": 0.3, "accuracy": 0.5, "reward": 0.5,
             "gated_frac": 0.1, "cut_frac": 0.2, "seconds_meta": 1.0, "seconds_training": 2.0}
            for s in (1, 2)] + [ev(2, 30, 0.5, 0.05)]
    figs = [plots_meta.meta_reward_parts(hist), plots.accuracy_curves({"a": hist}),
            plots_efficient.efficient_steps({"a": hist}), plots.training_overview(hist)]
    for fig in figs:
        for ax in fig.axes:
            if ax.lines or ax.patches:
                assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()


# ---- MASA-efficient steps, pass@k, feed-in ----------------------------------------------------

def test_efficient_steps_shares_and_phase_stack():
    runs = {"eff": [{"kind": "train", "step": s, "gated_frac": 0.25 * s, "cut_frac": 0.1,
                     "seconds_meta": 1.0, "seconds_generation": 2.0 * s, "seconds_sft": None}
                    for s in (1, 2)],
            "grpo": [{"kind": "train", "step": 1, "seconds_generation": 4.0}]}
    fig = plots_efficient.efficient_steps(runs)
    ax, bx = fig.axes
    (g,) = gid_lines(ax, "eff|gated_frac")
    assert list(g.get_ydata()) == [0.25, 0.5] and gid_lines(ax, "grpo|gated_frac") == []
    gen = [p for p in bx.patches if p.get_gid() == "seconds_generation"]
    assert [p.get_height() for p in gen] == [3.0, 4.0]  # mean over steps
    meta = [p for p in bx.patches if p.get_gid() == "seconds_meta"]
    assert [p.get_height() for p in meta] == [1.0, 0.0] and gen[0].get_y() == 1.0  # stacked
    with pytest.raises(ValueError):
        plots_efficient.efficient_steps({"a": [{"kind": "eval", "step": 0}]})


def test_pass_at_k_curves_and_levels():
    res = {"base": {"pass@1": 0.4, "pass@2": 0.55, "pass@8": 0.8, "per_level": {"1": 0.9, "2": 0.2}},
           "greedy": {"pass@1": 0.5, "per_level": {1: 0.95}}}
    fig = plots_efficient.pass_at_k(res)
    ax, bx = fig.axes
    (b,) = gid_lines(ax, "base")
    assert list(b.get_xdata()) == [1, 2, 8] and list(b.get_ydata()) == [0.4, 0.55, 0.8]
    assert list(gid_lines(ax, "greedy")[0].get_xdata()) == [1]
    assert sorted(p.get_height() for p in bx.patches) == [0.2, 0.9, 0.95]
    assert [t.get_text() for t in bx.get_xticklabels()] == ["1", "2"]
    with pytest.raises(ValueError):
        plots_efficient.pass_at_k({"x": {"per_level": {}}})


def test_feed_in_bars_with_standard_error():
    recs = {"no feed-in": {"pass@1": 0.5, "pass@1_se": 0.03, "per_level": {"1": 0.9, "2": 0.1}},
            "feed-in": {"pass@1": 0.55, "per_level": {"1": 0.8, "2": 0.3}}}
    fig = plots_efficient.feed_in(recs)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.5, 0.9, 0.1, 0.55, 0.8, 0.3])
    assert [t.get_text() for t in ax.get_xticklabels()][1:] == ["level 1", "level 2"]
    with pytest.raises(ValueError):
        plots_efficient.feed_in({"x": {}})


def test_compare_runs_one_line_per_run_and_missing_key():
    runs = {"a": [{"kind": "train", "step": s, "r_pass": 0.1 * s} for s in (1, 2)],
            "b": [{"kind": "train", "step": 1, "r_pass": 0.5}, {"kind": "eval", "step": 1, "r_pass": 9}]}
    fig = plots.compare_runs(runs, [("r_pass", "r_pass (0–1)"), ("gated_frac", "share gated")])
    ax, bx = fig.axes
    assert list(gid_lines(ax, "b|r_pass")[0].get_ydata()) == [0.5]  # eval records are not steps
    assert ax.get_ylabel() == "r_pass (0–1)" and ax.get_xlabel() == "training step"
    assert "not recorded" in texts(bx)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    with pytest.raises(ValueError):
        plots.compare_runs({}, [("r_pass", "")])
    keys = [("r_pass", "r_pass", (0, 1)), ("gated_frac", "share"), ("r_len", "r_len")]
    wrapped = plots.compare_runs(runs, keys, cols=2)  # 2 + 1 panels, the empty fourth removed
    assert len(wrapped.axes) == 3 and [a.get_title() for a in wrapped.axes] == ["r_pass", "gated_frac", "r_len"]
    assert len({round(a.get_position().y0, 3) for a in wrapped.axes}) == 2  # two rows
    assert wrapped.axes[0].get_ylim() == (0, 1)  # a key's own y-range


def test_speedup_map_marks_every_regime_and_refuses_none():
    """The map draws the cost model's bound with the measured points on it (the paper's as a star),
    labels each with its measured speed-up and bound, and needs at least one point."""
    from masa_lite.study.cost import speedup_bound

    pts = [{"label": "old task", "m": 1.15, "g": 0.09, "speedup": 0.31},
           {"label": "new task", "m": 0.14, "g": 0.45, "speedup": None},
           {"label": "paper", "m": 0.15, "g": 0.37, "speedup": 1.28, "paper": True}]
    fig = plots_efficient.speedup_map(pts)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("measured 0.31×" in t and f"bound {speedup_bound(1.15, 0.09):.2f}×" in t for t in texts)
    assert any("new task" in t and "not reached" in t for t in texts)
    assert len(fig.axes[0].collections) >= 4  # the mesh, the contours, three points
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one"):
        plots_efficient.speedup_map([])


def test_accuracy_over_seeds_draws_the_mean_and_every_seed():
    """Two seeds, one method: the line is the mean per step (0.5 and 0.7 at step 10 → 0.6), and
    each seed is a dot; a wall-clock axis is refused (each seed has its own clock)."""
    def h(a, b):
        return [{"kind": "eval", "step": 0, "pass@1": a}, {"kind": "eval", "step": 10, "pass@1": b}]

    fig = plots.accuracy_over_seeds({0: {"GRPO": h(0.4, 0.5)}, 1: {"GRPO": h(0.4, 0.7)}})
    line = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "GRPO")
    assert list(line.get_xdata()) == [0, 10] and list(line.get_ydata()) == pytest.approx([0.4, 0.6])
    dots = [ln for ln in fig.axes[0].lines if ln.get_marker() == "."]
    assert sorted(y for d in dots for y in d.get_ydata()) == pytest.approx([0.4, 0.4, 0.5, 0.7])
    plt.close(fig)
    with pytest.raises(ValueError, match="step only"):
        plots.accuracy_over_seeds({0: {"GRPO": h(0.4, 0.5)}}, x="wall")
