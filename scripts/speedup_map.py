"""When does MASA-efficient pay? The cost model's speed-up bound over the meta path's cost m and the
gated share g, with every measured regime on it (docs/meta-awareness-study.md, Finding 21).

Points: the published comparisons (``figures/summary.json``: the cpu profile, ``figures/tiny/``:
the main job), the retired masa-tiny v1 (``docs/records/masa-tiny-v1/regime.json``) and the
paper (g = 0.37 gated, 1.28×; m is what its cost model implies: 1/1.28 − (1 − 0.37) ≈ 0.15).
m, g and the speed-up are MASA-efficient's, mean over seeds where there are several.

    python scripts/speedup_map.py --out figures/speedup_map.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from masa_lite.reproduce_report import PAPER
from masa_lite.study.cost import max_meta_share
from masa_lite.teach import plot_kit
from masa_lite.teach.plots_efficient import speedup_map

ROOT = Path(__file__).resolve().parent.parent


def _value(x):
    """A number of a one-seed summary, or the mean of a multi-seed one."""
    return x.get("mean") if isinstance(x, dict) else x


def regime(summary_path: Path, label: str, method: str = "MASA-efficient") -> dict | None:
    """m, g and the measured speed-up of ``method`` in a published summary (None if absent)."""
    if not summary_path.exists():
        return None
    row = json.loads(summary_path.read_text())["methods"].get(method)
    if row is None or _value(row.get("meta_share")) is None:
        return None
    speed, seeds = row.get("speedup_vs_grpo"), row.get("pass@1")
    if isinstance(speed, dict) and isinstance(seeds, dict) and speed.get("n", 0) < seeds.get("n", 0):
        label += f" (speed-up: {speed['n']} of {seeds['n']} seeds reach GRPO's final)"
    return {"label": label, "m": _value(row["meta_share"]), "g": _value(row.get("gated_share")) or 0.0,
            "speedup": _value(speed)}


def points(root: Path = ROOT) -> list[dict]:
    """Every regime there is data for, the paper's last."""
    out = [regime(root / "figures" / "summary.json", "masa-tiny, cpu profile"),
           regime(root / "figures" / "tiny" / "summary.json", "masa-tiny, main job (tiny)")]
    record = root / "docs" / "records" / "masa-tiny-v1" / "regime.json"
    if record.exists():
        out.append(json.loads(record.read_text()))
    g = PAPER["gated_share"]
    out.append({"label": "paper (Qwen3-8B)", "m": max_meta_share(PAPER["speedup"], g), "g": g,
                "speedup": PAPER["speedup"], "paper": True})
    return [p for p in out if p is not None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "figures" / "speedup_map.png")
    args = ap.parse_args(argv)
    pts = points()
    for p in pts:
        print(f"{p['label']}: m {p['m']:.2f}, g {p['g']:.2f}, speed-up "
              + ("not reached" if p["speedup"] is None else f"{p['speedup']:.2f}×"))
    print(plot_kit.save(speedup_map(pts), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
