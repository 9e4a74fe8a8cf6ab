"""Explorers for the notebooks: rollouts, meta predictions, gating/cutoff thresholds.

Each explorer is two layers:

* a **pure function** that computes or renders one view (HTML or numbers) — tested headless and
  usable anywhere (:func:`token_view_html`, :func:`meta_table_html`, :func:`control_outcomes`);
* a thin **ipywidgets** wrapper that re-renders that view when a control changes
  (:func:`rollout_browser`, :func:`meta_explorer`, :func:`threshold_explorer`).

Where ipywidgets is missing or no kernel is running (a plain script, ``static=True``), the wrapper
displays the default view as static HTML instead of a widget, so a notebook still shows something
useful when its widget state cannot be rendered (GitHub's viewer, nbconvert to HTML, CI logs).
"""

from __future__ import annotations

import html
import math
from typing import Callable, Sequence

import numpy as np

from masa_lite.efficient import cutoff
from masa_lite.efficient import gate
from masa_lite import stats


def _interactive(static: bool | None) -> bool:
    """True when a live widget can be shown: ipywidgets importable and an IPython kernel running."""
    if static:
        return False
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is None or importlib.util.find_spec("IPython") is None:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show(obj) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # outside IPython: print the raw HTML
        print(obj if isinstance(obj, str) else repr(obj))
        return
    display(HTML(obj) if isinstance(obj, str) else obj)


def _explorer(render: Callable[..., str], controls: dict, static: bool | None, defaults: dict):
    """``render(**values)`` → HTML, re-run whenever a control changes; static HTML otherwise."""
    if not _interactive(static):
        _show(render(**defaults))
        return None
    import ipywidgets as w

    out = w.Output()

    def update(_=None):
        out.clear_output(wait=True)
        with out:
            _show(render(**{k: c.value for k, c in controls.items()}))

    for c in controls.values():
        c.observe(update, names="value")
    update()
    box = w.VBox([w.HBox(list(controls.values())), out])
    _show(box)
    return box


# ---- 1. rollout browser -----------------------------------------------------------------------

def token_contributions(advantage: float, ratios: Sequence[float] | None, length: int,
                        num_tokens: float) -> np.ndarray:
    """Each token's term of the token-mean clipped loss at the current policy: −Â·ρ_t / N.

    On the first epoch ρ_t = 1, so every token of a rollout carries the same −Â/N: the sign says
    whether the update raises (negative loss term) or lowers the tokens' probability."""
    rho = np.ones(length) if ratios is None else np.asarray(ratios, float)[:length]
    return -float(advantage) * rho / max(float(num_tokens), 1.0)              # −Â ρ_t / N


def token_view_html(tokens: Sequence[str], logprobs: Sequence[float] | None,
                    contributions: Sequence[float]) -> str:
    """Tokens as coloured spans: green where the update raises their probability, red where it
    lowers it; the shade grows with (1 − p), the room the token has to move. The hover title shows
    log p and the token's loss term."""
    spans = []
    for i, tok in enumerate(tokens):
        c = float(contributions[i]) if i < len(contributions) else 0.0
        lp = float(logprobs[i]) if logprobs is not None and i < len(logprobs) else float("nan")
        room = 1.0 - math.exp(lp) if math.isfinite(lp) else 0.5
        alpha = 0.15 + 0.6 * room if c else 0.0
        rgb = "0,160,60" if c < 0 else "200,40,40"
        title = f"log p = {lp:.2f}, loss term = {c:+.2e}"
        text = html.escape(tok).replace("\n", "↵<br>")
        spans.append(f'<span title="{title}" style="background: rgba({rgb},{alpha:.2f});'
                     f'font-family: monospace">{text}</span>')
    return "".join(spans)


def rollout_group_html(problem: dict, rollouts: Sequence, advantages: Sequence[float],
                       index: int, tokenizer=None, logprobs: Sequence[Sequence[float]] | None = None,
                       num_tokens: float | None = None) -> str:
    """One prompt's group as a table (reward, advantage, length, stop reason) and one rollout's
    tokens coloured by their contribution to the loss."""
    bold = ' style="font-weight:bold"'
    rows = "".join(
        f"<tr{bold if j == index else ''}><td>{j}</td>"
        f"<td>{'✓' if r.correct else '✗'}</td><td>{r.reward if r.reward is not None else float('nan'):.2f}</td>"
        f"<td>{float(a):+.2f}</td><td>{r.length}</td><td>{r.stop_reason}</td></tr>"
        for j, (r, a) in enumerate(zip(rollouts, advantages)))
    head = (f"<b>{html.escape(problem['problem'])}</b> = {html.escape(str(problem['answer']))}"
            "<table><tr><th>#</th><th>ok</th><th>reward</th><th>Â</th><th>tokens</th>"
            f"<th>stop</th></tr>{rows}</table>")
    r = rollouts[index]
    n = num_tokens or sum(x.length for x in rollouts)
    contrib = token_contributions(advantages[index], None, r.length, n)
    if tokenizer is not None:
        tokens = [tokenizer.decode([t]) for t in r.token_ids]
    else:
        tokens = list(r.text) if len(r.text) == r.length else [r.text]
    lps = logprobs[index] if logprobs is not None else None
    return head + f"<p>rollout {index}:</p>" + token_view_html(tokens, lps, contrib)


def rollout_browser(problems: Sequence[dict], groups: Sequence[Sequence], advantages: Sequence[Sequence[float]],
                    tokenizer=None, logprobs=None, static: bool | None = None):
    """Prompt → its group → each rollout's text, reward, advantage and per-token loss term.

    ``groups[i]`` are the scored rollouts of ``problems[i]`` and ``advantages[i]`` their Â;
    ``logprobs[i][j]`` (optional) the per-token log-probs of rollout j."""
    if not problems or len(problems) != len(groups) or len(groups) != len(advantages):
        raise ValueError("problems, groups and advantages must be non-empty and of equal length")

    def render(prompt=0, rollout=0):
        g = groups[prompt]
        return rollout_group_html(problems[prompt], g, advantages[prompt], min(rollout, len(g) - 1),
                                  tokenizer, None if logprobs is None else logprobs[prompt])

    controls = {}
    if _interactive(static):
        import ipywidgets as w

        controls = {"prompt": w.Dropdown(options=[(p["problem"], i) for i, p in enumerate(problems)],
                                         description="prompt"),
                    "rollout": w.IntSlider(0, 0, max(len(g) for g in groups) - 1, description="rollout")}
    return _explorer(render, controls, static, {"prompt": 0, "rollout": 0})


# ---- 2. meta-prediction explorer --------------------------------------------------------------

def meta_table_html(pairs: Sequence[dict], level=None, step=None, max_rows: int = 40) -> str:
    """Predicted vs actual pass rate and length per prompt (calibration pairs of a run), with the
    correlation and mean absolute error of the rows shown."""
    rows = [p for p in pairs if (level is None or p.get("level") == level)
            and (step is None or p.get("step") == step)]
    ok = [p for p in rows if p.get("pred_pass_rate") is not None]
    c = stats.calibration([p["pred_pass_rate"] for p in ok], [p["actual_pass_rate"] for p in ok])

    def f(x, d=2):
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{d}f}"

    body = "".join(f"<tr><td>{html.escape(str(p.get('id')))}</td><td>{p.get('level')}</td>"
                   f"<td>{f(p.get('pred_pass_rate'))}</td><td>{f(p['actual_pass_rate'])}</td>"
                   f"<td>{f(p.get('pred_length'), 0)}</td><td>{f(p.get('actual_length'), 0)}</td></tr>"
                   for p in rows[:max_rows])
    more = f"<p>… {len(rows) - max_rows} more</p>" if len(rows) > max_rows else ""
    return (f"<p>{len(rows)} prompts; pass-rate r = {f(c['corr'])}, MAE = {f(c['mae'])} "
            f"({len(ok)} with a prediction)</p><table><tr><th>id</th><th>level</th><th>p̂</th>"
            f"<th>p</th><th>ℓ̂</th><th>ℓ (correct)</th></tr>{body}</table>{more}")


def meta_explorer(pairs: Sequence[dict], static: bool | None = None):
    """Browse calibration pairs (``calibration.jsonl`` of a run) by evaluation step and level."""
    if not pairs:
        raise ValueError("meta_explorer needs calibration pairs (calibration.jsonl of a run)")
    steps = sorted({p["step"] for p in pairs})
    levels = sorted({p.get("level") for p in pairs if p.get("level") is not None})
    controls = {}
    if _interactive(static):
        import ipywidgets as w

        controls = {"step": w.Dropdown(options=steps, value=steps[-1], description="step"),
                    "level": w.Dropdown(options=[("all", None)] + [(str(v), v) for v in levels],
                                        description="level")}
    return _explorer(lambda step, level: meta_table_html(pairs, level, step), controls, static,
                     {"step": steps[-1], "level": None})


# ---- 3. threshold explorer --------------------------------------------------------------------

def control_outcomes(pred_pass: Sequence[Sequence[float]], pred_length: Sequence[Sequence[float]],
                     correct: Sequence[Sequence[bool]], lengths: Sequence[Sequence[int]],
                     std_max: float = 0.1, margin: float = 0.1, factor: float = 2.0) -> dict:
    """What gating and cutoff *would* do at these thresholds, on prompts whose meta predictions and
    full-length solution rollouts are known (per prompt: predicted p̂ list, predicted ℓ̂ list,
    correctness and length of each rollout).

    Gate: :func:`masa_lite.efficient.gate.gate_prompts`; label = the prompt's group is
    zero-variance (:func:`masa_lite.stats.zero_variance`, the label the trainer audits the gate with).
    Cutoff: a rollout longer than :func:`masa_lite.efficient.cutoff.cutoff_budget` would be cut;
    label = it was wrong.
    Returns shares, precision/recall/F1 of both, and the share of solution tokens saved."""
    n = len(pred_pass)
    if not (len(pred_length) == len(correct) == len(lengths) == n):
        raise ValueError("pred_pass, pred_length, correct and lengths need one entry per prompt")
    gated = gate.gate_prompts([list(p) for p in pred_pass], std_max, margin)
    zero_var = [stats.zero_variance(c) for c in correct]
    g = stats.prf(gated, zero_var)
    cut, wrong, saved, total = [], [], 0, 0
    for i in range(n):
        budget = cutoff.cutoff_budget(list(pred_length[i]), factor)
        for c, n_tok in zip(correct[i], lengths[i]):
            is_cut = budget is not None and n_tok > budget
            cut.append(is_cut)
            wrong.append(not c)
            total += n_tok
            saved += (n_tok - budget) if is_cut else 0
    k = stats.prf(cut, wrong)
    return {"gated_share": sum(gated) / max(n, 1), "gate_precision": g["precision"],
            "gate_recall": g["recall"], "gate_f1": g["f1"],
            "cut_share": sum(cut) / max(len(cut), 1), "cutoff_precision": k["precision"],
            "cutoff_recall": k["recall"], "cutoff_f1": k["f1"],
            "tokens_saved_share": saved / max(total, 1)}


def control_outcomes_html(outcome: dict) -> str:
    """An HTML table of :func:`control_outcomes`: share, precision, recall and F1 of gate and cutoff."""
    def f(x):
        return "–" if not math.isfinite(x) else f"{x:.2f}"

    return ("<table><tr><th></th><th>share</th><th>precision</th><th>recall</th><th>F1</th></tr>"
            f"<tr><td>gate (skip prompt)</td><td>{f(outcome['gated_share'])}</td>"
            f"<td>{f(outcome['gate_precision'])}</td><td>{f(outcome['gate_recall'])}</td>"
            f"<td>{f(outcome['gate_f1'])}</td></tr>"
            f"<tr><td>cutoff (stop rollout)</td><td>{f(outcome['cut_share'])}</td>"
            f"<td>{f(outcome['cutoff_precision'])}</td><td>{f(outcome['cutoff_recall'])}</td>"
            f"<td>{f(outcome['cutoff_f1'])}</td></tr></table>"
            f"<p>solution tokens saved: {outcome['tokens_saved_share']:.1%}</p>")


def threshold_explorer(pred_pass, pred_length, correct, lengths, static: bool | None = None):
    """Sliders for the gate's std and margin and the cutoff factor over :func:`control_outcomes`."""
    def render(std_max=0.1, margin=0.1, factor=2.0):
        return control_outcomes_html(control_outcomes(pred_pass, pred_length, correct, lengths,
                                                      std_max, margin, factor))

    controls = {}
    if _interactive(static):
        import ipywidgets as w

        controls = {"std_max": w.FloatSlider(value=0.1, min=0.0, max=0.5, step=0.02, description="gate std <"),
                    "margin": w.FloatSlider(value=0.1, min=0.0, max=0.5, step=0.02, description="margin"),
                    "factor": w.FloatSlider(value=2.0, min=0.5, max=4.0, step=0.1, description="cutoff ×")}
    return _explorer(render, controls, static, {"std_max": 0.1, "margin": 0.1, "factor": 2.0})
