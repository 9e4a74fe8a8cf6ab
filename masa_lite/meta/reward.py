"""The meta rewards (docs/method.md §2): each field of a meta answer is scored against the
solution rollouts of the same problem.

* r_pass   = b^|p̂ − p|                   with p̂ = pass_rate / K, b = 0.01
* r_len    = 1[min L⁺ ≤ ℓ̂ ≤ max L⁺]      L⁺: lengths of the correct rollouts
* r_notion = share of new notions n with f(n,1) − f(n,0) > 0
* r_meta   = (r_pass + r_len + r_notion) / 3
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Iterable, Sequence

from masa_lite.meta.answer import PARTS, MetaPrediction, check_k
from masa_lite.stats import correct_lengths as lengths_of_correct


# Left alone by the singulariser: words ending in "s" that are not plurals.
_INVARIANT = frozenset("mathematics statistics physics combinatorics dynamics kinematics "
                       "mechanics economics optics series species news lens always perhaps "
                       "whereas".split())


_IRREGULAR = {"vertices": "vertex", "matrices": "matrix", "indices": "index", "axes": "axis",
              "simplices": "simplex", "analyses": "analysis", "hypotheses": "hypothesis",
              "parentheses": "parenthesis", "theses": "thesis", "radii": "radius",
              "foci": "focus", "loci": "locus", "moduli": "modulus", "criteria": "criterion",
              "polyhedra": "polyhedron"}


_END_PUNCT = string.punctuation + "“”‘’«» "


def _singular(word: str) -> str:
    """Naive singular of one lower-case word, first matching rule: irregular table; ≤ 3 letters,
    invariant words and -ss/-us/-is kept (gas, class, radius, analysis); -ies → -y (properties);
    -sses/-shes/-ches/-xes → drop -es (classes, boxes); other -s → drop -s (fractions)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _INVARIANT or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _normalise_text(text: str) -> str:
    """Lower-case, collapse whitespace, singularise every word (used on notions *and* texts)."""
    return re.sub(r"[a-z]+", lambda m: _singular(m[0]), " ".join(text.lower().split()))


def normalise_notion(s: str) -> str:
    """`"  Prime  Factorizations." -> "prime factorization"`: lower-case, collapse whitespace,
    strip punctuation at the ends, singularise each word."""
    return _normalise_text(" ".join(s.lower().split()).strip(_END_PUNCT))


def pass_rate_reward(pred_pass_rate: float | None, actual_pass_rate: float, k: int = 8,
                     base: float = 0.01) -> float:
    """r_pass = b^|p̂ − p| with p̂ = pass_rate / K; 0 for a missing prediction."""
    check_k(k)
    if not 0 <= actual_pass_rate <= 1 or not 0 < base <= 1:
        raise ValueError("need 0 <= actual_pass_rate <= 1 and 0 < base <= 1")
    if pred_pass_rate is None or not math.isfinite(pred_pass_rate):
        return 0.0
    p_hat = pred_pass_rate / k                                   # p̂ = pass_rate / K
    return float(base ** abs(p_hat - actual_pass_rate))          # r_pass = b^|p̂ − p|


def length_reward(pred_length: float | None, correct_lengths: Sequence[int],
                  inclusive: bool = True) -> float:
    """r_len = 1[min L⁺ ≤ ℓ̂ ≤ max L⁺]; 0 when no rollout is correct. `inclusive=False` is the
    public code's strict `<`, which is 0 whenever only one rollout is correct."""
    if pred_length is None or not math.isfinite(pred_length) or not correct_lengths:
        return 0.0
    lo, hi = min(correct_lengths), max(correct_lengths)          # min L⁺, max L⁺
    return float(lo <= pred_length <= hi if inclusive else lo < pred_length < hi)


def notion_details(notions: Iterable[str] | None, problem_text: str,
                   rollout_texts: Sequence[str], rollout_correct: Sequence[bool]
                   ) -> dict[str, tuple[int, int]]:
    """{notion: (f(n,1), f(n,0))} for the normalised, deduplicated notions not in the problem.

    f(n, t) = number of rollouts with correctness t whose text contains n: a substring test
    after the same normalisation of both sides, so "property" is found in "properties"."""
    if len(rollout_texts) != len(rollout_correct):
        raise ValueError("rollout_texts and rollout_correct differ in length")
    problem = _normalise_text(problem_text)
    texts = [_normalise_text(t) for t in rollout_texts]
    kept = dict.fromkeys(n for n in map(normalise_notion, notions or ()) if n and n not in problem)
    return {n: (sum(bool(c) and n in t for t, c in zip(texts, rollout_correct)),   # f(n, 1)
                sum(not c and n in t for t, c in zip(texts, rollout_correct)))     # f(n, 0)
            for n in kept}


def notion_reward(notions: Iterable[str] | None, problem_text: str,
                  rollout_texts: Sequence[str], rollout_correct: Sequence[bool]) -> float:
    """r_notion = share of new notions with f(n,1) − f(n,0) > 0; 0 if none remain."""
    details = notion_details(notions, problem_text, rollout_texts, rollout_correct)
    return sum(f1 - f0 > 0 for f1, f0 in details.values()) / len(details) if details else 0.0


@dataclass(frozen=True)
class MetaReward:
    """All three parts are always computed (for logging); `total` averages the enabled ones."""
    r_pass: float
    r_len: float
    r_notion: float
    total: float


def meta_reward(pred: MetaPrediction, problem_text: str, rollout_texts: Sequence[str],
                rollout_correct: Sequence[bool], rollout_lengths: Sequence[int], k: int = 8,
                base: float = 0.01, inclusive: bool = True,
                parts: Sequence[str] = PARTS) -> MetaReward:
    """r_meta = mean of the enabled parts: (r_pass + r_len + r_notion) / 3 in the paper.
    An unparseable prediction scores 0 everywhere."""
    if not parts or not set(parts) <= set(PARTS):
        raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {parts!r}")
    if not rollout_correct or len({len(rollout_texts), len(rollout_correct),
                                   len(rollout_lengths)}) != 1:
        raise ValueError("need at least one rollout, and one text, flag, length per rollout")
    if pred.status == "unparseable":
        return MetaReward(0.0, 0.0, 0.0, 0.0)
    p = sum(map(bool, rollout_correct)) / len(rollout_correct)                    # p = mean(c_i)
    correct_lengths = lengths_of_correct(rollout_lengths, rollout_correct)  # L⁺
    r = {"pass": pass_rate_reward(pred.pass_rate, p, k, base),
         "length": length_reward(pred.solution_length, correct_lengths, inclusive),
         "notion": notion_reward(pred.notions, problem_text, rollout_texts, rollout_correct)}
    enabled = dict.fromkeys(parts)
    total = sum(r[q] for q in enabled) / len(enabled)                            # r_meta
    return MetaReward(r["pass"], r["length"], r["notion"], total)
