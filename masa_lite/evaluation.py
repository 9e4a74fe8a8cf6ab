"""Held-out evaluation: sample answers, score them, report pass@k and the meta path's calibration
(docs/method.md §5). The arithmetic (pass@k, error bars, calibration) is :mod:`masa_lite.stats`.

:func:`evaluate_policy` measures a policy's solutions on records; :func:`evaluate_run` is the
trainer's periodic evaluation: the same, plus the meta path's predictions for each problem
(:func:`calibration_pairs`) and how well they match the measured pass rates and lengths
(:func:`calibration_metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from masa_lite.checkpoint import rng_state, set_rng_state
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.sampling import generate_rollouts
from masa_lite.meta import ceiling, diagnostics
from masa_lite.meta.reward import notion_details
from masa_lite.meta.scoring import predictions_by_prompt, sample_meta
from masa_lite.efficient.feed_in import feed_in_notions
from masa_lite.stats import (calibration, correct_lengths, mean_or_none, mean_pass_at_k,
                             standard_error)
from masa_lite.task import synthetic


def notion_frequency(texts: Sequence[str], correct: Sequence[bool],
                     vocab: Sequence[str]) -> dict[str, dict[str, float]]:
    """{notion: {"correct": share of correct rollouts using it, "wrong": share of wrong ones}}.

    "Using" is the normalised substring test of the notion reward
    (:func:`masa_lite.meta.reward.notion_details`); a share is NaN when there is no rollout of
    that kind."""
    out = {}
    n_right = sum(map(bool, correct))
    n_wrong = len(correct) - n_right
    for notion, (f1, f0) in notion_details(vocab, "", texts, correct).items():
        out[notion] = {"correct": f1 / n_right if n_right else float("nan"),
                       "wrong": f0 / n_wrong if n_wrong else float("nan")}
    return out


def per_problem_outcomes(records: list[dict], rollouts, n: int) -> list[dict]:
    """Per record: its id, level, source, kind (the synthetic task's easy/mid/hard), n samples, c correct, and each rollout's length and
    correctness (``rollouts`` prompt-major, ``n`` per record)."""
    out = []
    for i, rec in enumerate(records):
        group = rollouts[i * n:(i + 1) * n]
        out.append({"id": rec.get("id"), "level": rec.get("level"),
                    "source": rec.get("source"), "problem_kind": rec.get("kind"), "n": n,
                    "c": sum(bool(r.correct) for r in group),
                    "lengths": [r.length for r in group],
                    "correct": [bool(r.correct) for r in group]})
    return out


def pass_rate_by(per_problem: list[dict], key: str) -> dict[str, float]:
    """Mean per-problem pass rate c/n for each value of ``key`` (e.g. "level")."""
    out = {}
    for value in sorted({p[key] for p in per_problem if p[key] is not None}, key=str):
        sub = [p["c"] / p["n"] for p in per_problem if p[key] == value]
        out[str(value)] = sum(sub) / len(sub)
    return out


def summarise_outcomes(per_problem: list[dict], rollouts, info: dict, greedy: bool) -> dict:
    """pass@1 and its standard error over problems, per-level and per-source rates, zero-variance
    share, mean lengths of right and wrong rollouts, truncation and verifier counts."""
    rates = [p["c"] / p["n"] for p in per_problem]
    right = [n for p in per_problem for n in correct_lengths(p["lengths"], p["correct"])]
    wrong = [n for p in per_problem for n in correct_lengths(p["lengths"], p["correct"], right=False)]
    nan = float("nan")
    return {
        "pass@1": sum(rates) / max(len(rates), 1),
        "pass@1_se": standard_error(rates) if len(rates) > 1 else nan,
        "n_problems": len(per_problem), "n_samples": per_problem[0]["n"] if per_problem else 0,
        "greedy": greedy,
        "per_level": pass_rate_by(per_problem, "level"), "per_source": pass_rate_by(per_problem, "source"),
        "zero_variance_frac": sum(p["c"] in (0, p["n"]) for p in per_problem) / max(len(per_problem), 1),
        "len_correct_mean": sum(right) / len(right) if right else nan,
        "len_wrong_mean": sum(wrong) / len(wrong) if wrong else nan,
        "truncated_frac": sum(r.stop_reason != "eos" for r in rollouts) / max(len(rollouts), 1),
        "verify_timeouts": info["verify_timeouts"],
        "verify_errors": info["verify_errors"],
        "verify_timeout_s": info["verify_timeout_s"],
        "per_problem": per_problem,
    }


def evaluate_policy(model, tokenizer, records: list[dict], prompt_fn, n_samples: int = 8,
                    max_new_tokens: int = 400, batch_size: int = 128, temperature: float = 1.0,
                    greedy: bool = False, ks: Sequence[int] = (1,), seed: int = 0,
                    notions: Sequence | None = None, progress: bool = False,
                    notion_vocab: Sequence[str] = (), cfg=None, engine: str | None = None) -> dict:
    """Sample ``n_samples`` answers per problem and report pass@k, per level and per source.

    pass@1 is the mean over problems of c/n (the paper's "mean of n samples"); its standard
    error over problems tells an effect from noise. Sampling is seeded with ``seed`` and the
    global RNG state is restored afterwards, so evaluating does not change a training run.
    ``notions`` (one list per record) feeds notions into the solution prompt. With
    ``notion_vocab`` the result has ``notion_freq``: per notion, the share of correct and of wrong
    rollouts that use it (:func:`notion_frequency`). ``cfg``: the run config whose verifier
    settings (``grpo.answer_fallback``, ``grpo.verify_timeout_s``) score the answers, as in
    training, and whose ``rollout.engine`` samples them; without one the method's defaults apply.
    ``engine`` overrides the rollout engine (:func:`masa_lite.grpo.sampling.generate_rollouts`).
    """
    from tqdm.auto import tqdm

    saved = rng_state()
    torch.manual_seed(seed)
    n = 1 if greedy else n_samples
    prompts = [prompt_fn(r, None if notions is None else notions[i]) for i, r in enumerate(records)]
    bar = tqdm(total=len(prompts) * n, desc="eval", disable=not progress, leave=False)
    rollouts = generate_rollouts(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                                 temperature=temperature, batch_size=batch_size, greedy=greedy,
                                 progress=bar,
                                 engine=engine or (cfg.rollout.engine if cfg is not None else "compact"))
    bar.close()
    set_rng_state(saved)
    _, info = score_rollouts(rollouts, records, cfg)
    per_problem = per_problem_outcomes(records, rollouts, n)
    result = summarise_outcomes(per_problem, rollouts, info, greedy)
    result["n_samples"] = n
    if notion_vocab:
        result["notion_freq"] = notion_frequency([r.text for r in rollouts],
                                                 [bool(r.correct) for r in rollouts], notion_vocab)
    for k in ks:
        if k <= n:
            result[f"pass@{k}"] = mean_pass_at_k([(p["n"], p["c"]) for p in per_problem], k)
    return result


def calibration_pairs(per_problem: list[dict], preds_by: list[dict] | None, step: int) -> list[dict]:
    """One record per problem: measured pass rate and mean correct length (None without a correct
    rollout) beside the meta path's mean predictions (None without a prediction;
    ``preds_by``: :func:`masa_lite.meta.scoring.predictions_by_prompt`, None: no meta path)."""
    pairs = []
    for i, prob in enumerate(per_problem):
        pair = {"step": step, "id": prob["id"], "level": prob["level"],
                "problem_kind": prob.get("problem_kind"), "actual_pass_rate": prob["c"] / prob["n"],
                "actual_length": mean_or_none(correct_lengths(prob["lengths"], prob["correct"])),
                "pred_pass_rate": None, "pred_length": None}
        if preds_by is not None:
            pair["pred_pass_rate"] = mean_or_none(preds_by[i]["pass"])
            pair["pred_length"] = mean_or_none(preds_by[i]["length"])
        pairs.append(pair)
    return pairs


def calibration_of(pairs: list[dict]) -> dict[str, dict]:
    """:func:`masa_lite.stats.calibration` of predicted against measured pass rate ("pass") and
    mean correct length ("length"), over the pairs that have both."""
    out = {}
    for name, pred, actual in (("pass", "pred_pass_rate", "actual_pass_rate"),
                               ("length", "pred_length", "actual_length")):
        xy = [(q[pred], q[actual]) for q in pairs if q[pred] is not None and q[actual] is not None]
        out[name] = calibration([x for x, _ in xy], [y for _, y in xy])
    return out


def calibration_metrics(pairs: list[dict]) -> dict:
    """``calib_{pass,len}_{corr,mae}`` for the history, for each quantity that has pairs."""
    out = {}
    for name, short in (("pass", "pass"), ("length", "len")):
        c = calibration_of(pairs)[name]
        if c["n"]:
            out.update({f"calib_{short}_corr": c["corr"], f"calib_{short}_mae": c["mae"]})
    return out


def evaluate_run(model, tokenizer, fmt, records, cfg, step: int, wall: float,
                 feed_in: bool = False) -> tuple[dict, list[dict]]:
    """The trainer's evaluation: held-out pass@1 (and pass@k) plus, with the meta path,
    calibration pairs per problem (:func:`calibration_pairs`) and their metrics."""
    notions, preds_by, t0 = None, None, time.time()
    if cfg.meta.enabled or cfg.meta.eval_calibration or feed_in:
        saved = rng_state()
        torch.manual_seed(cfg.seed + 1)
        ros, preds = sample_meta(model, tokenizer, records, fmt, cfg, cfg.meta.eval_group_size)
        set_rng_state(saved)
        preds_by = predictions_by_prompt(ros, preds, len(records), cfg.meta.k)
        if feed_in:
            notions = [feed_in_notions(p["notions"]) for p in preds_by]
    t1 = time.time()
    ev = evaluate_policy(model, tokenizer, records, fmt.solution, n_samples=cfg.data.eval_samples,
                         max_new_tokens=cfg.rollout.max_new_tokens,
                         batch_size=cfg.rollout.batch_size, ks=(1, cfg.data.eval_samples),
                         seed=cfg.seed, notions=notions,
                         notion_vocab=synthetic.NOTIONS if cfg.data.task == "synthetic" else (),
                         cfg=cfg)
    pairs = calibration_pairs(ev["per_problem"], preds_by, step)
    # evaluation time is not training time: it is logged apart and never added to wall_seconds
    rec = {"kind": "eval", "step": step, "wall_seconds": wall, "feed_in": feed_in,
           "seconds_eval_meta": t1 - t0, "seconds_eval": time.time() - t0}
    rec.update({k: v for k, v in ev.items() if k != "per_problem"})
    rec.update(calibration_metrics(pairs))
    rec.update(ceiling.pass_rate_ceilings(pairs, ev["n_samples"]))
    if preds_by is not None:
        rec.update(diagnostics.eval_diagnostics(pairs, [p["pass"] for p in preds_by]))
    return rec, pairs
