"""Build the bundled tiny base model ``masa-tiny`` from scratch, deterministically.

The model is an ordinary transformers ``LlamaForCausalLM`` with a character-level
``PreTrainedTokenizerFast``, so every code path that serves a Hugging Face model (``generate``,
peft LoRA, vLLM) serves it too. It is trained by supervised learning on traces of the noisy
solver persona of :mod:`masa_lite.task.synthetic` (train split only):

* solution prompts → persona solutions (a quarter of them with a notion hint it obeys);
* meta prompts → ``<meta>`` + the list of operations + a JSON prediction whose numbers and
  notions are deliberately *uninformed* (random), so that the base model writes parseable meta
  predictions but is badly calibrated, like the paper's base models.

Build: ``masa-lite build-tiny --out masa_lite/assets/masa-tiny`` (time and metrics go into the
model card written beside the weights).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from pathlib import Path

import torch

from masa_lite.models import BUNDLED_MODELS
from masa_lite.task import synthetic

SPECIAL = ["<pad>", "<eos>", "<unk>"]
CHARS = list("0123456789abcdefghijklmnopqrstuvwxyz+-*/=(),.:;'\"{}[]<>\\_?! \n")


def build_tokenizer():
    """A character-level tokenizer: one token per character, specials <pad> <eos> <unk>."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>", padding_side="left",
                                   clean_up_tokenization_spaces=False)
    return fast


def build_config(vocab_size: int, hidden: int = 128, layers: int = 4, heads: int = 4,
                 intermediate: int = 384, max_positions: int = 512):
    """The Llama configuration of masa-tiny (about 1 M parameters by default)."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads,
                       intermediate_size=intermediate, max_position_embeddings=max_positions,
                       tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=1,
                       rope_theta=10000.0)


def _hint_for(problem: synthetic.Problem, rng: random.Random) -> tuple[list[str], str | None]:
    """A notion hint for a training prompt and the route it implies (``split`` forces split)."""
    base = [n for n in problem.notions if n not in ("split", "recheck")]
    has_hard = "split" in problem.notions
    names = rng.sample(base, k=rng.randint(1, len(base))) if base else []
    if has_hard and rng.random() < 0.5:
        names.append("split")
    rng.shuffle(names)
    return names, ("split" if "split" in names else None)


def meta_reasoning(problem: synthetic.Problem) -> str:
    """What the meta path writes inside ``<meta>``: the operations in order and their count."""
    names = {"+": "add", "-": "sub", "*": "mul"}
    ops = " ".join(names[op] for op, _ in problem.chain)
    return f"{ops}, {len(problem.chain)} steps"


def uninformed_meta(problem: synthetic.Problem, rng: random.Random, k: int = 8) -> str:
    """A meta answer with random numbers and notions: parseable, deliberately uncalibrated."""
    notions = rng.sample(list(synthetic.NOTIONS), k=rng.randint(1, 3))
    payload = {"math_notion": notions, "pass_rate": rng.randint(0, k),
               "solution_length": rng.randint(15, 300)}
    return f"<meta>{meta_reasoning(problem)}</meta>{json.dumps(payload)}"


def make_example(problem: synthetic.Problem, rng: random.Random, persona: synthetic.Persona,
                 p_meta: float = 0.2) -> tuple[str, str]:
    """One (prompt, response) pair of the pretraining corpus."""
    if rng.random() < p_meta:
        return synthetic.meta_prompt(problem.problem), uninformed_meta(problem, rng)
    hint, route = (None, None)
    if rng.random() < persona.p_hint:
        hint, route = _hint_for(problem, rng)
    text, _, _ = synthetic.write_solution(problem.start, problem.chain, rng, persona, route=route)
    return synthetic.solution_prompt(problem.problem, hint), text


def train_tiny(out_dir, steps: int = 2500, batch_size: int = 64, lr: float = 2e-3,
               warmup: int = 100, seed: int = 0, pool_size: int = 60_000, log_every: int = 50,
               config_kwargs: dict | None = None, persona: synthetic.Persona | None = None,
               progress: bool = True):
    """Train masa-tiny from scratch and save it (safetensors + tokenizer) to ``out_dir``."""
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, LlamaForCausalLM

    from masa_lite.supervised import supervised_batch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    persona = persona or synthetic.Persona()
    tokenizer = build_tokenizer()
    model = LlamaForCausalLM(build_config(len(tokenizer), **(config_kwargs or {})))
    pool = synthetic.generate_problems(pool_size, seed=seed, split="train")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(
            math.pi * min(1.0, s / steps)))))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "build_log.jsonl", "w")
    history, t0, queue = [], time.time(), []
    bar = tqdm(range(steps), desc="build masa-tiny", disable=not progress)
    for step in bar:
        if not queue:  # length bucketing: 16 batches of similar length cut padding in half
            pairs = [make_example(rng.choice(pool), rng, persona) for _ in range(16 * batch_size)]
            pairs.sort(key=lambda pr: len(pr[0]) + len(pr[1]))
            queue = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
            rng.shuffle(queue)
        batch = supervised_batch(tokenizer, queue.pop(), "cpu")  # loss on responses only
        loss = model(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            history.append({"step": step, "loss": round(loss.item(), 4),
                            "seconds": round(time.time() - t0, 1)})
            log.write(json.dumps(history[-1]) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.generation_config = GenerationConfig(do_sample=True, temperature=1.0, top_k=0,
                                               top_p=1.0, eos_token_id=1, pad_token_id=0,
                                               bos_token_id=1, max_new_tokens=400)
    log.close()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    build = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup, "seed": seed,
             "pool_size": pool_size, "train_seconds": round(time.time() - t0, 1),
             "parameters": sum(p.numel() for p in model.parameters()),
             "torch": torch.__version__, "history": history}
    (out / "build.json").write_text(json.dumps(build, indent=1))
    return model, tokenizer, build


def measure_base_model(model, tokenizer, n_per_level: int = 40, samples: int = 8, seed: int = 0,
                       split: str = "test", k: int = 8, progress: bool = False) -> dict:
    """What the model card reports: per-level sampled pass@1 (T = 1), lengths of right vs wrong
    rollouts, meta-format parse rate and calibration of predicted vs actual pass rate and length."""
    from masa_lite.evaluation import calibration_of, calibration_pairs, evaluate_policy
    from masa_lite.grpo.sampling import generate_rollouts
    from masa_lite.meta.answer import parse_meta
    from masa_lite.meta.scoring import predictions_by_prompt
    from masa_lite.stats import correct_lengths
    from masa_lite.task.prompts import tiny_format

    fmt = tiny_format()
    records = [p.to_record() for p in synthetic.task_splits(n_per_level, seed=seed)[split]]
    ev = evaluate_policy(model, tokenizer, records, fmt.solution, n_samples=samples, seed=seed,
                         max_new_tokens=400, progress=progress)
    levels = {}
    for lv in sorted(synthetic.LEVELS):
        probs = [p for p in ev["per_problem"] if p["level"] == lv]
        right = [n for p in probs for n in correct_lengths(p["lengths"], p["correct"])]
        wrong = [n for p in probs for n in correct_lengths(p["lengths"], p["correct"], right=False)]
        rates = [p["c"] / p["n"] for p in probs]
        levels[lv] = {
            "problems": len(probs),
            "pass@1": sum(rates) / max(len(probs), 1),
            # standard error over problems: difficulty varies within a level, not only samples
            "pass@1_se": (statistics.stdev(rates) / math.sqrt(len(rates))
                          if len(rates) > 1 else None),
            "all_correct": sum(p["c"] == p["n"] for p in probs) / max(len(probs), 1),
            "all_wrong": sum(p["c"] == 0 for p in probs) / max(len(probs), 1),
            "len_correct": sum(right) / len(right) if right else None,
            "len_wrong": sum(wrong) / len(wrong) if wrong else None,
        }
    torch.manual_seed(seed)
    metas = generate_rollouts(model, tokenizer, [fmt.meta(r) for r in records], n=1,
                              max_new_tokens=200)
    preds = [parse_meta(m.text, k=k) for m in metas]
    parsed = [p.status == "ok" for p in preds]
    calib = calibration_of(calibration_pairs(ev["per_problem"],
                                             predictions_by_prompt(metas, preds, len(records), k), step=0))
    return {
        "samples_per_problem": samples, "problems": len(records), "split": split,
        "pass@1": ev["pass@1"], "pass@1_se": ev["pass@1_se"], "levels": levels,
        "zero_variance_frac": ev["zero_variance_frac"],
        "len_correct": ev["len_correct_mean"], "len_wrong": ev["len_wrong_mean"],
        "meta_parse_rate": sum(parsed) / len(parsed),
        "calibration_pass_rate_corr": calib["pass"]["corr"],
        "calibration_length_corr": calib["length"]["corr"],
        "meta_example": metas[0].text,
    }


def _card_about(persona: str, name: str) -> tuple[str, str]:
    """The card's sentence on what the model is, and the build flags that rebuild it."""
    rates, bundled = synthetic.PERSONAS[persona], name in BUNDLED_MODELS
    about = ("It is the embedded default on which GRPO and\nMASA run end to end on a laptop CPU."
             if persona == "default" else
             "It is masa-tiny's sibling for early cutoff: the same task, architecture and build,\n"
             "but its persona *wanders* - a trace that carries an unfixed slip mostly goes on to\n"
             f"re-check every step {rates.wander_rounds} times "
             "(`recheck a+b=c` lines that fix nothing) before it boxes\n"
             "its answer, so wrong solutions run long, as failing chains of thought do on real\n"
             "models." + (f" A wandering pass catches the slip and rescues the answer with "
                          f"chance {rates.wander_fix} per pass." if rates.wander_fix else "")
             + (f" Select it with `-o model.name={name}`." if bundled else
                " It is not bundled: select it with `-o model.name=<this folder>`."))
    where = f"masa_lite/assets/{name}" if bundled else "<folder>"
    flags = "" if persona == "default" else f" --persona {persona} --out {where}"
    return about, flags


def write_card(out_dir, build: dict, card: dict) -> None:
    """MODEL_CARD.md + card.json beside the weights (the test suite re-measures against it)."""
    out = Path(out_dir)
    (out / "card.json").write_text(json.dumps({"build": {k: v for k, v in build.items()
                                                         if k != "history"}, "metrics": card},
                                              indent=1))
    rows = "\n".join(
        f"| {lv} | {m['problems']} | {m['pass@1']:.2f} | {m['all_correct']:.2f} | "
        f"{m['all_wrong']:.2f} | {m['len_correct'] or float('nan'):.0f} | "
        f"{m['len_wrong'] or float('nan'):.0f} |" for lv, m in card["levels"].items())
    persona = build.get("persona", "default")
    name = "masa-tiny" if persona == "default" else f"masa-tiny-{persona}"
    about, flags = _card_about(persona, name)
    text = f"""# {name}

A {build['parameters'] / 1e6:.2f} M-parameter Llama-architecture decoder (hidden 128, 4 layers,
4 heads, character-level tokenizer of {build.get('vocab_size', 'about 64')} tokens) built from
scratch for masa_lite's synthetic arithmetic task. {about} It knows nothing but this task.

- **Data**: traces of the noisy solver persona `{persona}` of `masa_lite.task.synthetic` on the task's *train* split
  (solution prompts, a quarter with notion hints; 20 % meta prompts whose JSON numbers and notions
  are random, so the model writes parseable but uninformed meta predictions).
- **Build**: `masa-lite build-tiny --steps {build['steps']} --seed {build['seed']}{flags}`
  ({build['steps']} AdamW steps of batch {build['batch_size']}, lr {build['lr']}, cosine decay;
  {build['train_seconds'] / 60:.1f} minutes of training on the build machine, 2 CPU cores;
  torch {build['torch']}).
- **License**: Apache-2.0, like masa_lite.

## Measured on the held-out test split

{card['problems']} problems × {card['samples_per_problem']} samples at T = 1 (top_k 0, top_p 1):
pass@1 **{card['pass@1']:.3f}** ± {card['pass@1_se']:.3f} (standard error over problems);
zero-variance groups {card['zero_variance_frac']:.2f}.

| level | problems | pass@1 | all correct | all wrong | length right | length wrong |
| --- | --- | --- | --- | --- | --- | --- |
{rows}

Overall length of correct rollouts {card['len_correct']:.1f} tokens, of wrong ones
{card['len_wrong']:.1f} tokens.

**Meta path**: parse rate {card['meta_parse_rate']:.2f}; correlation of predicted with actual
pass rate {card['calibration_pass_rate_corr']:.2f}, of predicted with actual correct length
{card['calibration_length_corr']:.2f} (uninformed by design: MASA's job is to raise these).
Example: `{card['meta_example']}`
"""
    (out / "MODEL_CARD.md").write_text(text)


def build_and_card(out_dir, steps: int = 2500, seed: int = 0, card_problems: int = 50,
                   persona: str = "default", **train_kwargs) -> dict:
    """Train masa-tiny (or, with ``persona="wander"``, masa-tiny-wander), measure it and write the
    model card and the prompt-style marker. ``train_kwargs`` go to :func:`train_tiny`."""
    if persona not in synthetic.PERSONAS:
        raise ValueError(f"unknown persona {persona!r}: choose one of {sorted(synthetic.PERSONAS)}")
    model, tokenizer, build = train_tiny(out_dir, steps=steps, seed=seed,
                                         persona=synthetic.PERSONAS[persona], **train_kwargs)
    build["vocab_size"] = len(tokenizer)
    build["persona"] = persona
    (Path(out_dir) / "build.json").write_text(json.dumps(build, indent=1))
    (Path(out_dir) / "masa_lite.json").write_text(json.dumps({"prompt_style": "tiny"}))
    card = measure_base_model(model, tokenizer, n_per_level=card_problems, progress=True)
    write_card(out_dir, build, card)
    return card
