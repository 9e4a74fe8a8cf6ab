"""The bundled tiny model: tokenizer, deterministic build, and the model card against a fresh
measurement of the shipped weights."""

import json
import random

import pytest
import torch

from masa_lite.task import synthetic
from masa_lite.models import BUNDLED_MODELS, load_model_and_tokenizer
from masa_lite.task.tiny_model import build_tokenizer, make_example, measure_base_model, train_tiny, uninformed_meta

CARDS = {name: folder / "card.json" for name, folder in BUNDLED_MODELS.items()}


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


@pytest.mark.parametrize("name", sorted(CARDS))
def test_shipped_model_matches_its_card(name):
    """Re-measure on a fresh sample of the test split; every level must agree with the card
    within 4 standard errors of the difference (at least 0.1). The standard error is over
    problems - a level's problems differ in difficulty, so 12 fresh ones can sit well away from the
    card's 50 (masa-tiny-wander, level 4: 0.52 on the card's problems, 0.38-0.39 on two fresh sets
    of 30) - and the card's own is taken as large as the fresh one's (√2), a conservative bound
    since the card has more problems. A model built on the wandering persona must also show what
    it is for: wrong rollouts more than twice as long as right ones (card: 186 against 69 tokens;
    2.3-3.5 times on fresh sets)."""
    shipped = json.loads(CARDS[name].read_text())
    card = shipped["metrics"]
    model, tok = load_model_and_tokenizer(name, device="cpu")
    fresh = measure_base_model(model, tok, n_per_level=12, samples=4, seed=123)
    for lv, m in card["levels"].items():
        got = fresh["levels"][int(lv)]
        tol = max(0.1, 4 * 2 ** 0.5 * got["pass@1_se"])
        assert abs(got["pass@1"] - m["pass@1"]) <= tol, (lv, got["pass@1"], m["pass@1"], tol)
    if shipped["build"].get("persona") == "wander":
        assert fresh["len_wrong"] > 2 * fresh["len_correct"], (fresh["len_wrong"], fresh["len_correct"])
    assert fresh["meta_parse_rate"] >= card["meta_parse_rate"] - 0.1


def _traces(persona, n=400, seed=0):
    rng = random.Random(seed)
    probs = synthetic.generate_problems(60, seed=5)
    out = []
    for i in range(n):
        p = probs[i % len(probs)]
        text, value, used = synthetic.write_solution(p.start, p.chain, rng, persona)
        out.append((p, text, str(value) == p.answer, used))
    return out


def test_default_persona_never_wanders_and_draws_as_before():
    """The default persona's traces (what masa-tiny was built on) are untouched by the wander
    switch: no recheck-only lines, and the same random stream as a persona without the fields."""
    for _, text, _, _ in _traces(synthetic.Persona()):
        assert not any(line.startswith("recheck ") for line in text.splitlines())
    off = synthetic.Persona(wander=0.0, wander_false=0.0, wander_rounds=5)
    assert [t for _, t, _, _ in _traces(off)] == [t for _, t, _, _ in _traces(synthetic.Persona())]


def test_wandering_persona_rambles_only_when_wrong_and_fixes_nothing():
    always = synthetic.Persona(wander=1.0, wander_false=0.0, wander_rounds=2)
    wrong = right = 0
    for p, text, ok, used in _traces(always):
        lines = text.splitlines()
        extra = [line for line in lines if line.startswith("recheck ")]
        steps = [line for line in lines[:-1] if not line.startswith("recheck ")]
        assert len(steps) == len(p.chain)
        if ok:
            right += 1
            assert not extra
        else:
            wrong += 1
            # two passes over the steps, each repeating the step's last attempt as written
            assert extra == [f"recheck {s.split(' no, recheck ')[-1].split(' ')[-1]}"
                             for _ in range(2) for s in steps]
            assert "recheck" in used
            assert lines[-1] != f"\\boxed{{{p.answer}}}"  # the boxed answer stays wrong
    assert wrong > 50 and right > 50


def test_the_wander_persona_makes_wrong_solutions_long():
    """What masa-tiny-wander is for: against the default persona, wrong traces grow to more than
    twice the length of right ones, right traces barely change."""
    def lengths(persona):
        tr = _traces(persona, n=1200)
        right = [len(t) for _, t, ok, _ in tr if ok]
        wrong = [len(t) for _, t, ok, _ in tr if not ok]
        return sum(right) / len(right), sum(wrong) / len(wrong)

    r0, w0 = lengths(synthetic.PERSONAS["default"])
    r1, w1 = lengths(synthetic.PERSONAS["wander"])
    assert w0 < 2 * r0 < w1
    assert abs(r1 - r0) < 0.15 * r0


def test_build_and_card_records_the_persona(tmp_path):
    """build-tiny --persona wander: the persona is named in build.json, card.json and the card's
    title and rebuild command; an unknown persona is refused with the choices."""
    from masa_lite.task.tiny_model import build_and_card

    with pytest.raises(ValueError, match="unknown persona 'rambling'.*default.*wander"):
        build_and_card(tmp_path / "x", steps=1, persona="rambling")
    build_and_card(tmp_path / "w", steps=2, seed=1, card_problems=1, persona="wander",
                   pool_size=200, progress=False,
                   config_kwargs=dict(hidden=16, layers=1, heads=2, intermediate=32))
    assert json.loads((tmp_path / "w" / "build.json").read_text())["persona"] == "wander"
    assert json.loads((tmp_path / "w" / "card.json").read_text())["build"]["persona"] == "wander"
    card = (tmp_path / "w" / "MODEL_CARD.md").read_text()
    assert card.startswith("# masa-tiny-wander\n")
    assert "--persona wander --out masa_lite/assets/masa-tiny-wander" in card


def test_a_wandering_pass_that_catches_the_slip_rescues_the_answer():
    """wander_fix = 1: the first wandering pass fixes the first wrong step (``recheck <wrong> no,
    <right>``), redoes the later steps from it and boxes the true answer; wander_fix = 0 never
    fixes (the masa-tiny-wander persona: its traces are unchanged by the field)."""
    import re

    fixer = synthetic.Persona(wander=1.0, wander_false=0.0, wander_fix=1.0)
    rescued = 0
    for p, text, ok, _ in _traces(fixer, n=600):
        lines = text.splitlines()
        fixes = [line for line in lines if line.startswith("recheck ") and " no, " in line]
        if fixes:
            rescued += 1
            assert ok and len(fixes) == 1, text
            wrong, right = fixes[0][len("recheck "):].split(" no, ")
            lhs = wrong.split("=")[0]
            assert right.split("=")[0] == lhs and wrong != right
            a, op, b = re.fullmatch(r"(-?\d+)([+\-*])(\d+)", lhs).groups()
            assert int(right.split("=")[-1]) == synthetic._apply(op, int(a), int(b))
        else:
            assert ok or not any(line.startswith("recheck ") for line in lines)
    assert rescued > 50
    # every trace of this persona ends right: a wrong one is always rescued by its first pass
    assert all(ok for _, _, ok, _ in _traces(fixer, n=600))
    never = synthetic.Persona(wander=1.0, wander_false=0.0, wander_fix=0.0)
    assert not any(" no, " in line for _, t, _, _ in _traces(never) for line in t.splitlines()
                   if line.startswith("recheck "))


def test_wander_kind_reads_what_the_wandering_did():
    """wander_kind: a step's own redo is not wandering; recheck lines that fix nothing are
    'wander', one that writes ``no,`` is 'rescue'. On a persona that always wanders when wrong and
    never when right, the kind agrees with the outcome: 'none' is right, 'wander' is wrong, and
    'rescue' is mostly right (a fix of a later step leaves an earlier slip in place)."""
    assert synthetic.wander_kind("add 4+5=10 no, recheck 4+5=9\n\\boxed{9}") == "none"
    assert synthetic.wander_kind("add 4+5=10\nrecheck 4+5=10\n\\boxed{10}") == "wander"
    assert synthetic.wander_kind("add 4+5=10\nrecheck 4+5=10 no, 4+5=9\n\\boxed{9}") == "rescue"
    from collections import Counter

    persona = synthetic.Persona(wander=1.0, wander_false=0.0, wander_fix=0.3)
    seen = Counter()  # (kind, right?) -> traces
    for _, text, ok, _ in _traces(persona, n=600):
        kind = synthetic.wander_kind(text)
        seen[kind, ok] += 1
        if kind != "rescue":
            assert ok == (kind == "none"), (kind, text)
    assert min(seen[k, True] + seen[k, False] for k in ("none", "wander", "rescue")) > 30, seen
    assert seen["rescue", True] > seen["rescue", False], seen


@pytest.mark.parametrize("name", sorted(BUNDLED_MODELS))
def test_shipped_model_card_regenerates_byte_for_byte(tmp_path, name):
    """write_card, fed the shipped card.json, writes the shipped MODEL_CARD.md: the card text and
    the measurements it reports cannot drift apart."""
    from masa_lite.task.tiny_model import write_card

    folder = BUNDLED_MODELS[name]
    shipped = json.loads((folder / "card.json").read_text())
    write_card(tmp_path, shipped["build"], shipped["metrics"])
    assert (tmp_path / "MODEL_CARD.md").read_text() == (folder / "MODEL_CARD.md").read_text()
    assert json.loads((tmp_path / "card.json").read_text()) == shipped


def test_card_of_an_unbundled_persona_says_how_to_select_it(tmp_path):
    """A persona with no bundled model (wander-fix) gets a card that names a folder, not a bundled
    name it does not have."""
    from masa_lite.task.tiny_model import write_card

    shipped = json.loads((BUNDLED_MODELS["masa-tiny-wander"] / "card.json").read_text())
    write_card(tmp_path, dict(shipped["build"], persona="wander-fix"), shipped["metrics"])
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert card.startswith("# masa-tiny-wander-fix\n")
    assert "not bundled: select it with `-o model.name=<this folder>`" in card
    assert "--persona wander-fix --out <folder>" in card
    assert "model.name=masa-tiny-wander-fix" not in card
