"""MASA and MASA-efficient through the real trainer loop on the bundled model (a few steps):
the meta path is scored, gating skips prompts and audits some, cutoff cuts and audits, Expert
SFT steps, and every metric the report needs is in the history."""

import json
import math

import pytest

from masa_lite.config import load_config
from masa_lite.models import BUNDLED_MODELS
from masa_lite.trainer import train

pytestmark = pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                                reason="the bundled model has not been built")

BASE = ["grpo.steps=2", "grpo.prompts_per_step=4", "rollout.group_size=4", "meta.group_size=4",
        "data.train_pool=80", "data.eval_per_level=2", "data.eval_samples=2",
        "meta.eval_group_size=2", "save_every=0", "data.levels=[3,4]", "rollout.max_new_tokens=200"]


def _train(tmp_path, extra):
    cfg = load_config("tiny", overrides=BASE + extra + [f"out_dir={tmp_path}"])
    return [h for h in train(cfg, progress=False)["history"]]


def test_masa_scores_the_meta_path(tmp_path):
    hist = _train(tmp_path, ["meta.enabled=true"])
    steps = [h for h in hist if h["kind"] == "train"]
    for h in steps:
        assert 0 <= h["meta_reward"] <= 1 and h["meta_parse_rate"] > 0.5
        assert h["tokens_generated"] == h["solution_tokens"] + h["meta_tokens"]
        assert h["sequential"] is False
    evals = [h for h in hist if h["kind"] == "eval"]
    assert all("calib_pass_corr" in e for e in evals)
    # evaluation time is logged beside, never inside, the training wall-clock
    assert all(0 < e["seconds_eval_meta"] < e["seconds_eval"] for e in evals)
    assert evals[-1]["wall_seconds"] == pytest.approx(sum(h["seconds_step"] for h in steps))
    assert not any(h.get("seconds_audit") for h in steps)  # nothing to audit in parallel mode
    assert (tmp_path / "calibration.jsonl").read_text().count("\n") == 2 * 4  # 2 evals × (2 levels × 2 problems)


def test_masa_efficient_gates_cuts_audits_and_clones(tmp_path):
    # thresholds so loose that the uninformed base model's predictions trigger both controls
    hist = _train(tmp_path, ["meta.enabled=true", "efficient.gating=true", "efficient.cutoff=true",
                             "efficient.expert_sft=true", "efficient.warmup_steps=1",
                             "efficient.gate_std=1.0", "efficient.gate_margin=0.5",
                             "efficient.gate_audit=0.5", "efficient.cutoff_factor=0.3",
                             "efficient.cutoff_audit=1.0", "efficient.sft_batch_size=1",
                             "efficient.sft_min_notion=0.0"])
    steps = [h for h in hist if h["kind"] == "train"]
    assert [h["sequential"] for h in steps] == [False, True]
    seq = steps[1:]
    assert all(h["gated_frac"] > 0 for h in seq)
    # these thresholds gate (nearly) every prompt, and audited gated prompts run without a cutoff
    # budget, so cuts may not happen here: the next test gates only some prompts and checks them
    assert all(h["cut_frac"] >= 0 for h in seq)
    assert any(h.get("sft_loss") is not None for h in steps)
    for h in seq:
        for key in ("gate_precision", "gate_recall", "gate_f1", "cutoff_precision", "cutoff_recall",
                    "cutoff_f1"):
            v = h.get(key)
            assert v is None or 0 <= v <= 1, (key, v)
        assert h["tokens_saved_est"] >= 0
    # gated prompts skip their solution rollouts: fewer solution tokens than prompts × G would give
    assert min(h["solution_tokens"] for h in seq) < max(h["solution_tokens"] for h in steps[:1]) * 2


def test_audits_are_timed_apart_and_the_level_gate_is_judged_beside(tmp_path):
    """The gate's and the cutoff's audits (our measurement) are logged as ``seconds_audit`` and
    left out of the method's wall-clock; the free level gate is judged on the same prompts."""
    hist = _train(tmp_path, ["meta.enabled=true", "efficient.gating=true", "efficient.cutoff=true",
                             "efficient.warmup_steps=1", "efficient.gate_std=1.0",
                             "efficient.gate_margin=0.5", "efficient.gate_audit=1.0",
                             "efficient.cutoff_factor=0.3", "efficient.cutoff_audit=1.0"])
    steps = [h for h in hist if h["kind"] == "train"]
    seq = steps[1:]
    assert all(h["gated_frac"] == 1.0 and h["seconds_audit"] > 0 for h in seq)  # all gated, all audited
    wall = [h for h in hist if h["kind"] == "eval"][-1]["wall_seconds"]
    assert wall == pytest.approx(sum(h["seconds_step"] - h.get("seconds_audit", 0.0) for h in steps))
    # margin 0.5: every level's running rate is >= 0.5 or <= 0.5, so the level gate gates everything
    assert all(h["level_gated_frac"] == 1.0 and h["level_gate_precision"] is not None for h in seq)


def test_the_level_gate_runs_without_a_meta_path(tmp_path):
    """efficient.gate_source=level: GRPO with a free gate (the level's running pass rate), no meta
    rollouts at all; gated prompts are skipped and a sample audited."""
    hist = _train(tmp_path, ["efficient.gating=true", "efficient.gate_source=level",
                             "efficient.warmup_steps=1", "efficient.gate_margin=0.5",
                             "efficient.gate_audit=0.5"])
    steps = [h for h in hist if h["kind"] == "train"]
    assert [h["sequential"] for h in steps] == [False, True]
    assert "meta_tokens" not in steps[1] and steps[1]["gated_frac"] == 1.0
    assert 0 <= steps[1]["gate_precision"] <= 1


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    import yaml

    from masa_lite.config import load_config, to_dict
    from masa_lite.run_dir import check_resumable as _check_resumable

    cfg = load_config("tiny", overrides=[f"out_dir={tmp_path}"])
    saved = json.loads(json.dumps(to_dict(cfg)))
    del saved["rollout"]["top_p"]                        # an older run without a (default) key
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    _check_resumable(tmp_path, cfg)                      # same settings: fine
    _check_resumable(tmp_path, load_config("tiny", overrides=[f"out_dir={tmp_path}", "grpo.steps=99",
                                                              "eval_every=3"]))  # longer: fine
    with pytest.raises(ValueError, match=r"grpo.lr: 0.002 → 0.001.*another out_dir"):
        _check_resumable(tmp_path, load_config("tiny", overrides=[f"out_dir={tmp_path}", "grpo.lr=1e-3"]))


def test_field_level_credit_trains_and_differs_from_rollout_credit(tmp_path):
    rollout = _train(tmp_path / "rollout", ["meta.enabled=true"])
    field = _train(tmp_path / "field", ["meta.enabled=true", "meta.credit=field"])
    first = [h for h in rollout if h["kind"] == "train"][0], [h for h in field if h["kind"] == "train"][0]
    # same rollouts and rewards in step 1 (same seed), but the meta tokens get other advantages
    assert first[0]["meta_reward"] == first[1]["meta_reward"]
    assert math.isfinite(first[1]["loss"]) and first[0]["loss"] != pytest.approx(first[1]["loss"], abs=1e-9)


def test_gating_wiring_audits_uncut_trains_meta_of_audited_only_and_sft_keeps_up(tmp_path, monkeypatch):
    """Issue 10, through the real loop (step 2 is sequential): prompts 0 and 1 are gated, 0 is
    audited. The audited prompt is rolled out without a cutoff budget (its audit label must come
    from uncut outcomes); the unaudited one has no statistics, so its meta rollouts get no reward
    and no rows in the update; audited prompts' meta rollouts are trained, their solutions are
    not. Expert SFT trains every ready batch (4 prompts per step, batches of 1), so its buffer
    never grows."""
    from masa_lite import trainer
    from masa_lite.efficient import expert_sft, gate
    from masa_lite.efficient import plan as efficient_plan

    monkeypatch.setattr(gate, "gate_prompts", lambda pred, *a, **k: [i < 2 for i in range(len(pred))])
    real_plan, plans = efficient_plan.plan_solutions, []

    class Rng:  # audits the first gated prompt of a step, not the second
        def __init__(self):
            self.values = [0.0, 0.99]

        def random(self):
            return self.values.pop(0)

    def plan(by_prompt, cfg, rng, sequential=True, gated=None):
        plans.append(real_plan(by_prompt, cfg, Rng() if sequential else rng, sequential, gated=gated))
        return plans[-1]

    monkeypatch.setattr(trainer, "plan_solutions", plan)
    real_sample, seen = trainer.sample_solutions, []

    def sample(model, tok, records, prompt_fn, cfg, budgets=None, **k):
        seen.append(budgets)
        return real_sample(model, tok, records, prompt_fn, cfg, budgets=budgets, **k)

    monkeypatch.setattr(trainer, "sample_solutions", sample)
    real_update, updates = trainer.policy_update, []

    def update(model, tok, opt, sched, batches, cfg, device, dp=None, **k):
        updates.append([sorted({r.prompt_index for r in b.rollouts}) for b in batches])
        return real_update(model, tok, opt, sched, batches, cfg, device, dp=dp, **k)

    monkeypatch.setattr(trainer, "policy_update", update)
    real_examples = expert_sft.expert_sft_examples  # 3 pairs per usable prompt: more than a batch
    monkeypatch.setattr(trainer, "expert_sft_examples", lambda *a, **k: real_examples(*a, **k) * 3)
    hist = _train(tmp_path, ["meta.enabled=true", "efficient.gating=true", "efficient.cutoff=true",
                             "efficient.expert_sft=true", "efficient.warmup_steps=1",
                             "efficient.cutoff_factor=0.3", "efficient.sft_batch_size=1",
                             "efficient.sft_min_notion=0.0"])
    assert plans[1].gated == [True, True, False, False] and plans[1].audited == [True, False, False, False]
    # step 2 rolls out prompts 2 and 3 (budgeted), then the audit of prompt 0 apart (no budget)
    assert all(b is not None for b in seen[1]) and seen[2] == [None]
    solutions, metas = updates[1]
    assert solutions == [2, 3]                            # gated prompts' solutions: not trained
    assert metas == [0, 2, 3]                             # unaudited gated prompt 1: no meta rows
    steps = [h for h in hist if h["kind"] == "train"]
    assert steps[1]["cut_frac"] > 0 and steps[1]["gated_frac"] == 0.5
    for key in ("gate_precision", "gate_recall", "cutoff_precision", "cutoff_recall"):
        assert steps[1][key] is None or 0 <= steps[1][key] <= 1, key
    assert all(h["sft_buffer"] == 0 for h in steps)       # bounded: every ready batch trained
    assert max(h.get("sft_steps", 0) for h in steps) >= 3


def test_study_diagnostics_and_a_kl_on_the_meta_path_only(tmp_path):
    """The meta-awareness study's diagnostics reach the history, and meta.kl_beta puts a KL term
    on the meta rows while grpo.kl_beta (the solution path's) stays 0."""
    hist = _train(tmp_path, ["meta.enabled=true", "meta.kl_beta=0.5", "grpo.kl_beta=0"])
    steps = [h for h in hist if h["kind"] == "train"]
    for h in steps:
        assert {"meta_pred_pass_L3", "meta_pred_pass_L4", "meta_pass_spread"} <= set(h)
        shares = [h[f"meta_adv_share_{p}"] for p in ("pass", "length", "notion")]
        # NaN (stored as null) when no group's r_meta varies, else they sum to 1
        assert all(s is None or math.isnan(s) for s in shares) or abs(sum(shares) - 1) < 1e-6
        assert "kl_ref" in h and h["kl_ref"] >= 0
    evals = [h for h in hist if h["kind"] == "eval"]
    assert all({"pred_pass_L3", "actual_pass_L4", "actual_pass_gap"} <= set(e) for e in evals)


def test_solution_path_maps_audited_rollouts_back_to_their_own_prompts(monkeypatch):
    """The plain and the audited prompts are rolled out in two calls (the audit timed apart); each
    call numbers its prompts from 0, and every rollout must come back under its own prompt's
    batch index (a regression: the audit's rollouts once landed on the plain prompts)."""
    from types import SimpleNamespace

    from masa_lite import trainer
    from masa_lite.efficient.plan import SolutionPlan
    from masa_lite.grpo.rollout import Rollout

    def fake_sample(model, tok, records, prompt_fn, cfg, budgets=None, notions=None, seeds=None):
        return [Rollout(i, rec["problem"], "", [1], 1, "eos") for i, rec in enumerate(records)
                for _ in range(2)]

    monkeypatch.setattr(trainer, "sample_solutions", fake_sample)
    batch = [{"problem": f"p{i}"} for i in range(5)]
    plan = SolutionPlan(gated=[True, False, True, False, True], audited=[True, False, False, False, True],
                        budgets=None, notions=None)
    run = SimpleNamespace(model=None, tokenizer=None, fmt=SimpleNamespace(solution=None), cfg=None,
                          seeds=lambda *a: None)
    s = trainer.Step(0, batch, list(range(5)), True, {}, plan=plan)
    trainer.solution_path(run, s)
    assert sorted({r.prompt_index for r in s.sol}) == [0, 1, 3, 4]  # prompt 2: gated, not audited
    assert all(r.prompt == batch[r.prompt_index]["problem"] for r in s.sol)
    assert s.m["seconds_audit"] >= 0
