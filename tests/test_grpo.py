"""The GRPO loop: one step end to end, metrics, checkpoints, exact kill-and-resume."""

import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from masa_lite.config import load_config
from masa_lite.grpo.update import build_policy_batch
from masa_lite.trainer import train
from masa_lite.history import read_history
from masa_lite.grpo.rollout import Rollout

def _cfg(model_dir, out, steps=3, **extra):
    over = [f"model.name={model_dir}", f"out_dir={out}", f"grpo.steps={steps}",
            "grpo.prompts_per_step=3", "rollout.group_size=4", "rollout.max_new_tokens=24",
            "data.train_pool=60", "save_every=2", "grpo.micro_batch_size=5", "grpo.lr=1e-2",
            "data.eval_per_level=2", "data.eval_samples=2", "data.levels=[1,2]"]
    return load_config("tiny", overrides=over + [f"{k}={v}" for k, v in extra.items()])


def _strip(history):
    """Drop what measures time or memory: everything else must match exactly."""
    return [{k: v for k, v in h.items() if not k.startswith(("seconds", "wall", "peak"))}
            for h in history]


def test_policy_batch_layout():
    class Tok:
        pad_token_id, eos_token_id = 0, 1

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    rs = [Rollout(0, "ab", "x", [7, 1], 2, "eos"), Rollout(1, "abcd", "y", [8, 9, 5], 3, "max_new_tokens")]
    b = build_policy_batch(Tok(), rs, "cpu")
    assert b["input_ids"].tolist() == [[0, 0, 97, 98, 7, 1, 0], [97, 98, 99, 100, 8, 9, 5]]
    assert b["attention_mask"].tolist() == [[0, 0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]]
    assert b["completion_mask"].tolist() == [[1, 1, 0], [1, 1, 1]]
    assert b["logits_to_keep"] == 3


def test_train_runs_logs_and_checkpoints(random_tiny_dir, tmp_path):
    out = train(_cfg(random_tiny_dir, tmp_path / "run"), progress=False)
    everything = read_history(tmp_path / "run")
    hist = [h for h in everything if h["kind"] == "train"]
    evals = [h for h in everything if h["kind"] == "eval"]
    assert [h["step"] for h in hist] == [1, 2, 3]
    assert [h["step"] for h in evals] == [0, 3] and all("pass@1" in h for h in evals)
    assert everything == out["history"]
    for h in hist:
        for key in ("reward", "accuracy", "zero_variance_frac", "truncated_frac", "len_mean",
                    "entropy", "grad_norm", "loss", "tokens_generated", "seconds_generation",
                    "peak_memory_mb", "warnings"):
            assert key in h, key
        assert 0 <= h["zero_variance_frac"] <= 1 and h["tokens_generated"] > 0
    # a random model never answers: every group is all-wrong, and the run says so
    assert any("zero-variance" in w for h in hist for w in h["warnings"])
    assert (tmp_path / "run" / "latest").read_text() == "ckpt-000003"
    assert (tmp_path / "run" / "ckpt-000003" / "adapter" / "adapter_model.safetensors").exists()
    assert not list((tmp_path / "run").glob("*.tmp"))


def test_same_seed_same_metrics(random_tiny_dir, tmp_path):
    a = train(_cfg(random_tiny_dir, tmp_path / "a", steps=2), progress=False)["history"]
    b = train(_cfg(random_tiny_dir, tmp_path / "b", steps=2), progress=False)["history"]
    c = train(_cfg(random_tiny_dir, tmp_path / "c", steps=2, seed=1), progress=False)["history"]
    assert _strip(a) == _strip(b)
    assert _strip(a) != _strip(c)


def test_killed_run_resumes_exactly(random_tiny_dir, tmp_path):
    """Kill a run after its step-2 checkpoint; the resumed run must end as an uninterrupted one."""
    steps = 5
    ref = train(_cfg(random_tiny_dir, tmp_path / "ref", steps=steps), progress=False)
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "masa_lite.cli", "train", "--profile", "tiny", "--out", str(run),
           "--model", str(random_tiny_dir)]
    for o in ("grpo.steps=5", "grpo.prompts_per_step=3", "rollout.group_size=4",
              "rollout.max_new_tokens=24", "data.train_pool=60", "save_every=2",
              "grpo.micro_batch_size=5", "grpo.lr=1e-2", "data.eval_per_level=2",
              "data.eval_samples=2", "data.levels=[1,2]"):
        cmd += ["-o", o]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "latest").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run / "latest").exists(), "the run never wrote a checkpoint"
    done_before = int((run / "latest").read_text().split("-")[1])
    assert done_before < steps, "the run finished before it could be killed"
    resumed = train(_cfg(random_tiny_dir, run, steps=steps), progress=False)
    assert _strip(resumed["history"]) == _strip(ref["history"])
    assert _strip(read_history(run)) == _strip(ref["history"])
    w_ref = {k: v for k, v in ref["model"].state_dict().items() if "lora" in k}
    w_res = {k: v for k, v in resumed["model"].state_dict().items() if "lora" in k}
    assert w_ref.keys() == w_res.keys() and len(w_ref) > 0
    assert all(torch.equal(w_ref[k], w_res[k]) for k in w_ref)


def test_meta_loss_weight_scales_that_paths_advantages(random_tiny):
    """Scored.weight (meta.loss_weight) multiplies the path's advantages: with one policy epoch
    ρ = 1, so the token-mean loss −Σ Â / N doubles when the weight doubles."""
    from masa_lite.grpo.scored import Scored
    from masa_lite.grpo.update import policy_update

    model, tok = random_tiny
    from masa_lite.models import LoraSettings, wrap_lora

    model = wrap_lora(model, LoraSettings(r=2, alpha=4))
    cfg = load_config("tiny", overrides=["grpo.micro_batch_size=8"])
    # different lengths, so the token-mean of advantages that sum to zero is not zero
    texts = ["12", "1234", "1234", "1234"]
    rs = [Rollout(0, "solve 1+1\n", t, tok.encode(t, add_special_tokens=False), len(t), "eos")
          for t in texts]
    losses = []
    for w in (1.0, 2.0):
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        b = Scored(rs, torch.tensor([1.0, 0.0, 0.0, 0.0]), torch.zeros(4, dtype=torch.long), weight=w)
        losses.append(policy_update(model, tok, opt, sched, [b], cfg, torch.device("cpu"))["loss"])
    assert losses[0] != 0 and abs(losses[1] - 2 * losses[0]) < 1e-6 * abs(losses[0])


def test_policy_update_with_one_kl_weight_per_micro_batch(random_tiny):
    """A KL to the base with the same weight on every row of a micro-batch (grpo.kl_beta > 0, one
    path) takes the float branch of the KL weights; it used to call .to() on that float and crash."""
    from masa_lite.grpo.scored import Scored
    from masa_lite.grpo.update import policy_update
    from masa_lite.models import LoraSettings, wrap_lora

    model, tok = random_tiny
    model = wrap_lora(model, LoraSettings(r=2, alpha=4))
    cfg = load_config("tiny", overrides=["grpo.kl_beta=0.1", "grpo.micro_batch_size=2"])
    rs = [Rollout(0, "solve 1+1\n", t, tok.encode(t, add_special_tokens=False), len(t), "eos")
          for t in ("12", "1234", "2", "123")]
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    b = Scored(rs, torch.tensor([1.0, 0.0, 1.0, 0.0]), torch.zeros(4, dtype=torch.long))
    m = policy_update(model, tok, opt, sched, [b], cfg, torch.device("cpu"))
    assert abs(m["kl_ref"]) < 1e-6 and math.isfinite(m["loss"])  # a fresh adapter: π = base


def test_policy_update_log_probs_use_the_sampling_temperature(random_tiny, monkeypatch):
    """ρ and the gradient need log π of the distribution that was sampled: softmax(logits / T)."""
    import torch.nn.functional as F

    from masa_lite.grpo import losses
    from masa_lite.grpo.scored import Scored
    from masa_lite.grpo.update import policy_update

    model, tok = random_tiny
    temperature = 0.5
    cfg = load_config("tiny", overrides=[f"rollout.temperature={temperature}", "grpo.lr=0"])
    prompt = "solve 1+2\n"
    completion = tok.encode("step 3", add_special_tokens=False)
    ros = [Rollout(0, prompt, "step 3", completion, len(completion), "eos"),
           Rollout(0, prompt, "step", completion[:2], 2, "eos")]
    seen = []
    real = losses.clipped_policy_loss

    def spy(logp, *args, **kwargs):
        seen.append(logp.detach().clone())
        return real(logp, *args, **kwargs)

    monkeypatch.setattr(losses, "clipped_policy_loss", spy)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    policy_update(model, tok, opt, sched, [Scored(ros, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]))],
                  cfg, torch.device("cpu"))
    # by hand: one unpadded forward pass of prompt + completion, logits / T, log-softmax
    p = tok.encode(prompt, add_special_tokens=False)
    with torch.no_grad():
        logits = model(torch.tensor([p + completion])).logits[0, len(p) - 1:-1]
    want = F.log_softmax(logits / temperature, -1)[torch.arange(len(completion)), torch.tensor(completion)]
    at_t1 = F.log_softmax(logits, -1)[torch.arange(len(completion)), torch.tensor(completion)]
    got = seen[0][1]  # micro-batch sorted by length: the longer rollout is row 1
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, at_t1, atol=1e-3)


# ---- issue 10: run folders, checkpoints and evaluations that must never mix two runs ----------

SMALL = dict(steps=1, save_every=1, eval_at_start="false", **{"data.eval_per_level": 1})


def test_no_resume_moves_the_old_run_aside(random_tiny_dir, tmp_path, monkeypatch):
    """--no-resume on a folder with a finished seed-0 run, killed before its first checkpoint and
    resumed with the same command, used to load the *old* checkpoint (rc 0, wrong run)."""
    from masa_lite import trainer

    run = tmp_path / "run"
    old = train(_cfg(random_tiny_dir, run, **SMALL), progress=False)["history"]
    assert (run / "latest").exists()

    class Killed(Exception):
        pass

    def killed(*a, **k):
        raise Killed

    with monkeypatch.context() as m:  # the new run dies before its first checkpoint
        m.setattr(trainer, "policy_update", killed)
        with pytest.raises(Killed):
            train(_cfg(random_tiny_dir, run, seed=1, **SMALL), resume=False, progress=False)
    aside = list(run.glob("previous-*"))
    assert len(aside) == 1 and (aside[0] / "latest").exists() and list(aside[0].glob("ckpt-*"))
    assert not (run / "latest").exists()
    new = train(_cfg(random_tiny_dir, run, seed=1, **SMALL), progress=False)["history"]
    fresh = train(_cfg(random_tiny_dir, tmp_path / "fresh", seed=1, **SMALL), progress=False)["history"]
    assert _strip(new) == _strip(fresh) and _strip(new) != _strip(old)


class Crash(Exception):
    pass


@pytest.mark.parametrize("where", ["checkpoint", "evaluation", "after_evaluation"])
def test_a_crash_around_the_last_checkpoint_resumes_without_losses_or_duplicates(
        random_tiny_dir, tmp_path, monkeypatch, where):
    """Crash while writing step 2's checkpoint, during step 2's evaluation, or right after it;
    the resumed run must hold each evaluation once, in history.jsonl and calibration.jsonl."""
    import json

    from masa_lite import trainer

    run = tmp_path / "run"
    cfg = _cfg(random_tiny_dir, run, steps=2, save_every=1, eval_every=1, eval_at_start="false",
               **{"data.eval_per_level": 1})
    hook = None
    with monkeypatch.context() as m:
        if where == "checkpoint":
            real = trainer.save_checkpoint

            def save(run_dir, step, *a, **k):
                if step == 2:
                    raise Crash
                return real(run_dir, step, *a, **k)

            m.setattr(trainer, "save_checkpoint", save)
        elif where == "evaluation":
            real_eval = trainer.evaluate_run

            def evaluate(model, tok, fmt, records, cfg, step, *a, **k):
                if step == 2:
                    raise Crash
                return real_eval(model, tok, fmt, records, cfg, step, *a, **k)

            m.setattr(trainer, "evaluate_run", evaluate)
        else:
            def hook(step, metrics):
                if step == 2:
                    raise Crash
        with pytest.raises(Crash):
            train(cfg, progress=False, step_hook=hook)
    if where != "checkpoint":  # the checkpoint comes before the evaluation that crashed
        assert (run / "latest").read_text() == "ckpt-000002"
        # a finished evaluation is added to the checkpoint's history (a longer resumed run keeps
        # it); one that crashed is not, so the resumed run evaluates that step again
        saved = [(h["kind"], h["step"]) for h in read_history(run / "ckpt-000002" / "history.jsonl")]
        assert (("eval", 2) in saved) == (where == "after_evaluation")
    out = train(cfg, progress=False)
    evals = [h["step"] for h in read_history(run) if h["kind"] == "eval"]
    assert evals == [1, 2] and [h["step"] for h in out["history"] if h["kind"] == "eval"] == [1, 2]
    assert [h["step"] for h in read_history(run) if h["kind"] == "train"] == [1, 2]
    pairs = [json.loads(line) for line in (run / "calibration.jsonl").read_text().splitlines()]
    per_step = {s: sum(p["step"] == s for p in pairs) for s in (1, 2)}
    assert per_step == {1: 2, 2: 2} and len(pairs) == 4  # 2 levels × 1 problem per evaluation


def test_trim_calibration_keeps_the_restored_evaluations(tmp_path):
    from masa_lite.run_dir import trim_calibration

    path = tmp_path / "calibration.jsonl"
    path.write_text("".join(f'{{"step": {s}, "id": {i}}}\n' for s, i in [(0, 1), (2, 1), (4, 1), (4, 1)]))
    trim_calibration(path, {0, 2})
    assert path.read_text() == '{"step": 0, "id": 1}\n{"step": 2, "id": 1}\n'
    trim_calibration(tmp_path / "missing.jsonl", {0})
    assert (tmp_path / "missing.jsonl").read_text() == ""


def test_a_full_disk_leaves_no_half_checkpoint_and_names_the_folder(random_tiny, tmp_path, monkeypatch):
    from masa_lite import checkpoint
    from masa_lite.errors import CheckpointWriteError
    from masa_lite.run_dir import prepare_run_dir as _prepare_run_dir

    model, _ = random_tiny
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoint.save_checkpoint(tmp_path, 1, model, opt, None, [{"step": 1}])

    def disk_full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 443648 vs 443540")

    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    with pytest.raises(CheckpointWriteError, match=rf"step-2 checkpoint in {tmp_path} .*MiB free.*resumes"):
        checkpoint.save_checkpoint(tmp_path, 2, model, opt, None, [{"step": 2}])
    assert not list(tmp_path.glob("*.tmp")) and (tmp_path / "latest").read_text() == "ckpt-000001"
    # a .tmp left by a hard crash is cleared when a run starts in the folder
    (tmp_path / "ckpt-000003.tmp").mkdir()
    assert _prepare_run_dir(tmp_path, resume=True) is None
    assert not list(tmp_path.glob("*.tmp")) and checkpoint.latest_checkpoint(tmp_path).name == "ckpt-000001"


def test_prompts_longer_than_the_context_are_refused_cheaply(random_tiny):
    from masa_lite.errors import DataError
    from masa_lite.task.records import check_prompt_lengths, model_context
    from masa_lite.task.prompts import tiny_format

    model, tok = random_tiny
    ctx = model_context(model)
    assert ctx == 512
    fmt = tiny_format()
    ok = [{"id": f"r{i}", "problem": "12+3*4"} for i in range(20_000)]
    t0 = time.perf_counter()
    check_prompt_lengths(ok, fmt.solution, tok, ctx, 400, "training data")  # no tokenizing needed
    assert time.perf_counter() - t0 < 1.0
    huge = ok[:2] + [{"id": "big", "problem": "1+" * 5_000_000}]  # a 10 MB line
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=r"training data: record 2 \(id 'big'\) has a prompt of at "
                                        r"least \d+ tokens .*context of 512 tokens leaves room for 112"):
        check_prompt_lengths(huge, fmt.solution, tok, ctx, 400, "training data")
    assert time.perf_counter() - t0 < 2.0
    border = [{"id": "b", "problem": "1" * 200}]  # 200 + template ≤ 512 − 300, but not − 400
    check_prompt_lengths(border, fmt.solution, tok, ctx, 300)
    with pytest.raises(DataError, match="id 'b'"):
        check_prompt_lengths(border, fmt.solution, tok, ctx, 400)
    with pytest.raises(DataError, match="leaves no room for a prompt"):
        check_prompt_lengths(ok, fmt.solution, tok, ctx, 512)


def test_training_data_with_a_too_long_prompt_or_too_few_problems_is_refused(random_tiny_dir, tmp_path,
                                                                             monkeypatch):
    import json

    from masa_lite.errors import DataError

    data, held = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"  # an evaluation set of its own
    held.write_text(json.dumps({"problem": "5+5", "answer": "10"}) + "\n")
    rows = [{"problem": "1+2", "answer": "3"}, {"problem": "2+2", "answer": "4"},
            {"problem": "9" * 600, "answer": "9"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    files = {"data.task": str(data), "data.eval_task": str(held)}
    with pytest.raises(DataError, match=r"record 2 .*prompt of \d+ tokens"):
        train(_cfg(random_tiny_dir, tmp_path / "a", **files), progress=False)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))

    def no_model(*a, **k):
        raise AssertionError("the model loaded before the data was checked")

    monkeypatch.setattr("masa_lite.grpo.policy.setup", no_model)
    with pytest.raises(DataError, match=r"has 2 problem\(s\), fewer than one step .*prompts_per_step = 3"):
        train(_cfg(random_tiny_dir, tmp_path / "b", **files), progress=False)
