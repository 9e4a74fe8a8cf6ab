"""vLLM rollouts: the second backend of the rollout engine (``rollout.backend=vllm``).

Same contract as :func:`masa_lite.grpo.sampling.generate_rollouts`: prompts in, :class:`Rollout` records
out, prompt-major (p0×n, p1×n, …), each with its completion tokens (EOS included), length and stop
reason (``"eos"`` / ``"budget"`` / ``"max_new_tokens"``): the trainer cannot tell the backends
apart.

Why vLLM: paged KV cache, continuous batching and CUDA graphs make sampling several times faster
than transformers ``generate`` on a GPU, and sampling dominates a GRPO step.

How it maps onto vLLM's offline API (written against **vLLM 0.11.2**; the calls used have the same
form in later releases): one :class:`vllm.LLM` holds the base weights for the whole run; every
rollout row is one request ``{"prompt_token_ids": ids}`` with its own
``SamplingParams(max_tokens=min(budget, max_new_tokens))`` — this is how MASA's early cutoff gives
each prompt its own budget — and ``stop_token_ids=[eos]`` so the tokenizer's EOS ends a row as in
the HF backend. Prompts go in as token ids, tokenized by *our* tokenizer without special tokens,
so both backends see identical inputs; text is decoded by our tokenizer too.

LoRA: the policy's adapter is trained by peft in the training process, so vLLM must be told about
new weights every step. :meth:`VLLMRollouts.sync_adapter` saves the adapter with
``save_pretrained`` to a temporary folder and issues a ``LoRARequest`` with a *new* integer id
(vLLM caches adapters by id, so reusing an id would keep serving the old weights). Cost per sync:
writing and reading the adapter once (r·(d_in+d_out) values per adapted matrix — 8.8 M values,
35 MB in fp32, for Qwen2.5-0.5B at r = 16 on all linear layers: well under a second) plus vLLM's
LoRA kernels at sampling time (slower than merged weights). A sync only happens when the trainable
weights changed since the last one (their version counters or sums moved), so the meta and
solution rollouts of one step share one sync. Syncing merged full weights instead would need
vLLM's internal model-runner API, which changes between releases; we keep to the documented one.

vLLM is imported lazily: nothing here needs it until an engine is built, and the tests drive the
engine with a fake ``LLM`` of the same interface (``api=`` argument).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from types import SimpleNamespace

import torch

from masa_lite.config import VLLM_INSTALL_HINT as INSTALL_HINT
from masa_lite.grpo.rollout import Rollout, trim_completion as _trim

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # max_lora_rank values vLLM accepts


def import_vllm() -> SimpleNamespace:
    """The three vLLM classes we use, or an ImportError that says how to get them."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams, LoRARequest=LoRARequest)


def request_limits(budgets, n_prompts: int, max_new_tokens: int) -> list[int]:
    """Token limit per prompt: ``min(budget, max_new_tokens)``; ``None``/0 budget → the global limit
    (the same rule as the HF backend)."""
    if budgets is not None and len(budgets) != n_prompts:
        raise ValueError(f"budgets has {len(budgets)} entries for {n_prompts} prompts")
    if budgets is None:
        return [max_new_tokens] * n_prompts
    return [min(max_new_tokens, b) if b else max_new_tokens for b in budgets]


def to_rollout(prompt_index: int, prompt: str, completion, limit: int, max_new_tokens: int,
               tokenizer) -> Rollout:
    """One vLLM ``CompletionOutput`` (``token_ids``, ``finish_reason``) → a :class:`Rollout`.

    ``finish_reason == "stop"`` means our EOS ended the row: vLLM keeps the stop token in
    ``token_ids``; it is appended if a version leaves it out, so lengths count EOS as in the HF
    backend. ``"length"`` means the row's ``max_tokens`` ended it: ``"budget"`` if that was a
    per-row budget below the global limit, else ``"max_new_tokens"``."""
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids = list(completion.token_ids)[:limit]
    if completion.finish_reason == "stop" and (not ids or ids[-1] != eos_id) and len(ids) < limit:
        ids.append(eos_id)
    ids, ended = _trim(ids, eos_id, pad_id)
    reason = "eos" if ended else ("budget" if limit < max_new_tokens else "max_new_tokens")
    return Rollout(prompt_index, prompt, tokenizer.decode(ids, skip_special_tokens=True), ids,
                   len(ids), reason)


def adapter_fingerprint(model) -> tuple:
    """Changes whenever a trainable tensor changes: its in-place version counter (optimizer step,
    checkpoint load) and its sum (fused optimizers update in place without bumping the counter).
    One small reduction per tensor and one device sync: negligible next to a rollout."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return ()
    with torch.no_grad():
        sums = torch.stack([p.detach().float().sum() for p in params]).tolist()
    return tuple((id(p), p._version) for p in params), tuple(sums)


class VLLMRollouts:
    """A vLLM engine for one policy: base weights loaded once, the LoRA adapter synced per step."""

    def __init__(self, model_path: str, tokenizer, *, dtype: str = "auto", seed: int = 0,
                 gpu_memory_utilization: float = 0.3, max_model_len: int | None = None,
                 lora_rank: int | None = 16, trust_remote_code: bool = False, llm=None, api=None,
                 **llm_kwargs):
        self.api = api if api is not None else import_vllm()
        self.tokenizer = tokenizer
        if tokenizer.eos_token_id is None:
            raise ValueError("tokenizer has no eos_token_id: set one before sampling")
        self.lora_request = None
        self._next_id, self._fingerprint, self._folder = 0, None, None
        self._tmp = tempfile.TemporaryDirectory(prefix="masa-vllm-lora-")
        if llm is None:
            kwargs = dict(model=model_path, dtype=dtype, seed=seed,
                          trust_remote_code=trust_remote_code,
                          gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)
            if max_model_len:
                kwargs["max_model_len"] = max_model_len
            if lora_rank:  # vLLM only takes some ranks: round up to the next one it accepts
                kwargs.update(enable_lora=True, max_loras=1,
                              max_lora_rank=next((r for r in VLLM_LORA_RANKS if r >= lora_rank),
                                                 lora_rank))
            llm = self.api.LLM(**kwargs)
        self.llm = llm

    def sync_adapter(self, model):
        """Hand the peft adapter's current weights to vLLM; returns the ``LoRARequest`` (or None for
        a model without an adapter). No-op when the weights did not change since the last sync."""
        if not hasattr(model, "peft_config"):
            return None
        fingerprint = adapter_fingerprint(model)
        if self.lora_request is not None and fingerprint == self._fingerprint:
            return self.lora_request
        self._next_id += 1
        folder = Path(self._tmp.name) / f"adapter-{self._next_id}"
        model.save_pretrained(str(folder))
        self.lora_request = self.api.LoRARequest(f"masa-policy-{self._next_id}", self._next_id,
                                                 str(folder))
        if self._folder is not None:  # vLLM never loads an older id again
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self._fingerprint = folder, fingerprint
        return self.lora_request

    def sampling_params(self, limit: int, temperature: float, top_p: float, top_k: int,
                        greedy: bool, seed: int | None):
        """One request's ``SamplingParams``: our ``top_k <= 0`` (off) is vLLM's ``-1``."""
        return self.api.SamplingParams(
            n=1, max_tokens=limit, temperature=0.0 if greedy else temperature,
            top_p=1.0 if greedy else top_p, top_k=-1 if greedy or top_k <= 0 else top_k, seed=seed,
            stop_token_ids=[self.tokenizer.eos_token_id], detokenize=False)

    def generate(self, prompts: list[str], n: int = 1, max_new_tokens: int = 256,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 budgets: list[int] | None = None, greedy: bool = False,
                 seed: int | None = None) -> list[Rollout]:
        """Sample ``n`` completions per prompt, one vLLM request per row, prompt-major.

        ``seed`` (optional) seeds row ``j`` with ``seed + j``; vLLM's per-request generators make
        seeded batches slower, so training leaves it ``None`` (the engine's ``LLM(seed=…)`` still
        fixes the run)."""
        if n < 1:
            raise ValueError(f"n must be ≥ 1, got {n}")
        limits = request_limits(budgets, len(prompts), max_new_tokens)
        rows = [(i, p) for i, p in enumerate(prompts) for _ in range(n)]
        ids = [self.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
        requests = [{"prompt_token_ids": ids[i]} for i, _ in rows]
        params = [self.sampling_params(limits[i], temperature, top_p, top_k, greedy,
                                       None if seed is None else seed + j)
                  for j, (i, _) in enumerate(rows)]
        outputs = self.llm.generate(requests, params, use_tqdm=False,
                                    lora_request=self.lora_request)
        return [to_rollout(i, p, out.outputs[0], limits[i], max_new_tokens, self.tokenizer)
                for (i, p), out in zip(rows, outputs)]

    def close(self):
        self._tmp.cleanup()


_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine_for(model, tokenizer, cfg) -> VLLMRollouts:
    """The engine of ``model`` (built on first use from ``cfg``, then reused), adapter synced."""
    engine = _ENGINES.get(model)
    if engine is None:
        from masa_lite.models import resolve_model_path

        kind, location = resolve_model_path(cfg.model.name)
        if kind == "gguf":
            raise ValueError("rollout.backend=vllm cannot load a .gguf model here: load it once "
                             "with the hf backend and pass the converted folder as model.name")
        # masa_lite's "auto" is bf16 on CUDA; vLLM's own "auto" would pick fp16 for fp32 checkpoints
        dtype = {"auto": "bfloat16", "bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(
            cfg.model.dtype, cfg.model.dtype)
        engine = VLLMRollouts(location, tokenizer, dtype=dtype, seed=cfg.seed,
                              gpu_memory_utilization=cfg.rollout.vllm_gpu_memory_utilization,
                              max_model_len=cfg.rollout.vllm_max_model_len or None,
                              lora_rank=cfg.model.lora_r if hasattr(model, "peft_config") else None,
                              trust_remote_code=cfg.model.trust_remote_code)
        _ENGINES[model] = engine
    engine.sync_adapter(model)
    return engine
