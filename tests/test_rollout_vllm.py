"""The vLLM rollout backend: everything but vLLM itself runs against a fake ``LLM`` with vLLM's
interface (``generate(prompts, sampling_params, use_tqdm=, lora_request=)`` → request outputs
with ``outputs[0].token_ids`` / ``finish_reason``); one end-to-end test needs vLLM and a GPU."""

import sys
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from masa_lite.grpo import rollout_vllm
from masa_lite.config import ConfigError, RunConfig, load_config
from masa_lite.grpo.rollout_vllm import VLLMRollouts, request_limits


@dataclass
class FakeSamplingParams:
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    stop_token_ids: list | None = None
    detokenize: bool = True


@dataclass
class FakeLoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


class FakeLLM:
    """Emits ``max_tokens`` copies of token 5, except that prompt ``eos_prompt`` stops on EOS after
    3 tokens (with EOS kept in ``token_ids``, as vLLM does). Records every call."""

    def __init__(self, eos_id, eos_prompt_ids=None, keep_eos=True):
        self.eos_id, self.eos_prompt_ids, self.keep_eos = eos_id, eos_prompt_ids, keep_eos
        self.calls = []

    def generate(self, prompts, sampling_params, use_tqdm=True, lora_request=None):
        self.calls.append((prompts, sampling_params, lora_request))
        outs = []
        for prompt, sp in zip(prompts, sampling_params):
            if prompt["prompt_token_ids"] == self.eos_prompt_ids:
                ids, reason = [5, 5, 5] + ([self.eos_id] if self.keep_eos else []), "stop"
            else:
                ids, reason = [5] * sp.max_tokens, "length"
            outs.append(SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, finish_reason=reason)]))
        return outs


FAKE_API = SimpleNamespace(LLM=None, SamplingParams=FakeSamplingParams, LoRARequest=FakeLoRARequest)


def engine(tok, **llm_kwargs):
    llm = FakeLLM(tok.eos_token_id, **llm_kwargs)
    return VLLMRollouts("unused", tok, llm=llm, api=FAKE_API), llm


def test_request_limits_follow_the_hf_rule():
    assert request_limits([5, None, 12, 0, 99], 5, 30) == [5, 30, 12, 30, 30]
    assert request_limits(None, 2, 30) == [30, 30]
    with pytest.raises(ValueError, match="budgets has 1 entries for 2 prompts"):
        request_limits([3], 2, 30)


def test_outputs_become_rollouts_with_per_request_budgets_and_stop_reasons(random_tiny):
    _, tok = random_tiny
    prompts = ["solve 1+2\n", "solve 3+4\n", "solve 5+6\n"]
    eng, llm = engine(tok, eos_prompt_ids=tok.encode(prompts[2], add_special_tokens=False))
    out = eng.generate(prompts, n=2, max_new_tokens=30, budgets=[5, None, 12], temperature=0.7,
                       top_k=0)
    requests, params, lora = llm.calls[0]
    assert len(requests) == len(params) == 6 and lora is None  # one request per row, n=1 each
    assert [p.max_tokens for p in params] == [5, 5, 30, 30, 12, 12]
    assert all(p.n == 1 and p.top_k == -1 and p.temperature == 0.7 and p.detokenize is False
               and p.stop_token_ids == [tok.eos_token_id] for p in params)
    assert requests[0]["prompt_token_ids"] == tok.encode(prompts[0], add_special_tokens=False)
    assert [r.prompt_index for r in out] == [0, 0, 1, 1, 2, 2]
    assert [r.stop_reason for r in out] == ["budget"] * 2 + ["max_new_tokens"] * 2 + ["eos"] * 2
    assert [r.length for r in out] == [5, 5, 30, 30, 4, 4]  # EOS counted, as in the HF backend
    for r in out:
        assert r.length == len(r.token_ids) and r.prompt == prompts[r.prompt_index]
        assert r.text == tok.decode(r.token_ids, skip_special_tokens=True)
    assert out[4].token_ids[-1] == tok.eos_token_id


def test_eos_is_added_when_a_version_leaves_it_out(random_tiny):
    _, tok = random_tiny
    eng, _ = engine(tok, eos_prompt_ids=tok.encode("a", add_special_tokens=False), keep_eos=False)
    (r,) = eng.generate(["a"], n=1, max_new_tokens=10)
    assert r.token_ids == [5, 5, 5, tok.eos_token_id] and r.stop_reason == "eos"


def test_greedy_and_seeds_reach_the_sampling_params(random_tiny):
    _, tok = random_tiny
    eng, llm = engine(tok)
    eng.generate(["a", "b"], n=2, max_new_tokens=4, greedy=True, seed=10)
    params = llm.calls[0][1]
    assert [p.seed for p in params] == [10, 11, 12, 13]
    assert all(p.temperature == 0.0 and p.top_k == -1 for p in params)


def test_lora_sync_issues_a_new_request_id_only_after_the_weights_change(random_tiny):
    from masa_lite.models import LoraSettings, wrap_lora

    model, tok = random_tiny
    model = wrap_lora(model, LoraSettings(r=4, alpha=8))
    eng, llm = engine(tok)
    first = eng.sync_adapter(model)
    assert first.lora_int_id == 1 and (rollout_vllm.Path(first.lora_path) / "adapter_config.json").exists()
    assert eng.sync_adapter(model) is first  # unchanged weights: no new save, same id
    with torch.no_grad():
        next(p for p in model.parameters() if p.requires_grad).add_(0.1)  # what an optimizer step does
    second = eng.sync_adapter(model)
    assert second.lora_int_id == 2 and second.lora_path != first.lora_path
    assert not rollout_vllm.Path(first.lora_path).exists()  # the stale adapter folder is removed
    eng.generate(["a"], n=1, max_new_tokens=3)
    assert llm.calls[-1][2] is second
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=0.1, fused=True)  # fused: no version-counter bump
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert eng.sync_adapter(model).lora_int_id == 3
    assert eng.sync_adapter(tok) is None  # no adapter, nothing to sync
    eng.close()


def test_training_dispatch_uses_the_configured_backend(random_tiny, monkeypatch):
    from masa_lite.grpo.policy import sample_solutions
    from masa_lite.models import LoraSettings, wrap_lora
    from masa_lite.grpo.sampling import generate_rollouts, sample_rollouts

    model, tok = random_tiny
    model = wrap_lora(model, LoraSettings(r=4, alpha=8))
    cfg = RunConfig()
    cfg.rollout.group_size, cfg.rollout.max_new_tokens = 2, 6
    torch.manual_seed(3)
    hf = sample_rollouts(model, tok, ["solve 1+2\n"], cfg, n=2, max_new_tokens=6)
    torch.manual_seed(3)
    ref = generate_rollouts(model, tok, ["solve 1+2\n"], n=2, max_new_tokens=6,
                            batch_size=cfg.rollout.batch_size)
    assert [r.token_ids for r in hf] == [r.token_ids for r in ref]

    eng, llm = engine(tok)
    monkeypatch.setattr(rollout_vllm, "_ENGINES", {model: eng})
    cfg.rollout.backend, cfg.rollout.merge_adapter = "vllm", True
    out = sample_solutions(model, tok, ["p0", "p1"], lambda r, notions: r, cfg, budgets=[3, None])
    assert [(r.prompt_index, r.length, r.stop_reason) for r in out] == [
        (0, 3, "budget"), (0, 3, "budget"), (1, 6, "max_new_tokens"), (1, 6, "max_new_tokens")]
    assert llm.calls[-1][2].lora_int_id == 1  # the adapter was synced before sampling
    assert not any(getattr(m, "merged", False) for m in model.modules())  # no merge for vLLM


def test_config_names_the_extra_when_vllm_is_missing(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ConfigError, match=r"rollout.backend.*pip install masa-lite\[vllm\]"):
        load_config("tiny", overrides=["rollout.backend=vllm"])
    assert load_config("tiny", overrides=["rollout.backend=hf"]).rollout.backend == "hf"


def test_engine_without_vllm_raises_an_install_hint(random_tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ImportError, match=r"rollout.backend.*pip install masa-lite\[vllm\]"):
        VLLMRollouts("unused", random_tiny[1])


def test_vllm_end_to_end(tmp_path):
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a GPU")
    from transformers import LlamaForCausalLM

    from masa_lite.models import LoraSettings, wrap_lora
    from masa_lite.task.tiny_model import build_config, build_tokenizer

    tok = build_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(build_config(len(tok), hidden=128, layers=2, heads=2, intermediate=256))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model = wrap_lora(model, LoraSettings(r=8, alpha=16))
    eng = VLLMRollouts(str(tmp_path), tok, dtype="float32", lora_rank=8,
                       gpu_memory_utilization=0.3, max_model_len=256)
    eng.sync_adapter(model)
    out = eng.generate(["solve 1+2\n", "solve 3+4\n"], n=3, max_new_tokens=40, budgets=[5, None])
    assert [r.prompt_index for r in out] == [0, 0, 0, 1, 1, 1]
    assert all(r.length <= 5 and r.stop_reason in ("eos", "budget") for r in out[:3])
    assert all(r.length <= 40 and r.stop_reason in ("eos", "max_new_tokens") for r in out[3:])
    eng.close()
