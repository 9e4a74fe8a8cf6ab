"""Could early cutoff work on a task at all? The solver persona, simulated (no model, seconds).
(docs/meta-awareness-study.md, Findings 16 and 21)

For each persona of :data:`masa_lite.task.persona.PERSONAS` and each held-out test problem, the
persona writes 2N solutions: the first N give the problem's mean correct length (a perfect length
prediction), the second N are the rollouts the cutoff decides on, capped at ``--max-new-tokens``
(a capped rollout counts as wrong, as in training). The cutoff frontier
(:func:`masa_lite.study.frontier.cutoff_frontier`) then says what F1 a predictor that knew the
correct length exactly would reach at each factor: an upper reference for the meta path, since
the base model imitates the persona. Lengths are in tiny-model tokens (EOS counted when the
solver boxes an answer; a lost solver runs to the budget).

    python scripts/persona_cutoff.py
"""

from __future__ import annotations

import argparse
import random

from masa_lite.study.frontier import cutoff_frontier, reference_split
from masa_lite.stats import correct_lengths, mean_or_none
from masa_lite.task import synthetic
from masa_lite.task.persona import PERSONAS, Persona
from masa_lite.task.vocab import count_tokens


def simulate(persona: Persona, n_per_level: int = 40, samples: int = 8, seed: int = 0,
             max_new_tokens: int = 256) -> tuple[list[int], list[bool], list[float | None]]:
    """Lengths in tokens, correctness and reference length per decided rollout."""
    rng = random.Random(seed)
    lengths, correct, ref = [], [], []
    for prob in synthetic.task_splits(n_per_level, seed=0)["test"]:
        group_len, group_ok = [], []
        for _ in range(2 * samples):
            text, value, _ = synthetic.write_solution(prob.start, prob.chain, rng, persona)
            n = count_tokens(text) + (value is not None)  # EOS when it boxes an answer
            group_len.append(min(n, max_new_tokens))
            group_ok.append(str(value) == prob.answer and n <= max_new_tokens)
        decided, ok, reference = reference_split(group_len, group_ok, samples)
        lengths += decided
        correct += ok
        ref += [reference] * samples
    return lengths, correct, ref


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-level", type=int, default=40, help="held-out problems per level")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print("| persona | mean length right / wrong | factor | cut | precision | recall | F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, persona in PERSONAS.items():
        lengths, correct, ref = simulate(persona, args.per_level, args.samples, args.seed)
        right = mean_or_none(correct_lengths(lengths, correct))
        wrong = mean_or_none(correct_lengths(lengths, correct, right=False))
        for row in cutoff_frontier(lengths, correct, ref, factors=(1.0, 1.5, 2.0)):
            print(f"| {name} | {right:.0f} / {wrong:.0f} | {row['factor']} | {row['cut']:.2f} | "
                  f"{row['precision']:.2f} | {row['recall']:.2f} | {row['f1']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
