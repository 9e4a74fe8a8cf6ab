"""The task (docs/method.md §5): problems, prompts and answer checking.

:mod:`~masa_lite.task.synthetic` (the built-in arithmetic task), :mod:`~masa_lite.task.data`
(external datasets: GSM8K, MATH, local files), :mod:`~masa_lite.task.records` (a run's training
and evaluation records), :mod:`~masa_lite.task.prompts` (solution and meta prompts per model),
:mod:`~masa_lite.task.verify` (is an answer right?) and :mod:`~masa_lite.task.tiny_model` (the
bundled tiny model, built from the synthetic task).
"""
