"""Config: profiles load, overrides apply, bad keys and values name the field and the fix."""

import pytest

from masa_lite.config import ConfigError, available_profiles, load_config, parse_overrides, profile_name


def test_every_profile_loads_and_validates():
    assert {"tiny", "cpu", "gpu"} <= set(available_profiles())
    for name in available_profiles():
        cfg = load_config(name)
        assert cfg.profile == name and cfg.grpo.steps >= 1


def test_overrides_are_typed():
    cfg = load_config("tiny", overrides=["grpo.lr=1e-4", "data.levels=[1,2]", "seed=3",
                                         "model.gradient_checkpointing=true"])
    assert cfg.grpo.lr == 1e-4 and cfg.data.levels == [1, 2] and cfg.seed == 3
    assert cfg.model.gradient_checkpointing is True
    assert parse_overrides(["a.b=2", "c=x"]) == {"a": {"b": 2}, "c": "x"}


@pytest.mark.parametrize("override, message", [
    (["grpo.lrr=1"], "unknown config key 'grpo.lrr'"),
    (["grpo.aggregation=sum"], "grpo.aggregation = 'sum' is not allowed: choose one of"),
    (["rollout.group_size=1"], "rollout.group_size must be ≥ 2"),
    (["grpo.steps=0"], "grpo.steps must be ≥ 1"),
    (["grpo.lr=-1"], "grpo.lr must be ≥ 0"),
    (["grpo.steps=abc"], "grpo.steps: expected a number"),
    (["data.levels=[1,9]"], "data.levels has unknown level"),
    (["loggers=[mlflow]"], "loggers has unknown entries"),
    (["rollout.top_p=0"], "rollout.top_p must be in"),
    (["grpo=3"], "grpo: expected a section"),
    (["novalue"], "must look like key=value"),
    (["rollout.cache_implementation=paged"], "rollout.cache_implementation = 'paged' is not allowed"),
    (["rollout.vllm_gpu_memory_utilization=1.5"], "rollout.vllm_gpu_memory_utilization must be in"),
])
def test_bad_config_names_field(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config("tiny", overrides=override)


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown profile 'huge'.*tiny"):
        load_config("huge")


def test_profile_comes_from_one_environment_variable(monkeypatch):
    monkeypatch.setenv("MASA_LITE_PROFILE", "cpu")
    assert profile_name() == "cpu"
    assert load_config().profile == "cpu"
    monkeypatch.delenv("MASA_LITE_PROFILE")
    assert profile_name() == "tiny"
