"""Which problems a run trains and evaluates on, as plain records.

A record is a dict with ``problem``, ``answer``, ``source``, ``level`` (may be None) and ``id``.
The synthetic task draws training prompts from its train split and evaluates on its balanced
held-out test split; any data set that :func:`masa_lite.task.data.load_math_dataset` reads works too.
"""

from __future__ import annotations

from masa_lite.task import synthetic
from masa_lite.config import RunConfig
from masa_lite.errors import DataError


def training_pool(cfg: RunConfig) -> list[dict]:
    """Training records: synthetic train split, or the configured data set. A pool smaller than
    one step (``grpo.prompts_per_step``) is refused, naming the data set and the fix."""
    if cfg.data.task == "synthetic":
        probs = synthetic.generate_problems(cfg.data.train_pool, levels=tuple(cfg.data.levels),
                                        seed=cfg.seed, split="train")
        pool = [p.to_record() for p in probs]
    else:
        from masa_lite.task.data import load_math_dataset, to_records

        pool = to_records(load_math_dataset(cfg.data.task, limit=cfg.data.train_pool or None))
    if len(pool) < cfg.grpo.prompts_per_step:
        raise DataError(f"training data {cfg.data.task!r} has {len(pool)} problem(s), fewer than one "
                        f"step needs (grpo.prompts_per_step = {cfg.grpo.prompts_per_step}): add "
                        "problems, raise data.train_pool, or lower grpo.prompts_per_step")
    return pool


def eval_records(cfg: RunConfig, split: str = "test", dataset: str | None = None) -> list[dict]:
    """Held-out records: ``eval_per_level`` synthetic problems per level, or a data set
    (refused when empty: an evaluation of nothing would fail after training)."""
    name = dataset or cfg.data.task
    if name == "synthetic":
        probs = synthetic.task_splits(n_per_level=cfg.data.eval_per_level, seed=0)[split]
        records = [p.to_record() for p in probs if p.level in cfg.data.levels]
    else:
        from masa_lite.task.data import load_math_dataset, to_records

        records = to_records(load_math_dataset(name, limit=cfg.data.eval_per_level or None))
    if not records:
        raise DataError(f"evaluation data {name!r} has no problems: use a data set with at least "
                        "one record (data.task, or --dataset for masa-lite eval)")
    return records


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
