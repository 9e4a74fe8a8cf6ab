"""Run history: one JSON line per step on local disk (no accounts), optional TensorBoard / W&B,
and the warnings that keep RL from failing silently.

RL fails quietly: every group all-correct or all-wrong gives zero advantages, truncated
rollouts score 0, a verifier that times out looks like a wrong answer. :func:`signal_warnings`
turns a step's metrics into plain-language warnings that the trainer prints and records.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from masa_lite.files import read_jsonl, write_jsonl


def signal_warnings(m: dict) -> list[str]:
    """Warnings for a step's metrics ``m`` (keys the trainer writes; missing keys are skipped)."""
    out = []
    if m.get("zero_variance_frac") == 1.0:
        out.append("every group is zero-variance (all correct or all wrong): advantages are 0, "
                   "no learning signal this step")
    if m.get("truncated_frac", 0) >= 0.999:
        out.append("every rollout hit the token limit: raise rollout.max_new_tokens")
    elif m.get("truncated_frac", 0) > 0.5:  # masa-tiny's lost solvers alone run ~30 % to the limit
        out.append(f"{m['truncated_frac']:.0%} of rollouts hit rollout.max_new_tokens and score 0: "
                   "raise it if right solutions need more")
    if m.get("cut_frac", 0) > 0.3:
        out.append(f"{m['cut_frac']:.0%} of rollouts were cut by the predicted-length budget "
                   "(efficient.cutoff_factor) and score 0")
    loss, gnorm = m.get("loss"), m.get("grad_norm")
    if loss is not None and gnorm is not None and abs(loss) < 1e-9 and gnorm < 1e-9:
        out.append("loss and gradient norm are both ~0: the policy is not being updated")
    if m.get("verify_timeouts", 0) > 0:
        limit = f" of {m['verify_timeout_s']:g} s" if m.get("verify_timeout_s") else ""
        out.append(f"{m['verify_timeouts']} answers hit the verifier's time limit{limit} (scored 0; "
                   "under machine load this happens more often: raise grpo.verify_timeout_s)")
    if m.get("verify_errors", 0) > 0:
        out.append(f"{m['verify_errors']} answers could not be checked (verifier errors, scored 0): "
                   "a reference answer may be malformed — check the data's answer column")
    if m.get("meta_parse_rate") is not None and m["meta_parse_rate"] < 0.5:
        out.append(f"only {m['meta_parse_rate']:.0%} of meta predictions parsed")
    for key in ("loss", "grad_norm", "reward", "approx_kl"):  # NaN elsewhere can mean "undefined"
        value = m.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            out.append(f"{key} is {value}: training diverged")
            break
    return out


def eval_records(history) -> list[dict]:
    """The evaluation records of a history."""
    return [r for r in history if r.get("kind") == "eval"]


def train_records(history) -> list[dict]:
    """The training records of a history (``kind`` "train", or no kind)."""
    return [r for r in history if r.get("kind", "train") == "train"]


def drift_warnings(records: list[dict], window: int = 5, reference: int = 10,
                   length_ratio: float = 1.3, accuracy_drop: float = 0.15) -> list[str]:
    """A warning when solutions grow while training accuracy falls: the mean ``len_mean`` of the
    last ``window`` training steps above ``length_ratio`` × that of the ``reference`` steps before
    them, and their mean ``accuracy`` more than ``accuracy_drop`` lower. Per-step warnings cannot
    see this drift; with the cutoff on, it turns into cut rollouts and zero-variance groups
    (docs/meta-awareness-study.md, Finding 19). Among 27 hundred-step cpu runs (``figures/`` now and
    before replay, and Finding 19's MASA runs) these thresholds fire only on that collapse."""
    steps = [r for r in train_records(records)
             if r.get("len_mean") is not None and r.get("accuracy") is not None]
    if len(steps) < window + reference:
        return []
    recent, before = steps[-window:], steps[-window - reference:-window]
    len_now = sum(r["len_mean"] for r in recent) / window
    len_before = sum(r["len_mean"] for r in before) / reference
    acc_now = sum(r["accuracy"] for r in recent) / window
    acc_before = sum(r["accuracy"] for r in before) / reference
    if len_now > length_ratio * len_before and acc_now < acc_before - accuracy_drop:
        return [f"solutions are growing while training accuracy falls (mean length {len_before:.0f} → "
                f"{len_now:.0f} tokens, accuracy {acc_before:.2f} → {acc_now:.2f}, last {window} "
                f"steps against the {reference} before): a length drift, which the cutoff turns "
                "into cut rollouts and zero-variance groups"]
    return []


class History:
    """Appends step records to ``history.jsonl`` and forwards them to optional loggers.
    ``write=False`` keeps the records in memory only (data-parallel ranks other than 0)."""

    def __init__(self, run_dir, loggers=("jsonl",), records: list[dict] | None = None,
                 config: dict | None = None, write: bool = True):
        self.records = list(records or [])
        self._tb = self._wandb = None
        self.path = Path(run_dir) / "history.jsonl" if write else None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # rewrite the file from the restored records so a resumed run has no duplicate steps
        write_jsonl(self.records, self.path)
        if "tensorboard" in loggers:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        if "wandb" in loggers:
            import wandb  # optional; never needed for a run

            self._wandb = wandb.init(project="masa_lite", dir=str(run_dir), config=config,
                                     resume="allow")

    def log(self, record: dict) -> None:
        record = _finite(record)  # strict JSON: NaN/inf are written as null
        self.records.append(record)
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        numeric = {k: v for k, v in record.items() if isinstance(v, (int, float))
                   and not isinstance(v, bool)}
        step = record.get("step", len(self.records))
        if self._tb is not None:
            for k, v in numeric.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(numeric, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def read_history(run_dir_or_file) -> list[dict]:
    """Records of a run (a run folder or a ``history.jsonl`` path)."""
    path = Path(run_dir_or_file)
    if path.is_dir():
        path = path / "history.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no history at {path}: pass a run folder written by masa-lite train")
    return read_jsonl(path)
