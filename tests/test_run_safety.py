"""Issue 29: nothing lost, nothing mixed. One run per folder (a lock, a stale lock recovered), a
resume that continues the same run or refuses (configuration and data fingerprinted), damaged runs
that fall back to the newest intact checkpoint, torn JSON lines, pruning that keeps what a resume
needs, evaluation sets held out of the training data, and every user error in one line, exit 2."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from masa_lite.checkpoint import checkpoint_problem, latest_checkpoint, prune_checkpoints, save_checkpoint
from masa_lite.cli import main
from masa_lite.config import ConfigError, load_config
from masa_lite.errors import DataError, RunFolderError
from masa_lite.files import read_jsonl
from masa_lite.history import read_history
from masa_lite.models import BUNDLED_MODELS
from masa_lite.run_dir import lock_run_dir
from masa_lite.task.records import eval_records, run_records
from masa_lite.trainer import train

FIX = Path(__file__).parent / "fixtures" / "data"
SMALL = ["grpo.prompts_per_step=2", "rollout.group_size=2", "rollout.max_new_tokens=12",
         "data.train_pool=20", "grpo.micro_batch_size=4", "grpo.lr=1e-2", "data.eval_per_level=1",
         "data.eval_samples=1", "data.levels=[1]", "meta.eval_group_size=1", "meta.max_new_tokens=12",
         "save_every=1", "eval_at_start=false"]


def _over(model_dir, out, steps, extra=()) -> list[str]:
    return SMALL + [f"model.name={model_dir}", f"out_dir={out}", f"grpo.steps={steps}", *extra]


def _cfg(model_dir, out, steps=1, *extra):
    return load_config("tiny", overrides=_over(model_dir, out, steps, extra))


def _argv(model_dir, out, steps=1, *extra) -> list[str]:
    """``masa-lite train`` with the same settings as :func:`_cfg`."""
    argv = ["train", "--profile", "tiny"]
    for o in _over(model_dir, out, steps, extra):
        argv += ["-o", o]
    return argv


def _strip(history):
    return [{k: v for k, v in h.items() if not k.startswith(("seconds", "wall", "peak"))}
            for h in history]


@pytest.fixture(scope="module")
def runs(random_tiny_dir, tmp_path_factory):
    """A 2-step run (checkpoints 1 and 2) and an uninterrupted 3-step run of the same settings."""
    base = tmp_path_factory.mktemp("runs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(_cfg(random_tiny_dir, base / "two", 2), progress=False)
        ref = train(_cfg(random_tiny_dir, base / "ref", 3), progress=False)["history"]
    return {"two": base / "two", "ref": _strip(ref)}


@pytest.fixture()
def run(runs, tmp_path):
    """A copy of the 2-step run to damage."""
    return Path(shutil.copytree(runs["two"], tmp_path / "run"))


# ---- 1. one run per folder --------------------------------------------------------------------

HOLD = ("import sys, time; from masa_lite.run_dir import lock_run_dir; lock_run_dir(sys.argv[1]); "
        "print('held', flush=True); time.sleep(120)")


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_runs_lock_is_taken_over(
        random_tiny_dir, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(_argv(random_tiny_dir, out)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"masa-lite: error: {out} is in use by another training run (pid "
                              f"{holder.pid} on host {socket.gethostname()}, started ")
        assert err.count("\n") == 1 and "--out" in err
        assert not (out / "history.jsonl").exists()  # the refused run wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)  # killed: its lock must not be stale
        holder.wait()
    with pytest.warns(UserWarning, match=rf"pid {holder.pid} .*ended without releasing it"):
        assert main(_argv(random_tiny_dir, out)) == 0
    assert [h["step"] for h in read_history(out) if h["kind"] == "train"] == [1]


def test_the_lock_is_held_for_the_whole_run_and_released_after_it_even_on_a_crash(random_tiny_dir, tmp_path):
    from masa_lite import trainer

    seen = []

    def hook(step, metrics):  # while the run trains, its folder is held
        with pytest.raises(RunFolderError, match=rf"in use by another training run \(pid {os.getpid()} "):
            lock_run_dir(tmp_path)
        seen.append(step)
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        trainer.train(_cfg(random_tiny_dir, tmp_path, 2), progress=False, step_hook=hook)
    assert seen == [1]
    lock_run_dir(tmp_path).release()  # released by the crash: taken again without a warning
    assert (tmp_path / "run.lock").read_text() == ""


def test_the_same_command_twice_neither_repeats_nor_doubles_anything(runs, run, random_tiny_dir):
    before = [(run / f).read_text() for f in ("history.jsonl", "calibration.jsonl")]
    train(_cfg(random_tiny_dir, run, 2), progress=False)
    assert [(run / f).read_text() for f in ("history.jsonl", "calibration.jsonl")] == before


# ---- 2. a resume continues the same run or refuses --------------------------------------------

def _data(path: Path, n: int) -> Path:
    """``n`` problems "1+1", "2+1", …"""
    path.write_text("".join(json.dumps({"problem": f"{i}+1", "answer": str(i + 1)}) + "\n"
                            for i in range(1, n + 1)))
    return path


def _train_steps(history):
    return [h for h in _strip(history) if h["kind"] == "train"]


@pytest.mark.parametrize("which", ["training", "evaluation"])
def test_a_data_file_replaced_under_the_same_name_is_refused_on_resume(random_tiny_dir, tmp_path, which):
    files = {"training": _data(tmp_path / "train.jsonl", 6), "evaluation": _data(tmp_path / "eval.jsonl", 2)}
    files["evaluation"].write_text(json.dumps({"problem": "7*7", "answer": "49"}) + "\n")
    extra = (f"data.task={files['training']}", f"data.eval_task={files['evaluation']}")
    train(_cfg(random_tiny_dir, tmp_path / "run", 1, *extra), progress=False)
    text = files[which].read_text()
    files[which].write_text(text.replace('"answer": "2"', '"answer": "3"').replace('"49"', '"50"'))
    with pytest.raises(ConfigError) as info:
        train(_cfg(random_tiny_dir, tmp_path / "run", 2, *extra), progress=False)
    msg = str(info.value)
    assert f"the {which} data" in msg and "changed" in msg and "--no-resume" in msg and "--out" in msg
    assert "\n" not in msg and "delete" not in msg
    other = "evaluation" if which == "training" else "training"
    assert f"the {other} data" not in msg
    files[which].write_text(text)  # the same data again: the run continues
    out = train(_cfg(random_tiny_dir, tmp_path / "run", 2, *extra), progress=False)
    assert [h["step"] for h in out["history"] if h["kind"] == "train"] == [1, 2]


def test_a_deleted_config_yaml_does_not_let_a_resume_change_the_run(run, random_tiny_dir):
    (run / "config.yaml").unlink()
    with pytest.raises(ConfigError, match=r"grpo.lr: 0.01 → 0.05; seed: 0 → 7\).*--no-resume"):
        train(_cfg(random_tiny_dir, run, 3, "seed=7", "grpo.lr=0.05"), progress=False)
    (run / "config.yaml").write_text("grpo: {lr: [\n")  # damaged: the checkpoint's record decides
    train(_cfg(random_tiny_dir, run, 3), progress=False)
    assert yaml.safe_load((run / "config.yaml").read_text())["grpo"]["steps"] == 3


def test_deleting_latest_no_longer_mixes_two_runs(runs, run, random_tiny_dir):
    """Following the old message ("delete 'latest' to start over") left the old checkpoints, and
    pruning deleted each new one as soon as it was written. Now a resume finds the newest
    checkpoint anyway: another run is refused, the same run continues exactly."""
    (run / "latest").unlink()
    with pytest.raises(ConfigError, match=r"seed: 0 → 1.*--no-resume"):
        train(_cfg(random_tiny_dir, run, 3, "seed=1"), progress=False)
    out = train(_cfg(random_tiny_dir, run, 3), progress=False)
    assert _train_steps(out["history"]) == _train_steps(runs["ref"])  # (and step 2's evaluation)
    assert (run / "latest").read_text() == "ckpt-000003"
    assert sorted(p.name for p in run.glob("ckpt-*")) == ["ckpt-000002", "ckpt-000003"]


def test_no_message_advises_deleting_files_by_hand():
    package = Path(__file__).parent.parent / "masa_lite"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "delete 'latest'" not in text and "to start over" not in text, path


# ---- 3. damaged runs --------------------------------------------------------------------------

def _truncate(path: Path, keep: int = 100) -> None:
    path.write_bytes(path.read_bytes()[:keep])


DAMAGE = {
    "truncated weights": (lambda c: _truncate(c / "adapter" / "adapter_model.safetensors"),
                          "adapter/adapter_model.safetensors is cut short"),
    "garbage state.pt": (lambda c: (c / "state.pt").write_bytes(os.urandom(2000)),
                         "state.pt is cut short or not a torch file"),
    "torn history": (lambda c: _truncate(c / "history.jsonl", len((c / "history.jsonl").read_text()) - 9),
                     "history.jsonl is damaged"),
    "missing state.pt": (lambda c: (c / "state.pt").unlink(), "state.pt is missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(runs, run, random_tiny_dir, damage):
    hurt, why = DAMAGE[damage]
    hurt(run / "ckpt-000002")
    with pytest.warns(UserWarning, match=rf"skipped damaged checkpoint\(s\), resuming from ckpt-000001: "
                                         rf"ckpt-000002: {why}"):
        out = train(_cfg(random_tiny_dir, run, 3), progress=False)
    assert _strip(out["history"]) == runs["ref"]  # exactly as if nothing had happened
    assert _strip(read_history(run)) == runs["ref"]
    assert checkpoint_problem(run / "ckpt-000002") is None  # rewritten when the run got there
    assert latest_checkpoint(run).name == "ckpt-000003"


def test_latest_naming_a_missing_checkpoint_falls_back_too(run):
    (run / "latest").write_text("ckpt-000009")
    with pytest.warns(UserWarning, match="ckpt-000009: the folder is missing"):
        assert latest_checkpoint(run).name == "ckpt-000002"


def test_a_torn_last_line_is_dropped_with_a_warning_and_a_resume_repairs_it(runs, run, random_tiny_dir):
    with open(run / "history.jsonl", "a") as f:
        f.write('{"kind": "train", "st')
    with open(run / "calibration.jsonl", "a") as f:
        f.write('{"step": 2, "id": "x", "actual_pa')
    with pytest.warns(UserWarning, match=r"history.jsonl, line 4: dropped a torn last line"):
        assert [h["step"] for h in read_history(run)] == [1, 2, 2]
    with pytest.warns(UserWarning, match=r"calibration.jsonl, line 2: dropped a torn last line"):
        out = train(_cfg(random_tiny_dir, run, 3), progress=False)
    assert _train_steps(out["history"]) == _train_steps(runs["ref"])
    assert [p["step"] for p in read_jsonl(run / "calibration.jsonl", drop_torn_last=False)] == [2, 3]


def test_a_damaged_line_inside_a_jsonl_file_names_the_file_and_line(tmp_path):
    (tmp_path / "h.jsonl").write_text('{"step": 1}\n{"step": \n{"step": 3}\n')
    with pytest.raises(DataError, match=r"h.jsonl, line 2: not a JSON record"):
        read_jsonl(tmp_path / "h.jsonl")
    (tmp_path / "t.jsonl").write_text('{"step": 1}\n{"st')
    with pytest.raises(DataError, match=r"t.jsonl, line 2"):  # a file written atomically is never torn
        read_jsonl(tmp_path / "t.jsonl", drop_torn_last=False)


def test_pruning_keeps_the_newest_intact_checkpoints_and_never_a_later_step(random_tiny, tmp_path):
    model, _ = random_tiny
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in (1, 2, 3, 4, 6):
        save_checkpoint(tmp_path, step, model, opt, None, [{"step": step}], keep=10)
    _truncate(tmp_path / "ckpt-000004" / "adapter" / "model.safetensors")
    save_checkpoint(tmp_path, 5, model, opt, None, [{"step": 5}], keep=2)
    # 5 (just written) and 3 (the newest intact before it) stay; damaged 4 and old 1, 2 go; 6 is
    # a later step (a resume fell back past it) and is left for the run to rewrite
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-000003", "ckpt-000005", "ckpt-000006"]
    # the old bug: checkpoints of a later step never push out the one just written
    prune_checkpoints(tmp_path, 2, keep=1)
    assert (tmp_path / "ckpt-000005").exists()


# ---- 4. held-out evaluation for real data sets ------------------------------------------------

def _records_cfg(*extra):
    return load_config("tiny", overrides=["grpo.prompts_per_step=2", *extra])


def test_a_data_set_is_held_out_of_its_own_training_pool():
    task = f"data.task={FIX / 'gsm8k_test.jsonl'}"
    pool, held = run_records(_records_cfg(task, "data.eval_per_level=1"))
    assert len(pool) == 3 and len(held) == 1
    assert not {r["problem"] for r in pool} & {r["problem"] for r in held}
    # the held-out problems do not depend on the seed or the size of the pool
    assert run_records(_records_cfg(task, "data.eval_per_level=1", "seed=5", "data.train_pool=2"))[1] == held
    assert eval_records(_records_cfg(task, "data.eval_per_level=1")) == held  # masa-lite eval agrees
    with pytest.raises(DataError, match=r"has 1 problem\(s\) once data.eval_per_level = 3 are held out.*data.eval_task"):
        run_records(_records_cfg(task, "data.eval_per_level=3"))


def test_evaluation_problems_that_are_also_trained_on_are_removed_with_a_count(tmp_path):
    train_rows = [json.loads(line) for line in (FIX / "deepscaler_train.jsonl").read_text().splitlines()]
    evals = tmp_path / "eval.jsonl"
    new = {"problem": "What is $6 \\cdot 7$?", "answer": "42"}
    # the same problems, spaced differently, count as the same
    same = [dict(train_rows[0], problem="  " + train_rows[0]["problem"]), train_rows[2]]
    evals.write_text("".join(json.dumps(r) + "\n" for r in same + [new]))
    cfg = _records_cfg(f"data.task={FIX / 'deepscaler_train.jsonl'}", f"data.eval_task={evals}")
    with pytest.warns(UserWarning, match=r"2 of 3 problems are also in the training data .* removed; 1 remain"):
        pool, held = run_records(cfg)
    assert len(pool) == 3 and [r["problem"] for r in held] == [new["problem"]]
    with pytest.warns(UserWarning, match="2 of 3 problems"):  # masa-lite eval --dataset checks too
        assert [r["problem"] for r in eval_records(cfg, dataset=str(evals))] == [new["problem"]]
    evals.write_text("".join(json.dumps(r) + "\n" for r in same))
    with pytest.raises(DataError, match=r"every one of the 2 evaluation problems .* is also in the training data"):
        run_records(cfg)


def test_the_synthetic_task_is_unchanged():
    cfg = load_config("tiny", overrides=["data.train_pool=50", "data.eval_per_level=2"])
    pool, held = run_records(cfg)
    assert len(pool) == 50 and len(held) == 12 and eval_records(cfg) == held
    assert not {r["problem"] for r in pool} & {r["problem"] for r in held}


# ---- 5. every user error: one line, exit 2, no traceback --------------------------------------

def _old_checkpoint(run: Path) -> None:
    """Make ``run``'s checkpoints look written before fingerprints existed."""
    for ckpt in run.glob("ckpt-*"):
        state = torch.load(ckpt / "state.pt", weights_only=False)
        del state["trainer"]["fingerprint"]
        torch.save(state, ckpt / "state.pt")


def _last(*values):
    """The last of ``values`` (a case's setup steps, then its command line)."""
    return values[-1]


def _damaged(kind: str):
    """A run whose only checkpoint has damage ``kind`` (:data:`DAMAGE`), resumed."""
    return lambda t: _last(DAMAGE[kind][0](_only_ckpt2(t.run)), _argv(t.model, t.run, 3))


def _only_ckpt2(run: Path) -> Path:
    shutil.rmtree(run / "ckpt-000001")
    return run / "ckpt-000002"


def _adapter_copy(run: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(run / "ckpt-000002" / "adapter", tmp / "adapter"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _eval(adapter) -> list[str]:
    return ["eval", "--profile", "tiny", "-o", "data.eval_per_level=1", "--adapter", str(adapter)]


def _data_case(text: str):
    return lambda t: _argv(t.model, t.tmp / "out", 1, f"data.task={_write(t.tmp / 'd.jsonl', text)}")


def _readonly(t):
    def refuse(self, *a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
    t.monkeypatch.setattr(Path, "mkdir", refuse)
    return _argv(t.model, t.tmp / "mounted" / "run")


def _holding(t):
    t.held = lock_run_dir(t.tmp / "busy")
    return _argv(t.model, t.tmp / "busy")


USER_ERRORS = {
    # masa-lite eval --adapter
    "adapter: a run folder": (lambda t: _eval(t.run), "is a run folder; pass the adapter of a checkpoint"),
    "adapter: a checkpoint folder": (lambda t: _eval(t.run / "ckpt-000002"),
                                     "is a checkpoint folder; pass its adapter"),
    "adapter: an empty folder": (lambda t: _eval(_last((t.tmp / "empty").mkdir(), t.tmp / "empty")), "is empty"),
    "adapter: a file": (lambda t: _eval(_write(t.tmp / "f.txt", "x")), "is a file"),
    "adapter: a missing path": (lambda t: _eval(t.tmp / "nope"), "no such folder"),
    "adapter: a fake config": (lambda t: _eval(_write(_adapter_copy(t.run, t.tmp) / "adapter_config.json", "{x")
                                               .parent), "adapter_config.json cannot be read"),
    "adapter: not a peft config": (lambda t: _eval(_write(_adapter_copy(t.run, t.tmp) / "adapter_config.json",
                                                          '{"r": 2}').parent), "not a peft adapter configuration"),
    "adapter: truncated weights": (lambda t: _eval(_last(_truncate(_adapter_copy(t.run, t.tmp) / "adapter_model.safetensors"),
                                                         t.tmp / "adapter")), "adapter_model.safetensors is cut short"),
    # damaged run folders (no intact checkpoint left)
    "run: truncated safetensors": (_damaged("truncated weights"),
                                   "no checkpoint can be resumed from (ckpt-000002: adapter/adapter_model.safetensors"),
    "run: garbage state.pt": (_damaged("garbage state.pt"), "ckpt-000002: state.pt is cut short or not a torch file"),
    "run: torn checkpoint history": (_damaged("torn history"), "ckpt-000002: history.jsonl is damaged"),
    "run: invalid config.yaml of an old run": (lambda t: _last(_old_checkpoint(t.run), _write(t.run / "config.yaml", "a: ["),
                                                               _argv(t.model, t.run, 3)), "config.yaml: not valid YAML"),
    "run: an old run without config.yaml": (lambda t: _last(_old_checkpoint(t.run), (t.run / "config.yaml").unlink(),
                                                            _argv(t.model, t.run, 3)), "without a record of its run"),
    "run: another configuration": (lambda t: _argv(t.model, t.run, 3, "seed=7"), "seed: 0 → 7"),
    "run: held by another run": (_holding, "is in use by another training run"),
    # --out
    "out: a file": (lambda t: _argv(t.model, _write(t.tmp / "file", "x")), "is a file, not a folder"),
    "out: a 300-character name": (lambda t: _argv(t.model, t.tmp / ("x" * 300)), "File name too long"),
    "out: a read-only mount": (_readonly, "Read-only file system"),
    # data
    "data: level Infinity": (_data_case('{"problem": "1+1", "answer": "2", "level": Infinity}\n'),
                             "d.jsonl, line 1 (columns found: ['answer', 'level', 'problem']): level must be"),
    "data: level NaN": (_data_case('{"problem": "1+1", "answer": "2", "level": NaN}\n'), "level must be"),
    "data: level 1e30": (_data_case('{"problem": "1+1", "answer": "2", "level": 1e30}\n'), "level must be"),
    "data: gold answer true": (_data_case('{"problem": "1+1", "answer": true}\n'), "must be text or a number"),
    "data: gold answer [1,2]": (_data_case('{"problem": "1+1", "answer": [1,2]}\n'), "must be text or a number"),
    "data: gold answer {a: 1}": (_data_case('{"problem": "1+1", "answer": {"a": 1}}\n'), "must be text or a number"),
    "data: bad gold answer on line 4": (_data_case('{"problem": "a", "answer": "1"}\n\n{"problem": "b", "answer": "2"}\n'
                                                   '{"problem": "c", "answer": "\\\\frac{"}\n'), "d.jsonl, line 4 "),
    "data: empty problem": (_data_case('{"problem": "", "answer": "2"}\n'), "the problem text is empty"),
    "config: a duplicate YAML key": (lambda t: ["train", "--config", str(_write(t.tmp / "c.yaml", "grpo:\n  lr: 1\n  lr: 2\n"))],
                                     "the key 'lr' is given twice"),
    "config: lora_targets=[nosuch]": (lambda t: _argv(t.model, t.tmp / "out", 1, "model.lora_targets=[nosuch]"),
                                      "model.lora_targets: ['nosuch'] match no module"),
    "config: a seed of 2**64": (lambda t: _argv(t.model, t.tmp / "out", 1, f"seed={2**64}"), "seed must be a whole number"),
    # (Python 3.11+ refuses to read such integers, 3.10 reads them: the wording differs)
    "config: a 5000-digit seed": (lambda t: _argv(t.model, t.tmp / "out", 1, "seed=" + "1" * 5000), ("seed", "5000")),
    "config: a 100000-digit lr": (lambda t: _argv(t.model, t.tmp / "out", 1, "grpo.lr=" + "1" * 100_000),
                                  ("grpo.lr: expected a", "100000")),
    "config: model.device=cuda without CUDA": (lambda t: _argv(t.model, t.tmp / "out", 1, "model.device=cuda"),
                                               "model.device = 'cuda', but"),
}


class _Case:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize("case", sorted(USER_ERRORS))
def test_every_user_error_is_one_line_with_exit_code_2(case, run, random_tiny_dir, tmp_path, monkeypatch, capsys):
    if case.endswith("without CUDA") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    build, message = USER_ERRORS[case]
    t = _Case(run=run, model=random_tiny_dir, tmp=tmp_path, monkeypatch=monkeypatch, held=None)
    argv = build(t)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(argv)
    if t.held is not None:
        t.held.release()
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("masa-lite: error: ")]
    assert rc == 2 and len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), err[-2000:]
    assert "Traceback" not in err and all(m in errors[0] for m in (message if isinstance(message, tuple)
                                                                    else (message,))), errors[0][:2000]
    assert len(errors[0]) < 1000 and "delete" not in errors[0]


@pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                    reason="the bundled model has not been built")
def test_an_adapter_of_another_base_model_is_one_line(run, capsys):
    assert main(_eval(run / "ckpt-000002" / "adapter") + ["--model", "masa-tiny"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("masa-lite: error: --adapter ") and "does not load onto this model" in err
