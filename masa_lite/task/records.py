"""Which problems a run trains and evaluates on, as plain records, and never the same ones.

A record is a dict with ``problem``, ``answer``, ``source``, ``level`` (may be None) and ``id``.
The synthetic task draws training prompts from its train split and evaluates on its balanced
held-out test split. Any data set that :func:`masa_lite.task.data.load_math_dataset` reads works
too: the run then evaluates on ``data.eval_per_level`` problems held out of it (never trained on,
:func:`hold_out`), or on a set of its own (``data.eval_task``, e.g. MATH-500 or AIME as in the
paper, which trains on DeepScaleR) from which any problem also in the training pool is removed
with a warning that counts them (:func:`without_training_problems`).
"""

from __future__ import annotations

import hashlib
import warnings

from masa_lite.task import synthetic
from masa_lite.config import RunConfig
from masa_lite.errors import DataError


def problem_key(record: dict) -> str:
    """A problem's text as compared between sets: whitespace collapsed, case folded."""
    return " ".join(str(record.get("problem", "")).split()).casefold()


def _load(name: str, limit: int | None = None) -> list[dict]:
    from masa_lite.task.data import load_math_dataset, to_records

    return to_records(load_math_dataset(name, limit=limit))


def hold_out(records: list[dict], n: int) -> tuple[list[dict], list[dict]]:
    """Split a data set into (training, held-out): the ``n`` problems whose text hashes lowest
    are held out, in file order, the same ones whatever the row order, seed or
    ``data.train_pool``; every copy of a held-out problem stays out of training."""
    digest = {k: hashlib.sha1(k.encode("utf-8")).hexdigest() for k in map(problem_key, records)}
    chosen = set(sorted(digest, key=digest.get)[:n])
    held, seen = [], set()
    for r in records:
        key = problem_key(r)
        if key in chosen and key not in seen:
            held.append(r)
            seen.add(key)
    return [r for r in records if problem_key(r) not in chosen], held


def without_training_problems(evals: list[dict], pool: list[dict], name: str,
                              task: str) -> list[dict]:
    """``evals`` without the problems that are also in the training pool (the same text), with a
    warning that counts them; refused when none is left (the run would evaluate on what it
    trains on)."""
    trained = {problem_key(r) for r in pool}
    kept = [r for r in evals if problem_key(r) not in trained]
    if evals and not kept:
        raise DataError(f"every one of the {len(evals)} evaluation problems of {name!r} is also in "
                        f"the training data {task!r}: evaluate on a set of its own (data.eval_task) "
                        "or leave data.eval_task empty to hold problems out of data.task")
    if len(kept) < len(evals):
        warnings.warn(f"evaluation data {name!r}: {len(evals) - len(kept)} of {len(evals)} problems "
                      f"are also in the training data {task!r} and were removed; {len(kept)} remain",
                      stacklevel=3)
    return kept


def _eval_set(name: str, pool: list[dict] | None, cfg: RunConfig, split: str = "test") -> list[dict]:
    """The evaluation set ``name`` (the synthetic split, or a data set less any problem of a
    data set's training ``pool``), its first ``data.eval_per_level`` problems, refused when empty."""
    if name == "synthetic":
        records = synthetic_eval(cfg, split)
    else:
        records = _load(name)
        if pool is not None:
            records = without_training_problems(records, pool, name, cfg.data.task)
        records = records[:cfg.data.eval_per_level]
    return _nonempty(records, name)


def _nonempty(records: list[dict], name: str) -> list[dict]:
    """Evaluation records, refused when there are none: an evaluation of nothing would fail
    after training."""
    if not records:
        raise DataError(f"evaluation data {name!r} has no problems: use a data set with at least "
                        "one record (data.eval_task, or --dataset for masa-lite eval)")
    return records


def _evaluation(cfg: RunConfig, pool: list[dict], held: list[dict] | None,
                split: str = "test") -> list[dict]:
    """The evaluation records beside ``pool``: ``held`` when :func:`_pool` held them out of the
    data set, else the evaluation set (``data.eval_task``, or the synthetic split)."""
    if held is None:
        return _eval_set(cfg.data.eval_task or "synthetic", pool, cfg, split)
    return _nonempty(held, cfg.data.task)


def _pool(cfg: RunConfig) -> tuple[list[dict], list[dict] | None]:
    """The training pool, and the held-out problems when they come out of the same data set."""
    d = cfg.data
    if d.task == "synthetic":
        probs = synthetic.generate_problems(d.train_pool, levels=tuple(d.levels), seed=cfg.seed,
                                            split="train")
        return [p.to_record() for p in probs], None
    if d.eval_task:
        return _load(d.task, limit=d.train_pool or None), None
    pool, held = hold_out(_load(d.task), d.eval_per_level)
    return (pool[:d.train_pool] if d.train_pool else pool), held


def run_records(cfg: RunConfig) -> tuple[list[dict], list[dict]]:
    """The training pool and the evaluation records of a run, which share no problem: the
    synthetic task's train and test splits; a data set's problems less ``data.eval_per_level``
    held out of it (:func:`hold_out`); or, with ``data.eval_task``, that set less any problem of
    the training pool. A pool smaller than one step, or nothing to evaluate, is refused."""
    pool, held = _pool(cfg)
    check_pool(pool, cfg)
    return pool, _evaluation(cfg, pool, held)


def check_pool(pool: list[dict], cfg: RunConfig) -> None:
    """Refuse a training pool smaller than one step (``grpo.prompts_per_step``), naming the data
    set and the fix."""
    if len(pool) >= cfg.grpo.prompts_per_step:
        return
    held = cfg.data.task != "synthetic" and not cfg.data.eval_task  # problems held out of it
    after = f" once data.eval_per_level = {cfg.data.eval_per_level} are held out for evaluation" if held else ""
    more = ", lower data.eval_per_level, or evaluate on a set of its own (data.eval_task)" if held else ""
    raise DataError(f"training data {cfg.data.task!r} has {len(pool)} problem(s){after}, fewer than "
                    f"one step needs (grpo.prompts_per_step = {cfg.grpo.prompts_per_step}): add "
                    f"problems, raise data.train_pool, lower grpo.prompts_per_step{more}")


def training_pool(cfg: RunConfig) -> list[dict]:
    """Training records (:func:`run_records`): the synthetic train split, or the configured data
    set less its evaluation problems."""
    return run_records(cfg)[0]


def synthetic_eval(cfg: RunConfig, split: str = "test") -> list[dict]:
    """``data.eval_per_level`` problems per level of the synthetic task's ``split``."""
    probs = synthetic.task_splits(n_per_level=cfg.data.eval_per_level, seed=0)[split]
    return [p.to_record() for p in probs if p.level in cfg.data.levels]


def eval_records(cfg: RunConfig, split: str = "test", dataset: str | None = None) -> list[dict]:
    """The evaluation records a run of ``cfg`` uses (:func:`run_records`, less its check of the
    training pool's size), or ``dataset``'s
    (``masa-lite eval --dataset``: its first ``data.eval_per_level`` problems, less any that a
    data set configured as ``data.task`` trains on; synthetic problems are arithmetic chains that
    no data set holds). Refused when empty: an evaluation of nothing would fail after training."""
    if dataset is not None:
        return _eval_set(dataset, None if cfg.data.task == "synthetic" else _pool(cfg)[0], cfg, split)
    if cfg.data.task == "synthetic" and cfg.data.eval_task in ("", "synthetic"):
        return _eval_set("synthetic", None, cfg, split)  # without drawing the training pool
    return _evaluation(cfg, *_pool(cfg), split)


def model_context(model, cfg: RunConfig | None = None) -> int | None:
    """The model's context length in tokens (``max_position_embeddings``; ``n_positions`` for
    GPT-2), capped by ``rollout.vllm_max_model_len`` when set; None if the model does not say."""
    conf = getattr(model, "config", None)
    ctx = getattr(conf, "max_position_embeddings", None) or getattr(conf, "n_positions", None)
    cap = getattr(getattr(cfg, "rollout", None), "vllm_max_model_len", 0) or 0
    if isinstance(ctx, int) and ctx > 0:
        return min(ctx, cap) if cap else ctx
    return cap or None


def check_prompt_lengths(records: list[dict], prompt_fn, tokenizer, context: int | None,
                         max_new_tokens: int, what: str = "data") -> None:
    """Refuse a record whose prompt plus ``max_new_tokens`` does not fit the model's context
    (a 10 MB line would otherwise end in a huge allocation at the first rollout).

    Cheap: a prompt has at most as many tokens as UTF-8 bytes (every token covers at least one
    byte), so only records whose template + problem bytes exceed the limit are tokenized, and a
    very long prompt is tokenized only up to a prefix that already proves it too long."""
    if not context or not records:
        return
    limit = context - max_new_tokens
    if limit <= 0:
        raise DataError(f"{what}: max_new_tokens = {max_new_tokens} leaves no room for a prompt in "
                        f"the model's context of {context} tokens: lower max_new_tokens")
    overhead = len(prompt_fn({**records[0], "problem": ""}).encode("utf-8")) + 8
    for i, rec in enumerate(records):
        problem = str(rec.get("problem", ""))
        if len(problem) * 4 + overhead <= limit or len(problem.encode("utf-8")) + overhead <= limit:
            continue  # fits whatever the tokenizer does
        prompt = prompt_fn(rec)
        head = prompt[: 64 * (limit + 1)]  # > limit tokens here already proves it too long
        n = len(tokenizer.encode(head, add_special_tokens=False))
        if n <= limit and len(head) < len(prompt):
            n = len(tokenizer.encode(prompt, add_special_tokens=False))
        if n > limit:
            more = "at least " if len(head) < len(prompt) else ""
            raise DataError(
                f"{what}: record {i} (id {rec.get('id')!r}) has a prompt of {more}{n} tokens "
                f"({len(prompt)} characters); with max_new_tokens = {max_new_tokens} the model's "
                f"context of {context} tokens leaves room for {limit}: remove or shorten that "
                "record, or lower max_new_tokens")
