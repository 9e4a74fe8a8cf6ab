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
# # 02 · One GRPO update, taken apart
#
# ![Held-out pass@1 against training step; GRPO is the blue curve: mean of the committed cpu run's 3 seeds (line) and each seed (dots)](../figures/accuracy_vs_step_seeds.png)
#
# - **Reproduced:** GRPO does what it is expected to: held-out pass@1 rises well above the base
#   model's, in the committed 60-step run and already in the short `tiny` run (`figures/tiny/`).
# - **Not a claim of the paper:** GRPO is its baseline; this notebook takes one of its updates
#   apart.
# - **Worth knowing first:** the loss sits near zero while the reward rises (§3 says why).
#
# Numbers: [`figures/summary.md`](../figures/summary.md).


# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from masa_lite.grpo import advantages
from masa_lite.grpo import losses
from masa_lite.task import synthetic
from masa_lite.teach import plots
from masa_lite.teach import widgets
from masa_lite.config import load_config, profile_name
from masa_lite.grpo.update import build_policy_batch
from masa_lite.grpo.policy import sample_solutions, setup
from masa_lite.task.prompts import prompt_format_for
from masa_lite.grpo.rewards import score_rollouts

cfg = load_config(profile_name())
model, tok, optimizer, scheduler = setup(cfg)  # base model + a fresh LoRA adapter (B = 0: no change yet)
device = next(model.parameters()).device
fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
print("profile:", cfg.profile, "| G =", cfg.rollout.group_size, "| device:", device)

# %% [markdown]
# ## What this notebook does
#
# GRPO (Shao et al. 2024, *DeepSeekMath*) trains a policy without a value network: for every prompt
# it samples a **group** of G answers and uses the group itself as the baseline. This notebook
# follows one update through the library, piece by piece:
#
# 1. a group of rollouts and their rewards (`masa_lite.grpo.policy.sample_solutions`, `rewards.py`),
#    and how the rollout engine avoids computing rows that have already stopped;
# 2. group advantages and their variants (`advantages.py`);
# 3. log-probabilities, the ratio ρ and clipping (`losses.py`), and why the loss is about zero;
# 4. the loss aggregations side by side;
# 5. a rollout browser that shows which tokens the update pushes up or down;
# 6. a short training run through the one loop (`masa_lite/trainer.py`).
#
# The other files named here are in `masa_lite/grpo/`.
#
# ```mermaid
# flowchart LR
#     q[prompt q] --> R["G rollouts o_1 … o_G"] --> RW["rewards r_i ∈ {0, 1}"]
#     RW --> GR["group of q:<br/>mean, std"] --> A["Â_i = (r_i − mean) / (std + ε)"]
#     R --> LP["log-probs<br/>new / old → ρ_t"]
#     A --> CL["min(ρ Â, clip(ρ, 1−ε_low, 1+ε_high) Â)"]
#     LP --> CL
#     CL --> AG["aggregate:<br/>token-mean"] --> U["LoRA update"]
# ```

# %% [markdown]
# ## 1 · A group of rollouts and their rewards
#
# Four level-3 training problems, G rollouts each, sampled at temperature 1. The reward is 1 for a
# verified correct final answer and 0 otherwise.

# %%
problems = [p.to_record() for p in synthetic.generate_problems(4, levels=(3,), seed=5, split="train")]
torch.manual_seed(0)
rollouts = sample_solutions(model, tok, problems, fmt.solution, cfg)
rewards, info = score_rollouts(rollouts, problems, cfg)
group_ids = torch.tensor([r.prompt_index for r in rollouts])
for i, p in enumerate(problems):
    rs = rewards[group_ids == i]
    print(f"{p['problem']:>24} = {p['answer']:>6}   rewards {rs.int().tolist()}   p = {rs.mean():.2f}")

# %% [markdown]
# ### Rollouts that have stopped cost nothing
#
# These rollouts have very different lengths. transformers `generate` computes every row of a batch
# until the longest one ends. masa_lite's default rollout engine (`rollout.engine=compact`,
# `masa_lite.grpo.decode_compact.CompactDecoder`) removes a row from the batch — and its keys and values from
# the KV cache — at the step it stops, so each decode step runs only the rows still going; the G
# copies of a prompt also share one prefill. The `trace` of the same sampling call shows it.

# %%
from masa_lite.grpo.sampling import generate_rollouts

trace = {}
torch.manual_seed(0)
again = generate_rollouts(model, tok, [fmt.solution(p, None) for p in problems], n=cfg.rollout.group_size,
                          max_new_tokens=cfg.rollout.max_new_tokens, batch_size=cfg.rollout.batch_size,
                          trace=trace)
active, lengths = trace["active"], [r.length for r in again]
t = next(i for i in range(len(active) - 1) if active[i + 1] < active[i])  # the first compaction
print(f"decode step {t}: {active[t]} rows sampled, {active[t] - active[t + 1]} of them ended (EOS) and left "
      f"the batch and the cache; step {t + 1} runs {active[t + 1]} rows")
print(f"prefill: {trace['prefill_prompts']} distinct prompts run once for {trace['prefill_rows']} rows")
full = len(again) * max(lengths)  # what generate computes: every row until the longest ends
print(f"row-steps computed: compact {sum(active)} (= the {sum(lengths)} generated tokens), "
      f"generate {full}: {1 - sum(active) / full:.0%} of generate's decode work was on finished rows")
fig, ax = plt.subplots(figsize=(6, 3))
ax.step(range(len(active)), active, where="post", label="compact: rows in the batch")
ax.plot([0, max(lengths)], [len(again)] * 2, ls="--", label="generate: rows computed")
ax.set_xlabel("decode step")
ax.set_ylabel("rows")
ax.legend()
plt.show()

# %% [markdown]
# ## 2 · Group advantages
#
# $$\hat A_i = \frac{r_i - \operatorname{mean}_g r}{\operatorname{std}_g r + \varepsilon}, \qquad \varepsilon = 10^{-6}$$
#
# Every token of rollout i gets the same $\hat A_i$. A group whose rewards are all equal —
# all right or all wrong — gets $\hat A = 0$: it costs generation and teaches nothing (these are
# the prompts MASA-efficient's *gate* tries to skip). Dr. GRPO (Liu et al. 2025) drops the std
# division; "batch" divides by the std of the whole batch instead.

# %%
table = {scale: advantages.group_advantages(rewards, group_ids=group_ids, scale=scale)
         for scale in advantages.SCALES}
print("group  reward " + "".join(f"{s:>9}" for s in table))
for j in range(2 * cfg.rollout.group_size):  # the first two groups
    print(f"{group_ids[j].item():5d}  {rewards[j].item():6.0f} "
          + "".join(f"{table[s][j].item():9.2f}" for s in table))
print(advantages.group_stats(rewards, group_ids=group_ids))

# %% [markdown]
# ## 3 · Log-probabilities, the ratio and clipping
#
# The loss needs $\log \pi_\theta(y_t \mid y_{<t})$ of every sampled token. `sequence_token_logprobs`
# runs one forward pass over [prompt | completion] and gathers the sampled tokens' log-probs in
# chunks — never the full-vocabulary log-softmax of the whole batch. Before the update
# $\pi_\theta = \pi_{\text{old}}$, so $\rho = \exp(\log\pi_\theta - \log\pi_{\text{old}}) = 1$.

# %%
batch = build_policy_batch(tok, rollouts, device)
logp, entropy = losses.sequence_token_logprobs(model, batch["input_ids"], batch["attention_mask"],
                                               batch["logits_to_keep"], compute_entropy=True)
mask = batch["completion_mask"]
old_logp = logp.detach()
adv = table["group"]
loss, stats = losses.clipped_policy_loss(logp, old_logp, adv, mask)
print(f"loss {loss.item():+.4f}  mean entropy {(entropy * mask).sum().item() / mask.sum().item():.3f} nats/token")
print({k: round(v, 4) for k, v in stats.items()})

# %% [markdown]
# **Why is the loss about zero, when the reward rises?** Look at the value just printed. Before
# the update ρ = 1 for every token (the policy is compared with itself), and the clip does not
# bind at ρ = 1, so each token's loss is just −Â_i and the token-mean is
#
# $$L = -\frac{\sum_i \hat A_i\,|o_i|}{\sum_i |o_i|}, \qquad \sum_{i \in \text{group}} \hat A_i = 0 .$$
#
# The advantages of every group sum to zero (§2), so what is left of L is only how advantage
# correlates with length within the batch: small, of either sign, and no measure of progress.
# Its **gradient** is not zero:
#
# $$\nabla_\theta L = -\frac{1}{\sum_i |o_i|} \sum_i \hat A_i \sum_t \nabla_\theta \log \pi_\theta(y_{i,t}) ,$$
#
# every rollout's log-probabilities pushed up or down by its advantage. So the loss curve of a GRPO
# run hovers near zero whether it learns or not. Watch instead the **reward** (and held-out
# pass@1), the **clip fraction** and the **KL** between the new and the old policy (both 0 on the
# first pass, as printed above, and non-zero once ρ moves: the next cell), and the **grad norm**.
# The cell below checks each claim on this batch; §6 prints them for a short run.

# %%
lengths = mask.sum(1)
group_sums = torch.zeros(int(group_ids.max()) + 1).index_add_(0, group_ids, adv.float())
params = [q for q in model.parameters() if q.requires_grad]
grads = [g for g in torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True) if g is not None]
print(f"Σ Â within each group: largest |sum| {group_sums.abs().max().item():.1e}")
print(f"mean ρ {stats['ratio_mean']:.4f}; loss {loss.item():+.4f} = −Σ Â_i |o_i| / Σ |o_i| = "
      f"{(-(adv * lengths).sum() / lengths.sum()).item():+.4f}")
print(f"gradient norm {torch.sqrt(sum((g ** 2).sum() for g in grads)).item():.3f}: not zero, the update is real")

# %% [markdown]
# One optimiser step on this loss, then the same tokens again: now ρ ≠ 1. Tokens of rollouts with
# Â > 0 became more likely (ρ > 1), those with Â < 0 less likely.
#
# $$L_{i,t} = \max\!\big(-\hat A_i\,\rho_{i,t},\; -\hat A_i \operatorname{clip}(\rho_{i,t}, 1-\varepsilon_\text{low}, 1+\varepsilon_\text{high})\big), \quad
# \text{and for } \hat A_i < 0:\; L_{i,t} = \min(L_{i,t}, -\hat A_i c)$$
#
# with ε_low = 0.2, ε_high = 0.28 (DAPO's clip-higher) and the dual clip c = 10.

# %%
optimizer.zero_grad()
loss.backward()
optimizer.step()
with torch.no_grad():
    new_logp, _ = losses.sequence_token_logprobs(model, batch["input_ids"], batch["attention_mask"],
                                                 batch["logits_to_keep"])
ratio = torch.exp(new_logp - old_logp)[mask > 0]
sign = adv[:, None].expand_as(mask)[mask > 0]
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist([ratio[sign > 0].numpy(), ratio[sign < 0].numpy()], bins=40, label=["Â > 0", "Â < 0"])
ax.set_xlabel("ρ after one step")
ax.legend()
plt.show()
_, stats = losses.clipped_policy_loss(new_logp, old_logp, adv, mask)
print({k: round(v, 4) for k, v in stats.items()})

# %% [markdown]
# The clipped objective as a function of ρ, computed by the library's own loss on one token:
# the gradient vanishes outside [1 − ε_low, 1 + ε_high] in the direction the advantage pushes,
# and for Â < 0 the dual clip caps the loss at c·|Â| when ρ explodes.

# %%
rhos = np.linspace(0.01, 12, 400)
fig, ax = plt.subplots(figsize=(6, 3))
for a in (1.0, -1.0):
    vals = [losses.clipped_policy_loss(torch.tensor([[np.log(r)]]), torch.zeros(1, 1),
                                       torch.tensor([a]), torch.ones(1, 1))[0].item() for r in rhos]
    ax.plot(rhos, vals, label=f"Â = {a:+.0f}")
ax.axvline(0.8, ls=":", c="grey")
ax.axvline(1.28, ls=":", c="grey")
ax.set_xlabel("ρ")
ax.set_ylabel("per-token loss")
ax.legend()
plt.show()

# %% [markdown]
# ## 4 · The aggregations side by side
#
# How per-token losses become one number decides how much each rollout weighs:
#
# | name | formula | a token of rollout i weighs |
# | --- | --- | --- |
# | token-mean (DAPO, the MASA paper) | Σ L / Σ\|o\| | 1 / (all tokens) |
# | seq-mean (original GRPO) | (1/B) Σᵢ (1/\|oᵢ\|) Σₜ L | 1 / (B·\|oᵢ\|): long answers count less per token |
# | dr-grpo | Σ L / (B·L_max) | 1 / (B·L_max), a constant |
# | bnpo (TRL) | token-mean over the micro-batch | depends on the micro-batch |
#
# The weights are read off the library by differentiating each aggregation of a per-token loss of 1.

# %%
lengths = mask.sum(1)
fig, ax = plt.subplots(figsize=(6, 3))
for name in losses.AGGREGATIONS:
    ones = torch.ones_like(mask, requires_grad=True)
    losses.aggregate_token_loss(ones, mask, name, max_completion_len=cfg.rollout.max_new_tokens).backward()
    weight = ones.grad[:, 0]
    value, _ = losses.clipped_policy_loss(logp.detach(), old_logp, adv, mask, aggregation=name,
                                          max_completion_len=cfg.rollout.max_new_tokens)
    order = torch.argsort(lengths)
    ax.plot(lengths[order].numpy(), weight[order].numpy(), marker=".", label=f"{name} (loss {value.item():+.4f})")
ax.set_xlabel("rollout length (tokens)")
ax.set_ylabel("weight of one token")
ax.set_yscale("log")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5 · Rollout browser
#
# Pick a prompt and one of its rollouts: the table shows the group's rewards and advantages, and
# the tokens are coloured by their term of the loss (green: the update raises their probability,
# red: lowers it; darker where the token was unlikely and has more room to move). In a live
# notebook these are widgets; elsewhere the first prompt is shown as static HTML.

# %%
groups = [[r for r in rollouts if r.prompt_index == i] for i in range(len(problems))]
advs = [table["group"][group_ids == i].tolist() for i in range(len(problems))]
lps = [[old_logp[j, : rollouts[j].length].tolist() for j in range(len(rollouts)) if rollouts[j].prompt_index == i]
       for i in range(len(problems))]
widgets.rollout_browser(problems, groups, advs, tokenizer=tok, logprobs=lps)

# %% [markdown]
# ## 6 · A short run through the one training loop
#
# `masa_lite.trainer.train` composes all of the above each step and records what tells a working
# run from a silently broken one: reward, zero-variance share, truncation, entropy, grad norm.
# With one policy pass per step (`grpo.policy_epochs=1`, the default) ρ = 1 throughout the
# update, so the clip fraction and the KL are 0 by construction and the loss stays near 0 (§3);
# with `-o grpo.policy_epochs=2` the second pass sees ρ ≠ 1 and they become informative.

# %%
from masa_lite.trainer import train

short = load_config(profile_name(), overrides=["out_dir=runs/grpo_step_by_step", "grpo.steps=6",
                                               "eval_every=0", "eval_at_start=false", "save_every=0"])
out = train(short, resume=False)
last = [h for h in out["history"] if h["kind"] == "eval"][-1]
print(f"held-out pass@1 after {short.grpo.steps} steps: {last['pass@1']:.3f} ± {last['pass@1_se']:.3f} "
      f"({last['n_problems']} problems × {last['n_samples']} samples)")
print("step  reward    loss  clip frac  approx KL  grad norm")  # the loss stays near 0 (§3)
for h in (h for h in out["history"] if h["kind"] == "train"):
    print(f"{h['step']:4d}  {h.get('reward', float('nan')):6.3f}  {h.get('loss', float('nan')):+.3f}"
          f"  {h.get('clip_frac', float('nan')):9.3f}  {h.get('approx_kl', float('nan')):9.4f}"
          f"  {h.get('grad_norm', float('nan')):9.3f}")
plots.training_overview(out["history"])

# %% [markdown]
# ## What the study found
#
# GRPO alone does not make the model meta-aware: after it the meta path's predictions still say
# nothing about a problem (notebook 03). It even makes the meta path's job harder: it raises the
# hard levels fastest, and so flattens the difficulty curve the predictions have to follow
# ([`docs/meta-awareness-study.md`](../docs/meta-awareness-study.md), Finding 4). On the first tiny
# model, whose wrong solutions wandered, GRPO trained the wandering away in 50 steps (Finding 16);
# today's hard problems are never solved, their groups give GRPO nothing to train away (Finding 21).
#
# Exercise (see `exercises/`): implement the group advantage and the clipped loss yourself and check
# them against these functions. Next: `03_meta_awareness`.
