"""The command line: every subcommand answers --help; demo and export-task run for real."""

import json
import subprocess
import sys

import pytest

from masa_lite.cli import main
from masa_lite.models import BUNDLED_MODELS

COMMANDS = ("demo", "train", "eval", "reproduce", "build-tiny", "export-task")


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: masa-lite " + command in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "masa_lite.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in COMMANDS:
        assert command in out


def test_export_task_writes_disjoint_jsonl(tmp_path):
    assert main(["export-task", "--out", str(tmp_path), "--n-train", "50", "--n-per-level", "5"]) == 0
    splits = {s: [json.loads(line)["problem"] for line in (tmp_path / f"{s}.jsonl").read_text().splitlines()]
              for s in ("train", "val", "test")}
    assert len(splits["train"]) == 50 and len(splits["test"]) == 30
    assert not set(splits["train"]) & set(splits["test"])


def test_bad_override_is_reported_in_one_line_with_exit_code_2(tmp_path, capsys):
    from masa_lite.config import ConfigError

    assert main(["train", "--out", str(tmp_path), "-o", "grpo.nope=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("masa-lite: error: unknown config key 'grpo.nope'")
    assert err.count("\n") == 1 and "Traceback" not in err
    # --debug (before or after the command) shows the traceback: the exception propagates
    for argv in (["--debug", "train"], ["train", "--debug"]):
        with pytest.raises(ConfigError, match="unknown config key 'grpo.nope'"):
            main(argv + ["--out", str(tmp_path), "-o", "grpo.nope=1"])


@pytest.mark.parametrize("argv, message", [
    (["train", "-o", "rollout.temperature=0"], "rollout.temperature must be > 0"),
    (["train", "-o", "grpo.lr="], "grpo.lr: a value is required"),
    (["train", "--config", "/nonexistent/run.yaml"], "config file /nonexistent/run.yaml does not exist"),
    (["eval", "--dataset", "/nonexistent/test.jsonl"], "no such file or folder: /nonexistent/test.jsonl"),
])
def test_user_errors_are_one_line_before_any_model_loads(argv, message, capsys, monkeypatch):
    import masa_lite.models as models

    def no_model(*a, **k):
        raise AssertionError("a model was loaded before the error")

    monkeypatch.setattr(models, "load_model_and_tokenizer", no_model)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"masa-lite: error: {err.split('error: ', 1)[1]}" and message in err
    assert err.count("\n") == 1


def test_console_script_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "masa_lite.cli", "train", "--out", str(tmp_path),
                           "-o", "data.levels=[]"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("masa-lite: error: data.levels is empty")


@pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                    reason="the bundled model has not been built")
def test_demo_runs_on_the_bundled_model(capsys):
    assert main(["demo", "-n", "12", "--show", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "accuracy by level" in out and "on 12 problems" in out
