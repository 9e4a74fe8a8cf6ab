"""The solver *persona* whose traces the bundled tiny model imitates: how likely it is to slip on
one step of the synthetic task (:mod:`masa_lite.task.synthetic`), and how often it catches a slip.

A step is ``add``/``sub`` (slips grow with carries and borrows), a one-digit product (``small``,
almost never wrong), a two-digit × one-digit product (``mid``: error-prone done ``direct``,
reliable ``split`` by the distributive law) or a two-digit × two-digit product (``hard``: always a
wrong guess). Tune a persona here to change the economics of the model organism.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    """Slip and check rates of the solver whose traces the base model learns to imitate.

    A step's slip chance (:func:`step_error`) grows with carries and with the size of a two-digit
    × one-digit product, much faster ``direct`` than ``split``, and by ``fatigue`` per earlier step.
    A hard product is always a wrong guess, and a guess is always caught (its last digit is wrong).
    """

    p_split: float = 0.5  # chance to split a two-digit × one-digit product
    e_easy: float = 0.003  # one-digit product, add/sub without carry
    e_carry: float = 0.01  # per carry (add) or borrow (sub) column
    e_direct: tuple[float, float] = (0.4, 0.95)  # two-digit × one-digit, direct: at a = 10 and 49
    e_split: tuple[float, float] = (0.03, 0.12)  # the same by the distributive law
    detect: float = 0.95  # chance that a slip (its units digit is wrong) is caught and redone
    false_alarm: float = 0.01  # chance that a right result is redone anyway
    lost_after: int = 2  # rejected attempts at one step before the solver is lost
    fatigue: float = 0.3  # slip chance grows by this factor per earlier step
    p_hint: float = 0.25  # share of solution prompts that carry a notion hint


PERSONAS: dict[str, Persona] = {"default": Persona()}


def apply_op(op: str, a: int, b: int) -> int:
    """``a op b`` for op in ``+ - *``."""
    return a + b if op == "+" else a - b if op == "-" else a * b


def carry_columns(a: int, b: int, op: str) -> int:
    """Number of carry (``+``) or borrow (``-``) columns in ``a op b`` for a, b ≥ 0."""
    count, carry = 0, 0
    while a > 0 or b > 0:
        da, db = a % 10, b % 10
        carry = (1 if da + db + carry >= 10 else 0) if op == "+" else (1 if da - db - carry < 0 else 0)
        count += carry
        a, b = a // 10, b // 10
    return count


def step_kind(op: str, a: int, b: int) -> str:
    """``add``/``sub``; ``small`` (one-digit product), ``mid`` (two-digit × one-digit) or ``hard``
    (two-digit × two-digit) for ``*``."""
    if op in "+-":
        return "add" if op == "+" else "sub"
    return "small" if a < 10 and b < 10 else "mid" if b < 10 else "hard"


def step_error(op: str, a: int, b: int, split: bool, p: Persona) -> float:
    """The persona's chance to slip on one attempt at ``a op b`` (1 for a hard product)."""
    kind = step_kind(op, a, b)
    if kind in ("add", "sub"):
        return min(0.9, p.e_easy + p.e_carry * carry_columns(a, b, op))
    if kind == "small":
        return p.e_easy
    if kind == "hard":
        return 1.0
    lo, hi = p.e_split if split else p.e_direct
    return lo + (hi - lo) * (min(a, 49) - 10) / 39
