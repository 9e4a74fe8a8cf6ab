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


def test_bad_override_is_reported(tmp_path):
    from masa_lite.config import ConfigError

    with pytest.raises(ConfigError, match="unknown config key 'grpo.nope'"):
        main(["train", "--out", str(tmp_path), "-o", "grpo.nope=1"])


@pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "config.json").exists(),
                    reason="the bundled model has not been built")
def test_demo_runs_on_the_bundled_model(capsys):
    assert main(["demo", "-n", "12", "--show", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "accuracy by level" in out and "on 12 problems" in out
