"""Prompt formats: how a problem becomes a solution prompt or a meta prompt for a given model.

* ``tiny`` – the bundled masa-tiny model's compact character-level templates
  (:mod:`masa_lite.task.synthetic`): ``solve 12+3*4\\n``, ``meta 12+3*4\\n``, hints as ``using a, b``.
* ``paper`` – the paper's wording for real models (docs/method.md §1), wrapped in the model's
  chat template when it has one. Notion feed-in appends "The problem could be solved using the
  following math notions: …" (§4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from masa_lite.task import synthetic
from masa_lite.meta.answer import build_meta_prompt

PAPER_SOLUTION = "{problem} Let's think step by step and output the final answer within \\boxed{{}}."
PAPER_HINT = " The problem could be solved using the following math notions: {notions}."
MARKER = "masa_lite.json"  # a model folder's own prompt style, e.g. {"prompt_style": "tiny"}


@dataclass
class PromptFormat:
    """Two functions of a problem record (and optional notions for feed-in) → prompt text."""

    name: str
    solution: Callable[[dict, list | None], str]
    meta: Callable[[dict], str]


def _chat(tokenizer, text: str) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return text


def tiny_format() -> PromptFormat:
    """The prompts of the bundled tiny model: the synthetic task's own short formats."""
    return PromptFormat("tiny",
                        lambda rec, notions=None: synthetic.solution_prompt(rec["problem"], notions),
                        lambda rec: synthetic.meta_prompt(rec["problem"]))


def paper_format(tokenizer, k: int = 8) -> PromptFormat:
    """The paper's solution and meta prompts, in the tokenizer's chat template when it has one."""
    def solution(rec, notions=None):
        text = PAPER_SOLUTION.format(problem=rec["problem"])
        if notions:
            text += PAPER_HINT.format(notions=", ".join(notions))
        return _chat(tokenizer, text)

    return PromptFormat("paper", solution, lambda rec: _chat(tokenizer, build_meta_prompt(rec["problem"], k=k)))


def prompt_style_of(model_name: str) -> str:
    """``tiny`` for models whose folder says so (the bundled masa-tiny), else ``paper``."""
    from masa_lite.models import BUNDLED_MODELS

    folder = Path(BUNDLED_MODELS.get(model_name, model_name))
    marker = folder / MARKER if folder.is_dir() else None
    if marker is not None and marker.exists():
        return json.loads(marker.read_text()).get("prompt_style", "paper")
    return "paper"


def prompt_format_for(model_name: str, tokenizer, k: int = 8) -> PromptFormat:
    """The prompt format a model expects: the tiny format for a model whose folder says so
    (``masa_lite.json``), else the paper's."""
    return tiny_format() if prompt_style_of(model_name) == "tiny" else paper_format(tokenizer, k)
