"""masa_lite: a small, readable reproduction of MASA (arXiv 2510.03259).

GRPO for math reasoning plus a meta path in which the policy predicts its own pass rate,
solution length and the notions it needs, rewarded for matching what its rollouts really do.
Runs end to end on a laptop CPU with an embedded tiny model and synthetic task.
"""

__version__ = "0.1.0"
