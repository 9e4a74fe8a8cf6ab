"""Notion feed-in (docs/method.md §4): the notions the meta path predicts most often become a hint
in the solution prompt."""

from __future__ import annotations

from collections import Counter

from masa_lite.meta.reward import normalise_notion


def feed_in_notions(notion_lists: list[list[str]], top: int = 3) -> list[str]:
    """The notions most often predicted across a prompt's meta rollouts (for the hint)."""
    counts = Counter(normalise_notion(n) for ns in notion_lists for n in ns)
    return [n for n, _ in counts.most_common(top) if n]
