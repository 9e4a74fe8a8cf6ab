"""Field-level credit (``meta.credit=field``; masa_lite's ablation, not the paper's): the tokens of
each JSON field of a meta answer get the advantage of that field's own reward part, instead of
every token getting the advantage of r_meta (docs/method.md §2).

The field values are found with one strict pattern (a quoted key, then its JSON value): field
credit only marks tokens of answers written in the canonical format. Reading an answer's values,
leniently, is :func:`masa_lite.meta.answer.parse_meta`'s job.
"""

from __future__ import annotations

import re

import torch

from masa_lite.meta.answer import FIELD_OF_PART, PARTS

JSON_VALUE = r'\s*:\s*(\[[^\]]*\]|"[^"]*"|[^,}\s]+)'  # after a quoted key: a list, a string or a scalar


def field_spans(text: str) -> dict[str, tuple[int, int]]:
    """Character span of each JSON field's value in a meta answer (its last occurrence), e.g.
    ``"pass_rate": 6`` → the span of ``6``; fields that are not found are left out. Keys come in
    the order of the reward parts (:data:`masa_lite.meta.answer.PARTS`)."""
    spans = {}
    for part in PARTS:
        key = FIELD_OF_PART[part]
        found = list(re.finditer(f'"{key}"' + JSON_VALUE, text))
        if found:
            spans[key] = found[-1].span(1)
    return spans


def token_char_ends(tokenizer, token_ids: list[int]) -> list[int]:
    """End offset in the decoded text of every token (decoding growing prefixes: exact for any
    tokenizer, O(L²) in the completion length, cheap for meta answers)."""
    return [len(tokenizer.decode(token_ids[: i + 1], skip_special_tokens=True))
            for i in range(len(token_ids))]


def field_token_parts(text: str, ends: list[int], enabled=PARTS) -> list[int]:
    """Per token, the index in PARTS of the field value it overlaps (−1: none, or a part
    that is not rewarded). Token i covers characters [ends[i−1], ends[i])."""
    part_of_field = {field: part for part, field in FIELD_OF_PART.items()}
    spans = {part_of_field[k]: v for k, v in field_spans(text).items()}
    out, start = [], 0
    for end in ends:
        part = next((p for p, (a, b) in spans.items() if p in enabled and start < b and end > a), None)
        out.append(PARTS.index(part) if part is not None else -1)
        start = end
    return out


def add_field_credit(scored, part_rewards: list[tuple], tokenizer, enabled) -> None:
    """Give ``scored`` (the meta path's :class:`~masa_lite.grpo.scored.Scored`) field-level credit:
    each rollout's reward parts (r_pass, r_len, r_notion) and, per completion token, the part whose
    field it belongs to (:func:`field_token_parts`)."""
    scored.part_rewards = torch.tensor(part_rewards, dtype=torch.float32).reshape(len(part_rewards), 3)
    scored.token_parts = [field_token_parts(r.text, token_char_ends(tokenizer, r.token_ids), enabled)
                          for r in scored.rollouts]
