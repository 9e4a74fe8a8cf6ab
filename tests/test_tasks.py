"""The synthetic task: ground truth, notions, splits, persona behaviour, JSONL round trip."""

import random
import statistics

import pytest

from masa_lite.task import synthetic


def _eval_chain(start, chain):
    v = start
    for op, b in chain:
        v = v + b if op == "+" else v - b if op == "-" else v * b
    return v


def test_problem_text_evaluates_to_answer_with_ordinary_precedence():
    for p in synthetic.generate_problems(300, seed=1):
        # the rendered text uses normal precedence; parentheses make it equal the left-to-right chain
        assert eval(p.problem) == int(p.answer) == _eval_chain(p.start, p.chain)


def test_levels_have_their_operation_counts_and_ranges():
    for lv, spec in synthetic.LEVELS.items():
        for p in synthetic.generate_problems(50, levels=(lv,), seed=lv):
            assert p.level == lv and len(p.chain) == spec.n_ops
            n_mul = sum(op == "*" for op, _ in p.chain)
            assert spec.min_mul <= n_mul <= spec.max_mul
            assert 0 <= int(p.answer) <= 999


def test_reference_solution_is_clean_and_names_its_notions():
    p = synthetic.Problem("(18+35)*4-19", "193", 3, [], 0, 18, [("+", 35), ("*", 4), ("-", 19)])
    text, value, notions = synthetic.write_solution(p.start, p.chain)
    assert value == 193
    assert text == ("add carry 18+35=53\n"
                    "mul split 53*4=50*4+3*4=200+12=212\n"
                    "sub borrow 212-19=193\n"
                    "\\boxed{193}")
    assert notions == ["add", "sub", "mul", "carry", "borrow", "split"]
    assert "recheck" not in text


def test_notions_are_not_in_problem_text_but_in_reference():
    for p in synthetic.generate_problems(200, seed=2):
        text, _, _ = synthetic.write_solution(p.start, p.chain)
        for n in p.notions:
            assert n not in p.problem and n in text
        assert p.ref_length == len(text) + 1


def test_carry_and_borrow_columns():
    assert synthetic._columns(18, 35, "+") == 1
    assert synthetic._columns(95, 7, "+") == 2  # 5+7 carries, 9+0+1 carries
    assert synthetic._columns(12, 3, "+") == 0
    assert synthetic._columns(100, 1, "-") == 2  # borrow through two zeros
    assert synthetic._columns(57, 23, "-") == 0


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


def test_persona_pass_rate_falls_with_level_and_failures_run_longer():
    rng = random.Random(0)
    rates, right_len, wrong_len = {}, [], []
    for lv in (1, 6):
        ok = []
        for p in synthetic.generate_problems(150, levels=(lv,), seed=lv):
            for _ in range(4):
                text, v, _ = synthetic.write_solution(p.start, p.chain, rng)
                ok.append(str(v) == p.answer)
                if lv == 6:
                    (right_len if ok[-1] else wrong_len).append(len(text))
        rates[lv] = sum(ok) / len(ok)
    assert rates[1] > 0.9 and rates[6] < 0.45
    assert statistics.mean(wrong_len) > statistics.mean(right_len) + 10


def test_split_route_is_more_reliable_than_direct():
    rng = random.Random(1)
    probs = synthetic.generate_problems(200, levels=(5,), seed=3)
    acc = {}
    for route in ("split", "direct"):
        acc[route] = sum(str(synthetic.write_solution(p.start, p.chain, rng, route=route)[1]) == p.answer
                         for p in probs for _ in range(3)) / (3 * len(probs))
    assert acc["split"] > acc["direct"] + 0.15


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
