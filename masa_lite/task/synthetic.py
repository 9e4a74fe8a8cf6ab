"""The synthetic arithmetic task that the bundled tiny model is built for and trained on.

Why a synthetic task: nothing can be downloaded where masa_lite is tested, and RL on a real LM is
too slow on a laptop CPU. The task is a *model organism*: small, but with the economics of the
paper's setting (Qwen3-8B on DeepScaleR), which MASA-efficient needs to pay off:

* **three kinds of problem, read off the problem text.** *easy*: only ``+``, ``-`` and one-digit
  products (``7*8+12``) — solved every time, as the saturated prompts of a real RL set; *mid*: a
  two-digit × one-digit product (``(18+35)*4-19``) that the solver can do ``direct`` (short,
  error-prone) or ``split`` by the distributive law (longer, reliable) — where RL has something
  to select; *hard*: a two-digit × two-digit product (``37*24+5``) that the solver cannot do at
  all — never solved, as the prompts beyond a real model's reach. Levels 1–6 (1–6 operations)
  shift the mix from mostly easy to mostly hard, but within a level the kind, not the level,
  decides the pass rate;
* **failures that run long, for a reason RL cannot train away.** Every result is checked; a
  result the solver finds wrong is redone after ``no, recheck``. After ``lost_after`` rejected
  attempts at one step the solver is *lost*: it keeps guessing and rejecting until the token
  budget runs out and never boxes an answer — as failing chains of thought run to the response
  limit. On a hard problem this happens every time, so its group has no variance and GRPO gets no
  gradient to shorten it;
* **named notions**: every step starts with the notions it uses (``add``, ``sub``, ``mul``,
  ``carry``, ``borrow``, ``split``, ``recheck``); the problem text is symbols only.

The *persona* (:func:`write_solution`) is the noisy solver whose traces the base model imitates.
The *reference* solution (``rng=None``, always ``split``, no slips) is the ground truth for lengths
(in tiny-model tokens, :mod:`masa_lite.task.vocab`) and notions.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from masa_lite.files import write_jsonl
from masa_lite.task.persona import Persona, apply_op, carry_columns, step_error, step_kind
from masa_lite.task.vocab import count_tokens, cut_tokens

NOTIONS = ("add", "sub", "mul", "carry", "borrow", "split", "recheck")
KINDS = ("easy", "mid", "hard")
SPLITS = ("train", "val", "test")
SOLVE_TEMPLATE = "solve {problem}\n"
HINT_TEMPLATE = "solve {problem} using {notions}\n"  # notion feed-in (method page §4)
META_TEMPLATE = "meta {problem}\n"
VALUE_MAX = 99  # values stay two-digit, except after a hard product (which no one reaches)
LOST_LIMIT = 270  # tokens: where a lost trace of the persona is cut (beyond the 256-token rollout budget)


@dataclass(frozen=True)
class Level:
    """How one difficulty level draws a problem: its operations, operand range, and the shares of
    easy, mid and hard problems."""

    n_ops: int
    max_operand: int
    mix: tuple[float, float, float]


LEVELS: dict[int, Level] = {
    1: Level(1, 20, (0.80, 0.15, 0.05)),
    2: Level(2, 30, (0.50, 0.35, 0.15)),
    3: Level(3, 50, (0.30, 0.45, 0.25)),
    4: Level(4, 70, (0.20, 0.50, 0.30)),
    5: Level(5, 99, (0.10, 0.55, 0.35)),
    6: Level(6, 99, (0.10, 0.45, 0.45)),
}


@dataclass
class Problem:
    """One task item with its ground truth."""

    problem: str
    answer: str
    level: int
    notions: list[str]
    ref_length: int  # tiny-model tokens of the reference solution + 1 EOS
    start: int = 0
    chain: list[tuple[str, int]] = field(default_factory=list)  # (op, operand), left to right
    source: str = "synthetic"
    kind: str = ""  # easy / mid / hard: for analysis only, never shown to the model

    @property
    def id(self) -> str:
        return hashlib.sha1(self.problem.encode()).hexdigest()[:12]

    def to_record(self) -> dict:
        rec = asdict(self)
        rec["id"] = self.id
        rec["chain"] = [list(s) for s in self.chain]
        return rec


def split_of(problem_text: str) -> str:
    """Stable split by hash of the problem text: train/val/test can never share a problem."""
    bucket = int(hashlib.sha1(problem_text.encode()).hexdigest(), 16) % 100
    return "train" if bucket < 80 else ("val" if bucket < 90 else "test")


def kind_of(start: int, chain) -> str:
    """The problem's kind from its steps: hard if any product is two-digit × two-digit, else mid
    if any is two-digit × one-digit, else easy."""
    kinds, value = set(), start
    for op, b in chain:
        kinds.add(step_kind(op, value, b))
        value = apply_op(op, value, b)
    return "hard" if "hard" in kinds else "mid" if "mid" in kinds else "easy"


def _ops_for(kind: str, n: int, rng: random.Random) -> list[str]:
    """The operation of each step for a problem of ``kind``: ``mid``/``hard``/``small`` mark the
    products, the rest is ``+``/``-``."""
    ops = [rng.choice("+-") for _ in range(n)]
    if kind == "easy":
        if rng.random() < 0.3:
            ops[0] = "small"
        return ops
    slots = rng.sample(range(n), k=min(n, rng.choice((1, 1, 2))))
    for s in slots:
        ops[s] = "mid"
    if kind == "hard":
        ops[max(slots)] = "hard"
    return ops


def _draw(level: int, kind: str, rng: random.Random) -> tuple[int, list[tuple[str, int]]] | None:
    """A start value and (op, operand) steps of ``kind``; None when a constraint fails (redraw)."""
    spec = LEVELS[level]
    ops = _ops_for(kind, spec.n_ops, rng)
    lo_start = {"small": 2, "mid": 10, "hard": 10}.get(ops[0], 2)
    hi_start = {"small": 9, "mid": 49, "hard": 99}.get(ops[0], spec.max_operand)
    value = start = rng.randint(lo_start, max(lo_start, hi_start))
    chain, past_hard = [], False
    for op in ops:
        if op == "small":
            b = rng.randint(2, 9)
        elif op == "mid":
            if not 10 <= value <= 49:
                return None
            b = rng.randint(2, min(9, VALUE_MAX // value))
        elif op == "hard":
            if not 10 <= value <= 99:
                return None
            b, past_hard = rng.randint(11, 49), True
        elif op == "-":
            if value < 3:
                return None
            b = rng.randint(2, min(value, spec.max_operand))
        else:
            b = rng.randint(2, spec.max_operand)
        sym = "*" if op in ("small", "mid", "hard") else op
        value = apply_op(sym, value, b)
        if value > VALUE_MAX and not past_hard:
            return None
        chain.append((sym, b))
    return (start, chain) if kind_of(start, chain) == kind else None


def render_problem(start: int, chain: list[tuple[str, int]]) -> str:
    """Write the chain in ordinary notation; parentheses where left-to-right needs them."""
    text, top_additive = str(start), False
    for op, b in chain:
        if op == "*" and top_additive:
            text, top_additive = f"({text})", False
        text += f"{op}{b}"
        top_additive = top_additive or op in "+-"
    return text


def _notions_of_step(op: str, a: int, b: int, split: bool) -> list[str]:
    if op in "+-":
        name, extra = ("add", "carry") if op == "+" else ("sub", "borrow")
        return [name, extra] if a >= 0 and carry_columns(a, b, op) else [name]
    return ["mul", "split"] if split else ["mul"]


def _step_body(op: str, a: int, b: int, split: bool, result: int) -> str:
    """The text after the tags: ``a op b=result``, or the distributive route for ``split``."""
    if op == "*" and split:
        tens, units = a - a % 10, a % 10
        return f"{a}*{b}={tens}*{b}+{units}*{b}={tens * b}+{units * b}={result}"
    return f"{a}{op}{b}={result}"


def _corrupt(value: int, rng: random.Random, last_digit: bool = False) -> int:
    """A plausible slip: one digit off by 1–3 (never the same value; the sign is kept). With
    ``last_digit`` the units digit is the one changed (a guess whose last digit is wrong)."""
    if value < 0:
        return -_corrupt(-value, rng, last_digit)
    digits = list(str(value))
    for _ in range(20):
        i = len(digits) - 1 if last_digit else rng.randrange(len(digits))
        d = int(digits[i]) + rng.choice((-3, -2, -1, 1, 2, 3))
        if 0 <= d <= 9 and not (i == 0 and d == 0 and len(digits) > 1):
            digits[i] = str(d)
            return int("".join(digits))
    return value + 1


def _attempt(op, a, b, split, err, rng) -> int:
    truth = apply_op(op, a, b)
    if rng.random() >= err:
        return truth
    return _corrupt(truth, rng, last_digit=True)  # a slip shows in the units digit: checkable


def write_solution(
    start: int,
    chain: list[tuple[str, int]],
    rng: random.Random | None = None,
    persona: Persona | None = None,
    route: str | None = None,
    limit: int = LOST_LIMIT,
) -> tuple[str, int | None, list[str]]:
    """Write a solution trace; returns (text, boxed value or None if lost, notions used).

    With ``rng=None`` the trace is the clean reference (no slips, ``split`` route). Otherwise the
    persona picks each two-digit × one-digit product's route (unless ``route`` forces
    ``split``/``direct``), slips with its error rates, catches a slip with chance ``detect`` (a
    hard product's guess always) and redoes the step after ``no, recheck``. An attempt it does
    not reject is kept, right or wrong. After ``lost_after`` rejected attempts at one step it is
    lost: it goes on guessing and rejecting until the trace is ``limit`` tokens long, and boxes
    nothing (value None).
    """
    p = persona or Persona()
    lines, value, used = [], start, []
    for i, (op, b) in enumerate(chain):
        a = value
        split = step_kind(op, a, b) == "mid" and (
            route == "split" if route else (rng is None or rng.random() < p.p_split))
        tags = _notions_of_step(op, a, b, split)
        if rng is None:
            ref_split = split or step_kind(op, a, b) == "hard"
            lines.append(" ".join(_notions_of_step(op, a, b, ref_split)) + " "
                         + _step_body(op, a, b, ref_split, apply_op(op, a, b)))
            used.extend(_notions_of_step(op, a, b, ref_split))
            value = apply_op(op, a, b)
            continue
        err = 1.0 if step_kind(op, a, b) == "hard" else min(0.95, step_error(op, a, b, split, p) * (1 + p.fatigue * i))
        line = " ".join(tags) + " "
        rejected = 0
        while True:
            got = _attempt(op, a, b, split, err, rng)
            line += _step_body(op, a, b, split, got)
            wrong = got != apply_op(op, a, b)
            caught = wrong and (err >= 1.0 or rng.random() < p.detect)
            if not (caught or (not wrong and rng.random() < p.false_alarm)):
                break
            rejected += 1
            line += " no, recheck "
            if rejected >= p.lost_after:  # lost: guess and reject until the budget runs out
                text = "\n".join(lines + [line])
                n = count_tokens(text)  # counted piece by piece: a guess starts with a digit or "-",
                while n < limit:        # so no token spans the joint
                    guess = _step_body(op, a, b, split, _corrupt(apply_op(op, a, b), rng)) + " no, recheck "
                    text, n = text + guess, n + count_tokens(guess)
                return cut_tokens(text, limit), None, sorted(set(used + tags + ["recheck"]), key=NOTIONS.index)
        value = got
        lines.append(line)
        used.extend(tags + (["recheck"] if rejected else []))
    lines.append(f"\\boxed{{{value}}}")
    return "\n".join(lines), value, sorted(set(used), key=NOTIONS.index)


def make_problem(level: int, rng: random.Random, kind: str | None = None) -> Problem:
    """Draw one problem of ``level`` (its kind drawn by the level's mix unless given) with its
    reference solution and ground truth."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: levels are {sorted(LEVELS)}")
    kind = kind or rng.choices(KINDS, weights=LEVELS[level].mix)[0]
    while (drawn := _draw(level, kind, rng)) is None:
        pass
    start, chain = drawn
    text, value, notions = write_solution(start, chain)
    return Problem(render_problem(start, chain), str(value), level, notions, count_tokens(text) + 1,
                   start, chain, kind=kind)


def generate_problems(n: int, levels=tuple(LEVELS), seed: int = 0, split: str | None = None,
                      level_weights=None, allow_fewer: bool = False) -> list[Problem]:
    """``n`` distinct problems, levels drawn uniformly (or by weight), optionally of one split.

    Level 1 has only a few thousand distinct problems: with ``allow_fewer`` the draw stops with
    what it found instead of raising when the level runs dry.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {SPLITS}")
    for lv in levels:
        if lv not in LEVELS:
            raise ValueError(f"unknown level {lv!r}: levels are {sorted(LEVELS)}")
    rng = random.Random(seed)
    seen, out, tries = set(), [], 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            if allow_fewer:
                return out
            raise RuntimeError(f"could not draw {n} distinct problems from levels {levels}")
        lv = rng.choices(list(levels), weights=level_weights)[0]
        p = make_problem(lv, rng)
        if p.problem in seen or (split is not None and split_of(p.problem) != split):
            continue
        seen.add(p.problem)
        out.append(p)
    return out


def task_splits(n_per_level: int = 200, seed: int = 0) -> dict[str, list[Problem]]:
    """Balanced held-out sets: ``n_per_level`` problems per level for val and for test."""
    out = {}
    for i, split in enumerate(("val", "test")):
        probs = []
        for lv in LEVELS:
            probs += generate_problems(n_per_level, levels=(lv,), seed=seed * 1000 + 10 * i + lv,
                                       split=split, allow_fewer=True)
        out[split] = probs
    return out


def solution_prompt(problem: str, notions=None) -> str:
    """The tiny model's solution prompt; ``notions`` feeds predicted notions in as a hint."""
    if notions:
        return HINT_TEMPLATE.format(problem=problem, notions=", ".join(notions))
    return SOLVE_TEMPLATE.format(problem=problem)


def meta_prompt(problem: str) -> str:
    """The tiny model's meta prompt (its answer: ``<meta>…</meta>`` then the JSON prediction)."""
    return META_TEMPLATE.format(problem=problem)


def save_jsonl(problems, path) -> Path:
    """Write problems as JSONL atomically (temporary file, then rename)."""
    return write_jsonl((p.to_record() if isinstance(p, Problem) else p for p in problems), path)


def load_jsonl(path) -> list[Problem]:
    """Read problems written by :func:`save_jsonl`."""
    out = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            rec = json.loads(line)
            missing = [k for k in ("problem", "answer", "level") if k not in rec]
            if missing:
                raise ValueError(f"{path}:{i}: record lacks field(s) {missing}; "
                                 "synthetic task files need problem, answer and level")
            rec.pop("id", None)
            rec["chain"] = [tuple(s) for s in rec.get("chain", [])]
            out.append(Problem(**rec))
    return out
