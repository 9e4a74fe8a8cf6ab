"""Command line: ``masa-lite demo | train | eval | build-tiny | export-task``.

Every command runs on the bundled tiny model by default, with no accounts and no downloads;
``--profile`` (or ``MASA_LITE_PROFILE``) picks the size, ``-o key=value`` overrides any config key.

A user error — a config value, a data file, a path, a run folder — prints one line
``masa-lite: error: <message>`` (the message names the field or file and the fix) and exits with
code 2; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _config(args):
    from masa_lite.config import load_config

    overrides = list(args.override or [])
    if getattr(args, "out", None):
        overrides.append(f"out_dir={args.out}")
    if getattr(args, "model", None):
        overrides.append(f"model.name={args.model}")
    return load_config(args.profile, path=args.config, overrides=overrides)


def cmd_demo(args) -> int:
    """Load the tiny model, sample problems of every level, verify the answers."""
    import torch

    from masa_lite.task import synthetic
    from masa_lite.models import load_model_and_tokenizer
    from masa_lite.grpo.rewards import score_rollouts
    from masa_lite.grpo.sampling import generate_rollouts

    t0 = time.time()
    torch.manual_seed(args.seed)
    model, tok = load_model_and_tokenizer(args.model, device=args.device)
    probs = synthetic.generate_problems(args.n, seed=args.seed, split="test")
    records = [p.to_record() for p in probs]
    rollouts = generate_rollouts(model, tok, [synthetic.solution_prompt(p.problem) for p in probs],
                                 n=1, max_new_tokens=400)
    score_rollouts(rollouts, records)
    for r in rollouts[: args.show]:
        rec = records[r.prompt_index]
        print(f"--- level {rec['level']}: {rec['problem']}  (answer {rec['answer']})")
        print(r.text)
        print(f"=> {'correct' if r.correct else 'wrong'}, {r.length} tokens")
    by_level: dict[int, list[bool]] = {}
    for r in rollouts:
        by_level.setdefault(records[r.prompt_index]["level"], []).append(bool(r.correct))
    print("\naccuracy by level (1 sample each): " + ", ".join(
        f"L{lv} {sum(v) / len(v):.2f} (n={len(v)})" for lv, v in sorted(by_level.items())))
    print(f"overall {sum(bool(r.correct) for r in rollouts) / len(rollouts):.2f} on {len(rollouts)} "
          f"problems in {time.time() - t0:.1f} s")
    return 0


def cmd_train(args) -> int:
    from masa_lite.trainer import train

    cfg = _config(args)
    out = train(cfg, resume=not args.no_resume)
    if out["rank"] != 0:  # data-parallel run (torchrun): rank 0 reports
        return 0
    last = out["history"][-1] if out["history"] else {}
    print(json.dumps({k: v for k, v in last.items() if k != "warnings"}, indent=1))
    ranks = f" ({out['world_size']} data-parallel processes)" if out["world_size"] > 1 else ""
    print(f"run folder: {out['run_dir']}{ranks}")
    return 0


def cmd_eval(args) -> int:
    from masa_lite.evaluation import evaluate_policy
    from masa_lite.models import load_model_and_tokenizer
    from masa_lite.task.records import eval_records
    from masa_lite.task.prompts import prompt_format_for

    cfg = _config(args)
    records = eval_records(cfg, dataset=args.dataset)  # data errors before the model loads
    if args.adapter:
        from masa_lite.adapters import check_adapter

        check_adapter(args.adapter)  # a run, checkpoint or damaged folder: before the model loads
    model, tok = load_model_and_tokenizer(cfg.model.name, device=cfg.model.device,
                                          dtype=cfg.model.dtype)
    if args.adapter:
        from masa_lite.adapters import load_trained_adapters

        model = load_trained_adapters(model, args.adapter)
    fmt = prompt_format_for(cfg.model.name, tok, k=cfg.meta.k)
    notions = None
    if args.feed_in:  # meta path first, then its most common notions go into the solution prompt
        from masa_lite.efficient.feed_in import feed_in_notions
        from masa_lite.meta.scoring import predictions_by_prompt, sample_meta

        ros, preds = sample_meta(model, tok, records, fmt, cfg, cfg.meta.eval_group_size)
        notions = [feed_in_notions(p["notions"])
                   for p in predictions_by_prompt(ros, preds, len(records), cfg.meta.k)]
    res = evaluate_policy(model, tok, records, fmt.solution, n_samples=cfg.data.eval_samples,
                          max_new_tokens=cfg.rollout.max_new_tokens, ks=(1, cfg.data.eval_samples),
                          greedy=args.greedy, progress=True, seed=cfg.seed, notions=notions,
                          cfg=cfg)
    res["feed_in"] = bool(args.feed_in)
    res.pop("per_problem")
    print(json.dumps(res, indent=1))
    return 0


def reproduce_meta_overrides(args) -> list[str]:
    """The meta methods' overrides: the study's switches (unless ``--paper``), then the user's -m."""
    from masa_lite.reproduce import STUDY_SWITCHES

    return ([] if args.paper else list(STUDY_SWITCHES)) + list(args.meta_override or [])


def cmd_reproduce(args) -> int:
    from masa_lite.reproduce import reproduce
    from masa_lite.reproduce_seeds import reproduce_seeds

    meta = reproduce_meta_overrides(args)
    if args.seeds:
        summary = reproduce_seeds(args.profile, args.seeds, out_dir=args.out, overrides=args.override,
                                  meta_overrides=meta, methods=args.methods, resume=args.resume)
    else:
        summary = reproduce(args.profile, out_dir=args.out, overrides=args.override,
                            methods=args.methods, meta_overrides=meta, resume=args.resume)
    print(open(f"{args.out}/summary.md").read())
    print(f"figures: {', '.join(summary['figures'])}")
    if args.publish:
        from masa_lite.reproduce import publish

        print(f"published to {publish(args.out, args.publish)}")
    return 0


def cmd_figures(args) -> int:
    from masa_lite.reproduce import figures

    for path in figures(args.data, args.out):
        print(path)
    return 0


def cmd_build_tiny(args) -> int:
    from masa_lite.task.tiny_model import build_and_card

    build_and_card(args.out, steps=args.steps, seed=args.seed, card_problems=args.card_problems)
    return 0


def cmd_export_task(args) -> int:
    from masa_lite.task import synthetic

    for split in ("train", "val", "test"):
        if split == "train":
            probs = synthetic.generate_problems(args.n_train, seed=args.seed, split="train")
        else:
            probs = synthetic.task_splits(args.n_per_level, seed=args.seed)[split]
        path = synthetic.save_jsonl(probs, f"{args.out}/{split}.jsonl")
        print(f"{path}: {len(probs)} problems")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``masa-lite`` argument parser: one sub-command per task."""
    p = argparse.ArgumentParser(prog="masa-lite", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback of an error instead of one line")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="sample and verify problems with the bundled tiny model")
    d.add_argument("--model", default="masa-tiny")
    d.add_argument("--device", default="auto")
    d.add_argument("-n", type=int, default=64, help="problems to sample")
    d.add_argument("--show", type=int, default=3, help="rollouts to print")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)

    for name, func, helptext in (("train", cmd_train, "GRPO training with LoRA"),
                                 ("eval", cmd_eval, "evaluate a model or adapter")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--profile", default=None, help="tiny | cpu | gpu (default: "
                       "MASA_LITE_PROFILE or tiny)")
        s.add_argument("--config", default=None, help="a YAML file of overrides")
        s.add_argument("-o", "--override", action="append", help="key=value, e.g. grpo.lr=1e-4")
        s.add_argument("--model", default=None, help="model name, hub id, folder or .gguf")
        s.set_defaults(func=func)
    sub.choices["train"].add_argument("--out", default=None, help="run folder")
    sub.choices["train"].add_argument("--no-resume", action="store_true")
    sub.choices["eval"].add_argument("--adapter", default=None, help="a LoRA adapter folder")
    sub.choices["eval"].add_argument("--dataset", default=None, help="data set name or path")
    sub.choices["eval"].add_argument("--greedy", action="store_true")
    sub.choices["eval"].add_argument("--feed-in", action="store_true",
                                     help="append the meta path's predicted notions to each prompt")
    add_study_commands(sub)
    for s in sub.choices.values():  # --debug also after the command: masa-lite train --debug
        s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error instead of one line")
    return p


def add_study_commands(sub) -> None:
    """The commands that reproduce the study and rebuild its assets: reproduce, figures,
    build-tiny, export-task."""
    r = sub.add_parser("reproduce", help="GRPO vs MASA vs MASA-efficient: train, evaluate, report")
    r.add_argument("--profile", default=None, help="tiny | cpu | gpu (default: MASA_LITE_PROFILE or tiny)")
    r.add_argument("--out", default="runs/reproduce")
    r.add_argument("-o", "--override", action="append", help="key=value for every method")
    r.add_argument("-m", "--meta-override", action="append",
                   help="key=value for the meta methods only (MASA, MASA-efficient), e.g. meta.kl_beta=0.1")
    r.add_argument("--paper", action="store_true",
                   help="the meta methods as the paper has them; without it they get the study's "
                        "calibrating switches (masa_lite.reproduce.STUDY_SWITCHES)")
    r.add_argument("--resume", action="store_true",
                   help="continue (or reuse, when finished) each method's run found in --out with the same settings")
    r.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="run every method in each seed (into <out>/seed<N>) and report mean ± sd")
    r.add_argument("--methods", nargs="+", default=None, help="a subset of the methods")
    r.add_argument("--publish", default=None, help="also copy figures + summary here (e.g. figures)")
    r.set_defaults(func=cmd_reproduce)

    f = sub.add_parser("figures", help="redraw every figure from saved runs (no training)")
    f.add_argument("data", nargs="?", default="figures/data",
                   help="a reproduce output folder or a published figures/data folder")
    f.add_argument("--out", default="figures")
    f.set_defaults(func=cmd_figures)

    b = sub.add_parser("build-tiny", help="rebuild the bundled tiny model from scratch")
    b.add_argument("--out", default="masa_lite/assets/masa-tiny")
    b.add_argument("--steps", type=int, default=3000)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--card-problems", type=int, default=50, help="held-out problems per level")
    b.set_defaults(func=cmd_build_tiny)

    e = sub.add_parser("export-task", help="write the synthetic task's splits as JSONL")
    e.add_argument("--out", default="data/synthetic")
    e.add_argument("--n-train", type=int, default=20000)
    e.add_argument("--n-per-level", type=int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=cmd_export_task)


def user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the input is wrong", not "masa_lite has a bug"."""
    from masa_lite.config import ConfigError
    from masa_lite.errors import AdapterError, CheckpointWriteError, DataError, RunFolderError

    out = [ConfigError, DataError, CheckpointWriteError, RunFolderError, AdapterError,
           FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError]
    try:
        from masa_lite.task.data import DatasetUnavailableError
        out.append(DatasetUnavailableError)
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    return tuple(out)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text += f": {exc.filename}"
    return text


def main(argv=None) -> int:
    """Entry point of the ``masa-lite`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "debug", False):
        return args.func(args)
    try:
        return args.func(args)
    except user_errors() as exc:
        print(f"{parser.prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
