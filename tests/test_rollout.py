"""The rollout interface, for both engines: shapes, EOS trimming, per-row budgets and stop
reasons, determinism, argument checks, and the config switch (tests/test_rollout_engine.py
compares the engines with each other)."""

import pytest
import torch

from masa_lite.grpo.sampling import generate_rollouts

ENGINES = ("compact", "generate")


@pytest.mark.parametrize("engine", ENGINES)
def test_rollouts_are_prompt_major_and_trimmed(random_tiny, engine):
    model, tok = random_tiny
    torch.manual_seed(0)
    out = generate_rollouts(model, tok, ["solve 1+2\n", "solve (12+3)*4\n"], n=3, max_new_tokens=20,
                            engine=engine)
    assert [r.prompt_index for r in out] == [0, 0, 0, 1, 1, 1]
    for r in out:
        assert r.length == len(r.token_ids) <= 20
        assert tok.eos_token_id not in r.token_ids[:-1]  # cut at the first EOS
        assert (r.stop_reason == "eos") == (r.token_ids[-1:] == [tok.eos_token_id])
        assert r.stop_reason in ("eos", "max_new_tokens")
        assert r.text == tok.decode(r.token_ids, skip_special_tokens=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_per_row_budgets_stop_each_row_at_its_own_limit(random_tiny, engine):
    model, tok = random_tiny
    torch.manual_seed(1)
    # force long completions: EOS can never be sampled
    model.generation_config.suppress_tokens = [tok.eos_token_id]
    out = generate_rollouts(model, tok, ["solve 1+2\n", "solve 3+4\n", "solve 5+6\n"], n=2,
                            max_new_tokens=30, budgets=[5, None, 12], engine=engine)
    lengths = {r.prompt_index: set() for r in out}
    reasons = {r.prompt_index: set() for r in out}
    for r in out:
        lengths[r.prompt_index].add(r.length)
        reasons[r.prompt_index].add(r.stop_reason)
    assert lengths == {0: {5}, 1: {30}, 2: {12}}
    assert reasons == {0: {"budget"}, 1: {"max_new_tokens"}, 2: {"budget"}}


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_same_rollouts(random_tiny, engine):
    model, tok = random_tiny
    texts = []
    for _ in range(2):
        torch.manual_seed(5)
        texts.append([r.text for r in generate_rollouts(model, tok, ["solve 9-3\n"] * 2, n=4,
                                                        max_new_tokens=15, batch_size=3,
                                                        engine=engine)])
    assert texts[0] == texts[1]
    torch.manual_seed(6)
    other = [r.text for r in generate_rollouts(model, tok, ["solve 9-3\n"] * 2, n=4, max_new_tokens=15,
                                               engine=engine)]
    assert other != texts[0]


def test_bad_arguments_are_named(random_tiny):
    model, tok = random_tiny
    with pytest.raises(ValueError, match="budgets has 1 entries for 2 prompts"):
        generate_rollouts(model, tok, ["a", "b"], budgets=[3])
    with pytest.raises(ValueError, match="n must be"):
        generate_rollouts(model, tok, ["a"], n=0)
    with pytest.raises(ValueError, match="engine 'fast' is not one of"):
        generate_rollouts(model, tok, ["a"], engine="fast")


def test_config_engine_switch_reaches_sampling(random_tiny):
    """``rollout.engine`` is checked by the config and picks the engine in sample_rollouts;
    row-seeded, both engines give the same tokens."""
    from masa_lite.config import ConfigError, load_config
    from masa_lite.grpo.sampling import sample_rollouts

    model, tok = random_tiny
    assert load_config("tiny").rollout.engine == "compact"
    with pytest.raises(ConfigError, match="rollout.engine"):
        load_config("tiny", overrides=["rollout.engine=fast"])
    outs = []
    for engine in ENGINES:
        cfg = load_config("tiny", overrides=[f"rollout.engine={engine}"])
        outs.append([r.token_ids for r in sample_rollouts(model, tok, ["solve 1+2\n", "solve 3\n"],
                                                          cfg, n=3, max_new_tokens=25, seeds=[4, 5])])
    assert outs[0] == outs[1]
