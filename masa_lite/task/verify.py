"""Answer extraction and checking for the GRPO reward.

``extract_answer`` takes the last ``\\boxed{}`` — the method's rule. With ``fallback=True``
(``grpo.answer_fallback``, off by default) a completion without a box is also read by
"the answer is ..." and then by its last number; the rule used is named so training can count
fallbacks. With ``grpo.format_reward`` = 0 the fallback rewards unformatted answers, which is why it
is an explicit switch. ``verify_answer`` then compares:

* Fast path (the synthetic arithmetic task): two plain numbers (``1,234``, ``-0.5``, ``3/4``,
  ``\\frac{1}{2}``) are compared exactly as ``Fraction`` in microseconds, without math-verify.
* Otherwise HuggingFace math-verify (https://github.com/huggingface/Math-Verify) decides.
  Its built-in timeout uses ``signal.alarm``, which only works in the main thread
  (huggingface/Math-Verify issues #50 and #55), so we call ``parse``/``verify`` with
  ``parsing_timeout=None`` / ``timeout_seconds=None`` and bound the time ourselves.
  A daemon thread with ``join(timeout)`` is not enough: on ``9^{9^{9}}`` or
  ``\\sqrt{2^{99999}+1}`` sympy sits inside CPython big-int arithmetic that holds the GIL,
  and ``join(1.0)`` in the caller did not return for over 20 s (measured, math-verify 0.9).
  So math-verify runs in small persistent worker subprocesses; we wait on their pipe with
  ``select`` (works from any thread) and kill a worker that overruns ``timeout_s``.
  A cheap pre-check first rejects inputs known to blow up (power and factorial towers,
  huge exponents, strings over 1000 chars) so they never reach a worker.

Rewards under a time limit depend on machine load: an answer that math-verify checks in 1.2 s on
an idle machine can run past a 2 s limit on a loaded one and score 0. The limit is
``grpo.verify_timeout_s`` (reported in every step's metrics as ``verify_timeout_s``, with the
count of answers that hit it as ``verify_timeouts``); raise it when timeouts appear.

Worst cases are linear: answers longer than ``MAX_ANSWER_CHARS`` are never cleaned or parsed as
numbers (they could not be checked anyway), and the wrapper-stripping loops move indices instead
of copying the string once per layer.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Verdict", "extract_answer", "last_boxed", "verify_answer", "is_correct", "verify_batch"]

MAX_CHARS = 1000  # longer answers are not sent to sympy
MAX_ANSWER_CHARS = 10_000  # longer answers are not cleaned or read as numbers (scored "timeout")
MAX_EXPONENT = 100_000  # 2^{99999999} takes >1 s in sympy; 10^{100000} takes ~0.1 s
MAX_FACTORIAL = 5_000

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])([ \t]*)")
_TOKEN_RE = re.compile(r"[^\s$]*")
_GROUP_RE = {"{": re.compile(r"[{}]"), "(": re.compile(r"[()]")}
_PHRASE_RE = re.compile(r"\banswer\b[^\n.]{0,40}?(?:\bis\b|:|=)[ \t:]*([^\n]+)|####[ \t]*([^\n]+)", re.I)
_NUM_RE = re.compile(
    r"(?:(?<![\w)])-)?(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?(?:\s*/\s*[0-9]+)?")
_CUT_RE = re.compile(r"(?<![0-9])[.;](?![0-9])|\s(?:because|since|so|which)\b")


def _group(s: str, i: int) -> tuple[str | None, int]:
    """Content of the balanced group opened by ``s[i]`` ("{" or "(") and the index after it."""
    depth = 0
    for m in _GROUP_RE[s[i]].finditer(s, i):
        depth += 1 if m.group() == s[i] else -1
        if depth == 0:
            return s[i + 1 : m.start()], m.end()
    return None, len(s)  # unclosed


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed X``."""
    if not isinstance(text, str):
        return None
    for m in reversed(list(_BOX_RE.finditer(text))[-20:]):  # cap: each try is O(len)
        if text[m.end() : m.end() + 1] == "{":
            content = _group(text, m.end())[0]
        else:  # "\boxed 42" takes the next token; a bare "\boxed" takes nothing
            content = _TOKEN_RE.match(text, m.end()).group() if m.group(1) else None
        if content is not None:
            return content
    return None


def _clean(ans: str) -> str:
    """Strip whitespace, trailing punctuation and ``$..$`` / ``\\(..\\)`` / ``\\[..\\]`` wrappers.

    Layer by layer as ``s.strip().rstrip(".,;").strip()`` then each wrapper once, until nothing
    changes — but on indices, so ``$$$…x…$$$`` costs O(n), not a copy per layer. Over
    ``MAX_ANSWER_CHARS`` only the outer whitespace is stripped."""
    if len(ans) > MAX_ANSWER_CHARS:
        return ans.strip()
    i, j = 0, len(ans)
    while True:
        before = (i, j)
        while i < j and ans[i].isspace():
            i += 1
        while j > i and (ans[j - 1].isspace() or ans[j - 1] in ".,;"):
            j -= 1  # strip + rstrip(".,;") + strip, repeated, removes the same characters
        for a, b in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if j - i >= len(a) + len(b) and ans.startswith(a, i, j) and ans.endswith(b, i, j):
                i, j = i + len(a), j - len(b)
        if (i, j) == before:
            return ans[i:j]


def extract_answer(text: str, fallback: bool = False) -> tuple[str | None, str]:
    """Return ``(answer, method)`` with method in {"boxed", "phrase", "last_number", "none"}.

    The method reads the last ``\\boxed{}`` only; ``fallback=True`` (``grpo.answer_fallback``)
    also tries "the answer is …" / "#### …" and then the last number."""
    if not isinstance(text, str) or not text.strip():
        return None, "none"
    boxed = last_boxed(text)
    if boxed is not None and (ans := _clean(boxed)):
        return ans, "boxed"
    if not fallback:
        return None, "none"
    for m in list(_PHRASE_RE.finditer(text))[-1:]:
        if ans := _clean(_CUT_RE.split(_clean(m.group(1) or m.group(2)), maxsplit=1)[0]):
            return ans, "phrase"
    nums = _NUM_RE.findall(text)
    return (nums[-1].replace(" ", ""), "last_number") if nums else (None, "none")


_STRIP_RE = re.compile(r"\\?\$|\\!|\\,|\\;|\\ |\\left|\\right|\s")
_THOUSANDS_RE = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_DEC_RE = re.compile(r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:/([0-9]+))?")
_FRAC_RE = re.compile(r"([+-]?)\\[dt]?frac(?:\{([+-]?[0-9]+)\}\{([+-]?[0-9]+)\}|([0-9])([0-9]))")


def _to_number(s: str) -> Fraction | None:
    """Exact value of a plain number (int, decimal, a/b, \\frac{a}{b}); None otherwise.
    Linear: balanced outer ``{}``/``()`` are peeled by index, and answers over
    ``MAX_ANSWER_CHARS`` are not numbers we read (Python refuses ints over 4300 digits anyway)."""
    if len(s) > MAX_ANSWER_CHARS:
        return None
    s = _STRIP_RE.sub("", s.replace("{,}", ",")).rstrip(".")
    i, j = 0, len(s)
    while j - i >= 2 and s[i] + s[j - 1] in ("{}", "()"):
        i, j = i + 1, j - 1
    s = s[i:j]
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")
    try:  # ValueError also covers ints over Python's 4300-digit str limit
        if m := _DEC_RE.fullmatch(s):
            val = Fraction(m.group(2)) / int(m.group(3) or 1)
        elif m := _FRAC_RE.fullmatch(s):
            val = Fraction(int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5)))
        else:
            return None
        return -val if m.group(1) == "-" else val
    except (ValueError, ZeroDivisionError):
        return None


_POW_RE = re.compile(r"\^|\*\*")
_ATOM_RE = re.compile(r"-?[0-9]+|\\?[a-zA-Z]+|.?")


def _operand(s: str, i: int) -> tuple[str, int]:
    """Exponent operand starting at ``s[i]`` and the index just after it."""
    while s[i : i + 1] == " ":
        i += 1
    if s[i : i + 1] in ("{", "("):
        content, end = _group(s, i)
        return (s[i + 1 :] if content is None else content), end
    m = _ATOM_RE.match(s, i)
    return m.group(), m.end()


def _too_expensive(s: str) -> bool:
    """Cheap syntactic check for inputs on which sympy is known to hang."""
    if len(s) > MAX_CHARS or "!!" in s.replace(" ", ""):
        return True  # math-verify reads "5!!" as (5!)!, "100!!" never finishes
    for m in _POW_RE.finditer(s):
        exp, end = _operand(s, m.end())
        symbolic = re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", exp))
        tower = _POW_RE.search(exp) or "!" in exp or _POW_RE.match(s[end:].lstrip())
        if tower and not symbolic:
            return True  # 9^{9^{9}}, 10^{10^{10}}, 2**3**40
        if any(len(n) > 6 or int(n) > MAX_EXPONENT for n in re.findall(r"[0-9]+", exp)):
            return True  # 2^{99999999}
    return any(not n.isdigit() or len(n) > 6 or int(n) > MAX_FACTORIAL  # (10^{6})!, 123456!
               for n in re.findall(r"([0-9]+|[})\]])\s*!", s))


_WORKER_SRC = r"""
import json, logging, sys
logging.disable(logging.CRITICAL)
out, sys.stdout = sys.stdout, sys.stderr
from math_verify import parse, verify
check = lambda g, p: verify(parse(g, parsing_timeout=None), parse(p, parsing_timeout=None),
                            timeout_seconds=None)
def cap():  # if the parent dies mid-request, the kernel still stops us with SIGXCPU
    try:
        import resource as R
        u, hard = R.getrusage(R.RUSAGE_SELF), R.getrlimit(R.RLIMIT_CPU)[1]
        soft = int(u.ru_utime + u.ru_stime) + 60
        R.setrlimit(R.RLIMIT_CPU, (soft if hard == R.RLIM_INFINITY else min(soft, hard), hard))
    except Exception:
        pass
check("$1$", "$1$")  # warm up lazy imports before we say ready
out.write("ready\n"); out.flush()
for line in sys.stdin:
    try:
        cap()
        out.write("1\n" if check(*json.loads(line)) else "0\n")
    except Exception:
        out.write("E\n")
    out.flush()
"""
_IDLE: list[subprocess.Popen] = []
_IDLE_LOCK = threading.Lock()
_MAX_IDLE, _STARTUP_S = 8, 60.0  # idle workers kept; seconds allowed for a worker to start


def _readline(proc: subprocess.Popen, timeout_s: float) -> bytes | None:
    """One line from the worker; None if none arrives within ``timeout_s``, b"" if it died."""
    deadline, buf, fd = time.monotonic() + timeout_s, b"", proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 64)
        if not chunk:
            return b""  # worker died
        buf += chunk
    return buf.strip()


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill(), proc.wait(timeout=5)
    except Exception:
        pass


def _acquire() -> subprocess.Popen:
    """An idle worker, or a fresh one (imports math-verify once, ~0.5 s)."""
    with _IDLE_LOCK:
        if _IDLE:
            return _IDLE.pop()
    proc = subprocess.Popen([sys.executable, "-c", _WORKER_SRC], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if _readline(proc, _STARTUP_S) != b"ready":
        _kill(proc)
        raise RuntimeError("math-verify worker did not start")
    return proc


def _release(proc: subprocess.Popen) -> None:
    with _IDLE_LOCK:
        if len(_IDLE) < _MAX_IDLE:
            return _IDLE.append(proc)
    _kill(proc)


# A forked child (e.g. a DataLoader worker) must not talk to its parent's workers.
os.register_at_fork(after_in_child=lambda: globals().update(_IDLE=[], _IDLE_LOCK=threading.Lock()))


@atexit.register
def _shutdown() -> None:
    for proc in list(_IDLE):
        _kill(proc)


def _math_verify(gold: str, pred: str, timeout_s: float) -> str:
    """Run math-verify in a worker process; returns "1", "0", "timeout" or "error"."""
    proc, line = None, b"E"
    try:
        proc = _acquire()
        proc.stdin.write((json.dumps([gold, pred]) + "\n").encode())
        proc.stdin.flush()
        line = _readline(proc, timeout_s)
    except Exception:  # no worker (spawn failed, non-POSIX select), broken pipe
        pass
    if line in (b"1", b"0"):
        _release(proc)
        return line.decode()
    _kill(proc)  # stuck or broken: never reuse it (a no-op for None)
    return "timeout" if line is None else "error"


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check. ``status``: "ok", "no_answer", "timeout" (over ``timeout_s`` or
    rejected by the pre-check as too expensive to check) or "error" (checker failure)."""

    correct: bool
    extracted: str | None
    method: str
    status: str


def _as_str(x: object) -> str:
    return x if isinstance(x, str) else "" if x is None else str(x)


DEFAULT_TIMEOUT_S = 2.0  # grpo.verify_timeout_s


def verify_answer(completion: str, reference: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                  fallback: bool = False) -> Verdict:
    """Extract the answer from ``completion`` and compare it with ``reference``. Never raises.

    ``timeout_s`` bounds math-verify (plain numbers never reach it); a check that runs out of time
    is a "timeout" verdict and scores 0, so near the limit the verdict depends on machine load.
    ``fallback``: also read answers without ``\\boxed{}`` (:func:`extract_answer`)."""
    try:
        ans, method = extract_answer(_as_str(completion), fallback=fallback)
        if ans is None:
            return Verdict(False, None, method, "no_answer")
        ref = _clean(last_boxed(_as_str(reference)) or _as_str(reference))
        a, b = _to_number(ans), _to_number(ref)
        if a is not None and b is not None:
            return Verdict(a == b, ans, method, "ok")
        if not ref or _too_expensive(ans) or _too_expensive(ref):
            return Verdict(False, ans, method, "timeout" if ref else "error")
        res = _math_verify(f"${ref}$", f"\\boxed{{{ans}}}", timeout_s)
        return Verdict(res == "1", ans, method, "ok" if res in ("1", "0") else res)
    except Exception:
        return Verdict(False, None, "none", "error")


def is_correct(completion: str, reference: str, fallback: bool = False) -> bool:
    """True iff ``verify_answer`` says the completion is correct."""
    return verify_answer(completion, reference, fallback=fallback).correct


def verify_batch(completions, references, timeout_s: float = DEFAULT_TIMEOUT_S,
                 fallback: bool = False) -> list[Verdict]:
    """``verify_answer`` over pairs; raises ValueError only if the lengths differ."""
    completions, references = list(completions), list(references)
    if len(completions) != len(references):
        raise ValueError(f"{len(completions)} completions vs {len(references)} references")
    return [verify_answer(c, r, timeout_s, fallback) for c, r in zip(completions, references)]
