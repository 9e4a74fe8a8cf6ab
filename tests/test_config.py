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


# ---- issue 10: values that used to pass validation and fail later (after the model loaded) ----

@pytest.mark.parametrize("override, message", [
    (["rollout.temperature=0"], "rollout.temperature must be > 0"),
    (["rollout.top_k=-1"], "rollout.top_k must be ≥ 0"),
    (["grpo.dual_clip=abc"], "grpo.dual_clip must be a number > 1"),
    (["grpo.dual_clip=1"], "grpo.dual_clip must be a number > 1"),
    (["grpo.dual_clip=0.5"], "grpo.dual_clip must be a number > 1"),
    (["grpo.dual_clip=true"], "grpo.dual_clip must be a number > 1"),
    (["grpo.dual_clip=[3]"], "grpo.dual_clip must be a number > 1"),
    (["meta.base=0"], r"meta.base must be in \(0, 1\)"),
    (["meta.base=1"], r"meta.base must be in \(0, 1\)"),
    (["data.eval_per_level=0"], "data.eval_per_level must be ≥ 1"),
    (["data.levels=[]"], "data.levels is empty"),
    (["grpo.lr="], "grpo.lr: a value is required"),
    (["grpo.lr=null"], "grpo.lr: a value is required"),
    (["grpo.steps=true"], "grpo.steps: expected a number .*boolean"),
    (["grpo.lr=false"], "grpo.lr: expected a number .*boolean"),
    (["grpo.lr=.nan"], "grpo.lr: expected a finite number"),
    (["grpo.log_ratio_clamp=0"], "grpo.log_ratio_clamp must be > 0"),
    (["grpo.verify_timeout_s=0"], "grpo.verify_timeout_s must be > 0"),
    (["data.train_pool=3", "grpo.prompts_per_step=4"], "data.train_pool = 3 is smaller than one step"),
    (["meta.enabled=true", "efficient.gating=true", "efficient.gate_min_votes=1"],
     "efficient.gate_min_votes must be between 2"),
])
def test_values_that_would_fail_later_are_rejected_up_front(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", overrides=override)


def test_dual_clip_may_be_null_or_a_number_above_one():
    assert load_config("tiny", overrides=["grpo.dual_clip=null"]).grpo.dual_clip is None
    assert load_config("tiny", overrides=["grpo.dual_clip=3"]).grpo.dual_clip == 3
    # a nullable choice stays nullable
    assert load_config("tiny", overrides=["rollout.cache_implementation=null"]).rollout.cache_implementation is None


def test_validate_catches_values_set_in_code():
    from masa_lite.config import validate

    cfg = load_config("tiny")
    cfg.grpo.lr = None
    with pytest.raises(ConfigError, match="grpo.lr must be a finite number"):
        validate(cfg)


@pytest.mark.parametrize("text, message", [
    ("- grpo.lr: 1\n", "top level must be a mapping.*got a list"),
    ("just words\n", "top level must be a mapping.*got a str"),
    ("grpo: [1, 2]\n", "grpo: expected a section"),
    ("grpo: {lr: [\n", "not valid YAML"),
])
def test_yaml_file_that_is_not_a_mapping_names_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config("tiny", path=path)
    if "top level" in message or "YAML" in message:
        assert str(path) in str(info.value)


def test_missing_yaml_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("tiny", path=tmp_path / "nope.yaml")


def test_new_switches_have_the_documented_defaults():
    cfg = load_config("tiny")
    assert cfg.grpo.answer_fallback is False and cfg.grpo.verify_timeout_s == 2.0
    assert cfg.grpo.log_ratio_clamp == 20.0
    assert cfg.efficient.gate_min_votes == 2 and cfg.efficient.cutoff_floor == 8
    assert cfg.efficient.sft_weight_decay == 0.01
