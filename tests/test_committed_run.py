"""The committed cpu run that 05_masa_efficient loads by default (`figures/data/seed0/`): its
MASA-efficient adapters load onto the bundled model, hold no path of the machine that made them,
and come from a run whose gate fired (what 05 is there to show)."""

import json
from pathlib import Path

from masa_lite.adapters import check_adapter
from masa_lite.config import load_config

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "figures" / "data" / "seed0" / "masa-efficient"


def test_committed_adapters_load_and_name_the_bundled_model():
    check_adapter(RUN / "adapter")
    for cfg_file in (RUN / "adapter" / "adapter_config.json", RUN / "adapter" / "meta" / "adapter_config.json"):
        assert json.loads(cfg_file.read_text())["base_model_name_or_path"] == "masa-tiny", cfg_file
    cfg = load_config(path=RUN / "config.yaml")
    assert cfg.model.name == "masa-tiny" and cfg.meta.enabled and cfg.meta.adapter == "separate"


def test_committed_run_is_the_summarys_seed_0_and_its_gate_fired():
    summary = json.loads((ROOT / "figures" / "summary.json").read_text())
    row = summary["per_seed"]["0"]["methods"]["MASA-efficient"]
    assert row["gated_share"] > 0.1 and row["gate_f1"] is not None
    steps = [json.loads(line) for line in (RUN / "history.jsonl").read_text().splitlines()]
    last = [h for h in steps if h.get("kind") == "train"][-1]
    assert last["gate_f1"] == row["gate_f1"]  # the history 05 draws is the run the summary reports
