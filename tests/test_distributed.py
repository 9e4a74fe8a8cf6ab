"""Data-parallel training (masa_lite.distributed) on one CPU machine: two gloo processes launched by
PyTorch's own launcher (``python -m torch.distributed.run``, i.e. ``torchrun``) match a one-process
run of the same global batch, only rank 0 writes files, and a run resumes with the same world size.

The one-process reference samples row-seeded (``rollout.row_seeded=true``, always on with several
processes), so both runs draw the same rollouts; what differs is the order of floating-point sums
(micro-batches, all-reduce), hence the tolerances. Not tested here: NCCL on GPUs, several nodes.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from masa_lite.config import load_config
from masa_lite.models import BUNDLED_MODELS
from masa_lite.trainer import train

pytestmark = [
    pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                       reason="the bundled model has not been built"),
    pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                       reason="this torch build has no gloo backend"),
]

WORKER = Path(__file__).with_name("_dist_worker.py")
BASE = ["grpo.steps=3", "grpo.prompts_per_step=4", "rollout.group_size=4",
        "rollout.max_new_tokens=64", "grpo.micro_batch_size=5", "data.train_pool=80",
        "data.levels=[2,3]", "data.eval_per_level=1", "data.eval_samples=2",
        "meta.eval_group_size=2", "eval_at_start=false", "save_every=2"]
# gate std 0.25: the uninformed base gates some prompts, not all (audited gated prompts are never
# cut, so a run that gates everything has no cut rollouts); measured: gated 1/3, cut 2/3 of a step
EFFICIENT = ["grpo.prompts_per_step=3", "meta.enabled=true", "meta.group_size=4",
             "efficient.gating=true", "efficient.cutoff=true", "efficient.expert_sft=true",
             "efficient.warmup_steps=1", "efficient.gate_std=0.25", "efficient.gate_margin=0.5",
             "efficient.gate_audit=0.5", "efficient.cutoff_factor=0.3",
             "efficient.cutoff_audit=0.5", "efficient.sft_batch_size=3",
             "efficient.sft_min_notion=0.0"]
# metrics that sum floats in a different order on two ranks; every other metric must be equal
FLOAT_SUMS = {"loss", "grad_norm", "entropy", "sft_loss", "clip_frac", "approx_kl"}
TIMING = ("seconds", "wall", "peak")


def _launch(report: Path, overrides: list[str], module: bool = False) -> None:
    """2 CPU processes: the test worker, or (``module``) the CLI as a user would launch it.

    A launch that does not finish in ``LAUNCH_TIMEOUT`` seconds (one takes ~6 s on 2 cores) is
    stopped with SIGABRT, so that every worker prints the Python stack of each of its threads
    (``PYTHONFAULTHANDLER``), then killed with its launcher: a hung launch leaves no orphan
    workers behind to slow the rest of the suite. It is launched a second time once (the test
    worker's files removed first); the first attempt's stacks are reported as a warning, and two
    hangs in a row fail the test."""
    target = ["-m", "masa_lite.cli", "train", "--profile", "tiny"] if module else [str(WORKER),
                                                                                  str(report)]
    cmd = TORCHRUN + target
    for o in overrides:
        cmd += ["-o", o]
    for attempt in (1, 2):
        rc, out, hung = _run_launch(cmd)
        if not hung:
            assert rc == 0, out[-12000:]
            return
        if attempt == 1:
            warnings.warn(f"a 2-process launch hung for {LAUNCH_TIMEOUT} s and was relaunched; "
                          f"its stacks:\n{out[-12000:]}", stacklevel=2)
            if not module:  # the worker's files start afresh (the CLI's shared run resumes)
                for r in (0, 1):
                    shutil.rmtree(report / f"rank{r}", ignore_errors=True)
                    (report / f"rank{r}.pt").unlink(missing_ok=True)
    pytest.fail(f"2-process launch hung twice for {LAUNCH_TIMEOUT} s; last stacks:\n{out[-12000:]}")


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
LAUNCH_TIMEOUT = 240


def _run_launch(cmd: list[str]) -> tuple[int | None, str, bool]:
    """Run ``cmd`` (a torchrun launch) on one thread per worker, with Python's fault handler on:
    (return code, stdout + stderr, hung). On a hang the launcher is paused, each worker (torchrun
    starts them in sessions of their own) gets SIGABRT, then all are killed."""
    import psutil

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        out, _ = proc.communicate(timeout=LAUNCH_TIMEOUT)
        return proc.returncode, out, False
    except subprocess.TimeoutExpired:
        launcher = psutil.Process(proc.pid)
        workers = launcher.children(recursive=True)
        launcher.suspend()  # or it would terminate the other workers when the first one dies
        for w in workers:  # one at a time, so that their stacks do not interleave
            with contextlib.suppress(psutil.Error):
                w.send_signal(signal.SIGABRT)
                for _ in range(50):  # until it has written its stacks and died (a zombie:
                    if w.status() == psutil.STATUS_ZOMBIE:  # the paused launcher cannot reap it)
                        break
                    time.sleep(0.1)
        for p in (*workers, launcher):
            with contextlib.suppress(psutil.Error):
                p.kill()
        out, _ = proc.communicate(timeout=60)
        return None, out, True


def _reference(out_dir: Path, overrides: list[str]) -> tuple[list[dict], dict]:
    """The same run on one process, row-seeded: (history, LoRA weights)."""
    from peft import get_peft_model_state_dict

    cfg = load_config("tiny", overrides=overrides + ["rollout.row_seeded=true",
                                                     f"out_dir={out_dir}"])
    out = train(cfg, progress=False)
    return out["history"], get_peft_model_state_dict(out["model"])


def _steps(history):
    return [{k: v for k, v in h.items() if not k.startswith(TIMING)}
            for h in history if h["kind"] == "train"]


def _assert_same_run(ref_hist, ref_lora, hist, lora):
    ref_steps, steps = _steps(ref_hist), _steps(hist)
    assert len(steps) == len(ref_steps) > 0
    for a, b in zip(ref_steps, steps):
        assert a.keys() == b.keys()
        exact = {k: a[k] for k in a if k not in FLOAT_SUMS}
        assert exact == {k: b[k] for k in exact}, f"step {a['step']}: the rollouts differ"
        for k in FLOAT_SUMS & a.keys():
            assert b[k] == pytest.approx(a[k], rel=1e-3, abs=1e-6), (a["step"], k)
    assert ref_lora.keys() == lora.keys() and ref_lora
    for k, w in ref_lora.items():
        diff = (lora[k] - w).abs()
        assert diff.max() < 5e-4 and diff.norm() < 1e-3 * w.norm(), (k, diff.max().item())


@pytest.fixture(scope="module")
def grpo_2proc(tmp_path_factory):
    """GRPO on 2 ranks; each rank works in its own folder with the relative out_dir 'run'."""
    report = tmp_path_factory.mktemp("grpo-2proc")
    _launch(report, BASE + ["out_dir=run"])
    return report


def test_grpo_two_processes_match_one_and_rank0_alone_writes(grpo_2proc, tmp_path):
    ref_hist, ref_lora = _reference(tmp_path / "ref", BASE)
    rank0, rank1 = (torch.load(grpo_2proc / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    _assert_same_run(ref_hist, ref_lora, rank0["history"], rank0["lora"])
    # DDP keeps the replicas identical; every rank computed the same (gathered) metrics
    assert all(torch.equal(rank0["lora"][k], rank1["lora"][k]) for k in rank0["lora"])
    assert _steps(rank1["history"]) == _steps(rank0["history"])
    # rank 0 wrote what a one-process run writes (once: history lines are not doubled) ...
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*"))  # noqa: E731
    assert files(grpo_2proc / "rank0" / "run") == files(tmp_path / "ref")
    lines = (grpo_2proc / "rank0" / "run" / "history.jsonl").read_text().splitlines()
    assert len(lines) == len(ref_hist)
    # ... and rank 1, whose relative out_dir points into its own folder, wrote nothing
    assert list((grpo_2proc / "rank1").iterdir()) == []


def test_masa_efficient_two_processes_match_one(tmp_path):
    """Meta path, gating (with audits), cutoff (with audits) and Expert SFT on 2 ranks."""
    overrides = BASE + EFFICIENT
    ref_hist, ref_lora = _reference(tmp_path / "ref", overrides)
    _launch(tmp_path, overrides + ["out_dir=run"])
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    _assert_same_run(ref_hist, ref_lora, rank0["history"], rank0["lora"])
    steps = _steps(ref_hist)
    assert any(h.get("gated_frac", 0) > 0 for h in steps)
    assert any(h.get("cut_frac", 0) > 0 for h in steps)
    assert any(h.get("sft_loss") is not None for h in steps)
    assert list((tmp_path / "rank1").iterdir()) == []


def test_cli_run_resumes_with_the_same_world_size(grpo_2proc, tmp_path):
    """``torchrun -m masa_lite.cli train`` on a shared folder: 1 step, then resumed to 3 steps,
    ends with the weights and training metrics of the uninterrupted 2-process run."""
    from safetensors.torch import load_file

    run = tmp_path / "shared"
    common = BASE + [f"out_dir={run}", "save_every=1"]
    first = [o for o in common if not o.startswith("grpo.steps")] + ["grpo.steps=1"]
    _launch(tmp_path, first, module=True)
    assert (run / "latest").read_text() == "ckpt-000001"
    _launch(tmp_path, common, module=True)
    assert (run / "latest").read_text() == "ckpt-000003"
    uninterrupted = torch.load(grpo_2proc / "rank0.pt", weights_only=False)
    resumed = load_file(str(run / "ckpt-000003" / "adapter" / "adapter_model.safetensors"))
    assert resumed.keys() == uninterrupted["lora"].keys()
    assert all(torch.equal(resumed[k], uninterrupted["lora"][k]) for k in resumed)
    from masa_lite.history import read_history

    assert _steps(read_history(run)) == _steps(uninterrupted["history"])


def test_shards_are_contiguous_and_cover_the_batch():
    from masa_lite.distributed import DataParallel

    for n in (0, 1, 3, 4, 7, 16):
        for world in (1, 2, 3, 5):
            shards = [DataParallel(rank=r, world_size=world).shard(n) for r in range(world)]
            assert [i for s in shards for i in s] == list(range(n))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_row_seeded_rollouts_do_not_depend_on_the_batch(random_tiny):
    """What makes 2 ranks sample what 1 process samples: a row's tokens depend on its seed and
    its prompt, not on the other rows, the batch size or the global RNG."""
    from masa_lite.grpo.sampling import generate_rollouts

    model, tok = random_tiny
    prompts = ["solve 1+2\n", "solve (12+3)*4\n", "solve 9-3\n"]
    torch.manual_seed(0)
    whole = generate_rollouts(model, tok, prompts, n=3, max_new_tokens=20, seeds=[7, 8, 9])
    torch.manual_seed(1)
    part = generate_rollouts(model, tok, prompts[2:], n=3, max_new_tokens=20, seeds=[9],
                             batch_size=2)
    assert [r.token_ids for r in whole[6:]] == [r.token_ids for r in part]
    assert len({tuple(r.token_ids) for r in whole}) > 1  # still sampling, not one greedy answer
    other = generate_rollouts(model, tok, prompts[2:], n=3, max_new_tokens=20, seeds=[10])
    assert [r.token_ids for r in other] != [r.token_ids for r in part]


def test_a_hung_launch_prints_its_stacks_and_leaves_no_workers(tmp_path, monkeypatch):
    """The harness above: a launch whose rank 0 never reaches the barrier is stopped after the
    timeout with every process's Python stack in its output, and no worker survives it."""
    import psutil

    script = tmp_path / "hang.py"
    script.write_text("import os, time\nimport torch.distributed as dist\n"
                      "dist.init_process_group('gloo')\n"
                      "if os.environ['RANK'] == '0':\n    time.sleep(600)\ndist.barrier()\n")
    monkeypatch.setattr(sys.modules[__name__], "LAUNCH_TIMEOUT", 10)
    rc, out, hung = _run_launch(TORCHRUN + [str(script)])
    assert hung and rc is None
    assert f'File "{script}", line 5' in out  # rank 0 in its sleep
    assert f'File "{script}", line 6' in out  # rank 1 at the barrier
    alive = [p for p in psutil.process_iter(["cmdline"]) if str(script) in (p.info["cmdline"] or [])]
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def test_a_hung_launch_is_relaunched_once_from_clean_worker_folders(tmp_path, monkeypatch):
    """The first hang is reported and relaunched with the worker's files removed; a second
    hang fails the test."""
    calls = []

    def fake_run(cmd):
        calls.append([p.name for p in sorted(tmp_path.iterdir())])
        if len(calls) == 1:  # the hung attempt had written some files
            (tmp_path / "rank0" / "run").mkdir(parents=True)
            (tmp_path / "rank1.pt").write_text("partial")
            return None, "stacks of attempt 1", True
        return 0, "", False

    monkeypatch.setattr(sys.modules[__name__], "_run_launch", fake_run)
    with pytest.warns(UserWarning, match="stacks of attempt 1"):
        _launch(tmp_path, ["grpo.steps=1"])
    assert calls == [[], []]
    monkeypatch.setattr(sys.modules[__name__], "_run_launch", lambda cmd: (None, "again", True))
    with pytest.warns(UserWarning), pytest.raises(pytest.fail.Exception, match="hung twice"):
        _launch(tmp_path, ["grpo.steps=1"])
