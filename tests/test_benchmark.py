"""The GRPO benchmark (benchmarks/grpo_vs_trl.py) runs end to end on the tiny shape: masa_lite's
half always, TRL's half when trl is installed (a benchmark-only dependency)."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grpo_vs_trl.py"
TINY = ["--shape", "tiny", "--device", "cpu", "--prompts", "2", "--generations", "4",
        "--new-tokens", "12", "--prompt-tokens", "8", "--warmup", "0", "--steps", "1"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("grpo_vs_trl", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tokenizer_gives_one_token_per_prompt_character(bench, tmp_path):
    from transformers import AutoTokenizer

    bench.build_model_folder("tiny", tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)  # reloaded as the Qwen2 tokenizer
    prompts = bench.make_prompts(3, 10)
    assert [len(ids) for ids in tok(prompts, add_special_tokens=False)["input_ids"]] == [10, 10, 10]
    assert tok.eos_token_id == 1 and tok.pad_token_id == 0 and len(tok) == 512  # nothing added


def test_masa_lite_half_runs_one_forced_length_step(bench, tmp_path):
    out = tmp_path / "result.json"
    bench.main([*TINY, "--only", "masa", "--out", str(out)])
    res = json.loads(out.read_text())
    m = res["masa_lite"]
    assert m["rollout_tokens_per_step"] == 2 * 4 * 12  # lengths forced: no early EOS
    assert m["seconds_per_step"] > m["generation_seconds_per_step"] > 0
    assert "trl" not in res and res["versions"]["torch"] and res["device"].startswith("CPU")


def test_trl_half_runs_one_step(bench, tmp_path):
    pytest.importorskip("trl")
    res = bench.main([*TINY, "--only", "trl"])
    t = res["trl"]
    assert t["rollout_tokens_per_step"] == 2 * 4 * 12 and len(t["step_seconds"]) == 1
    assert t["seconds_per_step"] > 0
