"""Tests for masa_lite.task.verify: extraction, exact fast path, math-verify path, threads, hangs."""

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masa_lite.task import verify as V
from masa_lite.task.verify import Verdict, extract_answer, is_correct, last_boxed, verify_answer, verify_batch

STATUSES = {"ok", "no_answer", "timeout", "error"}


@pytest.fixture
def no_math_verify(monkeypatch):
    """Make any call into math-verify fail loudly: proves a check stayed on the fast path."""

    def boom(*a, **k):
        raise AssertionError("math-verify was called")

    monkeypatch.setattr(V, "_math_verify", boom)


# ----------------------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    "text, expected",
    [
        (r"so \boxed{\frac{1}{\sqrt{2}}}.", r"\frac{1}{\sqrt{2}}"),
        (r"\boxed{1} no wait \boxed{2}", "2"),
        (r"\fbox{7}", "7"),
        (r"\boxed 42 done", "42"),
        (r"\boxed{\left\{1, 2\right\}}", r"\left\{1, 2\right\}"),
        (r"good \boxed{5} then truncated \boxed{6", "5"),  # unclosed last box is skipped
        ("no box here", None),
        (r"\boxed", None),
        (r"\boxedfoo{3}", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "text, answer, method",
    [
        (r"Thus $\boxed{-3}$.", "-3", "boxed"),
        (r"\boxed{1} and finally \boxed{ 2 }", "2", "boxed"),
        ("So the final answer is 17.", "17", "phrase"),
        (r"The final answer is $\frac{1}{2}$. Done", r"\frac{1}{2}", "phrase"),
        ("Answer: 1,234", "1,234", "phrase"),
        ("The answer to the question is 5 because 2+3=5", "5", "phrase"),
        ("blah\n#### 72", "72", "phrase"),
        ("We get 3 apples and then 4 pears.", "4", "last_number"),
        ("the range is 3-5", "5", "last_number"),
        ("x = -2.5", "-2.5", "last_number"),
        ("we answered nothing", None, "none"),
        ("", None, "none"),
        ("   \n", None, "none"),
        (r"\boxed{}", None, "none"),  # an empty box is no answer and there is nothing else
    ],
)
def test_extract_answer(text, answer, method):
    assert extract_answer(text, fallback=True) == (answer, method)
    # the method's rule (the default): the last \boxed{} only
    assert extract_answer(text) == ((answer, method) if method == "boxed" else (None, "none"))


# ----------------------------------------------------------------------------- fast path
@pytest.mark.parametrize(
    "pred, ref, ok",
    [
        ("3/4", r"\frac{3}{4}", True),
        ("0.75", "3/4", True),
        ("0.5", r"\frac{1}{2}", True),
        (r"\dfrac{1}{2}", "0.5", True),
        (r"\frac12", "1/2", True),
        ("2/3", "0.67", False),
        (r"-\frac{1}{2}", "-0.5", True),
        (r"\frac{-1}{2}", "-1/2", True),
        ("-3", "3", False),
        ("1,234", "1234", True),
        ("1{,}234", "1234", True),
        (r"\$1,234.", "1234", True),
        ("$-7$", "-7", True),
        ("1,234", "1235", False),
        ("1\\!234", "1234", True),
        ("42", "42.0", True),
        ("10", "1/0", False),  # 1/0 is not a number: goes to math-verify, which says no
    ],
)
def test_numeric_pairs(pred, ref, ok):
    v = verify_answer(rf"\boxed{{{pred}}}", ref)
    assert (v.correct, v.status, v.method) == (ok, "ok", "boxed")


def test_fast_path_skips_math_verify(no_math_verify):
    assert verify_answer(r"The answer is \boxed{\frac{1}{2}}", "0.5").correct
    assert not verify_answer("so it is 7", "8").correct
    assert verify_answer("answer: 1,000,000", "1000000", fallback=True) == \
        Verdict(True, "1,000,000", "phrase", "ok")


def test_fast_path_is_cheap(no_math_verify):
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        verify_answer(r"12 + 30 = 42, so the answer is \boxed{42}.", "42")
    per_call = (time.perf_counter() - t) / n
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} us per call"


def test_huge_numbers(no_math_verify):
    big = "9" * 200
    assert verify_answer(rf"\boxed{{{big}}}", big).correct
    assert not verify_answer(rf"\boxed{{{big}}}", big[:-1] + "8").correct
    assert verify_answer(rf"\boxed{{{10**60}/2}}", str(5 * 10**59)).correct


def test_number_past_int_str_limit_does_not_raise():
    huge = "7" * 6000  # over CPython's 4300-digit int parsing limit and MAX_CHARS
    v = verify_answer(rf"\boxed{{{huge}}}", "7")
    assert v.status == "timeout" and not v.correct


# ----------------------------------------------------------------------------- math-verify path
@pytest.mark.parametrize(
    "pred, ref, ok",
    [
        (r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}", True),
        (r"\frac{1}{\sqrt{2}}", r"\frac{\sqrt{2}}{2}", True),  # nested braces in the box
        ("x=3", "3", True),  # math-verify 0.9 compares the right-hand side
        ("x = 3", "4", False),
        (r"\sqrt{3}", r"\frac{\sqrt{2}}{2}", False),
        ("1+1", "2", True),
        ("(1, 2)", "(1,2)", True),
    ],
)
def test_symbolic_through_math_verify(pred, ref, ok):
    v = verify_answer(rf"\boxed{{{pred}}}", ref)
    assert (v.correct, v.status) == (ok, "ok")


def test_reference_may_be_boxed_or_dollared():
    assert verify_answer(r"\boxed{\sqrt{2}/2}", r"$\boxed{\frac{\sqrt{2}}{2}}$").correct
    assert verify_answer(r"\boxed{0.5}", r"$\frac{1}{2}$").correct


def test_empty_and_odd_inputs():
    assert verify_answer("", "3") == Verdict(False, None, "none", "no_answer")
    assert verify_answer(None, "3") == Verdict(False, None, "none", "no_answer")
    assert verify_answer(r"\boxed{3}", 3).correct  # non-str reference is stringified
    assert verify_answer(r"\boxed{3}", "").status == "error"
    assert not is_correct("no idea", "3")
    assert is_correct(r"\boxed{3}", "3")


def test_verdict_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        verify_answer(r"\boxed{1}", "1").correct = False


def test_verify_batch():
    comps = [r"\boxed{1}", "answer: 2", "", r"\boxed{\sqrt{2}/2}"]
    refs = ["1", "2", "1", r"\frac{\sqrt{2}}{2}"]
    assert [v.correct for v in verify_batch(comps, refs)] == [True, False, False, True]
    assert verify_batch(comps, refs) == [verify_answer(c, r) for c, r in zip(comps, refs)]
    assert [v.correct for v in verify_batch(comps, refs, fallback=True)] == [True, True, False, True]
    with pytest.raises(ValueError):
        verify_batch(comps, refs[:-1])


def test_worker_start_failure_is_an_error_verdict(monkeypatch):
    monkeypatch.setattr(V, "_IDLE", [])
    monkeypatch.setattr(V.sys, "executable", "/nonexistent/python")
    v = verify_answer(r"\boxed{\sqrt{2}}", r"\sqrt{2}")
    assert v == Verdict(False, r"\sqrt{2}", "boxed", "error")


# ----------------------------------------------------------------------------- threads
CASES = [
    (r"\boxed{\frac{1}{2}}", "0.5"),
    (r"\boxed{\sqrt{2}/2}", r"\frac{\sqrt{2}}{2}"),
    (r"\boxed{x=3}", "3"),
    (r"\boxed{\sqrt{3}}", r"\sqrt{2}"),
    (r"the answer is \boxed{1,234}", "1234"),
    ("", "1"),
] * 3


def test_worker_threads_match_main_thread():
    main = [verify_answer(c, r) for c, r in CASES]
    assert [v.correct for v in main[:6]] == [True, True, True, False, True, False]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda cr: verify_answer(*cr), CASES))
    assert threaded == main


# ----------------------------------------------------------------------------- hangs
@pytest.mark.parametrize(
    "expr",
    [r"9^{9^{9^{9}}}", r"10^{10^{10}}", r"2^{99999999}", "2**3**40", r"100!!!", r"5!!", r"(10^{6})!", "x+" * 600],
)
def test_guard_rejects_known_hangs(expr):
    t = time.perf_counter()
    v = verify_answer(rf"\boxed{{{expr}}}", "3")
    assert (v.correct, v.status) == (False, "timeout")
    assert time.perf_counter() - t < 0.05


@pytest.mark.parametrize("expr", [r"e^{-x^2}", r"2^{10}", r"10!", r"x^2+1", r"\frac{\sqrt{2}}{2}", r"2^{2024}"])
def test_guard_accepts_ordinary_answers(expr):
    assert not V._too_expensive(expr)


HANG = r"\boxed{\sqrt{2^{99999}+1}}"  # passes the guard; sympy runs > 15 s holding the GIL


def _bounded(fn, *args, limit=10.0):
    """Run fn in a daemon thread so that a broken bound fails the test instead of hanging it."""
    box = []
    th = threading.Thread(target=lambda: box.append(fn(*args)), daemon=True)
    th.start()
    th.join(limit)
    assert box, f"{fn.__name__}{args} did not return within {limit} s"
    return box[0]


def test_hang_past_guard_is_killed_in_time():
    assert not V._too_expensive(last_boxed(HANG))
    t = time.perf_counter()
    v = _bounded(verify_answer, HANG, "3", 1.0)
    assert (v.correct, v.status) == (False, "timeout")
    assert time.perf_counter() - t < 4.0
    assert verify_answer(r"\boxed{\sqrt{2}/2}", r"\frac{\sqrt{2}}{2}").correct  # pool recovers


def test_hang_in_one_thread_does_not_block_another():
    box = []
    hung = threading.Thread(target=lambda: box.append((verify_answer(HANG, "3", 3.0), time.perf_counter())))
    hung.daemon = True
    t = time.perf_counter()
    hung.start()
    assert _bounded(verify_answer, r"\boxed{x=3}", "3", 5.0).correct
    fine_done = time.perf_counter()
    hung.join(10)
    assert [v.status for v, _ in box] == ["timeout"]
    assert fine_done < box[0][1] < t + 6.0  # the other thread finished first, the hung one in time


# ----------------------------------------------------------------------------- fuzz
TOKENS = list("0123456789{}()[]^!$,./-+=x \\\n") + ["\\boxed", "\\fbox", "\\frac", "\\sqrt", "answer: ", "**"]
LATEXY = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), LATEXY), st.one_of(st.text(max_size=20), LATEXY))
def test_never_raises_fast(text, ref):
    for fallback in (False, True):
        ans, method = extract_answer(text, fallback=fallback)
        assert method in {"boxed", "phrase", "last_number", "none"} and (ans is None) == (method == "none")
    assert V._to_number(text) is None or len(text) > 0
    assert isinstance(V._too_expensive(text), bool)
    with mock.patch.object(V, "_math_verify", return_value="0"):  # the real one is fuzzed below
        v = verify_answer(text, ref)
    assert isinstance(v, Verdict) and v.status in STATUSES and isinstance(v.correct, bool)


@settings(max_examples=15, deadline=None)
@given(LATEXY.map(lambda s: r"\boxed{" + s + "}"))
def test_never_raises_through_math_verify(text):
    v = verify_answer(text, r"\frac{\sqrt{2}}{2}", timeout_s=2.0)
    assert v.status in STATUSES and isinstance(v.correct, bool)


# ----------------------------------------------------------------------------- issue 10
def test_unboxed_answers_score_only_with_the_fallback_switch():
    """The method reads the last \\boxed{}; "the answer is 7" / a last number count only with
    grpo.answer_fallback=true (with format_reward 0 they would reward unformatted answers)."""
    from masa_lite.config import load_config
    from masa_lite.grpo.rewards import score_rollouts
    from masa_lite.grpo.rollout import Rollout

    def score(cfg):
        ros = [Rollout(0, "p", "so the answer is 7", [1], 1, "eos"),
               Rollout(0, "p", "we get 3 then 7", [1], 1, "eos"),
               Rollout(0, "p", r"\boxed{7}", [1], 1, "eos")]
        rewards, info = score_rollouts(ros, [{"answer": "7"}], cfg)
        return rewards.tolist(), info

    off, info = score(load_config("tiny"))
    assert off == [0.0, 0.0, 1.0] and info["answer_fallback_frac"] == 0 and info["no_answer_frac"] == 2 / 3
    on, info = score(load_config("tiny", overrides=["grpo.answer_fallback=true"]))
    assert on == [1.0, 1.0, 1.0] and info["answer_fallback_frac"] == 2 / 3
    assert score(None)[0] == off  # no config: the method's default


def test_verifier_time_limit_comes_from_the_config_and_is_reported(monkeypatch):
    from masa_lite.config import load_config
    from masa_lite.grpo.rewards import score_rollouts
    from masa_lite.grpo.rollout import Rollout

    seen = []
    monkeypatch.setattr(V, "_math_verify", lambda g, p, t: seen.append(t) or "timeout")
    cfg = load_config("tiny", overrides=["grpo.verify_timeout_s=7.5"])
    ros = [Rollout(0, "p", r"\boxed{\sqrt{2}}", [1], 1, "eos")]
    _, info = score_rollouts(ros, [{"answer": r"\sqrt{3}"}], cfg)
    assert seen == [7.5]
    assert info["verify_timeout_s"] == 7.5 and info["verify_timeouts"] == 1
    _, info = score_rollouts(ros, [{"answer": r"\sqrt{3}"}])
    assert seen[-1] == 2.0 and info["verify_timeout_s"] == 2.0


ADVERSARIAL = {  # ≥ 40k characters each; the wrapper loops used to copy the string once per layer
    "dollars": "$" * 200_000 + "x" + "$" * 200_000,
    "parens": "\\(" * 100_000 + "1" + "\\)" * 100_000,
    "brackets": "\\[" * 100_000 + "1" + "\\]" * 100_000,
    "braces": "{" * 200_000 + "1" + "}" * 200_000,
    "round": "(" * 200_000 + "1" + ")" * 200_000,
    "dots": "1" + " ." * 200_000,
    "spaces": " " * 200_000 + "5" + " " * 200_000,
    "digits": "1" * 400_000,
    "commas": "1," * 200_000,
    "carets": "2^" * 100_000 + "2",
    "bangs": "3!" * 100_000,
    "open boxes": "\\boxed{" * 20_000,
    "answer is": "the answer is " * 10_000,
    "fractions": "\\frac{1}{2}" * 20_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_lengths_are_checked_in_bounded_time(name, no_math_verify):
    """Worst cases are linear or cut by a length check that comes first: every call < 1 s."""
    text = ADVERSARIAL[name]
    assert len(text) >= 40_000
    for call in (lambda: V._clean(text), lambda: V._to_number(text),
                 lambda: extract_answer(text), lambda: extract_answer(text, fallback=True),
                 lambda: verify_answer(text, "1"), lambda: verify_answer(text, "1", fallback=True),
                 lambda: verify_answer(r"\boxed{" + text + "}", "1"),
                 lambda: verify_answer(r"\boxed{1}", text)):
        t0 = time.perf_counter()
        v = call()
        took = time.perf_counter() - t0
        assert took < 1.0, f"{name}: {took:.2f} s"
        assert not isinstance(v, Verdict) or v.status in STATUSES


def test_dependencies_name_only_extras_that_exist():
    """pyproject asked for math-verify[antlr4_13_2], an extra math-verify 0.9 does not declare
    under that name (pip warned on every install); the ANTLR runtime is named directly."""
    import importlib.metadata as md
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    reqs = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    for req in reqs.values():
        if req.extras:
            declared = set(md.metadata(req.name).get_all("Provides-Extra") or [])
            assert req.extras <= declared, (req, sorted(declared))
    assert not reqs["math-verify"].extras
    antlr = reqs["antlr4-python3-runtime"]
    assert antlr.specifier.contains(md.version("antlr4-python3-runtime"))
    assert str(antlr.specifier) == "==4.13.2"
