"""Warnings that keep RL from failing silently, and the JSONL history."""

from masa_lite.history import History, read_history, drift_warnings, signal_warnings


def test_warnings_name_each_lost_signal():
    assert signal_warnings({"zero_variance_frac": 0.5, "truncated_frac": 0.0, "loss": 0.1,
                            "grad_norm": 0.2}) == []
    w = signal_warnings({"zero_variance_frac": 1.0, "truncated_frac": 1.0, "loss": 0.0,
                         "grad_norm": 0.0, "verify_timeouts": 3, "meta_parse_rate": 0.2,
                         "cut_frac": 0.5})
    text = " | ".join(w)
    for part in ("zero-variance", "token limit", "not being updated", "3 answers hit the verifier",
                 "20% of meta predictions parsed", "50% of rollouts were cut"):
        assert part in text, part
    assert any("diverged" in x for x in signal_warnings({"loss": float("nan")}))
    # masa-tiny's lost solvers run about 30 % of rollouts to the limit by design: no warning there
    assert signal_warnings({"truncated_frac": 0.35}) == []
    assert "60% of rollouts hit" in signal_warnings({"truncated_frac": 0.6})[0]
    # an undefined precision (no gated prompt yet) is not divergence
    assert signal_warnings({"gate_precision": float("nan")}) == []


def test_history_writes_strict_json_and_restores(tmp_path):
    h = History(tmp_path, ["jsonl"])
    h.log({"step": 1, "x": float("nan"), "nested": {"y": float("inf")}})
    assert read_history(tmp_path) == [{"step": 1, "x": None, "nested": {"y": None}}]
    h2 = History(tmp_path, ["jsonl"], records=[{"step": 1}])  # a resumed run rewrites its file
    h2.log({"step": 2})
    assert read_history(tmp_path) == [{"step": 1}, {"step": 2}]


def test_verifier_errors_and_the_time_limit_are_named():
    """Garbage gold answers used to train at accuracy 0 with only a count of verify_errors."""
    w = " | ".join(signal_warnings({"verify_errors": 4, "verify_timeouts": 2, "verify_timeout_s": 2.0}))
    assert "4 answers could not be checked" in w and "reference answer may be malformed" in w
    assert "time limit of 2 s" in w and "grpo.verify_timeout_s" in w
    assert signal_warnings({"verify_errors": 0, "verify_timeouts": 0}) == []


def _steps(lengths, accuracies):
    return [{"kind": "train", "step": i + 1, "len_mean": n, "accuracy": a}
            for i, (n, a) in enumerate(zip(lengths, accuracies))]


def test_drift_warning_names_growing_solutions_with_falling_accuracy():
    # 10 steps at length 80, accuracy 0.7, then 5 at length 120 (1.5 ×), accuracy 0.4 (−0.3)
    drift = _steps([80] * 10 + [120] * 5, [0.7] * 10 + [0.4] * 5)
    (w,) = drift_warnings(drift)
    assert "80 → 120 tokens" in w and "0.70 → 0.40" in w
    # an eval record in between is not a training step, and a step without lengths is skipped
    mixed = (drift[:12] + [{"kind": "eval", "step": 12, "pass@1": 0.1}, {"kind": "train", "step": 13}]
             + drift[12:])
    assert len(drift_warnings(mixed)) == 1


def test_drift_warning_stays_quiet_without_both_signs_or_enough_steps():
    assert drift_warnings(_steps([80] * 10 + [120] * 5, [0.7] * 15)) == []        # longer, as accurate
    assert drift_warnings(_steps([80] * 15, [0.7] * 10 + [0.4] * 5)) == []        # worse, not longer
    assert drift_warnings(_steps([80] * 10 + [100] * 5, [0.7] * 10 + [0.4] * 5)) == []  # 1.25 × only
    assert drift_warnings(_steps([80] * 9 + [120] * 5, [0.7] * 9 + [0.4] * 5)) == []  # 14 steps
