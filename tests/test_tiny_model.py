"""The bundled tiny model: vocabulary and tokenizer, corpus, deterministic build, and the model card
against a fresh measurement of the shipped weights."""

import json
import random

import pytest
import torch

from masa_lite.models import BUNDLED_MODELS, load_model_and_tokenizer
from masa_lite.supervised import supervised_batch
from masa_lite.task import synthetic
from masa_lite.task.persona import Persona
from masa_lite.task.tiny_model import (LOST_MIN_CUT, build_tokenizer, make_example, measure_base_model,
                                       perfect_length_cutoff_f1, train_tiny, uninformed_meta)
from masa_lite.task.vocab import WORDS, count_tokens, split_tokens

CARD = BUNDLED_MODELS["masa-tiny"] / "card.json"


def test_tokenizer_holds_words_whole_and_agrees_with_the_pure_python_split():
    tok = build_tokenizer()
    rng = random.Random(0)
    for p in synthetic.generate_problems(100, seed=0):
        for m in (0, 1):
            prompt, response, _ = make_example(p, rng, Persona(), p_meta=m)
            for text in (prompt, response):
                ids = tok.encode(text, add_special_tokens=False)
                assert tok.convert_ids_to_tokens(ids) == split_tokens(text)
                assert tok.unk_token_id not in ids and tok.decode(ids) == text
    for word in WORDS:
        assert len(tok.encode(word, add_special_tokens=False)) == 1, word
    assert tok.decode([*tok.encode("ab", add_special_tokens=False), tok.eos_token_id],
                      skip_special_tokens=True) == "ab"


def test_a_meta_answer_is_short_against_a_solution():
    """The economics the vocabulary is for: a whole meta answer is about 14 tokens, while a
    solution of the same problem is several times longer."""
    answer = ('<meta>mul</meta>{"math_notion": ["mul", "split"], "pass_rate": 5, '
              '"solution_length": 84}')
    assert count_tokens(answer) == 13
    rng = random.Random(1)
    probs = synthetic.generate_problems(200, seed=1)
    meta = [count_tokens(uninformed_meta(p, rng)) for p in probs]
    ref = [p.ref_length for p in probs]
    assert max(meta) <= 24 and sum(meta) / len(meta) < 0.4 * sum(ref) / len(ref)


def test_uninformed_meta_parses():
    from masa_lite.meta.answer import parse_meta

    rng = random.Random(1)
    for p in synthetic.generate_problems(50, seed=1):
        pred = parse_meta(uninformed_meta(p, rng))
        assert pred.status == "ok" and not pred.fallbacks
        assert 0 <= pred.pass_rate <= 8 and pred.solution_length >= 10


def test_lost_traces_are_cut_without_eos_and_the_batch_leaves_eos_off():
    """A trace in which the solver is lost must not teach the model to stop: it is cut between
    ``LOST_MIN_CUT`` and ``synthetic.LOST_LIMIT`` tokens, and its supervised example ends without EOS."""
    tok = build_tokenizer()
    rng = random.Random(2)
    hard = [p for p in synthetic.generate_problems(200, seed=2) if p.kind == "hard"][:5]
    examples = [make_example(p, rng, Persona(), p_meta=0) for p in hard]
    assert all(not ends and LOST_MIN_CUT <= count_tokens(resp) <= synthetic.LOST_LIMIT for _, resp, ends in examples)
    assert len({count_tokens(resp) for _, resp, _ in examples}) > 1  # cut at random lengths
    batch = supervised_batch(tok, examples[:1] + [("solve 1+2\n", "add 1+2=3\n\\boxed{3}", True)], "cpu")
    labels = batch["labels"]
    last = [row[row != -100][-1].item() for row in labels]
    assert last[0] != tok.eos_token_id and last[1] == tok.eos_token_id


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


def test_perfect_length_cutoff_f1_by_hand():
    """Budget 2 × the mean correct length: (10, 12) right, 30 wrong and cut, 11 wrong and kept →
    tp 1, fp 0, fn 1, F1 2/3; a problem with no right rollout gives no prediction."""
    per_problem = [{"lengths": [10, 12, 30, 11], "correct": [True, True, False, False]},
                   {"lengths": [50, 60], "correct": [False, False]}]
    assert perfect_length_cutoff_f1(per_problem) == pytest.approx(2 / 3)
    assert perfect_length_cutoff_f1(per_problem[1:]) is None


def test_shipped_model_matches_its_card():
    """Re-measure on a fresh sample of the test split; every level and kind must agree with the
    card within 4 standard errors of the difference (at least 0.1; the card's own error taken as
    large as the fresh one's, √2), and the economics the card states must hold: m ≤ 0.2, hard
    problems never solved, wrong rollouts more than twice as long as right ones."""
    shipped = json.loads(CARD.read_text())
    card = shipped["metrics"]
    model, tok = load_model_and_tokenizer("masa-tiny", device="cpu")
    fresh = measure_base_model(model, tok, n_per_level=12, samples=4, seed=123)
    for key in ("levels", "kinds"):
        for name, m in card[key].items():
            got = fresh[key][int(name) if key == "levels" else name]
            tol = max(0.1, 4 * 2 ** 0.5 * (got["pass@1_se"] or 0.0))
            assert abs(got["pass@1"] - m["pass@1"]) <= tol, (name, got["pass@1"], m["pass@1"], tol)
    assert fresh["meta_tokens"] / fresh["solution_tokens"] <= 0.2
    assert fresh["kinds"]["hard"]["pass@1"] <= 0.02
    assert fresh["len_wrong"] > 2 * fresh["len_correct"]
    assert fresh["meta_parse_rate"] >= card["meta_parse_rate"] - 0.1


def test_shipped_model_card_regenerates_byte_for_byte(tmp_path):
    """write_card, fed the shipped card.json, writes the shipped MODEL_CARD.md: the card text and
    the measurements it reports cannot drift apart."""
    from masa_lite.task.tiny_model import write_card

    folder = BUNDLED_MODELS["masa-tiny"]
    shipped = json.loads((folder / "card.json").read_text())
    write_card(tmp_path, shipped["build"], shipped["metrics"])
    assert (tmp_path / "MODEL_CARD.md").read_text() == (folder / "MODEL_CARD.md").read_text()
    assert json.loads((tmp_path / "card.json").read_text()) == shipped
