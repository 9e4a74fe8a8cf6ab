"""What speed-up MASA-efficient can reach at all, from what a step costs (docs/meta-awareness-study.md,
Finding 9).

Gating and cutoff save *solution* tokens; the meta path costs tokens of its own (M meta rollouts
per prompt, their update, Expert SFT). Measure a step's cost in generated tokens, with a GRPO step
(solution path only) as 1:

    cost(MASA-efficient) / cost(GRPO) = (1 − g)(1 − c) + m

where g is the share of prompts gated, c the share of the remaining solution tokens the cutoff
saves, and m the meta path's tokens relative to the solution path's. If a step teaches as much as
a GRPO step (optimistic: the gate should only remove prompts whose group has zero variance and
hence no gradient), the speed-up to a given accuracy is at most

    speed-up ≤ 1 / ((1 − g)(1 − c) + m).

The paper's 1.28× with ~37 % gated fits m ≈ 0.2 (meta answers of a few hundred tokens against
solutions of thousands). When the meta answer is as long as a solution, as on the synthetic task,
m ≈ 1 and no gating can make MASA-efficient faster than GRPO.
"""

from __future__ import annotations


def _share(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share in [0, 1] (got {value!r})")
    return float(value)


def relative_step_cost(meta_share: float, gated_share: float = 0.0, cutoff_saving: float = 0.0) -> float:
    """A MASA-efficient step's cost in units of a GRPO step: (1 − g)(1 − c) + m.
    ``meta_share`` (m ≥ 0): meta-path tokens per solution-path token of a GRPO step."""
    if meta_share < 0:
        raise ValueError(f"meta_share must be ≥ 0 (got {meta_share!r})")
    g, c = _share("gated_share", gated_share), _share("cutoff_saving", cutoff_saving)
    return (1 - g) * (1 - c) + meta_share


def speedup_bound(meta_share: float, gated_share: float = 0.0, cutoff_saving: float = 0.0) -> float:
    """The largest speed-up over GRPO if every step teaches as much as a GRPO step: 1 / cost."""
    return 1.0 / relative_step_cost(meta_share, gated_share, cutoff_saving)


def max_meta_share(target_speedup: float, gated_share: float = 0.0, cutoff_saving: float = 0.0) -> float:
    """The largest m that still allows ``target_speedup``: 1/target − (1 − g)(1 − c) (negative:
    impossible even with a free meta path)."""
    if target_speedup <= 0:
        raise ValueError(f"target_speedup must be > 0 (got {target_speedup!r})")
    g, c = _share("gated_share", gated_share), _share("cutoff_saving", cutoff_saving)
    return 1.0 / target_speedup - (1 - g) * (1 - c)


def meta_share_of(history: list[dict]) -> float | None:
    """m from a MASA run's history: generated meta tokens / generated solution tokens over its
    parallel-mode training steps, where nothing is gated or cut (None without both)."""
    train = [h for h in history if h.get("kind") == "train" and not h.get("sequential")]
    meta = sum(h.get("meta_tokens") or 0 for h in train)
    sol = sum(h.get("solution_tokens") or 0 for h in train)
    return meta / sol if meta and sol else None
