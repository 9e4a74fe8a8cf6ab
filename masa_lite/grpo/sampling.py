"""Sampling rollouts: one entry point per caller.

:func:`generate_rollouts` samples with transformers through one of two engines
(``rollout.engine``: :mod:`masa_lite.grpo.decode_compact` or
:mod:`masa_lite.grpo.decode_generate`); :func:`sample_rollouts` is training-time sampling through
the backend ``rollout.backend`` picks (transformers, or vLLM: :mod:`masa_lite.grpo.rollout_vllm`).
What a rollout is, and how row-seeded sampling works: :mod:`masa_lite.grpo.rollout`."""

from __future__ import annotations

from masa_lite.grpo.decode_compact import CompactDecoder
from masa_lite.grpo.decode_generate import generate_with_hf
from masa_lite.grpo.rollout import Rollout, row_seed


ENGINES = ("compact", "generate")


def generate_rollouts(
    model,
    tokenizer,
    prompts: list[str],
    n: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    budgets: list[int] | None = None,
    batch_size: int = 64,
    greedy: bool = False,
    progress=None,
    cache_implementation: str | None = None,
    seeds: list[int] | None = None,
    engine: str = "compact",
    trace: dict | None = None,
) -> list[Rollout]:
    """Sample ``n`` completions for every prompt; returns them prompt-major (p0×n, p1×n, …).

    ``budgets`` gives one token budget per prompt (``None`` entries or no list: the global
    ``max_new_tokens``). ``progress`` is an optional tqdm-like object updated as rows finish.
    ``seeds`` (one per prompt) samples row-seeded: sample j of prompt i uses its own generator,
    seeded with ``row_seed(seeds[i], j)``, instead of the global torch RNG.

    ``engine``: ``"compact"`` (:class:`CompactDecoder`: finished rows leave the batch, freed slots
    take waiting rows; ``batch_size`` is the number of slots) or ``"generate"`` (transformers
    ``generate`` on chunks of ``batch_size`` rows; ``cache_implementation`` is passed to it when
    set, e.g. ``"static"``, which transformers compiles for decoding on CUDA). ``trace``, a dict
    (compact engine only), receives what the engine did (see :meth:`CompactDecoder.run`).
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if budgets is not None and len(budgets) != len(prompts):
        raise ValueError(f"budgets has {len(budgets)} entries for {len(prompts)} prompts")
    if seeds is not None and len(seeds) != len(prompts):
        raise ValueError(f"seeds has {len(seeds)} entries for {len(prompts)} prompts")
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {ENGINES}")
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos_token_id: set one before sampling")
    if engine == "generate":
        return generate_with_hf(model, tokenizer, prompts, n, max_new_tokens, temperature, top_p, top_k,
                            budgets, batch_size, greedy, progress, cache_implementation, seeds)
    rows = [i for i in range(len(prompts)) for _ in range(n)]  # prompt-major: row k is sample k % n
    row_budgets = [min(max_new_tokens, budgets[i]) if budgets is not None and budgets[i]
                   else max_new_tokens for i in rows]
    row_seeds = (None if seeds is None or greedy
                 else [row_seed(seeds[i], k % n) for k, i in enumerate(rows)])
    decoder = CompactDecoder(model, tokenizer, temperature=temperature, top_p=top_p, top_k=top_k,
                             greedy=greedy, batch_size=batch_size)
    was_training = model.training
    model.eval()
    try:
        done = decoder.run([prompts[i] for i in rows], row_budgets, row_seeds, progress, trace)
    finally:
        model.train(was_training)
    out = []
    for i, budget, (ids, ended) in zip(rows, row_budgets, done):
        reason = "eos" if ended else ("budget" if budget < max_new_tokens else "max_new_tokens")
        out.append(Rollout(i, prompts[i], tokenizer.decode(ids, skip_special_tokens=True), ids,
                           len(ids), reason))
    return out


def sample_rollouts(model, tokenizer, prompts: list[str], cfg, *, n: int, max_new_tokens: int,
                    budgets: list[int] | None = None,
                    seeds: list[int] | None = None) -> list[Rollout]:
    """Training-time sampling through the backend ``cfg.rollout.backend`` picks: ``"hf"``
    (:func:`generate_rollouts` with the engine ``cfg.rollout.engine``) or ``"vllm"``
    (:mod:`masa_lite.grpo.rollout_vllm`, whose engine is built on first use and gets the current LoRA
    adapter before every call). Same Rollouts either way;
    sampling settings come from ``cfg.rollout``; ``seeds``: row-seeded sampling (hf backend)."""
    r = cfg.rollout
    if r.backend == "vllm" and seeds is not None:
        raise NotImplementedError("row-seeded sampling (rollout.row_seeded, data-parallel runs) "
                                  "is implemented for rollout.backend=hf only")
    if r.backend == "vllm":
        from masa_lite.grpo.rollout_vllm import engine_for

        return engine_for(model, tokenizer, cfg).generate(
            prompts, n=n, max_new_tokens=max_new_tokens, temperature=r.temperature, top_p=r.top_p,
            top_k=r.top_k, budgets=budgets)
    return generate_rollouts(model, tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                             temperature=r.temperature, top_p=r.top_p, top_k=r.top_k,
                             batch_size=r.batch_size, budgets=budgets,
                             cache_implementation=r.cache_implementation or None, seeds=seeds,
                             engine=r.engine)
