"""The settings of notebook 08's SmolLM2 demo, shared with scripts/real_model_reference.py."""

import pytest

from masa_lite.config import load_config
from masa_lite.teach.real_model import SIGNALS, demo_overrides


def test_demo_overrides_make_a_valid_small_masa_config():
    cfg = load_config("cpu", overrides=demo_overrides("weights/model.gguf", steps=5, out_dir="runs/x"))
    assert cfg.model.name == "weights/model.gguf" and cfg.out_dir == "runs/x"
    assert cfg.grpo.steps == 5 and cfg.meta.enabled and cfg.model.lora_r == 8
    assert cfg.rollout.group_size == 4 and cfg.meta.group_size == 2 and cfg.grpo.prompts_per_step == 2
    assert cfg.eval_every == 0 and not cfg.eval_at_start and cfg.save_every == 0
    assert demo_overrides("m.gguf") == demo_overrides("m.gguf", steps=2, out_dir="runs/smollm2")
    assert [k for k, *_ in SIGNALS] == ["accuracy", "no_answer_frac", "truncated_frac", "meta_parse_rate",
                                       "meta_reward", "seconds_step"]


def test_demo_overrides_refuse_no_steps():
    with pytest.raises(ValueError, match="steps must be at least 1"):
        demo_overrides("m.gguf", steps=0)
