"""The meta answer: prompt, canonical format and lenient parser (docs/method.md §1).

The policy reads a meta prompt, reasons inside `<meta> … </meta>` and emits a JSON object
`{"math_notion": [...], "pass_rate": 0..K, "solution_length": tokens}`.

Parsing never raises and records every fallback it used, so training can count them
(the public code's regex silently scores anything but compact JSON as 0). How each field is
rewarded: :mod:`masa_lite.meta.reward`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

KEYS = ("math_notion", "pass_rate", "solution_length")  # the answer's JSON keys, in its order
PARTS = ("pass", "length", "notion")          # the parts of r_meta, for ablations
# the JSON field each part of r_meta scores (field-level credit: masa_lite.meta.credit)
FIELD_OF_PART = {"pass": "pass_rate", "length": "solution_length", "notion": "math_notion"}


# Our paraphrase of the paper's meta prompt (docs/method.md §1), not its verbatim text: the same
# request, fields and K scale. The format line shows placeholders, not numbers, so that a model
# that copies the example does not predict "pass_rate": 0 (which the gate would read as a
# confident "all wrong"); a copied placeholder parses as no prediction.
PAPER_META_TEMPLATE = (
    "Before solving it, assess the following math problem. Do not solve it.\n\n"
    "Problem: {problem}\n\n"
    "Reason inside <meta> ... </meta> about the notions it needs, how hard it is for you and "
    "how long a correct solution would be. Then output a JSON object with exactly these keys:\n"
    '- "math_notion": list of strings, the concepts needed, not already named in the problem;\n'
    '- "pass_rate": integer 0 to {k}, how many of {k} independent attempts you expect to solve;\n'
    '- "solution_length": integer, the number of tokens of a correct solution.\n'
    'Format: <meta>your reasoning</meta>{"math_notion": ["<notion>", ...], '
    '"pass_rate": <integer 0 to {k}>, "solution_length": <integer>}'
)
META_TEMPLATE = PAPER_META_TEMPLATE  # the same template under a name that does not claim verbatim


def check_k(k: int) -> int:
    """The pass-rate scale K, checked: a positive integer (not a bool); raises ValueError otherwise."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return k


def build_meta_prompt(problem: str, template: str = PAPER_META_TEMPLATE, k: int = 8) -> str:
    """Fill `{k}`, then `{problem}`, by plain replacement (JSON braces need no escaping)."""
    return template.replace("{k}", str(check_k(k))).replace("{problem}", problem)


def format_meta_answer(reasoning: str, notions: Sequence[str], pass_rate: int,
                       solution_length: int) -> str:
    """The canonical answer `<meta>{reasoning}</meta>{json}`: integer fields, fixed key order."""
    if "</meta>" in reasoning:
        raise ValueError("reasoning must not contain '</meta>'")
    for x in (pass_rate, solution_length):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or x != int(x):
            raise ValueError(f"pass_rate and solution_length must be integers, got {x!r}")
    obj = {"math_notion": [str(n) for n in notions], "pass_rate": int(pass_rate),
           "solution_length": int(solution_length)}
    return f"<meta>{reasoning}</meta>{json.dumps(obj, ensure_ascii=False)}"


@dataclass(frozen=True)
class MetaPrediction:
    """A parsed meta answer; `pass_rate` on the 0..K scale; a missing/invalid field is None.
    status: "ok" (all three fields usable), "partial" (some), "unparseable" (none)."""
    notions: tuple[str, ...] | None
    pass_rate: float | None
    solution_length: float | None
    status: str
    fallbacks: tuple[str, ...] = ()


_MAX_CHARS = 50_000       # only the tail of a runaway completion is searched (~12k tokens)


_MAX_CANDIDATES = 64      # at most this many {...} blocks are tried


_MAX_LITERAL = 5_000      # ast.literal_eval (slow: a Python parse) only on blocks up to this size


_TRAILING_COMMA = re.compile(r",\s*([}\]])")


_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)$")


_VALUE = {"math_notion": r"""(\[[^\]]*\]|"[^"]*"|'[^']*')""",
          "pass_rate": r"""["']?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*\d+)?%?"""
                       r"""|nan|-?inf(?:inity)?)"""}


_VALUE["solution_length"] = _VALUE["pass_rate"]
_REGEX = {key: re.compile(rf"""["']?{key.replace("_", "[ _-]?")}s?["']?\s*[:=]\s*{_VALUE[key]}""",
                         re.IGNORECASE) for key in KEYS}


def _balanced_blocks(text: str) -> list[tuple[int, int]]:
    """Spans of balanced `{...}` blocks, the last-ending (then outermost) first."""
    stack, spans = [], []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            spans.append((stack.pop(), i + 1))
    return sorted(spans, key=lambda s: (-s[1], s[0]))[:_MAX_CANDIDATES]


def _decode(block: str) -> tuple[dict | None, list[str]]:
    """JSON, then JSON without trailing commas, then a Python literal (single quotes, True…).

    The literal parser only sees blocks up to ``_MAX_LITERAL`` characters: it builds a full
    syntax tree, and 64 candidate blocks of 50 KB near-JSON took seconds. A meta answer's object
    is a few hundred characters."""
    fixed = _TRAILING_COMMA.sub(r"\1", block)
    decoders = [(json.loads, block, []), (json.loads, fixed, ["trailing_comma"])]
    if len(block) <= _MAX_LITERAL:
        decoders.append((ast.literal_eval, block, ["literal_eval"]))
    for fn, src, tags in decoders:
        try:
            obj = fn(src)
        except Exception:  # ValueError, SyntaxError, RecursionError, MemoryError, …
            continue
        if isinstance(obj, dict):
            return obj, tags
    return None, []


def _known_keys(obj: dict, tags: list[str]) -> dict:
    """Keep our three keys, matched leniently ("Pass Rate", "math_notions" also count)."""
    norm = {key: re.sub(r"[\s-]+", "_", str(key).strip().lower()).rstrip("s") for key in obj}
    tags += ["key_normalised"] * any(n != key and n in KEYS for key, n in norm.items())
    return {n: obj[key] for key, n in norm.items() if n in KEYS}


def _find_object(text: str, tags: list[str]) -> dict | None:
    """The last `{...}` block that decodes to a dict holding at least one of our keys."""
    meta_end = text.rfind("</meta>")
    for start, end in _balanced_blocks(text):
        obj, dtags = _decode(text[start:end])
        if obj is not None and (found := _known_keys(obj, dtags)):
            tags += dtags + ["pretty_json"] * ("\n" in text[start:end])
            tags += ["json_not_after_meta"] * (start < meta_end)
            tags += ["code_fence"] * ("```" in text[meta_end + 1:])
            return found
    return None


def _regex_fields(text: str) -> dict:
    """Last resort: the last `key: value` of each key (truncated JSON, YAML-ish lines, prose)."""
    out = {}
    for key, rx in _REGEX.items():
        if not (matches := rx.findall(text)):
            continue
        raw = matches[-1].strip()
        if key == "math_notion" and raw.startswith("["):        # a list, quoted or not
            obj, _ = _decode(f'{{"x": {raw}}}')
            out[key] = obj["x"] if obj else [p.strip(" '\"") for p in raw[1:-1].split(",")]
        elif key == "math_notion":                                # a quoted string
            out[key] = raw[1:-1]
        else:
            try:
                out[key] = json.loads(raw)  # "5" -> 5, "NaN" -> nan; "5/8", "inf" stay strings
            except ValueError:
                out[key] = raw
    return out


def _strip_unit(s: str) -> str:
    """ "87 tokens" -> "87": drop a trailing "token(s)" and the spaces before it. Linear (the
    regex ``\\s*tokens?$`` it replaces was quadratic in the number of spaces)."""
    low = s.lower()
    for unit in ("tokens", "token"):
        if low.endswith(unit):
            return s[: len(s) - len(unit)].rstrip()
    return s


def _is_share(x: float, decimal: bool, k: int) -> bool:
    """A pass_rate strictly between 0 and 1, or written as a decimal 1.0, is a share of K (0.99
    and 1.0 then read as 7.92 and 8 of 8, not 7.92 and 1); the integer 1 stays a count."""
    return k > 1 and (0 < x < 1 or (x == 1 and decimal))


def _number(value, field: str, k: int, tags: list[str]) -> float | None:
    """Coerce a field to a finite float (pass_rate on the 0..K scale); None + tag if invalid."""
    scaled, is_rate, decimal = "", field == "pass_rate", isinstance(value, float)
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError
        if isinstance(value, str):
            tags.append(f"{field}:numeric_string")
            s = _strip_unit(value.strip())                         # "87 tokens" -> "87"
            if is_rate and (frac := _FRACTION.match(s)):           # "5/8" -> 5/8 · K
                x, scaled = float(frac[1]) / float(frac[2]) * k, "pass_rate:fraction_string"
            elif is_rate and s.endswith("%"):                      # "62.5%" -> 0.625 · K
                x, scaled = float(s[:-1]) / 100 * k, "pass_rate:percent"
            else:
                x = float(s)
                decimal = any(c in s for c in ".eE")
        else:
            x = float(value)
    except OverflowError:                                          # an int of 400 digits
        x = math.inf
    except (TypeError, ValueError, ZeroDivisionError):
        tags.append(f"{field}:invalid")
        return None
    if not math.isfinite(x):
        tags.append(f"{field}:non_finite")
        return None
    if is_rate and not scaled and _is_share(x, decimal, k):
        x, scaled = x * k, "pass_rate:fraction_scaled"             # 0.75 or 1.0 read as a share
    tags += [scaled] if scaled else []
    if (is_rate and not 0 <= x <= k) or (not is_rate and x <= 0):
        tags.append(f"{field}:out_of_range")
        return None
    if not scaled and x != int(x):
        tags.append(f"{field}:non_integer")                        # kept as is, not rounded
    return x


def _notions(value, tags: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        tags.append("math_notion:string_split")
        value = re.split(r"[,;]", value)
    elif not isinstance(value, (list, tuple)):
        tags.append("math_notion:invalid")
        return None
    if not all(isinstance(v, str) for v in value):
        tags.append("math_notion:non_string_item")
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


def _parse(text, k: int) -> MetaPrediction:
    if not isinstance(text, str):
        return MetaPrediction(None, None, None, "unparseable", ("not_text",))
    tags: list[str] = [] if "</meta>" in text else ["no_meta_tag"]
    text = text[-_MAX_CHARS:]
    fields = _find_object(text, tags)
    if fields is None:
        fields = _regex_fields(text)
        tags += ["regex"] if fields else []
    notions = _notions(fields["math_notion"], tags) if "math_notion" in fields else None
    rate, length = (_number(fields[f], f, k, tags) if f in fields else None for f in KEYS[1:])
    usable = sum(v is not None for v in (notions, rate, length))
    status = "ok" if usable == 3 else "partial" if usable else "unparseable"
    return MetaPrediction(notions, rate, length, status, tuple(tags))


def parse_meta(text: str, k: int = 8) -> MetaPrediction:
    """Parse a meta answer leniently. Never raises on any `text` (only on an invalid `k`).

    The last balanced `{...}` block holding one of our keys wins — the one after the last
    `</meta>` when the model kept the format. Decoders: JSON, JSON minus trailing commas,
    `ast.literal_eval`; if no block decodes, `key: value` regexes. Numbers: ints, floats and
    numeric strings; a pass_rate strictly between 0 and 1 or written as a decimal 1.0 (K > 1),
    "a/b" or "x%" is a share and is multiplied by K (the integer 1 is a count); out of [0, K] (or a length ≤ 0), NaN, ±inf → None."""
    check_k(k)
    try:
        return _parse(text, k)
    except Exception:  # safety net; the fuzz tests check that it is never reached
        return MetaPrediction(None, None, None, "unparseable", ("internal_error",))


def summarise_parses(preds: Iterable[MetaPrediction]) -> dict:
    """Parse rate, status shares, per-field availability and how often each fallback fired."""
    preds = list(preds)
    n = len(preds)
    share = (lambda c: c / n) if n else (lambda c: 0.0)
    status = Counter(p.status for p in preds)
    attrs = dict(zip(KEYS, ("notions", "pass_rate", "solution_length")))
    return {"n": n, "parse_rate": share(status["ok"] + status["partial"]),
            **{f"{s}_rate": share(status[s]) for s in ("ok", "partial", "unparseable")},
            "field_rates": {f: share(sum(getattr(p, a) is not None for p in preds))
                            for f, a in attrs.items()},
            "fallbacks": dict(Counter(t for p in preds for t in set(p.fallbacks)))}
