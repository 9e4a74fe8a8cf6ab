"""Typed run configuration, YAML size profiles and the one place that reads the profile variable.

A run is described by :class:`RunConfig`, a tree of small dataclasses. Profiles
(``masa_lite/profiles/{tiny,cpu,gpu}.yaml``) set sizes for CI, a laptop and a GPU; command-line
overrides use dotted keys (``grpo.lr=1e-4``). Every key and value is checked: an unknown key or an
impossible value raises :class:`ConfigError` naming the field and what is allowed.

Notebooks and the CLI pick the profile through :func:`profile_name` — the only reader of the
``MASA_LITE_PROFILE`` environment variable.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import yaml

from masa_lite.errors import shorten

PROFILE_ENV = "MASA_LITE_PROFILE"
PROFILE_DIR = Path(__file__).parent / "profiles"
VLLM_INSTALL_HINT = ("rollout.backend = 'vllm' needs the optional vLLM package: "
                     "pip install masa-lite[vllm] (vLLM ships its own CUDA build of torch), "
                     "or use rollout.backend=hf")


class ConfigError(ValueError):
    """A configuration key or value that cannot be used; the message names the fix."""


# the fields themselves (one dataclass per part of the method) live in config_fields
from masa_lite.config_fields import (DataConfig, EfficientConfig, GRPOConfig,  # noqa: E402,F401
                                     MetaConfig, ModelConfig, RolloutConfig, RunConfig)


CHOICES = {
    "rollout.backend": ("hf", "vllm"),
    "rollout.engine": ("compact", "generate"),
    "rollout.cache_implementation": ("", None, "dynamic", "static", "offloaded", "offloaded_static"),
    "grpo.aggregation": ("token-mean", "seq-mean", "dr-grpo", "bnpo"),
    "grpo.adv_scale": ("group", "none", "batch"),
    "meta.adapter": ("shared", "separate"),
    "efficient.sft_labels": ("answer", "values"),
    "efficient.gate_source": ("meta", "level"),
    "meta.credit": ("rollout", "field"),
    "model.dtype": ("auto", "bf16", "bfloat16", "fp16", "float16", "fp32", "float32"),
}
POSITIVE = ("rollout.group_size", "rollout.max_new_tokens", "rollout.batch_size", "grpo.steps",
            "grpo.prompts_per_step", "grpo.policy_epochs", "grpo.micro_batch_size",
            "model.lora_r", "data.eval_samples", "data.eval_per_level", "meta.group_size", "meta.k",
            "meta.max_new_tokens", "efficient.sft_batch_size", "meta.eval_group_size",
            "efficient.cutoff_floor", "efficient.sft_replay_window", "efficient.level_window")
NON_NEGATIVE = ("grpo.lr", "grpo.weight_decay", "grpo.warmup_steps", "grpo.grad_clip",
                "grpo.kl_beta", "grpo.format_reward", "rollout.temperature", "rollout.top_k",
                "save_every", "eval_every", "grpo.eps_low", "grpo.eps_high",
                "efficient.sft_lr", "efficient.sft_weight_decay", "efficient.gate_std",
                "efficient.gate_margin", "efficient.warmup_steps", "efficient.cutoff_factor", "meta.loss_weight",
                "efficient.sft_replay",
                "rollout.vllm_max_model_len", "data.train_pool", "model.lora_alpha",
                "model.lora_dropout")
NUMBERS = ("rollout.top_p", "rollout.vllm_gpu_memory_utilization", "grpo.log_ratio_clamp",
           "grpo.verify_timeout_s", "meta.base", "efficient.gate_audit", "efficient.cutoff_audit",
           "efficient.sft_min_notion", "efficient.gate_min_votes")


OPTIONAL_NUMBERS = ("meta.kl_beta", "meta.lr")  # a number, or null for "as the solution path"
MAX_SEED = 2**63 - 1  # torch's generators take 64 bits; seed + 7 (the audit stream) must fit too


def _coerce(value, typ, where: str):
    """Convert YAML/CLI values to the field's type, or raise naming the field.

    ``None`` (``key=`` or ``key=null``) is only a value where the field allows it (``Any`` fields
    and the choices that list it); a bool is never a number (``grpo.steps=true`` is an error, not
    1 step); numbers must be finite."""
    if typ is Any:
        if where in OPTIONAL_NUMBERS and isinstance(value, str):
            try:  # YAML reads "1e-2" as a string; null stays None for "use the default"
                return float(value)
            except ValueError:
                return value  # validate() names the field
        return value
    if value is None:
        if None in CHOICES.get(where, ()):
            return None
        raise ConfigError(f"{where}: a value is required, got nothing (null or empty); "
                          f"set {where}=<{getattr(typ, '__name__', 'value')}>")
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {shorten(value)}")
    if typ in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number ({typ.__name__}), got the boolean "
                              f"{value!r}")
        try:
            out = typ(value)
        except (TypeError, ValueError, OverflowError):
            words = _number_words(value)
            if words.endswith("-digit number"):
                words += " (more digits than Python reads, 4,300)"
            raise ConfigError(f"{where}: expected a number ({typ.__name__}), got {words}") from None
        if typ is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        if typ is float and not math.isfinite(out):
            raise ConfigError(f"{where}: expected a finite number, got {_number_words(value)}")
        return out
    if typ is list or get_origin(typ) is list:
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.startswith("[") else value.split(",")
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {shorten(value)}")
        return value
    if typ is str:
        return str(value)
    return value


def _number_words(value) -> str:
    """A value in an error message: a string of thousands of digits is named by its length
    (Python refuses to read integers of more than 4,300 digits), anything else shortened."""
    if isinstance(value, str) and len(value) > 100 and value.strip().lstrip("+-").isdigit():
        return f"a {len(value.strip().lstrip('+-'))}-digit number"
    return shorten(value)


def _update(obj, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "the configuration"
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {data!r}")
    hints = get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {where!r}: allowed keys here are {names}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a section (mapping), got {shorten(value)}")
            _update(current, value, where + ".")
        else:
            setattr(obj, key, _coerce(value, hints[key], where))


def _is_number(x) -> bool:
    """A finite int or float, not a bool (an int too large for a float is still a number)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    return isinstance(x, int) or math.isfinite(x)


def _check_dual_clip(value) -> None:
    """``grpo.dual_clip``: None (off) or a number c > 1 (the loss caps −Â·ρ at −Â·c for Â < 0,
    which is only a cap above the clipped range when c > 1)."""
    if value is None:
        return
    if not _is_number(value) or value <= 1:
        raise ConfigError(f"grpo.dual_clip must be a number > 1 (e.g. 3 or 10) or null to turn "
                          f"the dual clip off, got {value!r}")


def _check_types_and_ranges(cfg: RunConfig, get) -> None:
    """Choices, finite numbers, ≥ 1 and ≥ 0 fields, the seed's range, the LoRA targets' form."""
    for path, allowed in CHOICES.items():
        if get(path) not in allowed:
            raise ConfigError(f"{path} = {shorten(get(path))} is not allowed: choose one of {allowed}")
    for path in POSITIVE + NON_NEGATIVE + NUMBERS:  # a value set in code may be of any type
        if not _is_number(get(path)):
            raise ConfigError(f"{path} must be a finite number, got {shorten(get(path))}")
    for path in POSITIVE:
        if get(path) < 1:
            raise ConfigError(f"{path} must be ≥ 1, got {shorten(get(path))}")
    for path in NON_NEGATIVE:
        if get(path) < 0:
            raise ConfigError(f"{path} must be ≥ 0, got {shorten(get(path))}")
    seed = cfg.seed
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number from 0 to 2**63 - 1 = {MAX_SEED} (the "
                          f"random generators take 64-bit seeds), got {shorten(seed)}")
    _check_lora_targets(cfg.model.lora_targets)


def _check_lora_targets(targets) -> None:
    """``model.lora_targets``: "all-linear", one module name (or pattern), or a non-empty list of
    module names; whether the model has those modules is checked once it is loaded
    (:func:`masa_lite.models.wrap_lora`)."""
    names = [targets] if isinstance(targets, str) else targets
    if not (isinstance(names, list) and names and all(isinstance(t, str) and t.strip() for t in names)):
        raise ConfigError(f"model.lora_targets must be all-linear or a list of module names such "
                          f"as [q_proj, v_proj], got {shorten(targets)}")

def _check_rollout_and_grpo(cfg: RunConfig) -> None:
    """Sampling and the policy update."""
    if cfg.rollout.temperature <= 0:
        raise ConfigError(f"rollout.temperature must be > 0 (sampling divides the logits by it; "
                          f"for greedy evaluation use 'masa-lite eval --greedy'), got "
                          f"{cfg.rollout.temperature!r}")
    if cfg.grpo.log_ratio_clamp <= 0:
        raise ConfigError(f"grpo.log_ratio_clamp must be > 0 (log ρ is clamped to ±it; the "
                          f"authors use 20), got {cfg.grpo.log_ratio_clamp!r}")
    if cfg.grpo.verify_timeout_s <= 0:
        raise ConfigError(f"grpo.verify_timeout_s must be > 0 seconds, got {cfg.grpo.verify_timeout_s!r}")
    _check_dual_clip(cfg.grpo.dual_clip)
    if cfg.meta.adapter == "separate" and cfg.rollout.backend != "hf":
        raise ConfigError("meta.adapter=separate needs rollout.backend=hf (vLLM rollouts serve one "
                          "adapter); use meta.adapter=shared with vLLM")
    if cfg.rollout.backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError(VLLM_INSTALL_HINT)
    if cfg.rollout.row_seeded and cfg.rollout.backend != "hf":
        raise ConfigError("rollout.row_seeded needs rollout.backend=hf (not implemented for vLLM)")
    if not 0 < cfg.rollout.vllm_gpu_memory_utilization <= 1:
        raise ConfigError("rollout.vllm_gpu_memory_utilization must be in (0, 1], got "
                          f"{cfg.rollout.vllm_gpu_memory_utilization}")
    if not 0 < cfg.rollout.top_p <= 1:
        raise ConfigError(f"rollout.top_p must be in (0, 1], got {cfg.rollout.top_p}")
    if cfg.grpo.eps_low >= 1:
        raise ConfigError(f"grpo.eps_low must be < 1 (ratio floor 1 − eps_low), got {cfg.grpo.eps_low}")
    if cfg.rollout.group_size < 2:
        raise ConfigError("rollout.group_size must be ≥ 2: GRPO compares rollouts within a group")

def _check_meta_and_efficient(cfg: RunConfig, get) -> None:
    """The meta path and MASA-efficient."""
    for path in ("efficient.gate_audit", "efficient.cutoff_audit", "efficient.sft_min_notion"):
        if not 0 <= get(path) <= 1:
            raise ConfigError(f"{path} must be in [0, 1], got {get(path)!r}")
    kl = cfg.meta.kl_beta
    if kl is not None and (isinstance(kl, bool) or not isinstance(kl, (int, float)) or kl < 0):
        raise ConfigError(f"meta.kl_beta must be empty (null: use grpo.kl_beta) or a number ≥ 0, "
                          f"got {kl!r}")
    lr = cfg.meta.lr
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr < 0):
        raise ConfigError(f"meta.lr must be empty (null: use grpo.lr) or a number ≥ 0, got {lr!r}")
    if not 0 < cfg.meta.base < 1:
        raise ConfigError(f"meta.base must be in (0, 1) (r_pass = base^|p̂ − p|: 0 and 1 give no "
                          f"signal), got {cfg.meta.base!r}")
    e = cfg.efficient
    free_gate = e.gating and e.gate_source == "level"  # the baseline gate needs no meta path
    if (e.expert_sft or (e.gating and not free_gate) or e.cutoff or cfg.meta.feed_in) and not cfg.meta.enabled:
        raise ConfigError("efficient.expert_sft/gating/cutoff and meta.feed_in need the meta path: "
                          "set meta.enabled=true (or efficient.gate_source=level for a gate without it)")
    if e.gating and not free_gate and not 2 <= e.gate_min_votes <= cfg.meta.group_size:
        raise ConfigError(f"efficient.gate_min_votes must be between 2 (a spread needs two votes) "
                          f"and meta.group_size = {cfg.meta.group_size}, got {e.gate_min_votes!r}")
    if cfg.meta.enabled and not (cfg.meta.reward_pass or cfg.meta.reward_length
                                 or cfg.meta.reward_notion):
        raise ConfigError("meta.enabled needs at least one of meta.reward_pass, reward_length, "
                          "reward_notion")

def _check_data_and_logging(cfg: RunConfig) -> None:
    """Levels, pool size and loggers."""
    from masa_lite.task.synthetic import LEVELS
    if not cfg.data.levels:
        raise ConfigError(f"data.levels is empty: list at least one level of {sorted(LEVELS)}, "
                          "e.g. data.levels=[1,2,3]")
    bad = [lv for lv in cfg.data.levels if lv not in LEVELS]
    if bad:
        raise ConfigError(f"data.levels has unknown level(s) {bad}: levels are {sorted(LEVELS)}")
    if cfg.data.task == "synthetic" and cfg.data.train_pool < cfg.grpo.prompts_per_step:
        raise ConfigError(f"data.train_pool = {cfg.data.train_pool} is smaller than one step "
                          f"(grpo.prompts_per_step = {cfg.grpo.prompts_per_step}): raise "
                          "data.train_pool or lower grpo.prompts_per_step")
    bad = [lg for lg in cfg.loggers if lg not in ("jsonl", "tensorboard", "wandb")]
    if bad:
        raise ConfigError(f"loggers has unknown entries {bad}: choose from jsonl, tensorboard, wandb")

def validate(cfg: RunConfig) -> RunConfig:
    """Check every value against what is allowed; raises :class:`ConfigError`.

    Runs before any model is loaded, so that a value that would fail later (at the first
    rollout, or at the final evaluation after hours of training) fails here, naming the field
    and the allowed range."""
    def get(path):
        obj = cfg
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    _check_types_and_ranges(cfg, get)
    _check_rollout_and_grpo(cfg)
    _check_meta_and_efficient(cfg, get)
    _check_data_and_logging(cfg)
    return cfg


def profile_name(default: str = "tiny") -> str:
    """The size profile chosen by ``MASA_LITE_PROFILE`` (the only place that reads it)."""
    return os.environ.get(PROFILE_ENV, default)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def parse_overrides(items) -> dict:
    """``["grpo.lr=1e-4", "seed=1"]`` → nested dict (values parsed as YAML scalars). A value YAML
    cannot read as a number (thousands of digits) stays a string, for the field to refuse."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"override {shorten(item)} must look like key=value, e.g. grpo.lr=1e-4")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {shorten(item)}: {part} is given a value and keys")
        try:
            node[parts[-1]] = yaml.load(raw, Loader=UniqueKeyLoader)
        except ValueError:  # an integer of more than 4,300 digits
            node[parts[-1]] = raw
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {shorten(item)}: the value is not valid YAML "
                              f"({' '.join(str(exc).split())})") from None
    return out


def load_config(profile: str | None = None, path=None, overrides=None) -> RunConfig:
    """Defaults ← profile YAML ← optional YAML file ← overrides, validated."""
    profile = profile or profile_name()
    cfg = RunConfig()
    prof = PROFILE_DIR / f"{profile}.yaml"
    if not prof.exists():
        raise ConfigError(f"unknown profile {profile!r}: choose one of {available_profiles()}")
    _update(cfg, read_yaml(prof))
    cfg.profile = profile
    if path is not None:
        _update(cfg, read_yaml(Path(path)))
    _update(cfg, overrides if isinstance(overrides, dict) else parse_overrides(overrides))
    return validate(cfg)


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain YAML
    keeps the last one silently, so ``lr`` set twice would quietly lose one of them)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in one section (the second would "
                    "silently win): keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    """A YAML config file as a mapping (empty file: no settings); errors name the file and the
    line, including a key given twice."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (or is not a file)")
    try:
        with open(path, encoding="utf-8") as f:  # the file's name goes into YAML's messages
            data = yaml.load(f, Loader=UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ConfigError(f"{path}: a value cannot be read ({str(exc).split(':')[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings such as "
                          f"'grpo: {{lr: 1.0e-4}}', got a {type(data).__name__}")
    return data


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)
