"""The GRPO loop: one step end to end, metrics, checkpoints, exact kill-and-resume."""

import signal
import subprocess
import sys
import time

import torch

from masa_lite.config import load_config
from masa_lite.grpo import build_policy_batch
from masa_lite.trainer import train
from masa_lite.history import read_history
from masa_lite.rollout import Rollout

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


def test_policy_update_log_probs_use_the_sampling_temperature(random_tiny, monkeypatch):
    """ρ and the gradient need log π of the distribution that was sampled: softmax(logits / T)."""
    import torch.nn.functional as F

    from masa_lite import losses
    from masa_lite.grpo import Scored, policy_update

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
