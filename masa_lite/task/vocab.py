"""The tiny model's vocabulary: digits and symbols one token each, the task's words and the meta
answer's JSON keys one token each — as a BPE vocabulary holds frequent words and keys whole.

Why not one token per character (what masa-tiny v1 had): a meta answer
``<meta>mul</meta>{"math_notion": ["mul"], "pass_rate": 5, "solution_length": 84}`` was then
~80 tokens, as long as a solution, so the meta path cost as much as the solution path and
MASA-efficient could never be faster than GRPO (docs/meta-awareness-study.md, Finding 9). With
the keys whole it is ~14 tokens, and solutions, whose digits stay one token each as in Qwen's
vocabulary, are ~50–300: the paper's ratio (a short JSON against long reasoning).

:func:`split_tokens` is the same split in pure Python (the task module counts solution lengths
with it, no tokenizer needed); a test checks it against the built tokenizer.
"""

from __future__ import annotations

import re

SPECIAL = ["<pad>", "<eos>", "<unk>"]
CHARS = list("0123456789abcdefghijklmnopqrstuvwxyz+-*/=(),.:;'\"{}[]<>\\_?! \n")
NOTION_WORDS = ("add", "sub", "mul", "carry", "borrow", "split", "recheck")
# whole tokens: the task's words, the boxed answer's opening, and the meta answer's fixed parts
# (the keys with their punctuation exactly as json.dumps writes them)
WORDS = (["solve", "meta", "using", "no", "\\boxed{", "<meta>", "</meta>",
          '{"math_notion": [', '], "pass_rate": ', ', "solution_length": ', ", "]
         + list(NOTION_WORDS) + [f'"{w}"' for w in NOTION_WORDS])
# longest first, so that a word wins over its prefix ("recheck" before "re…" is never a word,
# but '"add"' must win over '"', and ', "solution_length": ' over ', ')
_PATTERN = "|".join(re.escape(w) for w in sorted(WORDS, key=len, reverse=True)) + r"|[\s\S]"
TOKEN_REGEX = re.compile(_PATTERN)


def vocabulary() -> list[str]:
    """Every token in id order: specials, characters, then words."""
    return SPECIAL + CHARS + WORDS


def split_tokens(text: str) -> list[str]:
    """``text`` cut into the tiny tokenizer's tokens (pure Python, same regex)."""
    return TOKEN_REGEX.findall(text)


def cut_tokens(text: str, limit: int) -> str:
    """The first ``limit`` tiny-model tokens of ``text``."""
    return "".join(split_tokens(text)[:limit])


def count_tokens(text: str) -> int:
    """Number of tiny-model tokens of ``text`` (EOS not counted)."""
    return len(split_tokens(text))
