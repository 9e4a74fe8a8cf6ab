"""Guard: the setting that calibrates the bundled model's meta path must keep calibrating it.

``masa-lite reproduce`` trains MASA with the study's switches (``STUDY_SWITCHES``: the meta path on
its own LoRA adapter, Expert SFT with replayed targets; docs/meta-awareness-study.md, Findings 18
and 21). This trains exactly that, on the tiny profile's 12 steps, seed 0, through the trainer, and
fails if the held-out pass-rate r stops rising from the base model's: the main job's run of the
same configuration went 0.03 → 0.50 (figures/tiny/summary.md, 90 problems, se of r about 0.1).

The guard it replaces ran Expert SFT alone on per-level targets (study, Finding 1). On the rebuilt
masa-tiny that route no longer calibrates in 40 steps (r 0.30 → 0.09 measured on 2026-12-07, with
targets per kind as well as per level): the trainer's calibration comes with meta RL and replay.
"""

import pytest

from masa_lite.config import load_config
from masa_lite.models import BUNDLED_MODELS
from masa_lite.reproduce import METHODS, STUDY_SWITCHES
from masa_lite.trainer import train

pytestmark = pytest.mark.skipif(not (BUNDLED_MODELS["masa-tiny"] / "card.json").exists(),
                                reason="the bundled model has not been built")


def test_the_main_jobs_masa_calibrates_the_meta_path(tmp_path):
    cfg = load_config("tiny", overrides=STUDY_SWITCHES + METHODS["MASA"] + [f"out_dir={tmp_path / 'masa'}"])
    history = train(cfg, progress=False)["history"]
    evals = [h for h in history if h["kind"] == "eval"]
    before, after = evals[0]["calib_pass_corr"], evals[-1]["calib_pass_corr"]
    print("pass-rate r", before, "->", after)
    assert abs(before) < 0.2, before  # the base model is not calibrated
    assert after >= 0.3 and after - before >= 0.25, (before, after)  # MASA with the switches is
