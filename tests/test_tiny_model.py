"""The bundled tiny model: tokenizer, deterministic build, and the model card against a fresh
measurement of the shipped weights."""

import json
import random

import pytest
import torch

from masa_lite.task import synthetic
from masa_lite.models import BUNDLED_MODELS, load_model_and_tokenizer
from masa_lite.task.tiny_model import build_tokenizer, make_example, measure_base_model, train_tiny, uninformed_meta

CARD = BUNDLED_MODELS["masa-tiny"] / "card.json"


def test_tokenizer_is_character_level_and_covers_the_task():
    tok = build_tokenizer()
    rng = random.Random(0)
    for p in synthetic.generate_problems(100, seed=0):
        for prompt, response in [make_example(p, rng, synthetic.Persona(), p_meta=m) for m in (0, 1)]:
            for text in (prompt, response):
                ids = tok.encode(text, add_special_tokens=False)
                assert len(ids) == len(text)
                assert tok.unk_token_id not in ids, text
                assert tok.decode(ids) == text
    assert tok.decode([*tok.encode("ab", add_special_tokens=False), tok.eos_token_id],
                      skip_special_tokens=True) == "ab"


def test_uninformed_meta_parses():
    from masa_lite.meta.answer import parse_meta

    rng = random.Random(1)
    for p in synthetic.generate_problems(50, seed=1):
        pred = parse_meta(uninformed_meta(p, rng))
        assert pred.status == "ok" and not pred.fallbacks
        assert 0 <= pred.pass_rate <= 8 and pred.solution_length >= 15


def test_build_is_deterministic(tmp_path):
    kw = dict(steps=3, batch_size=4, pool_size=200, progress=False,
              config_kwargs=dict(hidden=16, layers=1, heads=2, intermediate=32))
    m1, _, b1 = train_tiny(tmp_path / "a", seed=3, **kw)
    m2, _, _ = train_tiny(tmp_path / "b", seed=3, **kw)
    m3, _, _ = train_tiny(tmp_path / "c", seed=4, **kw)
    s1, s2, s3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    assert (tmp_path / "a" / "model.safetensors").exists() and b1["steps"] == 3
    model, tok = load_model_and_tokenizer(str(tmp_path / "a"), device="cpu")
    assert tok.pad_token_id == 0 and tok.eos_token_id == 1


@pytest.mark.skipif(not CARD.exists(), reason="the bundled model has not been built")
def test_shipped_model_matches_its_card():
    """Re-measure on a fresh sample of the test split; every level must agree with the card
    within sampling noise (4 standard errors of the fresh estimate, at least 0.1)."""
    card = json.loads(CARD.read_text())["metrics"]
    model, tok = load_model_and_tokenizer("masa-tiny", device="cpu")
    fresh = measure_base_model(model, tok, n_per_level=12, samples=4, seed=123)
    for lv, m in card["levels"].items():
        got = fresh["levels"][int(lv)]
        n = got["problems"] * 4
        p = m["pass@1"]
        tol = max(0.1, 4 * (p * (1 - p) / n) ** 0.5)
        assert abs(got["pass@1"] - p) <= tol, (lv, got["pass@1"], p)
    assert fresh["meta_parse_rate"] >= card["meta_parse_rate"] - 0.1
