"""meta.adapter=separate: the meta path has its own LoRA adapter and optimiser. Each path's
updates must move only its own adapter, the meta path must sample with the meta adapter, and a
killed run must resume exactly (the meta adapter's weights and optimiser are in the checkpoint)."""

import pytest
import torch

from masa_lite.config import ConfigError, load_config
from masa_lite.models import BUNDLED_MODELS, META_ADAPTER, adapter_parameters, has_meta_adapter, meta_adapter
from masa_lite.trainer import train

META = ["meta.enabled=true", "meta.adapter=separate", "meta.group_size=4", "meta.eval_group_size=2"]


pytestmark = pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                                reason="the bundled model has not been built")


def _cfg(out, steps=2, extra=()):
    """The bundled model (a random one writes no parseable meta answer, so its meta path never
    trains), a few prompts and short rollouts."""
    over = [f"out_dir={out}", f"grpo.steps={steps}", "grpo.prompts_per_step=4",
            "rollout.group_size=4", "rollout.max_new_tokens=200", "data.train_pool=80",
            "save_every=0", "data.eval_per_level=1", "data.eval_samples=2", "data.levels=[3,4]",
            "grpo.warmup_steps=0", "eval_at_start=false"]
    return load_config("tiny", overrides=over + META + list(extra))


def _weights(model, name):
    return [p.detach().clone() for p in adapter_parameters(model, name)]


def _moved(before, after):
    return any(not torch.equal(a, b) for a, b in zip(before, after))


def _fresh_weights(tmp_path):
    """The adapters as setup() creates them (same seed), to compare the trained ones with."""
    from masa_lite.grpo.policy import setup

    model = setup(_cfg(tmp_path / "unused"))[0]
    return _weights(model, "default"), _weights(model, META_ADAPTER)


def test_each_path_moves_only_its_own_adapter(tmp_path):
    default0, meta0 = _fresh_weights(tmp_path)
    # solution path frozen (grpo.lr=0), meta path trained: only the meta adapter may move
    out = train(_cfg(tmp_path / "a", extra=["grpo.lr=0", "meta.lr=1e-2"]),
                progress=False)
    model = out["model"]
    assert has_meta_adapter(model)
    assert not _moved(default0, _weights(model, "default"))
    assert _moved(meta0, _weights(model, META_ADAPTER))
    # meta path frozen, solution path trained: only the default adapter may move
    out = train(_cfg(tmp_path / "b", extra=["meta.lr=0"]), progress=False)
    assert _moved(default0, _weights(out["model"], "default"))
    assert not _moved(meta0, _weights(out["model"], META_ADAPTER))
    steps = [h for h in out["history"] if h["kind"] == "train"]
    assert all("meta_train_tokens" in h and "meta_grad_norm" in h for h in steps)


def test_expert_sft_trains_the_meta_adapter_only(tmp_path):
    default0, meta0 = _fresh_weights(tmp_path)
    out = train(_cfg(tmp_path / "sft",
                     extra=["grpo.lr=0", "meta.lr=0", "efficient.expert_sft=true",
                            "efficient.sft_batch_size=1", "efficient.sft_min_notion=0",
                            "efficient.sft_unsolved=true", "efficient.sft_lr=1e-2"]),
              progress=False)
    assert any(h.get("sft_steps") for h in out["history"] if h["kind"] == "train")
    assert not _moved(default0, _weights(out["model"], "default"))
    assert _moved(meta0, _weights(out["model"], META_ADAPTER))


def test_the_meta_path_samples_with_its_own_adapter(tmp_path):
    from masa_lite.grpo.policy import setup

    model = setup(_cfg(tmp_path))[0]
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        for p in adapter_parameters(model, META_ADAPTER):
            p.add_(0.05)
        solution = model(ids).logits
        with meta_adapter(model):
            assert model.active_adapter == META_ADAPTER
            meta = model(ids).logits
        assert model.active_adapter == "default"
        again = model(ids).logits
    assert not torch.allclose(solution, meta) and torch.equal(solution, again)


def test_killed_run_with_a_meta_adapter_resumes_exactly(tmp_path):
    from masa_lite.history import read_history

    extra = ["save_every=1", "eval_every=1", "efficient.expert_sft=true", "efficient.sft_batch_size=2",
             "efficient.sft_min_notion=0", "efficient.sft_unsolved=true", "meta.lr=5e-3",
             "efficient.sft_replay=2", "efficient.sft_replay_window=2"]  # replay's pool resumes too
    ref = train(_cfg(tmp_path / "ref", steps=3, extra=extra), progress=False)
    steps = [h for h in ref["history"] if h["kind"] == "train"]
    assert [h.get("sft_replay_steps") for h in steps] == [2, 2, 2]

    class Killed(Exception):
        pass

    def hook(step, metrics):
        if step == 2:
            raise Killed

    run = tmp_path / "run"
    with pytest.raises(Killed):
        train(_cfg(run, steps=3, extra=extra), progress=False, step_hook=hook)
    assert (run / "ckpt-000002" / "adapter" / META_ADAPTER / "adapter_model.safetensors").exists()
    resumed = train(_cfg(run, steps=3, extra=extra), progress=False)

    def strip(history):
        return [{k: v for k, v in h.items() if not k.startswith(("seconds", "wall", "peak"))}
                for h in history]

    assert strip(read_history(run)) == strip(ref["history"])
    for name in ("default", META_ADAPTER):
        assert not _moved(_weights(ref["model"], name), _weights(resumed["model"], name))


def test_separate_adapter_refuses_vllm():
    with pytest.raises(ConfigError, match="meta.adapter=separate needs rollout.backend=hf"):
        load_config("tiny", overrides=["meta.enabled=true", "meta.adapter=separate",
                                       "rollout.backend=vllm"])
    with pytest.raises(ConfigError, match="meta.lr"):
        load_config("tiny", overrides=["meta.lr=-1"])
