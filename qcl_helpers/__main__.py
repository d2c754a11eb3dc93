"""Command line of the book's helper package.

``python -m qcl_helpers info`` prints the active profile, data folder and device choice.

``python -m qcl_helpers run permuted-mnist|split-cifar100|xxz --model qnn|mlp [--depth D | --width W]
--profile P --seed S --tasks N --out DIR`` runs a continual experiment into a run folder
(``config.json`` + ``metrics.jsonl`` + checkpoint); rerunning the same command resumes after
the last finished task.

``python -m qcl_helpers run ant --model qnn|mlp [--depth D] --profile P --seed S [--total-steps N]
--out DIR`` trains a PPO agent on MuJoCo Ant into a run folder (``config.json`` + ``evals.jsonl`` +
checkpoint); rerunning the same command resumes from the last evaluation (needs the ``rl`` extra).
"""
from __future__ import annotations

import argparse
import sys


def _run_parser(sub):
    p = sub.add_parser("run", help="run (or resume) a continual experiment into a run folder",
                       description="Run or resume a continual experiment. Rerun the same command to resume.")
    p.add_argument("experiment", help="permuted-mnist, split-cifar100, xxz or ant")
    p.add_argument("--model", default="qnn", help="qnn or mlp (default qnn)")
    p.add_argument("--depth", type=int, default=None, help="QNN depth DP (default: the profile's first)")
    p.add_argument("--width", type=int, default=None, help="MLP hidden width NW (default: the profile's first)")
    p.add_argument("--profile", default=None, help="ci, quick or paper (default: $QCL_PROFILE, else quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", type=int, default=None, help="number of tasks (default: the profile's)")
    p.add_argument("--out", default=None, help="run folder (default: $QCL_RUNS_DIR or ~/.cache/qcl_helpers/runs/<slug>)")
    p.add_argument("--fair", action="store_true",
                   help="same budget for both families: the profile's QNN epochs and a persistent Adam")
    p.add_argument("--train-per-task", type=int, default=None, help="override training samples per task")
    p.add_argument("--test-per-task", type=int, default=None, help="override test samples per task")
    p.add_argument("--epochs", type=int, default=None, help="override epochs per task")
    p.add_argument("--reset-optimizer", choices=("yes", "no"), default=None,
                   help="override whether Adam is re-created at every task")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularization (Adam weight decay)")
    p.add_argument("--shrink-perturb", nargs=2, type=float, default=None, metavar=("SHRINK", "SIGMA"),
                   help="at every task boundary: theta <- SHRINK*theta + SIGMA*N(0,1)")
    p.add_argument("--data-source", default=None,
                   help="permuted-mnist: official|test-split|auto; split-cifar100: cifar100|standin|auto; "
                        "xxz: raw|phase-fixed|random-phase "
                        "(default: the profile's)")
    p.add_argument("--fim", action="store_true", help="also measure Tr(FIM) (always on for split-cifar100)")
    p.add_argument("--precision", default="single", help="QNN simulation: single (complex64, as the paper) or double")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--total-steps", type=int, default=None, help="ant: environment steps (default: the profile's)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="ant: stop at the first evaluation at or after this many steps (rerun to resume)")


def _run(args) -> int:
    from . import continual, data, results

    if args.experiment == "ant":
        return _run_ant(args)
    if args.total_steps is not None or args.stop_after is not None:
        print("error: --total-steps and --stop-after apply to the ant experiment only", file=sys.stderr)
        return 2
    try:
        cfg = continual.make_config(
            args.experiment, args.model, profile=args.profile, depth=args.depth, width=args.width,
            seed=args.seed, tasks=args.tasks, fair=args.fair, l2=args.l2, shrink_perturb=args.shrink_perturb,
            data_source=args.data_source, fim=True if args.fim else None, epochs=args.epochs,
            reset_optimizer=None if args.reset_optimizer is None else args.reset_optimizer == "yes",
            train_per_task=args.train_per_task, test_per_task=args.test_per_task, precision=args.precision)
        stream = continual.stream(cfg)
        out = args.out or str(continual.runs_root(cfg.profile) / cfg.slug())
        print(f"{cfg.label} · {cfg.experiment} · profile {cfg.profile} · seed {cfg.seed} · {cfg.tasks} tasks")
        print(f"data: {stream.describe()}")
        print(f"run folder: {out}")
        r = continual.run(cfg, out, progress=not args.no_progress, device=args.device)
    except (continual.ConfigError, results.RunError, data.DataUnavailable, data.ChecksumError) as exc:
        hint = ""
        if isinstance(exc, data.DataUnavailable) and "train-images" in str(exc):
            hint = (" (offline? --data-source test-split trains and tests on disjoint subsets of the "
                    "official 10k test split)")
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    acc = r["test_accuracy"]
    print(f"done: {len(r)} tasks, test accuracy first {acc[0]:.3f}, last {acc[-1]:.3f}, mean {acc.mean():.3f}")
    return 0


def _run_ant(args) -> int:
    from . import results

    unused = {"width": None, "tasks": None, "fair": False, "train_per_task": None, "test_per_task": None,
              "epochs": None, "reset_optimizer": None, "l2": 0.0, "shrink_perturb": None, "data_source": None,
              "fim": False, "precision": "single"}
    bad = [f"--{k.replace('_', '-')}" for k, default in unused.items() if getattr(args, k) != default]
    if bad:
        print(f"error: {', '.join(bad)} do not apply to the ant experiment", file=sys.stderr)
        return 2
    try:
        from . import rl
    except ImportError as exc:
        print(f"error: the ant experiment needs the rl extra (pip install 'qcl-helpers[rl]'): {exc}", file=sys.stderr)
        return 2
    try:
        cfg = rl.make_ant_config(args.model, profile=args.profile, seed=args.seed, depth=args.depth,
                                 total_steps=args.total_steps)
        out = args.out or str(rl.run_folder(cfg))
        print(f"{cfg.label} · ant · profile {cfg.profile} · seed {cfg.seed} · {cfg.total_steps:,} steps")
        print(f"run folder: {out}")
        r = rl.run_ant(cfg, out, progress=not args.no_progress, stop_after=args.stop_after,
                       device=args.device or "cpu")
    except (rl.AntConfigError, results.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rew = r["mean_reward"]
    print(f"done: {int(r.steps[-1]):,} steps, {len(r)} evaluations, return first {rew[0]:.1f}, last {rew[-1]:.1f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qcl_helpers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the active profile, the data folder and the device choice")
    _run_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "info":
        from . import data, devices, profiles

        try:
            prof = profiles.current()
        except profiles.ProfileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"profile: {prof.name} -- {prof.description}")
        print(f"data folder: {data.data_dir()}")
        print(f"devices: {devices.describe()}")
        return 0
    if args.command == "run":
        return _run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
