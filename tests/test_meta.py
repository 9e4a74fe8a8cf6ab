"""Meta path: prompt, lenient parser, alignment rewards and Expert-SFT targets, by hand and by fuzz."""

import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masa_lite.meta.answer import (PAPER_META_TEMPLATE, MetaPrediction, build_meta_prompt,
                                   format_meta_answer, parse_meta, summarise_parses)
from masa_lite.efficient.expert_sft import expert_target
from masa_lite.meta.reward import (length_reward, meta_reward, normalise_notion, notion_details,
                                   notion_reward, pass_rate_reward)

CANON = ('<meta>mul add, 2 steps</meta>'
         '{"math_notion": ["carry", "split"], "pass_rate": 5, "solution_length": 87}')


# ---- prompt and canonical answer ------------------------------------------------------------

def test_prompt_names_the_format_and_fills_k():
    prompt = build_meta_prompt("What is 2+3?")
    assert "Problem: What is 2+3?" in prompt
    for needle in ("<meta>", "</meta>", '"math_notion"', '"pass_rate"', '"solution_length"',
                   "0 to 8", "of 8 independent"):
        assert needle in prompt
    assert "{k}" not in prompt and "{problem}" not in prompt
    assert "0 to 4" in build_meta_prompt("x", k=4) and "0 to 8" not in build_meta_prompt("x", k=4)


def test_prompt_keeps_braces_in_problem_and_custom_template():
    # "{k}" inside the problem is not a placeholder: k is filled first
    assert build_meta_prompt("solve {x | x > {k}}", "Q: {problem} K={k}", k=3) == \
        "Q: solve {x | x > {k}} K=3"
    with pytest.raises(ValueError):
        build_meta_prompt("p", PAPER_META_TEMPLATE, k=0)
    with pytest.raises(ValueError):
        build_meta_prompt("p", k=True)


def test_format_meta_answer_is_the_training_format():
    assert format_meta_answer("mul add, 2 steps", ["carry", "split"], 5, 87) == CANON
    assert format_meta_answer("", [], 5.0, 87.0).endswith('"pass_rate": 5, "solution_length": 87}')
    with pytest.raises(ValueError):
        format_meta_answer("r", [], 5.5, 87)
    with pytest.raises(ValueError):
        format_meta_answer("r", [], True, 87)
    with pytest.raises(ValueError):
        format_meta_answer("a</meta>b", [], 5, 87)


# ---- parser ---------------------------------------------------------------------------------

M = "<meta>think</meta>"
CASES = {  # text: (notions, pass_rate, solution_length, status, tags that must appear)
    "compact": (CANON, ("carry", "split"), 5.0, 87.0, "ok", []),
    "pretty": (M + '\n{\n  "math_notion": ["a"],\n  "pass_rate": 3,\n  "solution_length": 40\n}',
               ("a",), 3.0, 40.0, "ok", ["pretty_json"]),
    "single_quotes": (M + "{'math_notion': ['a'], 'pass_rate': 3, 'solution_length': 40}",
                      ("a",), 3.0, 40.0, "ok", ["literal_eval"]),
    "trailing_comma": (M + '{"math_notion": ["a",], "pass_rate": 3, "solution_length": 40,}',
                       ("a",), 3.0, 40.0, "ok", ["trailing_comma"]),
    "fenced": (M + '\n```json\n{"math_notion": ["a"], "pass_rate": 3, "solution_length": 40}\n```',
               ("a",), 3.0, 40.0, "ok", ["code_fence"]),
    "text_around": ("Sure! " + M + 'Answer: {"math_notion": ["a"], "pass_rate": 3, '
                    '"solution_length": 40} Hope this helps.', ("a",), 3.0, 40.0, "ok", []),
    "numeric_strings": (M + '{"math_notion": ["a"], "pass_rate": "5", "solution_length": "87 tokens"}',
                        ("a",), 5.0, 87.0, "ok",
                        ["pass_rate:numeric_string", "solution_length:numeric_string"]),
    "fraction_string": (M + '{"math_notion": [], "pass_rate": "3/4", "solution_length": 9}',
                        (), 6.0, 9.0, "ok", ["pass_rate:fraction_string"]),
    "percent": (M + '{"math_notion": [], "pass_rate": "25%", "solution_length": 9}',
                (), 2.0, 9.0, "ok", ["pass_rate:percent"]),
    "share_float": (M + '{"math_notion": [], "pass_rate": 0.75, "solution_length": 9}',
                    (), 6.0, 9.0, "ok", ["pass_rate:fraction_scaled"]),
    # issue 10: 0.99 is read as a share (7.92 of 8), so the decimal 1.0 must be one too (8 of 8,
    # not 1 of 8); the integer 1 stays a count
    "one_point_zero_is_a_share": (M + '{"math_notion": [], "pass_rate": 1.0, "solution_length": 9}',
                                  (), 8.0, 9.0, "ok", ["pass_rate:fraction_scaled"]),
    "one_point_zero_string_is_a_share": (M + '{"math_notion": [], "pass_rate": "1.0", "solution_length": 9}',
                                         (), 8.0, 9.0, "ok", ["pass_rate:fraction_scaled"]),
    "point_99_is_a_share": (M + '{"math_notion": [], "pass_rate": 0.99, "solution_length": 9}',
                            (), 0.99 * 8, 9.0, "ok", ["pass_rate:fraction_scaled"]),
    "integer_one_is_a_count": (M + '{"math_notion": [], "pass_rate": 1, "solution_length": 9}',
                               (), 1.0, 9.0, "ok", []),
    "spaced_unit": (M + '{"math_notion": [], "pass_rate": 2, "solution_length": "87   Tokens"}',
                    (), 2.0, 87.0, "ok", ["solution_length:numeric_string"]),
    "non_integer": (M + '{"math_notion": [], "pass_rate": 5.5, "solution_length": 87.5}',
                    (), 5.5, 87.5, "ok", ["pass_rate:non_integer", "solution_length:non_integer"]),
    "notion_string": (M + '{"math_notion": "carry, split; Place Value ", "pass_rate": 2, '
                      '"solution_length": 9}', ("carry", "split", "Place Value"), 2.0, 9.0, "ok",
                      ["math_notion:string_split"]),
    "non_string_notion": (M + '{"math_notion": ["a", 3, null, " "], "pass_rate": 2, '
                          '"solution_length": 9}', ("a",), 2.0, 9.0, "ok",
                          ["math_notion:non_string_item"]),
    "missing_length": (M + '{"math_notion": ["a"], "pass_rate": 2}', ("a",), 2.0, None,
                       "partial", []),
    "out_of_range_high": (M + '{"math_notion": ["a"], "pass_rate": 9, "solution_length": 9}',
                          ("a",), None, 9.0, "partial", ["pass_rate:out_of_range"]),
    "out_of_range_negative": (M + '{"pass_rate": -1, "solution_length": -5}', None, None, None,
                              "unparseable", ["pass_rate:out_of_range",
                                              "solution_length:out_of_range"]),
    "non_finite": (M + '{"math_notion": ["a"], "pass_rate": NaN, "solution_length": 1e999}',
                   ("a",), None, None, "partial", ["pass_rate:non_finite",
                                                   "solution_length:non_finite"]),
    "huge_int": (M + '{"pass_rate": ' + "9" * 400 + ', "solution_length": 0}', None, None, None,
                 "unparseable", ["pass_rate:non_finite", "solution_length:out_of_range"]),
    "infinity_string": (M + '{"pass_rate": "Infinity", "solution_length": 4}', None, None, 4.0,
                        "partial", ["pass_rate:non_finite"]),
    "bool_and_null": (M + '{"math_notion": null, "pass_rate": true, "solution_length": "long"}',
                      None, None, None, "unparseable", ["math_notion:invalid", "pass_rate:invalid",
                                                        "solution_length:invalid"]),
    "key_variants": (M + '{"Math Notions": ["a"], "Pass-Rate": 2, "solution_length": 9}',
                     ("a",), 2.0, 9.0, "ok", ["key_normalised"]),
    "nested": (M + '{"answer": {"math_notion": ["a"], "pass_rate": 2, "solution_length": 9}}',
               ("a",), 2.0, 9.0, "ok", []),
    "after_meta_wins": ('<meta>e.g. {"pass_rate": 1}</meta>{"math_notion": [], "pass_rate": 7, '
                        '"solution_length": 9}', (), 7.0, 9.0, "ok", []),
    "json_inside_meta": ('<meta>{"math_notion": [], "pass_rate": 7, "solution_length": 9}</meta>',
                         (), 7.0, 9.0, "ok", ["json_not_after_meta"]),
    "no_meta_tag": ('{"math_notion": ["a"], "pass_rate": 2, "solution_length": 9}', ("a",), 2.0,
                    9.0, "ok", ["no_meta_tag"]),
    "truncated": (M + '{"math_notion": ["a", "b"], "pass_rate": 4, "solution_len', ("a", "b"),
                  4.0, None, "partial", ["regex"]),
    "key_value_lines": ("pass_rate: 5/8\nsolution_length = 40\nmath_notion: [carry, split]",
                        ("carry", "split"), 5.0, 40.0, "ok", ["regex", "no_meta_tag",
                                                              "pass_rate:fraction_string"]),
    "prose": ("I think pass rate: 3 and Solution Length = 120 tokens", None, 3.0, 120.0, "partial",
              ["regex"]),
    "garbage": ("the answer is probably easy", None, None, None, "unparseable", ["no_meta_tag"]),
    "empty": ("", None, None, None, "unparseable", ["no_meta_tag"]),
    "unrelated_json": (M + '{"answer": 5}', None, None, None, "unparseable", []),
    "unbalanced": (M + "{{{{ }", None, None, None, "unparseable", []),
}


@pytest.mark.parametrize("name", CASES)
def test_parse_meta_formats(name):
    text, notions, rate, length, status, tags = CASES[name]
    pred = parse_meta(text)
    assert (pred.notions, pred.pass_rate, pred.solution_length, pred.status) == \
        (notions, rate, length, status)
    assert set(tags) <= set(pred.fallbacks), pred.fallbacks
    assert "internal_error" not in pred.fallbacks


def test_clean_answer_uses_no_fallback_and_k_scales():
    assert parse_meta(CANON).fallbacks == ()
    # K = 4: pass_rate 5 is out of range, "1/2" is 2 of 4
    assert parse_meta(CANON, k=4).pass_rate is None
    assert parse_meta(M + '{"pass_rate": "1/2"}', k=4).pass_rate == 2.0
    # K = 1: 0.5 is already a share and is not scaled
    pred = parse_meta(M + '{"pass_rate": 0.5}', k=1)
    assert pred.pass_rate == 0.5 and "pass_rate:fraction_scaled" not in pred.fallbacks


def test_parse_meta_odd_inputs():
    assert parse_meta(None).status == "unparseable"  # type: ignore[arg-type]
    assert parse_meta(None).fallbacks == ("not_text",)  # type: ignore[arg-type]
    assert parse_meta("x" * 100_000 + CANON).pass_rate == 5.0
    assert parse_meta(CANON + " junk" * 8_000).pass_rate == 5.0          # 40k chars after it
    # a runaway completion is searched only in its last 50k characters: bounded time
    assert parse_meta(CANON + " junk" * 12_000).status == "unparseable"
    start = time.perf_counter()
    assert parse_meta('{"a": [1, {"b": 2}]} ' * 200_000).status == "unparseable"
    assert time.perf_counter() - start < 2.0
    assert parse_meta(M + '{"pass_rate": ' + "9" * 5000 + "}").pass_rate is None
    with pytest.raises(ValueError):
        parse_meta(CANON, k=0)


def test_summarise_parses_counts():
    preds = [parse_meta(CANON), parse_meta(CASES["pretty"][0]), parse_meta(CASES["missing_length"][0]),
             parse_meta("garbage"), parse_meta(M + '{"pass_rate": "3", "solution_length": "4"}')]
    s = summarise_parses(preds)
    assert s["n"] == 5
    assert s["parse_rate"] == pytest.approx(4 / 5)
    assert (s["ok_rate"], s["partial_rate"], s["unparseable_rate"]) == \
        pytest.approx((2 / 5, 2 / 5, 1 / 5))
    assert s["field_rates"] == pytest.approx(
        {"math_notion": 3 / 5, "pass_rate": 4 / 5, "solution_length": 3 / 5})
    assert s["fallbacks"] == {"pretty_json": 1, "no_meta_tag": 1, "pass_rate:numeric_string": 1,
                              "solution_length:numeric_string": 1}
    empty = summarise_parses([])
    assert empty["n"] == 0 and empty["parse_rate"] == 0.0 and empty["fallbacks"] == {}


# ---- notion normalisation -------------------------------------------------------------------

@pytest.mark.parametrize("raw, norm", [
    ("Fractions", "fraction"), ("properties", "property"), ("classes", "class"),
    ("gas", "gas"), ("analysis", "analysis"), ("radius", "radius"), ("boxes", "box"),
    ("inches", "inch"), ("vertices", "vertex"), ("series", "series"), ("Mathematics", "mathematics"),
    ("  Prime   Factorizations. ", "prime factorization"), ("'sums of squares'", "sum of square"),
    ("LCM", "lcm"), ("x-intercepts", "x-intercept"), ("carry", "carry"), ("!!", ""),
])
def test_normalise_notion(raw, norm):
    assert normalise_notion(raw) == norm


# ---- rewards --------------------------------------------------------------------------------

def test_pass_rate_reward_by_hand():
    assert pass_rate_reward(4, 0.5) == pytest.approx(1.0)                # exact hit
    assert pass_rate_reward(8, 0.5) == pytest.approx(0.1)                # |1 − 0.5| = 0.5 → 0.01^0.5
    assert pass_rate_reward(0, 0.5) == pytest.approx(0.1)
    assert pass_rate_reward(8, 0.0) == pytest.approx(0.01)               # error 1
    assert pass_rate_reward(2, 0.75, base=0.5) == pytest.approx(0.5 ** 0.5)
    assert pass_rate_reward(2, 0.75, k=4, base=0.5) == pytest.approx(0.5 ** 0.25)
    assert pass_rate_reward(None, 0.5) == 0.0
    assert pass_rate_reward(math.nan, 0.5) == 0.0
    for bad in ({"actual_pass_rate": 1.5}, {"actual_pass_rate": 0.5, "base": 0.0}):
        with pytest.raises(ValueError):
            pass_rate_reward(4, **bad)


def test_length_reward_edges():
    assert length_reward(10, [10, 20]) == 1.0
    assert length_reward(10, [10, 20], inclusive=False) == 0.0
    assert length_reward(20, [20, 10]) == 1.0 and length_reward(20, [20, 10], inclusive=False) == 0.0
    assert length_reward(15, [10, 20], inclusive=False) == 1.0
    assert length_reward(9.5, [10, 20]) == 0.0 and length_reward(21, [10, 20]) == 0.0
    # one correct rollout: inclusive rewards the exact length, strict never rewards anything
    assert length_reward(12, [12]) == 1.0
    assert length_reward(12, [12], inclusive=False) == 0.0
    assert length_reward(12, []) == 0.0 and length_reward(None, [10, 20]) == 0.0
    assert length_reward(math.inf, [10, 20]) == 0.0


PROBLEM = "Add the fractions 3/4 and 5/6."
TEXTS = ["Use a common denominator: lcm(4,6)=12, so 9/12+10/12 = \\boxed{19/12}",
         "The least common multiple of 4 and 6 is 12; common denominators give \\boxed{19/12}",
         "The lcm is 24, so \\boxed{38/24}... wrong",
         "Add numerators: 8/10 \\boxed{4/5}"]
CORRECT = [True, True, False, False]
NOTIONS = ["Fractions", "common denominator", "LCM", "least common multiple",
           "Common Denominators", "  ", "probability"]


def test_notion_details_and_reward_by_hand():
    details = notion_details(NOTIONS, PROBLEM, TEXTS, CORRECT)
    # "fraction" is in the problem: dropped; the plural duplicate is merged; blanks vanish
    assert details == {"common denominator": (2, 0), "lcm": (1, 1),
                       "least common multiple": (1, 0), "probability": (0, 0)}
    # f1 − f0 > 0 for 2 of the 4 new notions
    assert notion_reward(NOTIONS, PROBLEM, TEXTS, CORRECT) == pytest.approx(2 / 4)
    assert notion_reward(["fractions"], PROBLEM, TEXTS, CORRECT) == 0.0   # all dropped
    assert notion_reward(None, PROBLEM, TEXTS, CORRECT) == 0.0
    assert notion_reward([], PROBLEM, TEXTS, CORRECT) == 0.0
    assert notion_reward(["property"], "p", ["uses properties"], [True]) == 1.0
    with pytest.raises(ValueError):
        notion_reward(["lcm"], PROBLEM, TEXTS, CORRECT[:3])


LENGTHS = [80, 90, 200, 30]


def test_meta_reward_by_hand_and_ablations():
    pred = parse_meta(format_meta_answer("r", ["common denominator", "lcm"], 4, 87))
    # p = 2/4 = 0.5 = 4/8 → r_pass 1; 80 ≤ 87 ≤ 90 → r_len 1; 1 of 2 notions → 0.5
    r = meta_reward(pred, PROBLEM, TEXTS, CORRECT, LENGTHS)
    assert (r.r_pass, r.r_len, r.r_notion) == pytest.approx((1.0, 1.0, 0.5))
    assert r.total == pytest.approx(2.5 / 3)
    assert meta_reward(pred, PROBLEM, TEXTS, CORRECT, LENGTHS, parts=("pass", "notion")).total == \
        pytest.approx(0.75)
    assert meta_reward(pred, PROBLEM, TEXTS, CORRECT, LENGTHS, parts=("notion",)).total == 0.5
    for bad in ((), ("pass", "style"), "pass"):
        with pytest.raises(ValueError):
            meta_reward(pred, PROBLEM, TEXTS, CORRECT, LENGTHS, parts=bad)
    with pytest.raises(ValueError):
        meta_reward(pred, PROBLEM, TEXTS, CORRECT, LENGTHS[:3])


def test_meta_reward_edges():
    at_edge = parse_meta(format_meta_answer("r", [], 0, 80))
    r = meta_reward(at_edge, PROBLEM, TEXTS, CORRECT, LENGTHS)
    assert (r.r_pass, r.r_len, r.r_notion) == pytest.approx((0.1, 1.0, 0.0))
    assert meta_reward(at_edge, PROBLEM, TEXTS, CORRECT, LENGTHS, inclusive=False).r_len == 0.0
    partial = parse_meta(M + '{"pass_rate": 4}')
    assert meta_reward(partial, PROBLEM, TEXTS, CORRECT, LENGTHS).total == pytest.approx(1 / 3)
    nothing = MetaPrediction(("lcm",), 4.0, 85.0, "unparseable")
    assert meta_reward(nothing, PROBLEM, TEXTS, CORRECT, LENGTHS).total == 0.0
    all_wrong = meta_reward(parse_meta(format_meta_answer("r", ["lcm"], 0, 80)), PROBLEM, TEXTS,
                            [False] * 4, LENGTHS)
    assert (all_wrong.r_pass, all_wrong.r_len, all_wrong.r_notion) == (1.0, 0.0, 0.0)


# ---- Expert SFT target ----------------------------------------------------------------------

def test_expert_target_rewrites_statistics():
    # p = 5/16 → p·K = 2.5 → 3 (half-up); mean(80, 91) = 85.5 → 86
    target = expert_target(CANON, 5 / 16, [80, 91])
    assert target == ('<meta>mul add, 2 steps</meta>'
                      '{"math_notion": ["carry", "split"], "pass_rate": 3, "solution_length": 86}')
    pretty = "<meta>r</meta>\n{'math_notion': 'a; b', 'pass_rate': 0.5, 'solution_length': 3.5,}"
    assert expert_target(pretty, 1.0, [10]) == \
        '<meta>r</meta>{"math_notion": ["a", "b"], "pass_rate": 8, "solution_length": 10}'
    body = json.loads(expert_target('{"pass_rate": 2}', 0.25, [7, 8])[len("<meta></meta>"):])
    assert body == {"math_notion": [], "pass_rate": 2, "solution_length": 8}


def test_expert_target_skips():
    assert expert_target("garbage", 0.5, [10]) is None
    assert expert_target(CANON, 0.0, []) is None          # mean of correct lengths undefined
    assert expert_target(CANON, 0.0, [], keep_length_if_unsolved=True) == CANON.replace(
        '"pass_rate": 5', '"pass_rate": 0')
    assert expert_target(M + '{"pass_rate": 2}', 0.0, [], keep_length_if_unsolved=True) is None
    # a stray earlier close tag must not make format_meta_answer raise
    assert expert_target('<meta>a</meta>b</meta>{"pass_rate": 3}', 0.5, [3]) == \
        '<meta>ab</meta>{"math_notion": [], "pass_rate": 4, "solution_length": 3}'
    with pytest.raises(ValueError):
        expert_target(CANON, 1.5, [10])


# ---- fuzzing ----------------------------------------------------------------------------------

FRAGMENTS = ['{', '}', '[', ']', ',', ':', '"', "'", ' ', '\n', '```json', '<meta>', '</meta>',
             '"pass_rate":', '"solution_length":', '"math_notion":', "'pass_rate':", 'pass_rate=',
             'NaN', 'Infinity', '-Infinity', '1e999', '-1', '0', '0.5', '3', '8', '9', '87.5',
             '"5/8"', '"3/0"', '"50%"', 'null', 'true', '"a, b"', '["lcm", 2]', '{"x": {',
             '9' * 40, '"\\u00e9"', '\\', 'tokens']
fuzzy = st.one_of(st.text(max_size=300),
                  st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))


def check_prediction(pred, k):
    assert pred.status in ("ok", "partial", "unparseable")
    assert "internal_error" not in pred.fallbacks
    usable = [x is not None for x in (pred.notions, pred.pass_rate, pred.solution_length)]
    assert pred.status == ("ok" if all(usable) else "partial" if any(usable) else "unparseable")
    assert pred.pass_rate is None or 0 <= pred.pass_rate <= k
    assert pred.solution_length is None or (math.isfinite(pred.solution_length)
                                            and pred.solution_length > 0)
    assert pred.notions is None or all(isinstance(n, str) and n == n.strip() and n
                                       for n in pred.notions)


@settings(max_examples=400, deadline=None)
@given(text=fuzzy, k=st.sampled_from([1, 4, 8, 16]))
def test_parse_meta_never_raises(text, k):
    check_prediction(parse_meta(text, k), k)


@settings(max_examples=200, deadline=None)
@given(text=fuzzy, problem=st.text(max_size=40),
       rollouts=st.lists(st.tuples(fuzzy, st.booleans(), st.integers(1, 300)), min_size=1,
                         max_size=6),
       inclusive=st.booleans())
def test_rewards_stay_in_unit_interval(text, problem, rollouts, inclusive):
    pred = parse_meta(text)
    texts, correct, lengths = map(list, zip(*rollouts))
    r = meta_reward(pred, problem, texts, correct, lengths, inclusive=inclusive)
    for value in (r.r_pass, r.r_len, r.r_notion, r.total):
        assert 0.0 <= value <= 1.0
    assert r.total == pytest.approx((r.r_pass + r.r_len + r.r_notion) / 3)
    correct_lengths = [n for n, c in zip(lengths, correct) if c]
    assert length_reward(pred.solution_length, correct_lengths, True) >= \
        length_reward(pred.solution_length, correct_lengths, False)
    target = expert_target(text, sum(correct) / len(correct), correct_lengths)
    if target is not None:
        again = parse_meta(target)
        assert again.status == "ok" and again.fallbacks == ()
        assert again.pass_rate == math.floor(sum(correct) / len(correct) * 8 + 0.5)
        assert again.solution_length == math.floor(sum(correct_lengths) / len(correct_lengths) + 0.5)


@settings(max_examples=200, deadline=None)
@given(pred=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       actual=st.floats(0, 1), k=st.integers(1, 16), base=st.floats(1e-6, 1))
def test_pass_rate_reward_in_unit_interval(pred, actual, k, base):
    r = pass_rate_reward(pred, actual, k, base)
    assert 0.0 <= r <= 1.0
    if pred is not None and math.isfinite(pred) and pred / k == actual:
        assert r == 1.0


words = st.text("abcdefgh ", min_size=1, max_size=12).filter(lambda s: s.strip())


@settings(max_examples=200, deadline=None)
@given(reasoning=st.text(max_size=60).filter(lambda s: "</meta>" not in s),
       notions=st.lists(words, max_size=4), rate=st.integers(0, 8), length=st.integers(1, 10**6))
def test_canonical_answer_round_trips(reasoning, notions, rate, length):
    pred = parse_meta(format_meta_answer(reasoning, notions, rate, length))
    assert (pred.notions, pred.pass_rate, pred.solution_length) == \
        (tuple(n.strip() for n in notions), rate, length)
    assert pred.status == "ok" and pred.fallbacks == ()


# ---- issue 10 -------------------------------------------------------------------------------

def test_a_model_that_copies_the_format_example_predicts_nothing():
    """The example used to show "pass_rate": 0: a model copying it was read as a confident
    "all wrong" and gated. Now the placeholders parse as no prediction."""
    from masa_lite.efficient.gate import gate_prompts

    prompt = build_meta_prompt("What is 2+3?", k=8)
    example = prompt[prompt.index("Format: ") + len("Format: "):]
    pred = parse_meta(example)
    assert pred.pass_rate is None and pred.solution_length is None
    assert gate_prompts([[p.pass_rate for p in [pred] * 8 if p.pass_rate is not None]]) == [False]


META_ADVERSARIAL = {
    "spaces_before_unit": '{"solution_length": "5' + " " * 60_000 + 'x"}',
    "spaces_value": "solution_length: '5" + " " * 60_000 + "'",
    "nested_literal": "{" * 64 + "[1, 2, 'x', None, {'a': (1,2)}], " * 1_500 + "}" * 64,
    "near_json": ('{"pass_rate": 3, "math_notion": [' + '"a", ' * 10_000 + "}") * 2,
    "many_blocks": '{"pass_rate": 1,}' * 4_000,
    "open_braces": "{" * 60_000,
    "close_braces": "}" * 60_000,
    "keys": '"pass_rate": ' * 5_000,
    "fractions": "pass_rate: " + "1/" * 30_000,
}


@pytest.mark.parametrize("name", sorted(META_ADVERSARIAL))
def test_parser_worst_cases_are_bounded(name):
    text = META_ADVERSARIAL[name]
    assert len(text) >= 40_000
    t0 = time.perf_counter()
    pred = parse_meta(text)
    took = time.perf_counter() - t0
    assert took < 1.0, f"{name}: {took:.2f} s"
    assert "internal_error" not in pred.fallbacks
