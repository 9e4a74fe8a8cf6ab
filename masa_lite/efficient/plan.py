"""Sequential mode (docs/method.md §4): from the meta path's predictions, decide per prompt whether it
is gated (and audited anyway), its token budget and its notion hint, before any solution rollout."""

from __future__ import annotations

from dataclasses import dataclass

from masa_lite.efficient import gate
from masa_lite.efficient.cutoff import cutoff_budget
from masa_lite.efficient.feed_in import feed_in_notions


@dataclass
class SolutionPlan:
    """Sequential-mode decisions for one step's prompts (index = prompt in the batch)."""

    gated: list[bool]
    audited: list[bool]                 # gated, but rolled out anyway to measure the gate
    budgets: list[int | None] | None    # per prompt; None: the global limit
    notions: list[list[str]] | None     # feed-in hints

    @property
    def rolled_out(self) -> list[int]:
        """The prompts that get solution rollouts: not gated, or gated and audited."""
        return [i for i, (g, a) in enumerate(zip(self.gated, self.audited)) if not g or a]


def plan_solutions(by_prompt: list[dict], cfg, audit_rng, sequential: bool = True,
                   gated: list[bool] | None = None) -> SolutionPlan:
    """Gate, audit, budget and feed-in decisions from the meta path's predictions
    (:func:`predictions_by_prompt`). Audited gated prompts get no cutoff budget: their rollouts
    label the gate's audit (zero variance or not) and must not be cut. ``audit_rng`` draws one
    number per gated prompt, in prompt order. ``gated``: another gate's decisions (the free
    level gate) in place of the meta path's."""
    n, e = len(by_prompt), cfg.efficient
    audited, budgets, notions = [False] * n, None, None
    if not (sequential and e.gating):
        gated = [False] * n
    else:
        if gated is None:
            gated = gate.gate_prompts([p["pass"] for p in by_prompt], e.gate_std, e.gate_margin,
                                      min_votes=e.gate_min_votes)
        audited = [g and audit_rng.random() < e.gate_audit for g in gated]
    if sequential and e.cutoff:
        budgets = [None if gated[i] else
                   cutoff_budget(p["length"], e.cutoff_factor, cfg.rollout.max_new_tokens,
                                 floor=e.cutoff_floor)
                   for i, p in enumerate(by_prompt)]
    if sequential and cfg.meta.feed_in:
        notions = [feed_in_notions(p["notions"]) for p in by_prompt]
    return SolutionPlan(gated, audited, budgets, notions)
