"""The typed fields of a run: every switch of masa_lite, its default and what it means.

:class:`RunConfig` is a tree of small dataclasses, one per part of the method (model, data,
rollouts, GRPO, the meta path, MASA-efficient). Loading, overrides and validation live in
:mod:`masa_lite.config`, which re-exports these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelConfig:
    name: str = "masa-tiny"  # bundled short name, hub id, local folder or .gguf file
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto (bf16 on cuda, else fp32) | bf16 | fp16 | fp32
    trust_remote_code: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: Any = "all-linear"  # "all-linear" or a list of module names
    gradient_checkpointing: bool = False


@dataclass
class DataConfig:
    task: str = "synthetic"  # "synthetic" or a data set name/path for masa_lite.data
    levels: list = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    train_pool: int = 20000  # synthetic problems to draw training prompts from
    eval_per_level: int = 50  # held-out problems per level for evaluation (a data set: problems)
    # what the run evaluates on: "" = held-out problems of data.task (synthetic: its test split;
    # a data set: data.eval_per_level problems held out of it, never trained on), or a data set
    # name/path of its own (e.g. math500, aime24, a file), whose problems that are also in the
    # training pool are removed, with a warning that counts them
    eval_task: str = ""
    eval_samples: int = 8  # samples per held-out problem (pass@1 mean, pass@k)


@dataclass
class RolloutConfig:
    backend: str = "hf"  # hf (transformers generate) | vllm (optional extra; masa_lite.rollout_vllm)
    # hf backend: "compact" (masa_lite.rollout.CompactDecoder: finished rows leave the batch) |
    # "generate" (transformers generate, which computes every row until the longest one ends)
    engine: str = "compact"
    group_size: int = 8  # G: solution rollouts per prompt
    max_new_tokens: int = 400
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    batch_size: int = 128  # rows per generate call
    merge_adapter: bool = False  # merge LoRA into a copy of the weights for generation
    row_seeded: bool = False  # one random stream per rollout (hf); always on with several processes
    cache_implementation: str = ""  # engine=generate: "" (library default) | static | dynamic | …
    vllm_gpu_memory_utilization: float = 0.3  # vllm backend: GPU share for weights + KV cache
    vllm_max_model_len: int = 0  # vllm backend: 0 = the model's own context length


@dataclass
class GRPOConfig:
    steps: int = 60
    prompts_per_step: int = 16
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 5
    grad_clip: float = 1.0
    policy_epochs: int = 1
    micro_batch_size: int = 64
    eps_low: float = 0.2
    eps_high: float = 0.28
    dual_clip: Any = 10.0  # a number > 1, or None (null) to disable
    log_ratio_clamp: float = 20.0  # log ρ is clamped to ±this before exp (the authors' verl code)
    aggregation: str = "token-mean"  # token-mean | seq-mean | dr-grpo | bnpo
    adv_scale: str = "group"  # group | none (Dr. GRPO) | batch
    kl_beta: float = 0.0  # KL to the adapter-free base (k3), 0 = off as in the paper
    format_reward: float = 0.0  # weight of a reward for a parseable \boxed{} answer
    # the method reads the answer from the last \boxed{} only; true also accepts "the answer is …"
    # or the last number when there is no box (masa_lite's option; rewards unformatted answers)
    answer_fallback: bool = False
    # seconds math-verify may spend on one answer (plain numbers never need it); an answer that
    # runs out of time scores 0, so under machine load rewards depend on the load
    verify_timeout_s: float = 2.0


@dataclass
class MetaConfig:
    enabled: bool = False  # the meta path (MASA); off = plain GRPO
    group_size: int = 8  # M: meta rollouts per prompt
    k: int = 8  # pass-rate scale K
    max_new_tokens: int = 160
    reward_pass: bool = True  # r_pass = b^|p̂ − p|
    reward_length: bool = True  # r_len = 1[min L⁺ ≤ ℓ̂ ≤ max L⁺]
    reward_notion: bool = True  # r_notion
    base: float = 0.01  # b
    length_inclusive: bool = True  # closed interval (the public code uses strict <)
    # credit: "rollout" (the paper) gives every token of a meta rollout its r_meta advantage;
    # "field" gives the tokens of the pass_rate / solution_length / math_notion values the group
    # advantage of their own reward part (masa_lite's ablation, see meta.credit.field_token_parts)
    credit: str = "rollout"
    # weight of the meta path's rows in the joint loss (their advantages are multiplied by it);
    # 1 is the paper's single token-mean over both paths
    loss_weight: float = 1.0
    # KL (k3) to the adapter-free base on the meta path's tokens only; None: grpo.kl_beta, as for
    # the solution path (the paper has no KL term)
    kl_beta: Any = None
    # "shared" (the paper): one LoRA adapter for both paths. "separate" (masa_lite's switch): the
    # meta path has its own LoRA adapter on the same frozen base, with its own optimiser
    # (meta.lr) — the solution path's RL updates then no longer move the meta predictions
    # (docs/meta-awareness-study.md); needs rollout.backend=hf and one process
    adapter: str = "shared"
    lr: Any = None  # learning rate of the separate meta adapter; None: grpo.lr
    feed_in: bool = False  # append predicted notions to solution prompts (sequential mode)
    eval_group_size: int = 4  # meta rollouts per held-out problem for calibration
    eval_calibration: bool = True  # measure calibration at every evaluation, even for GRPO


@dataclass
class EfficientConfig:
    expert_sft: bool = False
    sft_lr: float = 1e-3  # β, the Expert SFT learning rate
    sft_weight_decay: float = 0.01  # AdamW weight decay of Expert SFT (torch's default, now explicit)
    sft_batch_size: int = 16
    # which tokens of a corrected meta answer Expert SFT labels: "answer" (the paper: all of it) or
    # "values" (masa_lite's switch: only the pass_rate and solution_length values it corrected)
    sft_labels: str = "answer"
    sft_min_notion: float = 0.2
    # unsolved prompts (no correct rollout) also give a target, pass_rate = 0 (efficient.expert_sft.expert_sft_examples);
    # false: the paper's literal reading, where their mean correct length is undefined and they are skipped
    sft_unsolved: bool = False
    # extra Expert SFT batches per step drawn again from the targets of the last sft_replay_window
    # steps (masa_lite's switch; 0 = the paper: each corrected answer is trained once)
    sft_replay: int = 0
    sft_replay_window: int = 4
    gating: bool = False
    gate_std: float = 0.1
    gate_margin: float = 0.1  # gate when mean p̂ ≥ 1 − margin or ≤ margin
    gate_audit: float = 0.25  # share of gated prompts rolled out anyway (precision/recall)
    gate_min_votes: int = 2  # parseable pass-rate predictions a prompt needs before it can be gated
    # what predicts a prompt's pass rate for the gate: "meta" (the method: its meta rollouts) or
    # "level" (masa_lite's baseline, no meta path needed: the running pass rate of the prompt's
    # level over the last level_window steps, what a difficulty-aware prompt filter knows)
    gate_source: str = "meta"
    level_window: int = 10
    cutoff: bool = False
    cutoff_factor: float = 2.0
    cutoff_floor: int = 8  # the smallest cutoff budget in tokens (a tiny prediction never cuts at 1)
    cutoff_audit: float = 0.25  # share of cut rollouts continued to the global limit
    warmup_steps: int = 10  # parallel-mode steps before sequential mode (gating, cutoff)


@dataclass
class RunConfig:
    profile: str = "tiny"
    seed: int = 0
    out_dir: str = "runs/default"
    save_every: int = 20
    eval_every: int = 0  # 0 = only before and after training
    eval_at_start: bool = True
    method: str = ""  # a label for reports (GRPO, MASA, MASA-efficient); free text
    loggers: list = field(default_factory=lambda: ["jsonl"])  # jsonl | tensorboard | wandb
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    efficient: EfficientConfig = field(default_factory=EfficientConfig)
