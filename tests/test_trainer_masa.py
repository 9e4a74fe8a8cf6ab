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
    assert all(h["cut_frac"] > 0 for h in seq)
    assert any(h.get("sft_loss") is not None for h in steps)
    for h in seq:
        for key in ("gate_precision", "gate_recall", "gate_f1", "cutoff_precision", "cutoff_recall",
                    "cutoff_f1"):
            v = h[key]
            assert v is None or 0 <= v <= 1, (key, v)
        assert h["tokens_saved_est"] >= 0
    # gated prompts skip their solution rollouts: fewer solution tokens than prompts × G would give
    assert min(h["solution_tokens"] for h in seq) < max(h["solution_tokens"] for h in steps[:1]) * 2


def test_resume_refuses_a_checkpoint_of_another_configuration(tmp_path):
    import yaml

    from masa_lite.config import load_config, to_dict
    from masa_lite.trainer import _check_resumable

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
