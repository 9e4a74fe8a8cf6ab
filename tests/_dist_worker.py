"""One rank of a data-parallel training run, for tests/test_distributed.py.

Launched by ``python -m torch.distributed.run --nproc_per_node N tests/_dist_worker.py REPORT -o
key=value ...``. Each rank works in its own folder ``REPORT/rank{RANK}``, so a relative ``out_dir``
points every rank at a different place: whatever a rank other than 0 writes shows up in its own
folder (it must stay empty). An absolute ``out_dir`` is shared by all ranks, as in a real run.
Every rank saves its history and final LoRA weights to ``REPORT/rank{RANK}.pt``.
"""

import os
import sys

import torch
from peft import get_peft_model_state_dict

from masa_lite.config import load_config, parse_overrides
from masa_lite.trainer import train


def main(report: str, overrides: list[str]) -> None:
    rank = int(os.environ["RANK"])
    work = os.path.join(report, f"rank{rank}")
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    cfg = load_config("tiny", overrides=parse_overrides(overrides))
    out = train(cfg, progress=False)
    lora = get_peft_model_state_dict(out["model"])  # the adapter file's keys and tensors
    torch.save({"history": out["history"], "lora": lora}, os.path.join(report, f"rank{rank}.pt"))


if __name__ == "__main__":
    main(sys.argv[1], [a for a in sys.argv[2:] if a != "-o"])
