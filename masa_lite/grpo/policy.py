"""The policy: the model with its LoRA adapter(s), optimiser and schedule (:func:`setup`), and its
solution rollouts (:func:`sample_solutions`)."""

from __future__ import annotations

import random

import torch

from masa_lite.config import RunConfig
from masa_lite.grpo.rollout import Rollout
from masa_lite.grpo.sampling import sample_rollouts


def _lr_lambda(cfg: RunConfig):
    warm = cfg.grpo.warmup_steps
    return lambda s: min(1.0, (s + 1) / max(1, warm)) if warm else 1.0


def setup(cfg: RunConfig):
    """Model with a fresh LoRA adapter, tokenizer, optimiser and scheduler, on the picked device.
    With ``meta.adapter=separate`` the model gets a second adapter for the meta path
    (:func:`masa_lite.models.add_meta_adapter`); the optimiser returned here trains ``default``."""
    from masa_lite.models import LoraSettings, add_meta_adapter, load_model_and_tokenizer, wrap_lora

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model, tokenizer = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device,
                                                dtype=cfg.model.dtype,
                                                trust_remote_code=cfg.model.trust_remote_code)
    model = wrap_lora(model, LoraSettings(r=cfg.model.lora_r, alpha=cfg.model.lora_alpha,
                                          dropout=cfg.model.lora_dropout,
                                          target_modules=cfg.model.lora_targets))
    if cfg.meta.enabled and cfg.meta.adapter == "separate":
        add_meta_adapter(model)  # its optimiser is the trainer's (meta.lr); this one is the solution path's
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.grpo.lr, weight_decay=cfg.grpo.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    return model, tokenizer, optimizer, scheduler


def sample_solutions(model, tokenizer, records, prompt_fn, cfg: RunConfig, budgets=None,
                     notions=None, seeds=None) -> list[Rollout]:
    """G solution rollouts per record through ``cfg.rollout.backend`` (hf: adapter merged for
    generation if configured; vllm: the adapter goes to vLLM as a LoRARequest). ``seeds``, one per
    record: row-seeded sampling (:func:`masa_lite.grpo.sampling.generate_rollouts`)."""
    prompts = [prompt_fn(r, None if notions is None else notions[i]) for i, r in enumerate(records)]
    merged = (cfg.rollout.merge_adapter and cfg.rollout.backend == "hf"
              and hasattr(model, "merge_adapter"))
    if merged:
        model.merge_adapter()
    try:
        return sample_rollouts(model, tokenizer, prompts, cfg, n=cfg.rollout.group_size,
                               max_new_tokens=cfg.rollout.max_new_tokens, budgets=budgets,
                               seeds=seeds)
    finally:
        if merged:
            model.unmerge_adapter()
