"""The one training loop: GRPO, MASA and MASA-efficient are switches of the same step.

:func:`train` reads as the step (docs/method.md §1–4), one function per part:

1. :func:`draw_prompts` — the step's prompts;
2. :func:`meta_path` (``meta.enabled``) — M meta rollouts per prompt, parsed leniently;
3. :func:`plan_step` — *sequential mode* (after ``efficient.warmup_steps``, when gating or cutoff
   is on): gate prompts predicted trivial or unsolvable (a sample of them is rolled out anyway, to
   audit the gate), give the others a token budget of 2 × predicted length, feed predicted notions in;
4. :func:`solution_path` — G solution rollouts per prompt, verified; a rollout cut by its budget
   scores 0;
5. :func:`score_step` — solution and meta rewards, grouped per prompt and path; then
   :func:`audit_controls` (a sample of cut rollouts is continued to the global limit, to audit
   the cutoff) and :func:`update_policy`: advantages and one clipped loss
   (:func:`masa_lite.grpo.update.policy_update`);
6. :func:`expert_sft` — Expert SFT on corrected meta predictions when a batch of them is ready;
7. :func:`finish_step` — metrics, warnings, atomic checkpoints, periodic evaluation (accuracy
   and calibration).

A gated prompt that is not audited has no solution rollouts, hence no statistics to reward its
meta rollouts against: they get no reward and no training that step (what the method implies;
:mod:`masa_lite.meta.scoring`). Audited gated prompts are rolled out without a cutoff budget, so
the gate's audit label comes from uncut outcomes; their meta rollouts are trained, their solution
rollouts only measure the gate.

A step's checkpoint is written *before* that step's evaluation (whose record is added to the
checkpoint's history once it is done), and an evaluation that is due at the checkpoint's step but
missing from its history is run on resume: a crash or kill during an evaluation loses nothing, and
``calibration.jsonl`` is trimmed to the evaluations in the restored history, so it never holds one
twice. ``resume=False`` (``--no-resume``) on a folder that holds checkpoints moves the old run
aside into ``previous-<timestamp>/`` first (:mod:`masa_lite.run_dir`).

Under ``torchrun`` / ``accelerate launch`` the same loop runs data-parallel
(:mod:`masa_lite.distributed`): each rank rolls out and scores its share of the prompts, the scored
rollouts are gathered so that every rank computes the same statistics, each rank trains on its own
groups with DDP, and rank 0 alone evaluates and writes files. The rank bookkeeping is in
:class:`Run` (``mine``, ``gather``) so that the steps read as one process.
"""

from __future__ import annotations

import random
import time
import warnings
from dataclasses import dataclass, field

import torch

from masa_lite.checkpoint import save_checkpoint, update_checkpoint_history
from masa_lite.config import RunConfig
from masa_lite.efficient.cutoff import audit_cutoff, cutoff_records
from masa_lite.efficient.expert_sft import (expert_sft_examples, ready_sft_batches, replay_batches,
                                            sft_label_fields)
from masa_lite.efficient.gate import gate_records, level_gate, level_pass_rates, level_window_step
from masa_lite.efficient.plan import SolutionPlan, plan_solutions
from masa_lite.evaluation import evaluate_run
from masa_lite.files import append_jsonl, atomic_write_text
from masa_lite.grpo.metrics import peak_memory_mb, rollout_metrics
from masa_lite.grpo.policy import sample_solutions
from masa_lite.grpo.rewards import score_rollouts
from masa_lite.grpo.rollout import reindex
from masa_lite.grpo.scored import Scored, only_prompts
from masa_lite.grpo.update import policy_update
from masa_lite.history import drift_warnings, signal_warnings
from masa_lite.meta import diagnostics
from masa_lite.meta.answer import summarise_parses
from masa_lite.meta.credit import add_field_credit
from masa_lite.meta.scoring import enabled_parts, predictions_by_prompt, prompt_stats, sample_meta, score_meta
from masa_lite.models import meta_adapter
from masa_lite.run_setup import Run, start_run
from masa_lite.stats import calibration, prf_of_records
from masa_lite.supervised import sft_step


@dataclass
class Step:
    """One step's data as it flows through the parts of :func:`train`."""

    index: int                 # 0-based; the history logs index + 1
    batch: list                # the step's records (every rank holds all of them)
    mine: list                 # this rank's prompts (indices into batch); all of them on one process
    sequential: bool
    m: dict                    # the step's metrics
    times: list = field(default_factory=list)
    meta_ros: list = field(default_factory=list)
    preds: list = field(default_factory=list)
    by_prompt: list | None = None
    plan: SolutionPlan | None = None
    sol: list = field(default_factory=list)
    stats: list = field(default_factory=list)
    scored: list = field(default_factory=list)
    level_gated: list = field(default_factory=list)

    def tick(self) -> None:
        self.times.append(time.time())


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

    run = start_run(cfg, resume)  # holds the run folder (one run per folder) until it ends
    try:
        first_evaluation(run, base_eval)
        bar = tqdm(range(run.start, cfg.grpo.steps), desc=cfg.method or "train", initial=run.start,
                   total=cfg.grpo.steps, disable=not (progress and run.dp.is_main))
        for index in bar:
            s = draw_prompts(run, index)      # 1
            meta_path(run, s)                 # 2
            plan_step(run, s)                 # 3
            solution_path(run, s)             # 4
            score_step(run, s)                # 5: rewards, audits of the controls, the policy update
            audit_controls(run, s)
            s.tick()
            update_policy(run, s)
            s.tick()
            expert_sft(run, s)                # 6
            s.tick()
            finish_step(run, s)               # 7
            bar.set_postfix(acc=f"{s.m['accuracy']:.2f}", zv=f"{s.m.get('zero_variance_frac', 0):.2f}")
            if step_hook is not None and run.dp.is_main:
                step_hook(index + 1, s.m)
        run.history.close()
        run.dp.close()
    finally:
        run.release()
    return {"history": run.history.records, "run_dir": str(run.run_dir), "model": run.model,
            "tokenizer": run.tokenizer, "rank": run.dp.rank, "world_size": run.dp.world_size}


# ---- evaluation -------------------------------------------------------------------------------

def eval_due(step: int, cfg: RunConfig) -> bool:
    """Whether ``step`` (≥ 1) ends with an evaluation: the last step, and every ``eval_every``."""
    return step == cfg.grpo.steps or bool(cfg.eval_every and step % cfg.eval_every == 0)


def run_eval(run: Run, step: int) -> None:
    """Rank 0 evaluates (:func:`masa_lite.evaluation.evaluate_run`) and logs; the others wait."""
    if run.dp.is_main:
        rec, pairs = evaluate_run(run.model, run.tokenizer, run.fmt, run.held_out, run.cfg, step,
                                  run.state["wall"])
        run.history.log(rec)
        append_jsonl(pairs, run.calib_path)
    run.dp.barrier()


def first_evaluation(run: Run, base_eval) -> None:
    """Step 0: the shared base evaluation, or a fresh one (``eval_at_start``). On resume: the
    evaluation of the checkpoint's step, if the run stopped before it was logged."""
    main, records = run.dp.is_main, run.history.records
    if run.start == 0:
        if main:
            atomic_write_text(run.calib_path, "")
        if base_eval is not None and main:
            run.history.log(dict(base_eval[0]))
            append_jsonl(base_eval[1], run.calib_path)
        elif base_eval is None and run.cfg.eval_at_start:
            run_eval(run, 0)
    elif eval_due(run.start, run.cfg) and not any(r.get("kind") == "eval" and r.get("step") == run.start
                                                  for r in records):
        run_eval(run, run.start)  # the run stopped between this step's checkpoint and its evaluation


# ---- the step ---------------------------------------------------------------------------------

def draw_prompts(run: Run, index: int) -> Step:
    """1. The step's prompts, this rank's share of them, and whether the step is sequential."""
    cfg, e = run.cfg, run.cfg.efficient
    t0 = time.time()
    batch = run.sampler.sample(run.pool, cfg.grpo.prompts_per_step)
    free_gate = e.gating and e.gate_source == "level"  # needs no meta path
    sequential = index >= e.warmup_steps and (
        (cfg.meta.enabled and (e.gating or e.cutoff or cfg.meta.feed_in)) or free_gate)
    s = Step(index, batch, run.dp.shard(len(batch)), sequential,
             {"kind": "train", "step": index + 1, "sequential": sequential})
    s.times.append(t0)
    return s


def meta_path(run: Run, s: Step) -> None:
    """2. M meta rollouts per prompt (this rank's prompts, then gathered), parsed, grouped per
    prompt (:func:`masa_lite.meta.scoring.predictions_by_prompt`)."""
    cfg = run.cfg
    if cfg.meta.enabled:
        ros, preds = sample_meta(run.model, run.tokenizer, [s.batch[i] for i in s.mine], run.fmt, cfg,
                                 cfg.meta.group_size, seeds=run.seeds(s.index, "meta", s.mine))
        s.meta_ros, s.preds = run.dp.gather(reindex(ros, s.mine)), run.dp.gather(preds)
        s.by_prompt = predictions_by_prompt(s.meta_ros, s.preds, len(s.batch), cfg.meta.k)
        summ = summarise_parses(s.preds)
        s.m.update(meta_parse_rate=summ["parse_rate"], meta_ok_rate=summ["ok_rate"],
                   meta_fallbacks=sum(summ["fallbacks"].values()))
    s.tick()


def plan_step(run: Run, s: Step) -> None:
    """3. Gate, audit, budget and feed-in decisions (:func:`masa_lite.efficient.plan.plan_solutions`;
    nothing is gated, cut or fed in outside sequential mode). With ``efficient.gate_source=level``
    the gate is the free predictor :func:`~masa_lite.efficient.gate.level_gate` instead."""
    e = run.cfg.efficient
    s.level_gated = level_gate([rec.get("level") for rec in s.batch],
                               level_pass_rates(run.state.get("level_window", [])), e.gate_margin)
    s.plan = plan_solutions(s.by_prompt or [{}] * len(s.batch), run.cfg, run.audit_rng, s.sequential,
                            gated=s.level_gated if e.gate_source == "level" else None)


def solution_path(run: Run, s: Step) -> None:
    """4. G solution rollouts for each of this rank's prompts that is not gated, with its budget and
    notion hint; then those of the audited gated prompts, timed apart (``seconds_audit``): the audit
    measures the gate, the method itself would not roll them out."""
    plan, mine, sol = s.plan, set(s.mine), []
    for audit in (False, True):
        todo = [i for i in plan.rolled_out if i in mine and plan.audited[i] == audit]
        if not todo:
            continue
        t = time.time()
        sol += reindex(sample_solutions(
            run.model, run.tokenizer, [s.batch[i] for i in todo], run.fmt.solution, run.cfg,
            budgets=None if plan.budgets is None else [plan.budgets[i] for i in todo],
            notions=None if plan.notions is None else [plan.notions[i] for i in todo],
            seeds=run.seeds(s.index, "solution", todo)), todo)  # back to batch indices
        s.m["seconds_audit"] = s.m.get("seconds_audit", 0.0) + (time.time() - t) * audit
    s.sol = sol
    s.tick()


def score_step(run: Run, s: Step) -> None:
    """5. Verify the solution rollouts (then gathered: every rank holds the whole step), group them
    per prompt; the solution path's Scored (audited gated prompts are measured for the gate, not
    trained on) and, with the meta path, the meta path's (:func:`score_meta_path`)."""
    cfg, n = run.cfg, len(s.batch)
    _, info = score_rollouts(s.sol, s.batch, cfg)  # this rank's rollouts
    info = run.dp.merge(info, len(s.sol), sums=("verify_timeouts", "verify_errors"))
    s.sol = sol = run.dp.gather(s.sol)
    rewards = torch.tensor([r.reward for r in sol], dtype=torch.float32)
    s.m.update(info)
    s.stats = prompt_stats(sol, n)
    rows = [j for j, r in enumerate(sol) if not s.plan.gated[r.prompt_index]]
    s.scored = [Scored([sol[j] for j in rows], rewards[rows],
                       torch.tensor([sol[j].prompt_index for j in rows], dtype=torch.long))]
    s.m.update(rollout_metrics(s.scored[0]))
    s.m["solution_tokens"] = sum(r.length for r in sol)
    if cfg.meta.enabled:
        score_meta_path(run, s)


def score_meta_path(run: Run, s: Step) -> None:
    """r_meta of every meta rollout whose prompt has solution statistics, in groups of their own
    (ids n + prompt); field-level credit if configured; diagnostics and calibration."""
    cfg, n, ros, by_prompt, stats = run.cfg, len(s.batch), s.meta_ros, s.by_prompt, s.stats
    meta_rewards, parts, meta_parts = score_meta(ros, s.preds, s.batch, stats, cfg)
    s.m.update(parts)
    keep = [j for j, v in enumerate(meta_rewards) if v is not None]
    meta = Scored([ros[j] for j in keep], torch.tensor([meta_rewards[j] for j in keep], dtype=torch.float32),
                  torch.tensor([n + ros[j].prompt_index for j in keep], dtype=torch.long),
                  weight=cfg.meta.loss_weight, kl_beta=cfg.meta.kl_beta)
    s.scored.append(meta)
    on = enabled_parts(cfg)
    if cfg.meta.credit == "field":  # each field's tokens get their own part's advantage
        add_field_credit(meta, [meta_parts[j] for j in keep], run.tokenizer, on)
    s.m["meta_tokens"] = sum(r.length for r in ros)
    s.m.update(diagnostics.train_diagnostics(
        [rec.get("level") for rec in s.batch], [p["pass"] for p in by_prompt],
        [meta_parts[j] for j in keep], [ros[j].prompt_index for j in keep], on))
    have = [i for i in range(n) if stats[i] is not None and by_prompt[i]["pass"]]
    c = calibration([sum(by_prompt[i]["pass"]) / len(by_prompt[i]["pass"]) for i in have],
                    [stats[i].pass_rate for i in have])
    s.m.update(calib_pass_corr=c["corr"], calib_pass_mae=c["mae"])


def audit_controls(run: Run, s: Step) -> None:
    """5. Running precision/recall/F1 of the gate (label: the prompt's group had zero variance)
    and of the cutoff (label: the rollout would have been wrong; a sample of cut rollouts is
    continued to the global limit to find out). Weighted: an audit stands for what it samples."""
    e, state, gated, sol = run.cfg.efficient, run.state, s.plan.gated, s.sol
    if e.gating:  # the levels' running pass rates, for the free gate (or beside the meta gate)
        state["level_window"] = (state.get("level_window", []) + [level_window_step(
            [rec.get("level") for rec in s.batch], s.stats)])[-e.level_window:]
    if s.sequential and e.gating:
        state["gate"] += gate_records(gated, s.stats, e.gate_audit)
        s.m["gated_frac"] = sum(gated) / len(s.batch)
        g = prf_of_records(state["gate"])
        s.m.update(gate_precision=g["precision"], gate_recall=g["recall"], gate_f1=g["f1"])
        # the free gate on the same labelled prompts (weighted as the real gate sampled them)
        state["level_gate"] = state.get("level_gate", []) + gate_records(
            s.level_gated, s.stats, e.gate_audit, sampled_by=gated)
        g = prf_of_records(state["level_gate"])
        s.m.update(level_gated_frac=sum(s.level_gated) / len(s.batch), level_gate_precision=g["precision"],
                   level_gate_recall=g["recall"], level_gate_f1=g["f1"])
    if s.sequential and e.cutoff:
        t = time.time()
        full, extra = audit_cutoff(run.model, run.tokenizer, sol, s.batch, run.cfg, run.audit_rng,
                                   set(s.mine), run.seeds(s.index, "cutoff", range(len(sol))), run.dp)
        cut_n = sum(r.stop_reason == "budget" for r in sol)
        s.m.update(cut_frac=cut_n / max(len(sol), 1), **extra)
        s.m["tokens_saved_est"] = cut_n * extra.get("saved_tokens_per_audit", 0.0)
        s.m["seconds_audit"] = s.m.get("seconds_audit", 0.0) + time.time() - t
        state["cut"] += cutoff_records(full, sol, gated, e.cutoff_audit)
        if state["cut"]:
            c = prf_of_records(state["cut"])
            s.m.update(cutoff_precision=c["precision"], cutoff_recall=c["recall"], cutoff_f1=c["f1"])


def update_policy(run: Run, s: Step) -> None:
    """5. Group advantages and the clipped loss on this rank's groups; with a meta adapter each
    path its own adapter, optimiser and token mean."""
    local = [only_prompts(b, set(s.mine)) for b in s.scored]  # each rank trains on its own groups
    args, cfg = (run.model, run.tokenizer), run.cfg
    sol_rows = len(s.batch) * cfg.rollout.group_size  # as drawn, gated prompts included
    meta_rows = len(s.batch) * cfg.meta.group_size if cfg.meta.enabled else 0
    if run.separate:
        s.m.update(policy_update(*args, run.optimizer, run.scheduler, local[:1], cfg, run.device, dp=run.dp,
                                 drawn_rows=sol_rows))
        with meta_adapter(run.model):
            meta_m = policy_update(*args, run.meta_opt, run.meta_sched, local[1:], cfg, run.device,
                                   drawn_rows=meta_rows)
        s.m.update({f"meta_{k}": v for k, v in meta_m.items()})
    else:
        s.m.update(policy_update(*args, run.optimizer, run.scheduler, local, cfg, run.device, dp=run.dp,
                                 drawn_rows=sol_rows + meta_rows))


def expert_sft(run: Run, s: Step) -> None:
    """6. Expert SFT: this step's corrected meta answers join the buffer; every full batch is
    trained (on the meta adapter, if the run has one); fewer than one batch waits. With
    ``efficient.sft_replay`` = n, n more batches are drawn from the last steps' targets
    (``sft_loss`` is then the mean over all of the step's batches, replayed ones included)."""
    if run.sft_opt is None:
        return
    state, e = run.state, run.cfg.efficient
    new = expert_sft_examples(s.meta_ros, s.preds, s.batch, s.stats, run.cfg, run.fmt.meta)
    ready, state["sft_buffer"] = ready_sft_batches(state["sft_buffer"] + new, e.sft_batch_size)
    replay = []
    if e.sft_replay:
        recent = (state.get("sft_recent", []) + [new])[-e.sft_replay_window:]
        state["sft_recent"] = recent
        rng = random.Random(f"sft-replay-{run.cfg.seed}-{s.index}")  # same draw on resume, every rank
        replay = replay_batches(recent, e.sft_replay, e.sft_batch_size, rng)
    if ready or replay:
        with meta_adapter(run.model):
            losses = [sft_step(run.model, run.tokenizer, run.sft_opt, pairs, run.device, dp=run.dp,
                               label_fields=sft_label_fields(run.cfg))
                      for pairs in ready + replay]
        s.m.update(sft_loss=sum(losses) / len(losses), sft_steps=len(ready) + len(replay),
                   sft_replay_steps=len(replay))
    s.m["sft_buffer"] = len(state["sft_buffer"])


def finish_step(run: Run, s: Step) -> None:
    """7. Timings and warnings into the metrics, the history; a checkpoint (before the step's
    evaluation: an evaluation that crashes loses no training), then the evaluation if due."""
    t0, t1, t2, t3, t4, t5 = s.times
    m, step = s.m, s.index + 1
    run.state["wall"] += t5 - t0 - m.get("seconds_audit", 0.0)  # the method's time: audits are measurement
    m.update(seconds_meta=t1 - t0, seconds_generation=t2 - t1, seconds_scoring=t3 - t2,
             seconds_training=t4 - t3, seconds_sft=t5 - t4, seconds_step=t5 - t0,
             wall_seconds=run.state["wall"], peak_memory_mb=peak_memory_mb(run.device),
             tokens_generated=m.get("solution_tokens", 0) + m.get("meta_tokens", 0))
    m["warnings"] = signal_warnings(m) + drift_warnings(run.history.records + [m])
    if run.dp.is_main:
        for w in m["warnings"]:
            warnings.warn(f"step {step}: {w}", stacklevel=3)
    run.history.log(m)
    cfg = run.cfg
    ckpt_now = bool(cfg.save_every and (step % cfg.save_every == 0 or step == cfg.grpo.steps))
    if run.dp.is_main and ckpt_now:
        save_checkpoint(run.run_dir, step, run.model, run.optimizer, run.scheduler, run.history.records,
                        run.saved_state())
    if eval_due(step, cfg):
        run_eval(run, step)
        if run.dp.is_main and ckpt_now:  # the evaluation is done: the checkpoint's history gets it
            update_checkpoint_history(run.run_dir, step, run.history.records)
