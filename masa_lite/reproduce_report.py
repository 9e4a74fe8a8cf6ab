"""The report of ``masa-lite reproduce``: the numbers of each method's run (:func:`summarise`), the
markdown table with the paper's numbers beside ours (:func:`summary_markdown`) and plain verdicts.

Time is the method's training wall-clock (``wall_seconds``): evaluation and the gate's and the
cutoff's audits (our measuring instruments, not part of the method) are excluded; the speed-up
with the audits counted is reported beside it.
"""

from __future__ import annotations

import math

from masa_lite.history import eval_records

PAPER = {"speedup": 1.28, "gated_share": 0.37, "gate_f1": (0.411, 0.485), "cutoff_f1": (0.732, 0.836)}


def last_train_value(history, key):
    """The last training step's value of ``key`` (None if no step logged it)."""
    vals = [h[key] for h in history if h.get("kind") == "train" and h.get(key) is not None]
    return vals[-1] if vals else None


def _train_mean(history, key):
    return _mean([h.get(key) for h in history if h.get("kind") == "train"])


def _with_audits(history) -> list[dict]:
    """The evaluation records with the audits' seconds added back to ``wall_seconds``."""
    out, audit = [], 0.0
    for h in history:
        if h.get("kind") == "train":
            audit += h.get("seconds_audit") or 0.0
        elif h.get("kind") == "eval" and h.get("wall_seconds") is not None:
            out.append(dict(h, wall_seconds=h["wall_seconds"] + audit))
    return out


def _speedup(grpo_hist, hist, target, audits: bool = False):
    """(seconds to ``target``, speed-up over GRPO): both first arrivals (the paper's Fig. 4)."""
    from masa_lite.stats import time_to_reach

    if target is None:
        return None, None
    reach = time_to_reach(_with_audits(hist) if audits else hist, target, x="wall")
    grpo = time_to_reach(grpo_hist, target, x="wall")
    return reach, (grpo / reach if reach and grpo else None)


def summarise(runs: dict[str, list[dict]], calib: dict[str, list[dict]], profile: str) -> dict:
    """The numbers of the summary table, from run histories and calibration pairs."""
    from masa_lite.study.cost import meta_share_of

    grpo = runs.get("GRPO")
    grpo_final = eval_records(grpo)[-1]["pass@1"] if grpo else None
    rows = {}
    for name, hist in runs.items():
        ev = eval_records(hist)
        first, last = ev[0], ev[-1]
        # the paper's "reaches GRPO's accuracy faster" (Fig. 4): both times are to the first
        # evaluation at GRPO's final accuracy, so GRPO's own row is 1 even when an earlier
        # evaluation hit it
        reach, speedup = _speedup(grpo, hist, grpo_final) if grpo else (None, None)
        rows[name] = {
            "pass@1_before": first["pass@1"], "pass@1": last["pass@1"],
            "pass@1_se": last.get("pass@1_se"), "pass@k": last.get(f"pass@{last['n_samples']}"),
            "k": last["n_samples"], "problems": last["n_problems"],
            "calib_pass_corr_before": first.get("calib_pass_corr"),
            "calib_pass_corr": last.get("calib_pass_corr"),
            "calib_len_corr_before": first.get("calib_len_corr"),
            "calib_len_corr": last.get("calib_len_corr"),
            "calib_pass_mae": last.get("calib_pass_mae"),
            "calib_pass_level_oracle": last.get("calib_pass_level_oracle"),
            "train_seconds": last["wall_seconds"],
            "audit_seconds": sum(h.get("seconds_audit") or 0.0 for h in hist if h.get("kind") == "train"),
            "seconds_to_grpo_final": reach,
            "speedup_vs_grpo": speedup,
            "speedup_with_audits": _speedup(grpo, hist, grpo_final, audits=True)[1] if grpo else None,
            "meta_share": meta_share_of(hist),
            "tokens_generated": sum(h.get("tokens_generated", 0) for h in hist if h.get("kind") == "train"),
            "zero_variance_share": _train_mean(hist, "zero_variance_frac"),
            "gated_share": _train_mean(hist, "gated_frac"),
            "gate_f1": last_train_value(hist, "gate_f1"),
            "gate_precision": last_train_value(hist, "gate_precision"),
            "gate_recall": last_train_value(hist, "gate_recall"),
            "level_gated_share": _train_mean(hist, "level_gated_frac"),
            "level_gate_precision": last_train_value(hist, "level_gate_precision"),
            "level_gate_f1": last_train_value(hist, "level_gate_f1"),
            "cut_share": _train_mean(hist, "cut_frac"),
            "cutoff_f1": last_train_value(hist, "cutoff_f1"),
            "cutoff_precision": last_train_value(hist, "cutoff_precision"),
            "cutoff_recall": last_train_value(hist, "cutoff_recall"),
            "acc_meta_corr": _acc_meta_corr(calib.get(name, [])),
        }
    return {"profile": profile, "grpo_final": grpo_final, "methods": rows}


def _acc_meta_corr(pairs: list[dict]):
    """r of Δaccuracy with Δmeta-awareness per held-out problem, first to last evaluation."""
    from masa_lite.meta.analysis import acc_meta_corr, meta_deltas

    if not pairs:
        return None
    return acc_meta_corr(meta_deltas(pairs_at(pairs, min(p["step"] for p in pairs)), pairs_at(pairs)))


def _mean(values):
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _fmt(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def summary_markdown(summary: dict) -> str:
    """The markdown report: our numbers, the paper's beside them, and what disagrees."""
    lines = [f"# masa-lite reproduce — profile `{summary['profile']}`", "",
             "Train time: the method's wall-clock, evaluation and the audits of the gate and the "
             "cutoff (measurement, not part of the method) excluded.", "",
             "| method | pass@1 before → after (± se) | pass@k | calibration r (pass rate) before → after "
             "| calibration r (length) | train time (s) | time to GRPO's final acc. (s) | speed-up vs GRPO "
             "| gated share | gate F1 | cutoff F1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in summary["methods"].items():
        lines.append(
            f"| {name} | {_fmt(r['pass@1_before'])} → {_fmt(r['pass@1'])} (± {_fmt(r['pass@1_se'])}) "
            f"| {_fmt(r['pass@k'])} (k={r['k']}) | {_fmt(r['calib_pass_corr_before'], 2)} → "
            f"{_fmt(r['calib_pass_corr'], 2)} | {_fmt(r['calib_len_corr_before'], 2)} → "
            f"{_fmt(r['calib_len_corr'], 2)} | {_fmt(r['train_seconds'], 0)} "
            f"| {_fmt(r['seconds_to_grpo_final'], 0)} | {_fmt(r['speedup_vs_grpo'], 2)} "
            f"| {_fmt(r['gated_share'], 2)} | {_fmt(r['gate_f1'], 2)} | {_fmt(r['cutoff_f1'], 2)} |")
    eff = {n: r for n, r in summary["methods"].items() if r.get("gated_share") is not None}
    if eff:
        lines += ["", "| method | meta tokens per solution token m | gated share | gate precision "
                  "| gate recall | level gate (no meta path): gated share, precision, F1 | cut share "
                  "| cutoff precision / recall | speed-up with the audits' time |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, r in eff.items():
            lines.append(
                f"| {name} | {_fmt(r.get('meta_share'), 2)} | {_fmt(r['gated_share'], 2)} "
                f"| {_fmt(r['gate_precision'], 2)} | {_fmt(r['gate_recall'], 2)} "
                f"| {_fmt(r.get('level_gated_share'), 2)}, {_fmt(r.get('level_gate_precision'), 2)}, "
                f"{_fmt(r.get('level_gate_f1'), 2)} | {_fmt(r.get('cut_share'), 2)} "
                f"| {_fmt(r['cutoff_precision'], 2)} / {_fmt(r['cutoff_recall'], 2)} "
                f"| {_fmt(r.get('speedup_with_audits'), 2)} |")
    any_row = next(iter(summary["methods"].values()))
    lines += ["", f"Held-out: {any_row['problems']} problems × {any_row['k']} samples per evaluation "
              "(T = 1). Standard errors are over problems; differences smaller than about twice "
              "them are noise.", ""]
    oracle = {n: r.get("calib_pass_level_oracle") for n, r in summary["methods"].items()}
    if any(v is not None for v in oracle.values()):
        lines += ["Reference for the pass-rate r (masa_lite/meta/ceiling.py): a predictor that knows only "
                  "each level's mean measured pass rate would score "
                  + ", ".join(f"{_fmt(v, 2)} ({n})" for n, v in oracle.items()) + ".", ""]
    lines += ["Paper (Qwen3-8B-Base, DeepScaleR, 8×H100): MASA-efficient reaches GRPO's accuracy "
              f"{PAPER['speedup']}× faster; ~{PAPER['gated_share']:.0%} of prompts gated; gating F1 "
              f"{PAPER['gate_f1'][0]} → {PAPER['gate_f1'][1]} and cutoff F1 {PAPER['cutoff_f1'][0]} → "
              f"{PAPER['cutoff_f1'][1]} with Expert SFT.", ""]
    lines += _verdicts(summary)
    return "\n".join(lines) + "\n"


def _verdicts(summary: dict) -> list[str]:
    """Plain statements of where our numbers agree or disagree with the paper's direction."""
    m = summary["methods"]
    out = ["## Against the paper", ""]
    if "GRPO" in m and "MASA" in m:
        g, a = m["GRPO"].get("calib_pass_corr"), m["MASA"].get("calib_pass_corr")
        if g is not None and a is not None:
            agree = a > g
            out.append(f"- Calibration (pass-rate correlation) after MASA {a:.2f} vs after GRPO {g:.2f}: "
                       + ("agrees with the paper (MASA is better aligned)." if agree else
                          "**disagrees** with the paper at this budget."))
    eff = m.get("MASA-efficient")
    if eff is not None:
        s = eff.get("speedup_vs_grpo")
        out.append("- MASA-efficient speed-up to GRPO's final accuracy: "
                   + (f"{s:.2f}× (paper {PAPER['speedup']}×)." if s else
                      "never reached GRPO's final accuracy within the budget (paper: 1.28× faster)."))
    lvl = m.get("GRPO + level gate")
    if eff is not None and lvl is not None:
        a, b = lvl.get("gate_precision"), eff.get("gate_precision")
        if a is not None and b is not None:
            out.append(f"- Gate precision of the meta path {b:.2f} against a free gate that knows only "
                       f"each level's pass rate {a:.2f} (gated share {_fmt(eff.get('gated_share'), 2)} "
                       f"against {_fmt(lvl.get('gated_share'), 2)}): "
                       + ("self-prediction gates better." if b > a else "self-prediction buys nothing here."))
    ns = m.get("MASA-efficient (no Expert SFT)")
    if eff is not None and ns is not None:
        for key, label in (("gate_f1", "gating"), ("cutoff_f1", "cutoff")):
            a, b = ns.get(key), eff.get(key)
            if a is not None and b is not None:
                out.append(f"- {label} F1 without → with Expert SFT: {a:.2f} → {b:.2f} "
                           + ("(same direction as the paper)." if b > a else "(**not** the paper's direction)."))
    return out


def pairs_at(pairs: list[dict], step: int | None = None) -> list[dict]:
    """The calibration pairs of one evaluation: ``step`` (0 = the base model), default the last."""
    if step is None:
        step = max((p["step"] for p in pairs), default=None)
    return [p for p in pairs if p["step"] == step]


def paper_marks(methods) -> dict:
    """The paper's Table 3 F1 values for :func:`masa_lite.teach.plots_efficient.control_prf_bars`,
    in the order of ``methods`` (names of :data:`METHODS`): 0.411 / 0.732 without Expert SFT,
    0.485 / 0.836 with it; None for any other method."""
    idx = {"MASA-efficient (no Expert SFT)": 0, "MASA-efficient": 1}
    return {key: tuple(PAPER[key][idx[m]] if m in idx else None for m in methods)
            for key in ("gate_f1", "cutoff_f1")}


