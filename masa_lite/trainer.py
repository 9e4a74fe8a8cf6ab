"""The one training loop: GRPO, MASA and MASA-efficient are switches of the same step.

Per step (docs/method.md §1–4):

1. draw prompts;
2. *meta path* (``meta.enabled``): M meta rollouts per prompt, parsed leniently;
3. *sequential mode* (after ``efficient.warmup_steps``, when gating or cutoff is on): gate prompts
   predicted trivial or unsolvable (a sample of them is rolled out anyway, to audit the gate),
   give the others a token budget of 2 × predicted length, feed predicted notions in;
4. G solution rollouts per prompt; verify; a rollout cut by its budget scores 0 (a sample of cut
   rollouts is continued to the global limit, to audit the cutoff);
5. meta rewards from the solution statistics; advantages in separate groups per prompt and path;
   one clipped loss (:func:`masa_lite.grpo.policy_update`);
6. Expert SFT on corrected meta predictions when a batch of them is ready;
7. metrics, warnings, atomic checkpoints, periodic evaluation (accuracy and calibration).

A gated prompt that is not audited has no solution rollouts, hence no statistics to reward its
meta rollouts against: they get no reward and no training that step (what the method implies;
:mod:`masa_lite.masa`). Audited gated prompts are rolled out without a cutoff budget, so the gate's
audit label comes from uncut outcomes; their meta rollouts are trained, their solution rollouts
only measure the gate.

A step's checkpoint is written *before* that step's evaluation (whose record is added to the
checkpoint's history once it is done), and an evaluation that is due at the checkpoint's step but
missing from its history is run on resume: a crash or kill during an evaluation loses nothing, and ``calibration.jsonl`` is trimmed to the evaluations in the restored
history, so it never holds one twice. ``resume=False`` (``--no-resume``) on a folder that holds
checkpoints moves the old run aside into ``previous-<timestamp>/`` first.

Under ``torchrun`` / ``accelerate launch`` the same loop runs data-parallel
(:mod:`masa_lite.distributed`): each rank rolls out and scores its share of the prompts, the scored
rollouts are gathered so that every rank computes the same statistics, each rank trains on its own
groups with DDP, and rank 0 alone evaluates and writes files.
"""

from __future__ import annotations

import json
import os
import random
import time
import warnings
from pathlib import Path

import torch

from masa_lite import masa, meta_diagnostics, tasks
from masa_lite.checkpoint import (latest_checkpoint, load_checkpoint, save_checkpoint,
                                  update_checkpoint_history)
from masa_lite.config import ConfigError, RunConfig, to_dict, validate
from masa_lite.distributed import SINGLE, DataParallel
from masa_lite.evaluation import evaluate_policy
from masa_lite.grpo import (Scored, peak_memory_mb, policy_update,
                            rollout_metrics, sample_solutions, setup)
from masa_lite.history import History, signal_warnings
from masa_lite.meta import parse_meta, summarise_parses
from masa_lite.models import META_ADAPTER, adapter_parameters, has_meta_adapter, meta_adapter
from masa_lite.rewards import score_rollouts
from masa_lite.rollout import generate_rollouts, row_seed, sample_rollouts


def sample_meta(model, tokenizer, records, fmt, cfg, n, seeds=None):
    """``n`` meta rollouts per record (the meta prompt of ``fmt``, ``cfg.meta.max_new_tokens``)
    and their lenient parses: (rollouts, predictions), prompt-major. ``seeds``: row-seeded.
    A model with a meta adapter (``meta.adapter=separate``) samples them with that adapter."""
    with meta_adapter(model):  # the meta path's own adapter, if the run has one
        ros = sample_rollouts(model, tokenizer, [fmt.meta(r) for r in records], cfg, n=n,
                              max_new_tokens=cfg.meta.max_new_tokens, seeds=seeds)
    return ros, [parse_meta(r.text, k=cfg.meta.k) for r in ros]


def evaluate_run(model, tokenizer, fmt, records, cfg: RunConfig, step: int, wall: float,
                 feed_in: bool = False) -> tuple[dict, list[dict]]:
    """Held-out pass@1 (and pass@k) plus, with the meta path, calibration pairs per problem."""
    notions, preds_by = None, None
    if cfg.meta.enabled or cfg.meta.eval_calibration or feed_in:
        from masa_lite.checkpoint import rng_state, set_rng_state

        saved = rng_state()
        torch.manual_seed(cfg.seed + 1)
        ros, preds = sample_meta(model, tokenizer, records, fmt, cfg, cfg.meta.eval_group_size)
        set_rng_state(saved)
        preds_by = masa.predictions_by_prompt(ros, preds, len(records), cfg.meta.k)
        if feed_in:
            notions = [masa.feed_in_notions(p["notions"]) for p in preds_by]
    ev = evaluate_policy(model, tokenizer, records, fmt.solution, n_samples=cfg.data.eval_samples,
                         max_new_tokens=cfg.rollout.max_new_tokens,
                         batch_size=cfg.rollout.batch_size, ks=(1, cfg.data.eval_samples),
                         seed=cfg.seed, notions=notions,
                         notion_vocab=tasks.NOTIONS if cfg.data.task == "synthetic" else (),
                         cfg=cfg)
    pairs = []
    for i, prob in enumerate(ev["per_problem"]):
        right = [n for n, c in zip(prob["lengths"], prob["correct"]) if c]
        pair = {"step": step, "id": prob["id"], "level": prob["level"],
                "actual_pass_rate": prob["c"] / prob["n"],
                "actual_length": sum(right) / len(right) if right else None,
                "pred_pass_rate": None, "pred_length": None}
        if preds_by is not None:
            p = preds_by[i]
            pair["pred_pass_rate"] = sum(p["pass"]) / len(p["pass"]) if p["pass"] else None
            pair["pred_length"] = sum(p["length"]) / len(p["length"]) if p["length"] else None
        pairs.append(pair)
    rec = {"kind": "eval", "step": step, "wall_seconds": wall, "feed_in": feed_in}
    rec.update({k: v for k, v in ev.items() if k != "per_problem"})
    pp = [(q["pred_pass_rate"], q["actual_pass_rate"]) for q in pairs if q["pred_pass_rate"] is not None]
    pl = [(q["pred_length"], q["actual_length"]) for q in pairs
          if q["pred_length"] is not None and q["actual_length"] is not None]
    if pp:
        c = masa.calibration(*zip(*pp))
        rec.update(calib_pass_corr=c["corr"], calib_pass_mae=c["mae"])
    if pl:
        c = masa.calibration(*zip(*pl))
        rec.update(calib_len_corr=c["corr"], calib_len_mae=c["mae"])
    if preds_by is not None:
        rec.update(meta_diagnostics.eval_diagnostics(pairs, [p["pass"] for p in preds_by]))
    return rec, pairs


def _audit_cutoff(model, tokenizer, rollouts, records, cfg, rng, mine=None, seeds=None,
                  dp=SINGLE) -> tuple[list, dict]:
    """Continue a sample of cut rollouts to the global limit: would they have been right?

    ``rollouts`` is the whole step's list (gathered across ranks), so the sample drawn from ``rng``
    is the same on every rank; a rank continues the sampled rollouts of its own prompts (``mine``,
    None: all) and the continuations are gathered. ``seeds``: one per rollout (row-seeded)."""
    cut = [j for j, r in enumerate(rollouts) if r.stop_reason == "budget"]
    sample = [j for j in cut if rng.random() < cfg.efficient.cutoff_audit]
    if not sample:
        return [], {}
    here = [j for j in sample if mine is None or rollouts[j].prompt_index in mine]
    full = []
    if here:
        todo = [rollouts[j] for j in here]
        longest = max(1, cfg.rollout.max_new_tokens - min(r.length for r in todo))
        conts = generate_rollouts(model, tokenizer, [r.prompt + r.text for r in todo], n=1,
                                  max_new_tokens=longest,
                                  temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                                  top_k=cfg.rollout.top_k, batch_size=cfg.rollout.batch_size,
                                  budgets=[cfg.rollout.max_new_tokens - r.length for r in todo],
                                  seeds=None if seeds is None else [seeds[j] for j in here],
                                  engine=cfg.rollout.engine)
        for r, c in zip(todo, conts):
            c.prompt_index, c.text, c.length = r.prompt_index, r.text + c.text, r.length + c.length
            full.append(c)
        score_rollouts(full, records, cfg)
    full = dp.gather(full)  # in the order of ``sample``: shards are contiguous
    saved = sum(c.length - rollouts[j].length for j, c in zip(sample, full))
    return full, {"saved_tokens_per_audit": saved / len(full)}


def _reindex(rollouts, indices):
    """Map each rollout's position in a sub-list of prompts back to its index in the batch."""
    for r in rollouts:
        r.prompt_index = indices[r.prompt_index]
    return rollouts


def _only(scored: Scored, prompts: set[int]) -> Scored:
    """The rollouts of ``scored`` that belong to ``prompts`` (a rank's own groups)."""
    rows = [j for j, r in enumerate(scored.rollouts) if r.prompt_index in prompts]
    return Scored([scored.rollouts[j] for j in rows], scored.rewards[rows], scored.group_ids[rows],
                  None if scored.part_rewards is None else scored.part_rewards[rows],
                  None if scored.token_parts is None else [scored.token_parts[j] for j in rows],
                  scored.weight, scored.kl_beta)


def train(cfg: RunConfig, resume: bool = True, progress: bool = True, step_hook=None,
          base_eval: tuple[dict, list[dict]] | None = None) -> dict:
    """Train as configured (GRPO, MASA or MASA-efficient); returns the history and the model.

    ``base_eval`` (an eval record and its calibration pairs from another run of the same base
    model, evaluation set and seed) is logged as this run's step-0 evaluation instead of
    measuring it again — ``masa-lite reproduce`` shares one base evaluation across methods.

    Launched by ``torchrun``/``accelerate launch`` it runs data-parallel
    (:mod:`masa_lite.distributed`, row-seeded sampling always on); only rank 0 evaluates, writes
    files and calls ``step_hook``."""
    from tqdm.auto import tqdm

    from masa_lite.problems import check_prompt_lengths, eval_records, model_context, training_pool
    from masa_lite.prompts import prompt_format_for

    validate(cfg)  # a config built in code gets the same checks as one loaded from YAML
    dp = DataParallel.from_env(cfg.model.device)  # one process unless launched by torchrun
    if dp.enabled and cfg.rollout.backend != "hf":
        raise ConfigError("data-parallel runs sample row-seeded, which needs rollout.backend=hf")
    run_dir = Path(cfg.out_dir)
    if dp.is_main:
        _prepare_run_dir(run_dir, resume)
    dp.barrier()
    pool, held_out = training_pool(cfg), eval_records(cfg)  # data errors before the model loads
    model, tokenizer, optimizer, scheduler = setup(cfg)
    device = next(model.parameters()).device
    fmt = prompt_format_for(cfg.model.name, tokenizer, k=cfg.meta.k)
    context = model_context(model, cfg)
    for what, recs in (("training", pool), ("evaluation", held_out)):
        check_prompt_lengths(recs, fmt.solution, tokenizer, context, cfg.rollout.max_new_tokens,
                             f"{what} data ({cfg.data.task}), solution prompt")
        if cfg.meta.enabled or cfg.meta.eval_calibration:
            check_prompt_lengths(recs, fmt.meta, tokenizer, context, cfg.meta.max_new_tokens,
                                 f"{what} data ({cfg.data.task}), meta prompt")
    sampler, audit_rng = random.Random(cfg.seed), random.Random(cfg.seed + 7)
    separate = has_meta_adapter(model)
    if separate and dp.enabled:
        raise ConfigError("meta.adapter=separate is not implemented for data-parallel runs; use "
                          "meta.adapter=shared with torchrun, or one process")
    # the meta path trains the meta adapter with its own optimiser (separate), else the shared one
    meta_params = adapter_parameters(model, META_ADAPTER) if separate else \
        [p for p in model.parameters() if p.requires_grad]
    meta_opt = meta_sched = None
    if separate:
        meta_opt = torch.optim.AdamW(meta_params, lr=cfg.grpo.lr if cfg.meta.lr is None else cfg.meta.lr,
                                     weight_decay=cfg.grpo.weight_decay)
        meta_sched = torch.optim.lr_scheduler.LambdaLR(meta_opt, scheduler.lr_lambdas[0])
    sft_opt = masa.sft_optimizer(meta_params, cfg) if cfg.efficient.expert_sft else None
    state = {"wall": 0.0, "sft_buffer": [], "gate": [], "cut": []}
    start, records = 0, []
    ckpt = latest_checkpoint(run_dir) if resume else None
    if ckpt is not None:
        _check_resumable(run_dir, cfg)
        start, records, saved = load_checkpoint(ckpt, model, optimizer, scheduler)
        sampler.setstate(_tuple_state(saved["sampler"]))
        audit_rng.setstate(_tuple_state(saved["audit_rng"]))
        state = saved["state"]
        if sft_opt is not None and saved.get("sft_opt"):
            sft_opt.load_state_dict(saved["sft_opt"])
        if meta_opt is not None:  # the meta adapter's weights came back with the adapter folder
            meta_opt.load_state_dict(saved["meta_opt"])
            meta_sched.load_state_dict(saved["meta_sched"])
    dp.wrap(model)  # DDP over the LoRA parameters (several ranks only)
    row_seeded = cfg.rollout.row_seeded or dp.enabled

    def seeds(step, path, indices):
        """Row-seeded sampling: one seed per global index, whichever rank samples it."""
        return [row_seed(cfg.seed, step, path, i) for i in indices] if row_seeded else None

    history = History(run_dir, cfg.loggers, records, config=to_dict(cfg), write=dp.is_main)
    if dp.is_main:
        (run_dir / "config.yaml").write_text(_yaml(to_dict(cfg)))
    calib_path = run_dir / "calibration.jsonl"
    if start > 0 and dp.is_main:  # drop pairs of evaluations the checkpoint does not hold
        trim_calibration(calib_path, {r["step"] for r in records if r.get("kind") == "eval"})

    def run_eval(step):  # rank 0 evaluates, the other ranks wait for it
        if dp.is_main:
            rec, pairs = evaluate_run(model, tokenizer, fmt, held_out, cfg, step, state["wall"])
            history.log(rec)
            with open(calib_path, "a") as f:
                f.writelines(json.dumps(p) + "\n" for p in pairs)
        dp.barrier()

    if start == 0:
        if dp.is_main:
            calib_path.write_text("")
        if base_eval is not None and dp.is_main:
            history.log(dict(base_eval[0]))
            with open(calib_path, "a") as f:
                f.writelines(json.dumps(p) + "\n" for p in base_eval[1])
        elif base_eval is None and cfg.eval_at_start:
            run_eval(0)
    elif _eval_due(start, cfg) and not any(r.get("kind") == "eval" and r.get("step") == start
                                           for r in records):
        run_eval(start)  # the run stopped between this step's checkpoint and its evaluation
    e = cfg.efficient
    bar = tqdm(range(start, cfg.grpo.steps), desc=cfg.method or "train", initial=start,
               total=cfg.grpo.steps, disable=not (progress and dp.is_main))
    for step in bar:
        t0 = time.time()
        batch = sampler.sample(pool, cfg.grpo.prompts_per_step)
        n = len(batch)
        mine = dp.shard(n)  # this rank's prompts (indices into batch); all of them on one process
        sequential = cfg.meta.enabled and step >= e.warmup_steps and (e.gating or e.cutoff or cfg.meta.feed_in)
        m = {"kind": "train", "step": step + 1, "sequential": sequential}
        meta_ros, preds, by_prompt = [], [], None
        if cfg.meta.enabled:
            meta_ros, preds = sample_meta(model, tokenizer, [batch[i] for i in mine], fmt, cfg,
                                             cfg.meta.group_size, seeds=seeds(step, "meta", mine))
            meta_ros, preds = dp.gather(_reindex(meta_ros, mine)), dp.gather(preds)
            by_prompt = masa.predictions_by_prompt(meta_ros, preds, n, cfg.meta.k)
            summ = summarise_parses(preds)
            m.update(meta_parse_rate=summ["parse_rate"], meta_ok_rate=summ["ok_rate"],
                     meta_fallbacks=sum(summ["fallbacks"].values()))
        t1 = time.time()
        plan = masa.plan_solutions(by_prompt or [{}] * n, cfg, audit_rng, sequential)
        gated, budgets, notions = plan.gated, plan.budgets, plan.notions
        run = [i for i in mine if not gated[i] or plan.audited[i]]
        sub = [batch[i] for i in run]
        sol = sample_solutions(model, tokenizer, sub, fmt.solution, cfg,
                               budgets=None if budgets is None else [budgets[i] for i in run],
                               notions=None if notions is None else [notions[i] for i in run],
                               seeds=seeds(step, "solution", run))
        _reindex(sol, run)  # back to batch indices
        t2 = time.time()
        _, info = score_rollouts(sol, batch, cfg)  # this rank's rollouts
        info = dp.merge(info, len(sol), sums=("verify_timeouts", "verify_errors"))
        sol = dp.gather(sol)  # from here on every rank holds the whole step's scored rollouts
        rewards = torch.tensor([r.reward for r in sol], dtype=torch.float32)
        m.update(info)
        stats = masa.prompt_stats(sol, n)
        # audited gated prompts are measured for the gate's precision/recall, not trained on
        train_rows = [j for j, r in enumerate(sol) if not gated[r.prompt_index]]
        scored = [Scored([sol[j] for j in train_rows], rewards[train_rows],
                         torch.tensor([sol[j].prompt_index for j in train_rows], dtype=torch.long))]
        m.update(rollout_metrics(scored[0]))
        m["solution_tokens"] = sum(r.length for r in sol)
        if cfg.meta.enabled:
            meta_rewards, parts, meta_parts = masa.score_meta(meta_ros, preds, batch, stats, cfg)
            m.update(parts)
            keep = [j for j, v in enumerate(meta_rewards) if v is not None]
            scored.append(Scored([meta_ros[j] for j in keep],
                                 torch.tensor([meta_rewards[j] for j in keep], dtype=torch.float32),
                                 torch.tensor([n + meta_ros[j].prompt_index for j in keep], dtype=torch.long),
                                 weight=cfg.meta.loss_weight, kl_beta=cfg.meta.kl_beta))
            on = masa.enabled_parts(cfg)
            if cfg.meta.credit == "field":  # each field's tokens get their own part's advantage
                scored[-1].part_rewards = torch.tensor([meta_parts[j] for j in keep],
                                                       dtype=torch.float32).reshape(len(keep), 3)
                scored[-1].token_parts = [
                    masa.field_token_parts(meta_ros[j].text,
                                           masa.token_char_ends(tokenizer, meta_ros[j].token_ids), on)
                    for j in keep]
            m["meta_tokens"] = sum(r.length for r in meta_ros)
            m.update(meta_diagnostics.train_diagnostics(
                [rec.get("level") for rec in batch], [p["pass"] for p in by_prompt],
                [meta_parts[j] for j in keep], [meta_ros[j].prompt_index for j in keep], on))
            have = [i for i in range(n) if stats[i] is not None and by_prompt[i]["pass"]]
            c = masa.calibration([sum(by_prompt[i]["pass"]) / len(by_prompt[i]["pass"]) for i in have],
                                 [stats[i].pass_rate for i in have])
            m.update(calib_pass_corr=c["corr"], calib_pass_mae=c["mae"])
        if sequential and e.gating:
            state["gate"] += [(gated[i], stats[i].zero_variance, 1 / e.gate_audit if gated[i] else 1.0)
                              for i in range(n) if stats[i] is not None]
            m["gated_frac"] = sum(gated) / n
            g = masa.prf(*zip(*[(a, b) for a, b, _ in state["gate"]]), weights=[w for *_, w in state["gate"]])
            m.update(gate_precision=g["precision"], gate_recall=g["recall"], gate_f1=g["f1"])
        if sequential and e.cutoff:
            full, extra = _audit_cutoff(model, tokenizer, sol, batch, cfg, audit_rng, set(mine),
                                        seeds(step, "cutoff", range(len(sol))), dp)
            cut_n = sum(r.stop_reason == "budget" for r in sol)
            m.update(cut_frac=cut_n / max(len(sol), 1), **extra)
            m["tokens_saved_est"] = cut_n * extra.get("saved_tokens_per_audit", 0.0)
            # label "would have been wrong": audited cut rollouts by continuation, the rest as scored;
            # gated prompts' audit rollouts had no budget and are no cutoff decision
            state["cut"] += [(True, not c.correct, 1 / e.cutoff_audit) for c in full]
            state["cut"] += [(False, not r.correct, 1.0) for r in sol
                             if r.stop_reason != "budget" and not gated[r.prompt_index]]
            if state["cut"]:
                c = masa.prf(*zip(*[(a, b) for a, b, _ in state["cut"]]), weights=[w for *_, w in state["cut"]])
                m.update(cutoff_precision=c["precision"], cutoff_recall=c["recall"], cutoff_f1=c["f1"])
        t3 = time.time()
        local = [_only(b, set(mine)) for b in scored]  # each rank trains on its own groups
        if separate:  # each path its own adapter, optimiser and token-mean
            m.update(policy_update(model, tokenizer, optimizer, scheduler, local[:1], cfg, device, dp=dp))
            with meta_adapter(model):
                meta_m = policy_update(model, tokenizer, meta_opt, meta_sched, local[1:], cfg, device)
            m.update({f"meta_{k}": v for k, v in meta_m.items()})
        else:
            m.update(policy_update(model, tokenizer, optimizer, scheduler, local, cfg, device, dp=dp))
        t4 = time.time()
        if sft_opt is not None:  # every full batch that is ready; fewer than one batch waits
            state["sft_buffer"] += masa.expert_sft_examples(meta_ros, preds, batch, stats, cfg, fmt.meta)
            ready, state["sft_buffer"] = masa.ready_sft_batches(state["sft_buffer"], e.sft_batch_size)
            if ready:
                with meta_adapter(model):
                    sft_losses = [masa.sft_step(model, tokenizer, sft_opt, pairs, device, dp=dp,
                                                label_fields=masa.sft_label_fields(cfg))
                                  for pairs in ready]
                m.update(sft_loss=sum(sft_losses) / len(sft_losses), sft_steps=len(ready))
            m["sft_buffer"] = len(state["sft_buffer"])
        t5 = time.time()
        state["wall"] += t5 - t0
        m.update(seconds_meta=t1 - t0, seconds_generation=t2 - t1, seconds_scoring=t3 - t2,
                 seconds_training=t4 - t3, seconds_sft=t5 - t4, seconds_step=t5 - t0,
                 wall_seconds=state["wall"], peak_memory_mb=peak_memory_mb(device),
                 tokens_generated=m.get("solution_tokens", 0) + m.get("meta_tokens", 0))
        m["warnings"] = signal_warnings(m)
        if dp.is_main:
            for w in m["warnings"]:
                warnings.warn(f"step {step + 1}: {w}", stacklevel=2)
        history.log(m)
        bar.set_postfix(acc=f"{m['accuracy']:.2f}", zv=f"{m.get('zero_variance_frac', 0):.2f}")
        last = step + 1 == cfg.grpo.steps
        # checkpoint first: an evaluation that crashes (or is killed) loses no training, and the
        # resumed run evaluates this step again (see _eval_due above)
        ckpt_now = bool(cfg.save_every and ((step + 1) % cfg.save_every == 0 or last))
        if dp.is_main and ckpt_now:
            save_checkpoint(run_dir, step + 1, model, optimizer, scheduler, history.records,
                            {"sampler": sampler.getstate(), "audit_rng": audit_rng.getstate(),
                             "state": state, "sft_opt": sft_opt.state_dict() if sft_opt else None,
                             "meta_opt": meta_opt.state_dict() if meta_opt else None,
                             "meta_sched": meta_sched.state_dict() if meta_sched else None})
        if _eval_due(step + 1, cfg):
            run_eval(step + 1)
            if dp.is_main and ckpt_now:  # the evaluation is done: the checkpoint's history gets it
                update_checkpoint_history(run_dir, step + 1, history.records)
        if step_hook is not None and dp.is_main:
            step_hook(step + 1, m)
    history.close()
    dp.close()
    return {"history": history.records, "run_dir": str(run_dir), "model": model,
            "tokenizer": tokenizer, "rank": dp.rank, "world_size": dp.world_size}


def _eval_due(step: int, cfg: RunConfig) -> bool:
    """Whether ``step`` (≥ 1) ends with an evaluation: the last step, and every ``eval_every``."""
    return step == cfg.grpo.steps or bool(cfg.eval_every and step % cfg.eval_every == 0)


def trim_calibration(path: Path, eval_steps: set) -> None:
    """Keep the calibration pairs of the evaluations in ``eval_steps`` (those in the restored
    history); pairs of a later or repeated evaluation are dropped, atomically."""
    if not path.exists():
        path.write_text("")
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step") in eval_steps]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


def _prepare_run_dir(run_dir: Path, resume: bool) -> Path | None:
    """Create the run folder and remove half-written checkpoints (``ckpt-*.tmp``, left by a crash
    or a full disk). A fresh start (``resume=False``) on a folder that holds checkpoints moves the
    old run aside into ``previous-<timestamp>/`` — never reused, never silently mixed with the new
    one. Returns that folder, or None."""
    import shutil

    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in run_dir.glob("ckpt-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    old_run = (run_dir / "latest").exists() or any(p.is_dir() for p in run_dir.glob("ckpt-*"))
    if resume or not old_run:
        return None
    aside = run_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while aside.exists():
        n += 1
        aside = run_dir / f"previous-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
    aside.mkdir()
    for entry in list(run_dir.iterdir()):
        if entry != aside and not entry.name.startswith("previous-"):
            os.replace(entry, aside / entry.name)
    warnings.warn(f"--no-resume: {run_dir} held a run with checkpoints; it was moved to {aside}",
                  stacklevel=3)
    return aside


# settings a resumed run may change: how long it runs and how it reports
_RESUME_MAY_CHANGE = {"grpo.steps", "eval_every", "save_every", "loggers", "out_dir"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _check_resumable(run_dir: Path, cfg: RunConfig) -> None:
    """Refuse to resume a checkpoint written under a different configuration (a silent mix of
    two runs); only the length of the run and its reporting may change."""
    import yaml

    saved_path = run_dir / "config.yaml"
    if not saved_path.exists():
        return
    def flat(c):
        return _flatten(json.loads(json.dumps(to_dict(c))))

    # a key missing from an older run's config.yaml had its default value then
    saved = {**flat(RunConfig()), **_flatten(yaml.safe_load(saved_path.read_text()) or {})}
    now = flat(cfg)
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in _RESUME_MAY_CHANGE and saved.get(k) != now.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} → {now.get(k)!r}" for k in diff[:6])
        raise ConfigError(f"{run_dir} holds a checkpoint of a run with another configuration "
                         f"({detail}). Resume with the same settings, or start a new run: another "
                         "out_dir, or --no-resume (resume=False) to overwrite it.")


def _tuple_state(state):
    """random.Random state comes back from torch.load as nested lists in some versions."""
    return tuple(_tuple_state(s) if isinstance(s, list) else s for s in state)


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)
