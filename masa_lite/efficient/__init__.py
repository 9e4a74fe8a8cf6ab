"""MASA-efficient (docs/method.md §4): the meta path's predictions act before the solution path.

:mod:`~masa_lite.efficient.plan` (sequential mode: per prompt, gated? budget? hint?) from
:mod:`~masa_lite.efficient.gate`, :mod:`~masa_lite.efficient.cutoff` and
:mod:`~masa_lite.efficient.feed_in`; :mod:`~masa_lite.efficient.expert_sft` trains the meta path
on corrected predictions.
"""
