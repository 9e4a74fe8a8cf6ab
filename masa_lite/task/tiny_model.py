"""Build the bundled tiny base model ``masa-tiny`` from scratch, deterministically.

The model is an ordinary transformers ``LlamaForCausalLM`` with a ``PreTrainedTokenizerFast``
whose vocabulary (:mod:`masa_lite.task.vocab`) holds digits and symbols one token each and the
task's words and the meta answer's JSON keys whole, so every code path that serves a Hugging Face
model (``generate``, peft LoRA, vLLM) serves it too. It is trained by supervised learning on
traces of the solver persona of :mod:`masa_lite.task.synthetic` (train split only):

* solution prompts → persona solutions (a quarter of them with a notion hint it obeys); a trace in
  which the solver is lost is cut at ``synthetic.LOST_LIMIT`` tokens *without* EOS, so the model
  learns to keep guessing until its budget runs out, never to stop;
* meta prompts → ``<meta>`` + one ``mul`` per product + a JSON prediction whose numbers and notions
  are deliberately *uninformed* (random), so that the base model writes parseable meta
  predictions but is badly calibrated, like the paper's base models.

Build: ``masa-lite build-tiny --out masa_lite/assets/masa-tiny`` (time and metrics go into the
model card written beside the weights).
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from masa_lite.stats import correct_lengths, mean_or_none, prf, standard_error
from masa_lite.task import synthetic
from masa_lite.task.persona import Persona
from masa_lite.task.vocab import SPECIAL, TOKEN_REGEX, cut_tokens, vocabulary

MAX_NEW_TOKENS = 256  # the profiles' rollout.max_new_tokens: where a lost solver's trace is cut
LOST_MIN_CUT = 100  # the shortest prefix of a lost trace in the corpus


def build_tokenizer():
    """The tiny tokenizer: words and JSON keys whole, every other character one token
    (:mod:`masa_lite.task.vocab`); specials <pad> <eos> <unk>."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(TOKEN_REGEX.pattern), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIAL[0], eos_token=SPECIAL[1],
                                   unk_token=SPECIAL[2], padding_side="left",
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
    """What the meta path writes inside ``<meta>``: one ``mul`` per product (the steps that can go
    wrong), nothing when there is none — a short note, as the meta answer is short."""
    return " ".join("mul" for op, _ in problem.chain if op == "*")


def uninformed_meta(problem: synthetic.Problem, rng: random.Random, k: int = 8) -> str:
    """A meta answer with random numbers and notions: parseable, deliberately uncalibrated."""
    notions = rng.sample(list(synthetic.NOTIONS), k=rng.randint(1, 3))
    payload = {"math_notion": notions, "pass_rate": rng.randint(0, k),
               "solution_length": rng.randint(10, 250)}
    return f"<meta>{meta_reasoning(problem)}</meta>{json.dumps(payload)}"


def make_example(problem: synthetic.Problem, rng: random.Random, persona: Persona,
                 p_meta: float = 0.2) -> tuple[str, str, bool]:
    """One (prompt, response, ends with EOS?) example of the pretraining corpus: a lost trace is
    cut at a random length between ``LOST_MIN_CUT`` and ``synthetic.LOST_LIMIT`` tokens and has no
    EOS (every prefix teaches "keep going"; the shorter ones cost less to train on)."""
    if rng.random() < p_meta:
        return synthetic.meta_prompt(problem.problem), uninformed_meta(problem, rng), True
    hint, route = (None, None)
    if rng.random() < persona.p_hint:
        hint, route = _hint_for(problem, rng)
    text, value, _ = synthetic.write_solution(problem.start, problem.chain, rng, persona, route=route)
    if value is None:  # lost: any prefix of the endless loop, long enough to pass the budget at times
        text = cut_tokens(text, rng.randint(LOST_MIN_CUT, synthetic.LOST_LIMIT))
    return synthetic.solution_prompt(problem.problem, hint), text, value is not None


def train_tiny(out_dir, steps: int = 3000, batch_size: int = 64, lr: float = 2e-3,
               warmup: int = 100, seed: int = 0, pool_size: int = 60_000, log_every: int = 50,
               config_kwargs: dict | None = None, persona: Persona | None = None,
               progress: bool = True):
    """Train masa-tiny from scratch and save it (safetensors + tokenizer) to ``out_dir``."""
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, LlamaForCausalLM

    from masa_lite.supervised import supervised_batch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    persona = persona or Persona()
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
            pairs.sort(key=lambda pr: len(pr[0]) + len(pr[1]))  # characters: a fine proxy
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
                                               bos_token_id=1, max_new_tokens=MAX_NEW_TOKENS)
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
    from masa_lite.task.prompts import tiny_format

    fmt = tiny_format()
    records = [p.to_record() for p in synthetic.task_splits(n_per_level, seed=seed)[split]]
    ev = evaluate_policy(model, tokenizer, records, fmt.solution, n_samples=samples, seed=seed,
                         max_new_tokens=MAX_NEW_TOKENS, progress=progress)
    levels = {lv: _group_stats([p for p in ev["per_problem"] if p["level"] == lv])
              for lv in sorted(synthetic.LEVELS)}
    kinds = {k: _group_stats([p for p in ev["per_problem"] if p["problem_kind"] == k])
             for k in synthetic.KINDS}
    torch.manual_seed(seed)
    metas = generate_rollouts(model, tokenizer, [fmt.meta(r) for r in records], n=1,
                              max_new_tokens=MAX_NEW_TOKENS)
    preds = [parse_meta(m.text, k=k) for m in metas]
    parsed = [p.status == "ok" for p in preds]
    calib = calibration_of(calibration_pairs(ev["per_problem"],
                                             predictions_by_prompt(metas, preds, len(records), k), step=0))
    return {
        "samples_per_problem": samples, "problems": len(records), "split": split,
        "pass@1": ev["pass@1"], "pass@1_se": ev["pass@1_se"], "levels": levels, "kinds": kinds,
        "zero_variance_frac": ev["zero_variance_frac"],
        "truncated_frac": ev["truncated_frac"],
        "solution_tokens": sum(sum(p["lengths"]) for p in ev["per_problem"])
                           / sum(p["n"] for p in ev["per_problem"]),
        "meta_tokens": sum(m.length for m in metas) / len(metas),
        "cutoff_f1_perfect_length": perfect_length_cutoff_f1(ev["per_problem"]),
        "len_correct": ev["len_correct_mean"], "len_wrong": ev["len_wrong_mean"],
        "meta_parse_rate": sum(parsed) / len(parsed),
        "calibration_pass_rate_corr": calib["pass"]["corr"],
        "calibration_length_corr": calib["length"]["corr"],
        "meta_example": metas[0].text,
    }


def _group_stats(probs: list[dict]) -> dict:
    """pass@1 (with its standard error over problems), all-correct and all-wrong shares, mean
    lengths of right and wrong rollouts of a group of problems (a level or a kind)."""
    right = [n for p in probs for n in correct_lengths(p["lengths"], p["correct"])]
    wrong = [n for p in probs for n in correct_lengths(p["lengths"], p["correct"], right=False)]
    rates = [p["c"] / p["n"] for p in probs]
    return {
        "problems": len(probs),
        "pass@1": sum(rates) / max(len(probs), 1),
        # standard error over problems: difficulty varies within a level, not only samples
        "pass@1_se": standard_error(rates) if len(rates) > 1 else None,
        "all_correct": sum(p["c"] == p["n"] for p in probs) / max(len(probs), 1),
        "all_wrong": sum(p["c"] == 0 for p in probs) / max(len(probs), 1),
        "len_correct": mean_or_none(right),
        "len_wrong": mean_or_none(wrong),
    }


def perfect_length_cutoff_f1(per_problem: list[dict], factor: float = 2.0) -> float | None:
    """F1 of the early cutoff (cut ⇔ would be wrong) if every prediction were the problem's own
    mean correct length: the best the paper's 2 × predicted-length rule can do on these rollouts
    (problems without a correct rollout give no prediction and are left out)."""
    cut, wrong = [], []
    for p in per_problem:
        right = correct_lengths(p["lengths"], p["correct"])
        if right:
            budget = factor * mean_or_none(right)
            cut += [n > budget for n in p["lengths"]]
            wrong += [not ok for ok in p["correct"]]
    scores = prf(cut, wrong)
    return scores["f1"] if scores["tp"] else None


def _table(rows: dict, key: str) -> str:
    """A card table: one row per level or kind."""
    def f(x, fmt):
        return "–" if x is None else format(x, fmt)

    return "\n".join(
        f"| {name} | {m['problems']} | {m['pass@1']:.2f} | {m['all_correct']:.2f} | "
        f"{m['all_wrong']:.2f} | {f(m['len_correct'], '.0f')} | {f(m['len_wrong'], '.0f')} |"
        for name, m in rows.items()) if rows else f"(no {key} measured)"


def _economics_table(card: dict) -> str:
    """The model card's table: each property that mirrors the paper's setting, paper beside ours."""
    kinds = card.get("kinds", {})
    m_share = card["meta_tokens"] / card["solution_tokens"]
    saturated = {k: kinds[k]["all_correct"] + kinds[k]["all_wrong"] for k in kinds}
    f1 = card.get("cutoff_f1_perfect_length")
    return f"""| property | paper | masa-tiny |
| --- | --- | --- |
| meta tokens per solution token, m | ≈ 0.2 or less: a short JSON against responses of thousands of tokens (max 8,192); 1.28× at 37 % gated implies it | **{m_share:.2f}** ({card['meta_tokens']:.1f} meta tokens against {card['solution_tokens']:.1f} per solution) |
| prompts solved every time or never | ~37 % gated; DAPO and GRESO drop or skip the zero-variance prompts of real RL sets | **{card['zero_variance_frac']:.2f}** of groups of {card['samples_per_problem']} (easy {saturated.get('easy', 0):.2f}, mid {saturated.get('mid', 0):.2f}, hard {saturated.get('hard', 0):.2f}) |
| which prompts, read off the problem | gate precision 0.94 (v2) from the model's own prediction | the kind is in the text: pass@1 easy {kinds.get('easy', {}).get('pass@1', 0):.2f}, mid {kinds.get('mid', {}).get('pass@1', 0):.2f}, hard {kinds.get('hard', {}).get('pass@1', 0):.2f} |
| wrong solutions run long | cutoff at 2 × the predicted length: F1 0.73 → 0.84 | wrong {card['len_wrong']:.0f} tokens, right {card['len_correct']:.0f}; {card['truncated_frac']:.2f} of rollouts hit the budget; a perfect length prediction would give cutoff F1 **{"–" if f1 is None else format(f1, ".2f")}** |
| base model's meta answers uninformed | base models badly calibrated (Fig. 1a) | pass-rate r **{card['calibration_pass_rate_corr']:.2f}**, length r {card['calibration_length_corr']:.2f}; parse rate {card['meta_parse_rate']:.2f} |"""


def write_card(out_dir, build: dict, card: dict) -> None:
    """MODEL_CARD.md + card.json beside the weights (the test suite re-measures against it). The
    card puts each property that mirrors the paper's setting beside the paper's measurement."""
    out = Path(out_dir)
    (out / "card.json").write_text(json.dumps({"build": {k: v for k, v in build.items()
                                                         if k != "history"}, "metrics": card},
                                              indent=1))
    head = "| {} | problems | pass@1 | all correct | all wrong | length right | length wrong |\n"
    head += "| --- | --- | --- | --- | --- | --- | --- |\n"
    kinds = card.get("kinds", {})
    lost = {2: "two", 3: "three"}.get(Persona().lost_after, Persona().lost_after)
    text = f"""# masa-tiny

A {build['parameters'] / 1e6:.2f} M-parameter Llama-architecture decoder (hidden 128, 4 layers,
4 heads) built from scratch for masa_lite's synthetic arithmetic task, with a vocabulary of
{build.get('vocab_size', 89)} tokens: digits and symbols one token each, the task's words and the
meta answer's JSON keys whole, as a BPE vocabulary holds them (`masa_lite/task/vocab.py`). It is
the embedded default on which GRPO, MASA and MASA-efficient run end to end on a laptop CPU, and a
*model organism*: small, with the economics of the paper's setting. It knows nothing but this task.

- **Task** (`masa_lite/task/synthetic.py`): chains of 1–6 operations (the level). A problem is
  *easy* (only + − and one-digit products), *mid* (a two-digit × one-digit product, done `direct`
  or `split`) or *hard* (a two-digit × two-digit product, which the solver cannot do).
- **Data**: traces of the solver persona on the task's *train* split (solution prompts, a quarter
  with notion hints; 20 % meta prompts whose JSON numbers and notions are random). The solver
  checks each result's units digit and redoes a wrong one after `no, recheck`; after
  {lost} rejections at one step it is lost and guesses until its budget runs out, never boxing an
  answer (its traces are cut without EOS).
- **Build**: `masa-lite build-tiny --steps {build['steps']} --seed {build['seed']}`
  ({build['steps']} AdamW steps of batch {build['batch_size']}, lr {build['lr']}, cosine decay;
  {build['train_seconds'] / 60:.1f} minutes of training on the build machine, 2 CPU cores;
  torch {build['torch']}).
- **License**: Apache-2.0, like masa_lite.

## The paper's economics, measured

{card['problems']} held-out test problems × {card['samples_per_problem']} samples at T = 1
(top_k 0, top_p 1), {MAX_NEW_TOKENS}-token budget. The paper: Qwen3-8B-Base on DeepScaleR
(docs/method.md).

{_economics_table(card)}

Why the failures cannot be trained away: a hard problem's group is all wrong, so it has no
variance and GRPO no gradient; and a lost trace's guesses follow from {lost} rejections, not from
a choice the policy makes at random.

## Per level and per kind

pass@1 **{card['pass@1']:.3f}** ± {card['pass@1_se']:.3f} (standard error over problems).

{head.format("level")}{_table(card['levels'], 'levels')}

{head.format("kind")}{_table(kinds, 'kinds')}

Example meta answer: `{card['meta_example']}`
"""
    (out / "MODEL_CARD.md").write_text(text)


def build_and_card(out_dir, steps: int = 3000, seed: int = 0, card_problems: int = 50,
                   **train_kwargs) -> dict:
    """Train masa-tiny, measure it and write the model card and the prompt-style marker.
    ``train_kwargs`` go to :func:`train_tiny`."""
    model, tokenizer, build = train_tiny(out_dir, steps=steps, seed=seed, **train_kwargs)
    build["vocab_size"] = len(tokenizer)
    (Path(out_dir) / "build.json").write_text(json.dumps(build, indent=1))
    (Path(out_dir) / "masa_lite.json").write_text(json.dumps({"prompt_style": "tiny"}))
    card = measure_base_model(model, tokenizer, n_per_level=card_problems, progress=True)
    write_card(out_dir, build, card)
    return card
