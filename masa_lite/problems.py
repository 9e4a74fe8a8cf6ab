"""Which problems a run trains and evaluates on, as plain records.

A record is a dict with ``problem``, ``answer``, ``source``, ``level`` (may be None) and ``id``.
The synthetic task draws training prompts from its train split and evaluates on its balanced
held-out test split; any data set that :func:`masa_lite.data.load_math_dataset` reads works too.
"""

from __future__ import annotations

from masa_lite import tasks
from masa_lite.config import RunConfig


def training_pool(cfg: RunConfig) -> list[dict]:
    """Training records: synthetic train split, or the configured data set."""
    if cfg.data.task == "synthetic":
        probs = tasks.generate_problems(cfg.data.train_pool, levels=tuple(cfg.data.levels),
                                        seed=cfg.seed, split="train")
        return [p.to_record() for p in probs]
    from masa_lite.data import load_math_dataset, to_records

    return to_records(load_math_dataset(cfg.data.task, limit=cfg.data.train_pool or None))


def eval_records(cfg: RunConfig, split: str = "test", dataset: str | None = None) -> list[dict]:
    """Held-out records: ``eval_per_level`` synthetic problems per level, or a data set."""
    name = dataset or cfg.data.task
    if name == "synthetic":
        probs = tasks.task_splits(n_per_level=cfg.data.eval_per_level, seed=0)[split]
        return [p.to_record() for p in probs if p.level in cfg.data.levels]
    from masa_lite.data import load_math_dataset, to_records

    return to_records(load_math_dataset(name, limit=cfg.data.eval_per_level or None))
