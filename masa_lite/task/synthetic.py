"""The synthetic arithmetic task that the bundled tiny model is built for and trained on.

Why a synthetic task: nothing can be downloaded where masa_lite is tested, and RL on a real LM is
too slow on a laptop CPU. The task is designed so that MASA has something to learn
(a first experiment with a rigid chain format found wrong answers as long as right ones, so length carried no signal):

* **levels 1–6** (1–6 operations of + − ×, growing operands, more multiplications): the base
  model's pass rate spans from ~1 (trivial, gating material) to ~0 (unsolvable);
* **named notions**: every step starts with the notions it uses (``add``, ``sub``, ``mul``,
  ``carry``, ``borrow``, ``split``, ``recheck``). The problem text is symbols only, so no notion is
  literally present in it, and the meta path's ``math_notion`` can be checked against rollouts;
* **behaviour to select**: a multi-digit multiplication can be done ``direct`` (``53*4=212``:
  short, error-prone) or ``split`` by the distributive law (``53*4=50*4+3*4=200+12=212``: longer,
  reliable). The solver persona picks at random, so RL can raise accuracy by choosing better;
* **length that carries information**: a step the solver doubts is redone after
  ``no, recheck``; a wrong final answer mostly comes from a step that failed several attempts, so
  failing rollouts run long and early cutoff can save compute.

The *persona* (:func:`write_solution`) is the noisy solver whose traces the base model imitates:
its error and detection rates are the knobs of the base model's behaviour. The *reference*
solution (``noise=False``, always ``split``) is the ground truth for lengths and notions.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from masa_lite.files import write_jsonl

NOTIONS = ("add", "sub", "mul", "carry", "borrow", "split", "recheck")
SPLITS = ("train", "val", "test")
SOLVE_TEMPLATE = "solve {problem}\n"
HINT_TEMPLATE = "solve {problem} using {notions}\n"  # notion feed-in (method page §4)
META_TEMPLATE = "meta {problem}\n"


@dataclass(frozen=True)
class Level:
    """How one difficulty level draws a problem."""

    n_ops: int
    max_operand: int
    min_mul: int
    max_mul: int


LEVELS: dict[int, Level] = {
    1: Level(1, 20, 0, 0),
    2: Level(2, 30, 0, 1),
    3: Level(3, 50, 1, 1),
    4: Level(4, 70, 1, 2),
    5: Level(5, 99, 2, 2),
    6: Level(6, 99, 2, 3),
}
VALUE_MAX = 99  # every intermediate value stays in 0..99: two-digit arithmetic only


@dataclass(frozen=True)
class Persona:
    """Error and behaviour rates of the noisy solver the base model learns to imitate.

    A step's slip chance (see :func:`step_error`) grows with carries and with the size of a
    multiplication, and much faster for the ``direct`` route than for ``split``.
    """

    p_split: float = 0.5  # chance to split a multi-digit multiplication
    e_easy: float = 0.02  # add/sub without carry or borrow, single-digit multiplication
    e_carry: float = 0.2  # per carry (add) or borrow (sub) column
    e_direct: tuple[float, float] = (0.3, 0.9)  # two-digit ×, direct: at a = 10 and a = 49
    e_split: tuple[float, float] = (0.03, 0.12)  # the same by the distributive law
    detect: float = 0.6  # chance that a wrong result is noticed and redone
    false_alarm: float = 0.02  # chance that a right result is redone anyway
    max_attempts: int = 3  # attempts per step before moving on
    fatigue: float = 0.8  # slip chance grows by this factor per earlier step
    p_hint: float = 0.25  # share of solution prompts that carry a notion hint
    # Wandering (off by default): a trace with an unfixed slip re-checks its steps in
    # ``wander_rounds`` passes of ``recheck`` lines before it boxes its answer - long because it
    # is lost, as failing chains of thought are on real models, and what early cutoff needs.
    wander: float = 0.0  # chance to wander when the final value is wrong
    wander_false: float = 0.0  # chance to wander when it is right
    wander_rounds: int = 2
    # chance that a wandering pass fixes a wrong step it reaches and redoes the later steps: the
    # answer is rescued when no earlier step was wrong too, as real long re-checking sometimes is
    wander_fix: float = 0.0


PERSONAS: dict[str, Persona] = {
    "default": Persona(),  # the persona of the bundled masa-tiny
    "wander": Persona(wander=0.9, wander_false=0.05),  # masa-tiny-wander: wrong traces ramble
    # wandering that rescues about 1 in 7 wandering wrong traces, so RL might keep it; built and
    # measured, not bundled: GRPO trains it away all the same (the study, Finding 17)
    "wander-fix": Persona(wander=0.9, wander_false=0.05, wander_rounds=3, wander_fix=0.05),
}


def _columns(a: int, b: int, op: str) -> int:
    """Number of carry (``+``) or borrow (``-``) columns in ``a op b`` for a, b ≥ 0."""
    count, carry = 0, 0
    while a > 0 or b > 0:
        da, db = a % 10, b % 10
        if op == "+":
            carry = 1 if da + db + carry >= 10 else 0
        else:
            carry = 1 if da - db - carry < 0 else 0
        count += carry
        a, b = a // 10, b // 10
    return count


def step_error(op: str, a: int, b: int, split: bool, p: Persona) -> float:
    """The persona's chance to slip on one attempt at ``a op b``."""
    if op in "+-":
        if a < 0 or b < 0:
            return p.e_carry
        return min(0.9, p.e_easy + p.e_carry * _columns(a, b, op))
    if not _is_hard(op, a, b):
        return p.e_easy
    lo, hi = p.e_split if split else p.e_direct
    return lo + (hi - lo) * (min(a, 49) - 10) / 39


@dataclass
class Problem:
    """One task item with its ground truth."""

    problem: str
    answer: str
    level: int
    notions: list[str]
    ref_length: int  # characters of the reference solution + 1 EOS = tokens for the tiny model
    start: int = 0
    chain: list[tuple[str, int]] = field(default_factory=list)  # (op, operand), left to right
    source: str = "synthetic"

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


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def _draw(level: int, rng: random.Random) -> tuple[int, list[tuple[str, int]]] | None:
    """Draw a start value and a list of (op, operand); None when constraints fail (redraw)."""
    spec = LEVELS[level]
    n_mul = rng.randint(spec.min_mul, spec.max_mul)
    ops = ["*"] * n_mul + [rng.choice("+-") for _ in range(spec.n_ops - n_mul)]
    rng.shuffle(ops)
    value = rng.randint(2, spec.max_operand)
    start, chain = value, []
    for op in ops:
        if op == "*":
            if value > VALUE_MAX // 2:
                return None
            b = rng.randint(2, min(9, VALUE_MAX // max(value, 1)))
        elif op == "-":
            if value < 3:
                return None
            b = rng.randint(2, min(value, spec.max_operand))
        else:
            b = rng.randint(2, spec.max_operand)
        value = _apply(op, value, b)
        if value > VALUE_MAX:
            return None
        chain.append((op, b))
    return start, chain


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
        return [name, extra] if a >= 0 and _columns(a, b, op) else [name]
    return ["mul", "split"] if split else ["mul"]


def _step_body(op: str, a: int, b: int, split: bool, result: int) -> str:
    """The text after the tags: ``a op b=result``, or the distributive route for ``split``."""
    if op == "*" and split:
        tens, units = a - a % 10, a % 10
        return f"{a}*{b}={tens}*{b}+{units}*{b}={tens * b}+{units * b}={result}"
    return f"{a}{op}{b}={result}"


def _corrupt(value: int, rng: random.Random) -> int:
    """A plausible slip: one digit off by 1–3 (never the same value; the sign is kept)."""
    if value < 0:
        return -_corrupt(-value, rng)
    digits = list(str(value))
    for _ in range(20):
        i = rng.randrange(len(digits))
        d = int(digits[i]) + rng.choice((-3, -2, -1, 1, 2, 3))
        if 0 <= d <= 9 and not (i == 0 and d == 0 and len(digits) > 1):
            new = digits.copy()
            new[i] = str(d)
            return int("".join(new))
    return value + 1


def _is_hard(op: str, a: int, b: int) -> bool:
    return op == "*" and a >= 10


def _wander(steps: list[tuple], rng: random.Random, p: Persona) -> tuple[list[str], int | None]:
    """``wander_rounds`` passes of ``recheck`` lines over the written steps (op, a, b, split, got),
    values unchanged; with ``wander_fix`` a pass may catch a wrong step (each one it reaches, with
    that chance), write the value that step should have given after ``no,`` and redo the later
    steps from it. The answer is then right only if no earlier step was wrong too. Returns the
    lines and the new final value (None: nothing fixed). Draws only at a wrong step and only when
    ``wander_fix`` > 0."""
    lines = []
    for _ in range(p.wander_rounds):
        for i, (op, a, b, split, got) in enumerate(steps):
            right = _apply(op, a, b)
            if got != right and p.wander_fix and rng.random() < p.wander_fix:
                lines.append(f"recheck {_step_body(op, a, b, split, got)} no, "
                             f"{_step_body(op, a, b, split, right)}")
                value = right
                for op2, _, b2, split2, _ in steps[i + 1:]:
                    nxt = _apply(op2, value, b2)
                    body = _step_body(op2, value, b2, split2 and _is_hard(op2, value, b2), nxt)
                    lines.append(f"recheck {body}")
                    value = nxt
                return lines, value
            lines.append(f"recheck {_step_body(op, a, b, split, got)}")
    return lines, None


def wander_kind(text: str) -> str:
    """What a trace's wandering did: ``"none"``, ``"wander"`` (fixed nothing) or ``"rescue"`` (a
    line ``recheck ... no, ...`` fixed a step). A step's own redo (``add 4+5=10 no, recheck
    4+5=9``) starts with its notion tags, not ``recheck``, so it does not count."""
    lines = [ln for ln in text.splitlines() if ln.startswith("recheck ")]
    return "none" if not lines else "rescue" if any(" no, " in ln for ln in lines) else "wander"


def write_solution(
    start: int,
    chain: list[tuple[str, int]],
    rng: random.Random | None = None,
    persona: Persona | None = None,
    route: str | None = None,
) -> tuple[str, int, list[str]]:
    """Write a solution trace; returns (text, final value, notions used).

    With ``rng=None`` the trace is the clean reference (no errors, ``split`` route). Otherwise the
    persona samples each step's route (unless ``route`` forces "split"/"direct"), slips with its
    error rates, notices a slip with probability ``detect`` and redoes the step after
    ``no, recheck`` up to ``max_attempts`` times, then carries on with what it has. A persona with
    ``wander`` > 0 may then re-check every step again (``recheck a+b=c`` lines, unchanged values)
    before the boxed answer, mostly when that answer is wrong; with ``wander_fix`` > 0 such a
    pass sometimes finds the slip and rescues the answer (:func:`_wander`).
    """
    p = persona or Persona()
    lines, value, used = [], start, []
    steps, truth_value = [], start  # each step as finally written; the slip-free running value
    for i, (op, b) in enumerate(chain):
        a, truth = value, _apply(op, value, b)
        split = _is_hard(op, a, b) and (
            route == "split" if route else (rng is None or rng.random() < p.p_split)
        )
        tags = _notions_of_step(op, a, b, split)
        err = min(0.95, step_error(op, a, b, split, p) * (1 + p.fatigue * i))
        attempts = []
        for attempt in range(p.max_attempts):
            got = truth if rng is None or rng.random() >= err else _corrupt(truth, rng)
            attempts.append(_step_body(op, a, b, split, got))
            if rng is None or attempt == p.max_attempts - 1:
                break
            noticed = rng.random() < (p.detect if got != truth else p.false_alarm)
            if not noticed:
                break
        value = got
        lines.append(" ".join(tags) + " " + " no, recheck ".join(attempts))
        steps.append((op, a, b, split, got))
        used.extend(tags + (["recheck"] if len(attempts) > 1 else []))
        truth_value = _apply(op, truth_value, b)
    if rng is not None and (p.wander or p.wander_false):  # never draws for the default persona
        if rng.random() < (p.wander if value != truth_value else p.wander_false):
            extra, fixed = _wander(steps, rng, p)
            lines.extend(extra)
            value = value if fixed is None else fixed
            used.append("recheck")
    lines.append(f"\\boxed{{{value}}}")
    return "\n".join(lines), value, sorted(set(used), key=NOTIONS.index)


def make_problem(level: int, rng: random.Random) -> Problem:
    """Draw one problem of ``level`` with its reference solution and ground truth."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: levels are {sorted(LEVELS)}")
    while True:
        drawn = _draw(level, rng)
        if drawn is not None:
            break
    start, chain = drawn
    text, value, notions = write_solution(start, chain)
    return Problem(render_problem(start, chain), str(value), level, notions, len(text) + 1,
                   start, chain)


def generate_problems(n: int, levels=tuple(LEVELS), seed: int = 0, split: str | None = None,
                      level_weights=None, allow_fewer: bool = False) -> list[Problem]:
    """``n`` distinct problems, levels drawn uniformly (or by weight), optionally of one split.

    Level 1 has only a few hundred distinct problems: with ``allow_fewer`` the draw stops with
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
    """Balanced held-out sets: ``n_per_level`` problems per level for val and for test
    (level 1 caps out near 50: it has only about 500 distinct problems in all)."""
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
