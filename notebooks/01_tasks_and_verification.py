# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The task, its notions, and answer verification
#
# ![Share of held-out rollouts that use each notion, correct (solid) vs incorrect (dashed), during GRPO (committed cpu run, seed 0 of 3)](../figures/notion_frequency_grpo.png)
#
# - **Not a paper result:** this notebook builds the task the reproduction runs on.
# - **Built in, and seen:** incorrect rollouts redo steps (`recheck`) and run long, which early
#   cutoff needs.
# - **A trap:** at first every notion, `split` included, is more common in incorrect rollouts: they
#   are longer and come from harder problems (`04_masa_training` §6).
#
# Pass rates and lengths per level: [the model card](../masa_lite/assets/masa-tiny/MODEL_CARD.md).


# %%
import random
import statistics

from masa_lite.task import synthetic

for level, spec in synthetic.LEVELS.items():
    p = synthetic.generate_problems(1, levels=(level,), seed=level)[0]
    print(f"level {level}: {spec.n_ops} operations, operands ≤ {spec.max_operand}:  "
          f"{p.problem} = {p.answer}   notions {p.notions}")

# %% [markdown]
# ## What this notebook does
#
# MASA needs a task where (a) prompts range from trivial to unsolvable, so that *gating* has
# something to skip, (b) failing attempts run long, so that *early cutoff* saves compute, and (c)
# solutions name the concepts they use, so that the *notion reward* can check predictions. This
# notebook looks at how `masa_lite.task.synthetic` provides all three, and how answers are verified.
#
# ```mermaid
# flowchart LR
#     G["generator:<br/>level 1–6, seed"] --> P["problem<br/>((92-42-22)*2-35)*2"]
#     P --> REF["reference solution<br/>(split route, clean)"]
#     P --> PER["persona traces<br/>(direct / split, slips, recheck)"]
#     PER -. trained the tiny model .-> M[masa-tiny]
#     M --> RO[rollout text] --> X["extract the final answer"] --> VER{"exact number<br/>or math-verify"}
#     VER --> RW["reward 1 / 0"]
# ```

# %% [markdown]
# ## The reference solution and the persona
#
# The *reference* solution is clean and always uses the reliable `split` route. The *persona* —
# the noisy solver the base model imitated — picks `direct` or `split` at random, slips, and
# sometimes notices a slip and redoes the step after `no, recheck`.

# %%
p = synthetic.generate_problems(1, levels=(5,), seed=11)[0]
print(p.problem, "=", p.answer, "\n")
print("reference:\n" + synthetic.write_solution(p.start, p.chain)[0], "\n")
rng = random.Random(3)
for _ in range(3):
    text, value, used = synthetic.write_solution(p.start, p.chain, rng)
    print(f"persona ({'right' if str(value) == p.answer else 'wrong'}, {len(text)} chars):\n{text}\n")

# %% [markdown]
# ## Length carries information
#
# Over many persona traces: wrong answers are longer than right ones at every level (they come
# from steps that failed several times), and the `split` route is more reliable than `direct`.

# %%
rng = random.Random(0)
for level in synthetic.LEVELS:
    right, wrong = [], []
    for q in synthetic.generate_problems(100, levels=(level,), seed=level):
        for _ in range(4):
            text, value, _ = synthetic.write_solution(q.start, q.chain, rng)
            (right if str(value) == q.answer else wrong).append(len(text))
    rate = len(right) / (len(right) + len(wrong))
    print(f"level {level}: persona pass rate {rate:.2f}, length right {statistics.mean(right):.0f}"
          f" / wrong {statistics.mean(wrong) if wrong else float('nan'):.0f}")

# %% [markdown]
# ## Verification
#
# `masa_lite.task.verify` extracts the final answer (the last balanced `\boxed{}`, as in the method;
# with `fallback=True`, the config switch `grpo.answer_fallback`, also "the answer is …" and then
# the last number) and compares it with the reference: plain numbers exactly, anything else with math-verify in a
# worker process with a hard time limit (math-verify's own timeout uses signals, which only work
# on the main thread).

# %%
from masa_lite.task.verify import verify_answer

for completion, reference in [
    ("so the answer is \\boxed{42}", "42"),
    ("\\boxed{\\frac{1}{2}}", "0.5"),
    ("first \\boxed{3} then \\boxed{4}", "4"),
    ("The final answer is 1,234.", "1234"),
    ("\\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt{2}}"),
    ("no answer here", "7"),
]:
    v = verify_answer(completion, reference)
    print(f"{completion!r:42} vs {reference!r:18} → {v.correct!s:5} ({v.method}, {v.status})")
v = verify_answer("The final answer is 1,234.", "1234", fallback=True)
print(f"with fallback=True: 'The final answer is 1,234.' → {v.correct} ({v.method}, {v.status})")

# %% [markdown]
# ## Real data sets in the same schema
#
# `masa_lite.task.data.load_math_dataset` reads GSM8K, MATH-500, DeepScaleR, AIME and AMC by short
# name or hub id — or, offline, from a local file with the source's columns, as here.

# %%
import json
import tempfile
from pathlib import Path

from masa_lite.task.data import load_math_dataset, to_records

folder = Path(tempfile.mkdtemp())
rows = [{"question": "Tom has 3 apples and buys 4 more. How many?", "answer": "3 + 4 = 7\n#### 7"},
        {"question": "A book costs $1,200 and a pen $34. Total?", "answer": "#### 1,234"}]
(folder / "gsm8k_sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
for rec in to_records(load_math_dataset(str(folder / "gsm8k_sample.jsonl"), source="gsm8k")):
    print(rec)

# %% [markdown]
# ## What the study found
#
# The first `masa-tiny` had the task's notions but not the paper's economics: a wrong solution was
# rarely twice as long as a right one, so the cutoff at 2 × the predicted length seldom bound, and a
# sibling whose wrong solutions wandered lost the wandering to GRPO before the cutoff started
# ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Findings 11, 16–17). Today's
# task makes failure long for a reason RL cannot train away: a hard problem is never solved, so its
# group has no variance, and the lost solver guesses to the budget (Finding 21). The
# figure above also shows why a notion's share over all rollouts misleads: incorrect rollouts are
# longer and come from harder problems, so they contain every notion more often; `r_notion` compares
# rollouts of the same prompt instead.
