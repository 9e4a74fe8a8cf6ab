"""MASA's meta path (docs/method.md §1–2): the policy predicts its own pass rate, solution length
and the notions it needs, and is rewarded for matching what its solution rollouts really do.

:mod:`~masa_lite.meta.answer` (prompt, format, lenient parser), :mod:`~masa_lite.meta.reward`
(r_pass, r_len, r_notion, r_meta), :mod:`~masa_lite.meta.scoring` (meta rollouts scored against
their prompt's solutions), :mod:`~masa_lite.meta.credit` (field-level credit),
:mod:`~masa_lite.meta.diagnostics` and :mod:`~masa_lite.meta.analysis` (is the prediction
informative? Δaccuracy vs Δmeta-awareness).
"""
