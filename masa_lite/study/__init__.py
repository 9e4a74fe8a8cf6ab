"""The meta-awareness study's instruments (docs/meta-awareness-study.md), kept apart from the method.

The method a student reads lives in :mod:`masa_lite.grpo`, :mod:`masa_lite.meta` and
:mod:`masa_lite.efficient`, run by :mod:`masa_lite.trainer`. What is here only measures it, and
nothing in the method imports it (``tests/test_layout.py`` checks that):

* :mod:`~masa_lite.study.probe` — the supervised probe: can the meta path learn per-level difficulty
  from Expert-SFT targets at all? (Finding 1; ``scripts/meta_sft_probe.py``, the calibration guard);
* :mod:`~masa_lite.study.frontier` — what the gate and the cutoff could reach on this task, as their
  threshold is swept, for the meta path or for a better-informed reference predictor (Finding 11;
  ``scripts/control_frontier.py``, ``scripts/calibration_ceiling.py``);
* :mod:`~masa_lite.study.cost` — what speed-up MASA-efficient can reach at all, from what a step
  costs (Finding 9; notebook 05).

Run monitoring that every training run logs stays with the method: the per-level predictions and
reward shares of :mod:`masa_lite.meta.diagnostics`, the level-oracle and noise-ceiling references of
:mod:`masa_lite.meta.ceiling`, the per-problem analysis of :mod:`masa_lite.meta.analysis`.
"""
