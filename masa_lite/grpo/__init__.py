"""GRPO (docs/method.md §3): sample G rollouts per prompt, verify them, group advantages, one
clipped policy loss, LoRA updates.

Modules, in the order of a step: :mod:`~masa_lite.grpo.rollout` (what a rollout is),
:mod:`~masa_lite.grpo.sampling` (sampling them; engines :mod:`~masa_lite.grpo.decode_compact`,
:mod:`~masa_lite.grpo.decode_generate`, backend :mod:`~masa_lite.grpo.rollout_vllm`),
:mod:`~masa_lite.grpo.rewards` (verified correctness), :mod:`~masa_lite.grpo.scored` (rollouts
with rewards and groups), :mod:`~masa_lite.grpo.advantages`, :mod:`~masa_lite.grpo.losses`,
:mod:`~masa_lite.grpo.update` (the policy update), :mod:`~masa_lite.grpo.policy` (model, LoRA,
optimiser; solution rollouts) and :mod:`~masa_lite.grpo.metrics`.
"""
