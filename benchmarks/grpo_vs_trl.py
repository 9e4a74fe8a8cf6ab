"""masa_lite's GRPO step against TRL's GRPOTrainer on the same model, in one process.

What one *step* is, on both sides: sample ``prompts × generations`` completions, score them
with a constant reward, one policy-gradient pass over all completions and one optimiser step
(LoRA r = 16, alpha 32, on all linear layers; no reference model, ``beta = 0``; one policy epoch,
so neither side needs a second forward pass for the old log-probs). Two length modes:

* ``--lengths forced`` (default): every completion has exactly ``new_tokens`` tokens (EOS is
  masked until then: ``min_new_tokens = max_new_tokens``). Measures the raw decode and loss cost,
  but hides the waste of computing rows that have already stopped.
* ``--lengths natural``: EOS allowed, every row stops at its own EOS (at most ``new_tokens``), on
  the bundled masa-tiny model with the tiny task's real prompts (levels 1-6), as in training.

Shapes:

* ``qwen2-0.5b``: a Qwen2-0.5B-shaped model (hidden 896, 24 layers, 14 heads, 2 KV heads,
  intermediate 4864, 32k vocabulary), random weights, bf16 on CUDA. The real measurement.
* ``tiny``: the same architecture scaled down (hidden 64, 2 layers) so the script runs on a CPU.
* ``masa-tiny``: the bundled trained model (Llama, 0.86M parameters, 64-character vocabulary)
  with real task prompts; the default with ``--lengths natural`` (random weights would almost
  never emit EOS, so natural lengths need a trained model).

The Qwen2 shapes are built here and saved to a temporary folder with a locally built byte-level
tokenizer; masa-tiny is used from the package: no hub access. masa_lite uses its own pieces
(``grpo.setup``, ``grpo.sample_solutions``, ``grpo.policy_update``) with merged-adapter rollouts
through its rollout engine (``--masa-engine``: compact by default; with ``generate`` on CUDA, a
static KV cache, which transformers compiles for decoding); TRL runs ``GRPOTrainer`` with its
defaults for generation (transformers ``generate`` with the adapter active). Each side gets
``--warmup`` untimed steps, then ``--steps`` timed ones; the script prints seconds per step, the
ratio masa_lite / TRL and rollout tokens per second, and writes everything to ``--out`` (JSON).

    python benchmarks/grpo_vs_trl.py --shape tiny --new-tokens 64 --warmup 1 --steps 2   # CPU
    python benchmarks/grpo_vs_trl.py --lengths natural --prompts 16 --new-tokens 400     # CPU
    python benchmarks/grpo_vs_trl.py --shape qwen2-0.5b --out result.json                 # GPU

TRL is a benchmark-only dependency (``pip install masa-lite[bench]``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import random
import string
import sys
import tempfile
import time
from pathlib import Path

import torch

if importlib.util.find_spec("masa_lite") is None:  # run from a checkout without installing it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHAPES = {
    "qwen2-0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                       num_key_value_heads=2, intermediate_size=4864, vocab_size=32768),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, vocab_size=512),
}
PAD, EOS, UNK = "<pad>", "<eos>", "<|endoftext|>"  # UNK: Qwen2Tokenizer adds it if missing


# --------------------------------------------------------------------------- model and prompts
def build_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer without merges: ``<pad> <eos> <|endoftext|>``, the 256 byte
    symbols, then two-byte filler tokens up to ``vocab_size`` (reachable by sampling, never by
    encoding).

    Byte-level because transformers rebuilds a Qwen2 folder's tokenizer as ``Qwen2Tokenizer``
    (byte-level pre-tokenizer) whatever class was saved; without merges every prompt character is
    one token, so prompt lengths are exact."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {PAD: 0, EOS: 1, UNK: 2, **{ch: i + 3 for i, ch in enumerate(alphabet)}}
    pairs = (a + b for a in alphabet for b in alphabet)
    while len(vocab) < vocab_size:
        vocab.setdefault(next(pairs), len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tk, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def build_model_folder(shape: str, folder: Path, seed: int = 0) -> Path:
    """Random-init Qwen2 of ``shape`` plus tokenizer, saved as an ordinary HF folder (fp32); for
    ``masa-tiny`` the bundled model's own folder."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    if shape == "masa-tiny":
        from masa_lite.models import BUNDLED_MODELS

        return Path(BUNDLED_MODELS["masa-tiny"])

    dims = SHAPES[shape]
    tok = build_tokenizer(dims["vocab_size"])
    config = Qwen2Config(**dims, max_position_embeddings=4096, rope_theta=1e6,
                         tie_word_embeddings=True, pad_token_id=0, eos_token_id=1,
                         bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(pad_token_id=0, eos_token_id=1)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_prompts(n: int, length: int, seed: int = 0) -> list[str]:
    """``n`` random lower-case strings of ``length`` characters = ``length`` tokens each."""
    rng = random.Random(seed)
    return ["".join(rng.choice(string.ascii_lowercase) for _ in range(length)) for _ in range(n)]


def task_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` solution prompts of the tiny task's training split, levels 1-6 mixed (natural
    lengths; masa-tiny's vocabulary has no room for random letters)."""
    from masa_lite.task import synthetic

    probs = synthetic.generate_problems(n, levels=(1, 2, 3, 4, 5, 6), seed=seed, split="train")
    return [synthetic.solution_prompt(p.problem) for p in probs]


def prompts_for(opts) -> list[str]:
    if opts.shape == "masa-tiny" or opts.lengths == "natural":
        return task_prompts(opts.prompts, opts.seed)
    return make_prompts(opts.prompts, opts.prompt_tokens, opts.seed)


def completion_lengths(completions: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Tokens of each generated row up to and including its first EOS (the padded width if none)."""
    is_eos = completions == eos_id
    first = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, completions.shape[1])
    return first


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _summary(step_s: list[float], gen_s: list[float], tokens: list[int], warmup: int) -> dict:
    timed, gen, tok = step_s[warmup:], gen_s[warmup:], tokens[warmup:]
    return {"seconds_per_step": sum(timed) / len(timed), "step_seconds": step_s,
            "generation_seconds_per_step": sum(gen) / len(gen), "generation_seconds": gen_s,
            "rollout_tokens_per_step": sum(tok) / len(tok),
            "rollout_tokens_per_s": sum(tok) / sum(gen)}


# --------------------------------------------------------------------------- masa_lite
def run_masa(folder: Path, opts) -> dict:
    """``warmup + steps`` GRPO steps with masa_lite's own pieces; times per step and rollout."""
    from masa_lite.config import RunConfig, validate
    from masa_lite.grpo.scored import Scored
    from masa_lite.grpo.update import policy_update
    from masa_lite.grpo.policy import sample_solutions, setup

    device = torch.device(opts.device)
    rows = opts.prompts * opts.generations
    cfg = RunConfig(seed=opts.seed)
    cfg.model.name, cfg.model.device = str(folder), opts.device
    cfg.model.dtype = "bf16" if device.type == "cuda" else "fp32"
    cfg.model.lora_r, cfg.model.lora_alpha, cfg.model.lora_targets = 16, 32, "all-linear"
    cfg.model.gradient_checkpointing = opts.gradient_checkpointing
    r = cfg.rollout
    r.group_size, r.max_new_tokens, r.batch_size = opts.generations, opts.new_tokens, rows
    r.merge_adapter, r.cache_implementation = opts.masa_merge, opts.masa_cache
    r.engine = opts.masa_engine
    g = cfg.grpo
    g.prompts_per_step, g.micro_batch_size = opts.prompts, opts.micro_batch or rows
    g.lr, g.warmup_steps, g.policy_epochs, g.kl_beta = 1e-6, 0, 1, 0.0
    validate(cfg)
    model, tok, optimizer, scheduler = setup(cfg)
    if opts.lengths == "forced":
        model.get_base_model().generation_config.min_new_tokens = opts.new_tokens
    prompts = prompts_for(opts)
    step_s, gen_s, tokens = [], [], []
    for _ in range(opts.warmup + opts.steps):
        _sync(device)
        t0 = time.perf_counter()
        ros = sample_solutions(model, tok, prompts, lambda rec, notions: rec, cfg)
        _sync(device)
        t1 = time.perf_counter()
        scored = Scored(ros, torch.ones(len(ros)),  # constant reward, as on the TRL side
                        torch.tensor([x.prompt_index for x in ros], dtype=torch.long))
        policy_update(model, tok, optimizer, scheduler, [scored], cfg, device)
        _sync(device)
        t2 = time.perf_counter()
        step_s.append(t2 - t0)
        gen_s.append(t1 - t0)
        tokens.append(sum(x.length for x in ros))
    out = _summary(step_s, gen_s, tokens, opts.warmup)
    out["settings"] = {"engine": r.engine, "merge_adapter": r.merge_adapter,
                       "cache_implementation": r.cache_implementation or "default",
                       "micro_batch_size": g.micro_batch_size,
                       "gradient_checkpointing": opts.gradient_checkpointing}
    del model, optimizer
    return out


# --------------------------------------------------------------------------- TRL
def _patch_datasets_fingerprint():
    # Workaround: on some setups GRPOTrainer fails inside `datasets` fingerprinting (pickling a
    # pyarrow MonthDayNano value). The fingerprint only names cache files, which this benchmark
    # never reuses, so a random one is harmless.
    import secrets

    from datasets import fingerprint

    fingerprint.Hasher.hash = classmethod(lambda cls, value: secrets.token_hex(16))


def run_trl(folder: Path, opts) -> dict:
    """The same steps through ``trl.GRPOTrainer``; step times from a callback, rollout times from
    a wrapper around the policy's ``generate``."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    _patch_datasets_fingerprint()
    device = torch.device(opts.device)
    cuda = device.type == "cuda"
    rows = opts.prompts * opts.generations
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16 if cuda else torch.float32)
    prompts = prompts_for(opts)
    marks: list[float] = []

    class StepTimer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            _sync(device)
            marks.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs):
            _sync(device)
            marks.append(time.perf_counter())

    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-bench-"), report_to="none", save_strategy="no",
        logging_steps=1, disable_tqdm=True, seed=opts.seed, max_steps=opts.warmup + opts.steps,
        per_device_train_batch_size=rows, gradient_accumulation_steps=1,
        num_generations=opts.generations, max_completion_length=opts.new_tokens,
        generation_kwargs={"min_new_tokens": opts.new_tokens} if opts.lengths == "forced" else {},
        temperature=1.0, top_p=1.0, top_k=0,
        beta=0.0, num_iterations=1, learning_rate=1e-6, lr_scheduler_type="constant",
        warmup_steps=0, max_grad_norm=1.0, bf16=cuda, use_cpu=not cuda,
        gradient_checkpointing=opts.gradient_checkpointing, dataloader_num_workers=0)
    trainer = GRPOTrainer(
        model=model, reward_funcs=lambda completions, **kw: [1.0] * len(completions), args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts}), processing_class=tok,
        peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                               task_type="CAUSAL_LM"),
        callbacks=[StepTimer()])
    gen_s, tokens = [], []
    policy = trainer.model
    generate = policy.generate

    def timed_generate(*a, **kw):
        _sync(device)
        t = time.perf_counter()
        seqs = generate(*a, **kw)
        _sync(device)
        gen_s.append(time.perf_counter() - t)
        tokens.append(int(completion_lengths(seqs[:, kw["input_ids"].shape[1]:], tok.eos_token_id).sum()))
        return seqs

    policy.generate = timed_generate
    trainer.train()
    step_s = [b - a for a, b in zip(marks, marks[1:])]
    out = _summary(step_s, gen_s, tokens, opts.warmup)
    out["settings"] = {"generation": "transformers generate, adapter active (TRL default)",
                       "gradient_checkpointing": opts.gradient_checkpointing,
                       "loss_type": args.loss_type}
    del trainer, model
    return out


# --------------------------------------------------------------------------- main
def environment(device: torch.device) -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "masa_lite"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": name,
            "python": platform.python_version(), "versions": versions}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=["auto", *SHAPES, "masa-tiny"], default="auto",
                   help="auto: masa-tiny with --lengths natural, else qwen2-0.5b on CUDA, tiny on CPU")
    p.add_argument("--lengths", choices=["forced", "natural"], default="forced",
                   help="forced: every completion new_tokens long; natural: EOS allowed")
    p.add_argument("--device", default="auto")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--generations", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--only", choices=["both", "masa", "trl"], default="both")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="on both sides (TRL's own default is on; off here: the model fits)")
    p.add_argument("--masa-cache", default="auto",
                   help="masa_lite's cache_implementation: auto = static on CUDA, default on CPU")
    p.add_argument("--masa-engine", choices=["compact", "generate"], default="compact",
                   help="masa_lite's rollout engine (rollout.engine)")
    p.add_argument("--no-merge", dest="masa_merge", action="store_false",
                   help="sample with the adapter active on the masa_lite side too")
    p.add_argument("--micro-batch", type=int, default=0, help="masa_lite micro-batch (0 = all rows)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    opts = p.parse_args(argv)
    if opts.device == "auto":
        opts.device = "cuda" if torch.cuda.is_available() else "cpu"
    cuda = torch.device(opts.device).type == "cuda"
    if opts.shape == "auto":
        opts.shape = "masa-tiny" if opts.lengths == "natural" else ("qwen2-0.5b" if cuda else "tiny")
    if opts.masa_cache == "auto":
        opts.masa_cache = "static" if cuda else ""
    return opts


def main(argv=None) -> dict:
    opts = parse_args(argv)
    device = torch.device(opts.device)
    result = {**environment(device), "shape": opts.shape, "dims": SHAPES.get(opts.shape),
              "lengths": opts.lengths, "prompts": opts.prompts, "generations": opts.generations,
              "new_tokens": opts.new_tokens, "prompt_tokens": opts.prompt_tokens,
              "warmup": opts.warmup, "steps": opts.steps}
    with tempfile.TemporaryDirectory(prefix="grpo-bench-model-") as tmp:
        folder = build_model_folder(opts.shape, Path(tmp), opts.seed)
        for side, run in (("masa_lite", run_masa), ("trl", run_trl)):
            if opts.only in ("both", {"masa_lite": "masa", "trl": "trl"}[side]):
                result[side] = run(folder, opts)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    if "masa_lite" in result and "trl" in result:
        result["ratio_masa_over_trl"] = (result["masa_lite"]["seconds_per_step"]
                                         / result["trl"]["seconds_per_step"])
    print(report(result))
    if opts.out is not None:
        opts.out.write_text(json.dumps(result, indent=2))
    return result


def report(res: dict) -> str:
    lines = [f"{res['date']}  {res['device']}  shape {res['shape']}  "
             f"{res['prompts']} prompts x {res['generations']} rollouts, "
             + (f"{res['new_tokens']} new tokens (forced)" if res["lengths"] == "forced" else
                f"natural lengths (EOS allowed, at most {res['new_tokens']} new tokens)")
             + f", {res['warmup']} warm-up + {res['steps']} timed steps",
             "versions: " + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if v)]
    for side in ("masa_lite", "trl"):
        if side in res:
            s = res[side]
            lines.append(f"{side:9s}: {s['seconds_per_step']:.3f} s/step  rollout "
                         f"{s['generation_seconds_per_step']:.3f} s/step, "
                         f"{s['rollout_tokens_per_step']:.0f} tok/step, "
                         f"{s['rollout_tokens_per_s']:.0f} tok/s  ({s['settings']})")
    if "ratio_masa_over_trl" in res:
        lines.append(f"ratio masa_lite / TRL step time: {res['ratio_masa_over_trl']:.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
