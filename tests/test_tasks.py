"""The synthetic task: ground truth, kinds, notions, splits, persona behaviour, JSONL round trip."""

import random
import statistics

import pytest

from masa_lite.task import persona, synthetic
from masa_lite.task.vocab import count_tokens, cut_tokens


def _eval_chain(start, chain):
    v = start
    for op, b in chain:
        v = v + b if op == "+" else v - b if op == "-" else v * b
    return v


def _products(p):
    """(a, b) of every product of a problem's chain, a being the running value."""
    out, v = [], p.start
    for op, b in p.chain:
        if op == "*":
            out.append((v, b))
        v = _eval_chain(v, [(op, b)])
    return out


def test_problem_text_evaluates_to_answer_with_ordinary_precedence():
    for p in synthetic.generate_problems(300, seed=1):
        # the rendered text uses normal precedence; parentheses make it equal the left-to-right chain
        assert eval(p.problem) == int(p.answer) == _eval_chain(p.start, p.chain)


def test_levels_have_their_operation_counts_and_kinds_their_products():
    for lv, spec in synthetic.LEVELS.items():
        for p in synthetic.generate_problems(60, levels=(lv,), seed=lv):
            assert p.level == lv and len(p.chain) == spec.n_ops
            assert p.kind == synthetic.kind_of(p.start, p.chain)
            big = [(a, b) for a, b in _products(p) if a >= 10]
            if p.kind == "hard":  # a two-digit × two-digit product
                assert any(b >= 10 for _, b in big)
            elif p.kind == "mid":  # a two-digit × one-digit product, none harder
                assert big and all(b < 10 for _, b in big)
            else:  # easy: only one-digit products
                assert not big and int(p.answer) >= 0


def test_each_level_draws_its_mix_of_kinds():
    """Per level, the shares of easy/mid/hard match the level's mix within sampling noise."""
    for lv, spec in synthetic.LEVELS.items():
        probs = synthetic.generate_problems(400, levels=(lv,), seed=10 + lv, allow_fewer=True)
        for kind, share in zip(synthetic.KINDS, spec.mix):
            got = sum(p.kind == kind for p in probs) / len(probs)
            assert abs(got - share) < 0.08, (lv, kind, got, share)


def test_reference_solution_is_clean_and_names_its_notions():
    p = synthetic.Problem("(18+35)*4-19", "193", 3, [], 0, 18, [("+", 35), ("*", 4), ("-", 19)])
    text, value, notions = synthetic.write_solution(p.start, p.chain)
    assert value == 193
    assert text == ("add carry 18+35=53\n"
                    "mul split 53*4=50*4+3*4=200+12=212\n"
                    "sub borrow 212-19=193\n"
                    "\\boxed{193}")
    assert notions == ["add", "sub", "mul", "carry", "borrow", "split"]
    # tokens: words and "\boxed{" whole, every other character one token
    assert count_tokens("add carry 18+35=53\n") == 13 and count_tokens("\\boxed{193}") == 5
    # a cut keeps whole tokens: the JSON key and the quoted notion are one token each
    assert cut_tokens('{"math_notion": ["add", "mul"]', 2) == '{"math_notion": ["add"'


def test_notions_are_not_in_problem_text_but_in_reference_and_length_is_in_tokens():
    for p in synthetic.generate_problems(200, seed=2):
        text, _, _ = synthetic.write_solution(p.start, p.chain)
        for n in p.notions:
            assert n not in p.problem and n in text
        assert p.ref_length == count_tokens(text) + 1


def test_carry_and_borrow_columns():
    assert persona.carry_columns(18, 35, "+") == 1
    assert persona.carry_columns(95, 7, "+") == 2  # 5+7 carries, 9+0+1 carries
    assert persona.carry_columns(12, 3, "+") == 0
    assert persona.carry_columns(100, 1, "-") == 2  # borrow through two zeros
    assert persona.carry_columns(57, 23, "-") == 0


def test_splits_are_disjoint_and_stable():
    sp = synthetic.task_splits(n_per_level=30, seed=0)
    val = {p.problem for p in sp["val"]}
    test = {p.problem for p in sp["test"]}
    train = {p.problem for p in synthetic.generate_problems(3000, seed=0, split="train")}
    assert not (val & test) and not (train & val) and not (train & test)
    assert all(synthetic.split_of(t) == "test" for t in test)
    again = synthetic.task_splits(n_per_level=30, seed=0)
    assert [p.problem for p in again["test"]] == [p.problem for p in sp["test"]]


def test_generation_is_seeded():
    a = [p.problem for p in synthetic.generate_problems(50, seed=7)]
    b = [p.problem for p in synthetic.generate_problems(50, seed=7)]
    c = [p.problem for p in synthetic.generate_problems(50, seed=8)]
    assert a == b and a != c


def _persona_runs(kind, n=120, samples=4, seed=0, **kw):
    rng = random.Random(seed)
    probs = [p for p in synthetic.generate_problems(6 * n, seed=seed + 3) if p.kind == kind][:n]
    return [(p, *synthetic.write_solution(p.start, p.chain, rng, **kw)) for p in probs
            for _ in range(samples)]


def test_persona_solves_easy_always_hard_never_and_mid_in_between():
    rate = {k: statistics.mean(str(v) == p.answer for p, _, v, _ in _persona_runs(k))
            for k in synthetic.KINDS}
    assert rate["easy"] > 0.97 and rate["hard"] == 0.0 and 0.4 < rate["mid"] < 0.9, rate


def test_a_lost_solver_guesses_until_the_limit_and_boxes_nothing():
    """Every hard trace is lost: exactly ``limit`` tokens of guesses, each rejected, no box."""
    for p, text, value, used in _persona_runs("hard", n=30):
        assert value is None and "\\boxed" not in text and "recheck" in used
        assert count_tokens(text) == synthetic.LOST_LIMIT
        assert text.splitlines()[-1].count(" no, recheck ") >= 3  # the hard step's line


def test_mid_failures_run_long_and_split_is_more_reliable():
    runs = _persona_runs("mid", n=150, samples=4)
    right = [count_tokens(t) for p, t, v, _ in runs if str(v) == p.answer]
    wrong = [count_tokens(t) for p, t, v, _ in runs if str(v) != p.answer]
    assert statistics.mean(wrong) > 2 * statistics.mean(right)
    acc = {route: statistics.mean(str(v) == p.answer
                                  for p, _, v, _ in _persona_runs("mid", n=150, route=route))
           for route in ("split", "direct")}
    assert acc["split"] > acc["direct"] + 0.2, acc


def test_jsonl_round_trip_and_errors(tmp_path):
    probs = synthetic.generate_problems(20, seed=4)
    path = synthetic.save_jsonl(probs, tmp_path / "t.jsonl")
    back = synthetic.load_jsonl(path)
    assert [p.to_record() for p in back] == [p.to_record() for p in probs]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "1+2"}\n')
    with pytest.raises(ValueError, match="answer"):
        synthetic.load_jsonl(bad)


def test_unknown_level_and_split_are_named():
    with pytest.raises(ValueError, match="unknown level 9"):
        synthetic.generate_problems(3, levels=(9,))
    with pytest.raises(ValueError, match="unknown split"):
        synthetic.generate_problems(3, split="dev")
