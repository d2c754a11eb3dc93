"""Command line of the book's helper package.

``python -m qcl_helpers info`` prints the active profile, data folder and device choice.

``python -m qcl_helpers list`` lists the registered experiments and their sweep grids.

``python -m qcl_helpers run EXPERIMENT --model qnn|mlp [--depth D | --width W] --profile P --seed S
[--tasks N | --total-steps N] [--out DIR]`` runs one configuration into a run folder
(``config.json`` + ``metrics.jsonl`` + checkpoint); rerunning the same command resumes it.

``python -m qcl_helpers sweep GRID [--profile P] [--seeds N] [--only KEYS] [--tasks N]
[--address ADDR] [--out DIR] [--status]`` runs a named grid of configurations on Ray (locally,
or on a cluster), resumably, and writes its summary.
"""
from __future__ import annotations

import argparse
import sys

#: Options of ``run`` and their "not given" values; only given ones reach the experiment.
_RUN_OPTIONS = {"depth": None, "width": None, "tasks": None, "fair": False, "l2": None, "shrink_perturb": None,
                "continual_backprop": None, "data_source": None, "fim": None, "epochs": None,
                "reset_optimizer": None, "train_per_task": None, "test_per_task": None, "precision": None,
                "diagnostics": False, "total_steps": None, "updates_per_task": None}


def _run_parser(sub):
    p = sub.add_parser("run", help="run (or resume) one configuration into a run folder",
                       description="Run or resume one configuration. Rerun the same command to resume.")
    p.add_argument("experiment", help="a registered experiment (python -m qcl_helpers list)")
    p.add_argument("--model", default="qnn", help="qnn or mlp (default qnn)")
    p.add_argument("--depth", type=int, default=None, help="QNN depth DP (default: the profile's first)")
    p.add_argument("--width", type=int, default=None, help="MLP hidden width NW (default: the profile's first)")
    p.add_argument("--profile", default=None, help="ci, quick or paper (default: $QCL_PROFILE, else quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", type=int, default=None, help="number of tasks (default: the profile's)")
    p.add_argument("--out", default=None, help="run folder (default: $QCL_RUNS_DIR or ~/.cache/qcl_helpers/runs, "
                                               "then <slug>_<config hash>)")
    p.add_argument("--fair", action="store_true",
                   help="same budget for both families: the profile's QNN epochs and a persistent Adam")
    p.add_argument("--train-per-task", type=int, default=None, help="override training samples per task")
    p.add_argument("--test-per-task", type=int, default=None, help="override test samples per task")
    p.add_argument("--epochs", type=int, default=None, help="override epochs per task")
    p.add_argument("--updates-per-task", type=int, default=None,
                   help="train this many minibatch updates per task instead of whole epochs")
    p.add_argument("--reset-optimizer", choices=("yes", "no"), default=None,
                   help="override whether Adam is re-created at every task")
    p.add_argument("--l2", type=float, default=None, help="L2 regularization (Adam weight decay)")
    p.add_argument("--shrink-perturb", nargs=2, type=float, default=None, metavar=("SHRINK", "SIGMA"),
                   help="at every task boundary: theta <- SHRINK*theta + SIGMA*N(0,1)")
    p.add_argument("--continual-backprop", nargs=2, type=float, default=None, metavar=("RATE", "MATURITY"),
                   help="MLP: continual backprop (Dohare et al. 2024), replacement rate and maturity threshold")
    p.add_argument("--data-source", default=None, help="the experiment's data source (default: the profile's)")
    p.add_argument("--fim", action="store_const", const=True, default=None,
                   help="also measure Tr(FIM) (always on for split-cifar100)")
    p.add_argument("--diagnostics", action="store_true",
                   help="also measure effective rank and dormant units (MLP) or Fisher eigenvalues (QNN)")
    p.add_argument("--precision", default=None, help="QNN simulation: single (complex64, as the paper) or double")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--total-steps", type=int, default=None, help="PPO runs: environment steps (default: the profile's)")
    p.add_argument("--stop-after", type=int, default=None,
                   help="PPO runs: stop at the first evaluation at or after this many steps (rerun to resume)")


def _sweep_parser(sub):
    p = sub.add_parser("sweep", help="run a named grid of configurations on Ray, resumably",
                       description="Run a named grid (python -m qcl_helpers list) on Ray: locally with one "
                                   "worker per core, or on a cluster with --address. Rerun to resume.")
    p.add_argument("grid", help="a grid name: figure1, figure2, figure3, figure4, fair-budget, remedies, ...")
    p.add_argument("--profile", default=None, help="ci, quick or paper (default: $QCL_PROFILE, else quick)")
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per configuration (default: the grid's)")
    p.add_argument("--only", default=None, help="comma-separated configuration keys to run (see --status)")
    p.add_argument("--tasks", type=int, default=None, help="continual grids: tasks per run (default: the profile's)")
    p.add_argument("--total-steps", type=int, default=None, help="PPO grids: steps per run (default: the profile's)")
    p.add_argument("--address", default=None, help="a Ray cluster (host:port, or 'auto'); default: $RAY_ADDRESS, "
                                                   "else a local Ray")
    p.add_argument("--out", default=None, help="sweep folder root (default: $QCL_RUNS_DIR or "
                                               "~/.cache/qcl_helpers/runs); runs go to <out>/<grid>/")
    p.add_argument("--workers", type=int, default=None, help="local Ray: CPUs to use (default: all cores)")
    p.add_argument("--status", action="store_true", help="say how far the sweep is, from its folders alone")
    p.add_argument("--aggregate", action="store_true", help="only (re)write the summary from the folders")


def _run(args) -> int:
    from . import configs, data, results, runner

    opts = {k: getattr(args, k) for k, none in _RUN_OPTIONS.items() if getattr(args, k) != none}
    if args.reset_optimizer is not None:
        opts["reset_optimizer"] = args.reset_optimizer == "yes"
    try:
        cfg = runner.make_config(args.experiment, args.model, profile=args.profile, seed=args.seed, **opts)
        out = args.out or str(results.default_folder(cfg))
        budget = f"{cfg.total_steps:,} steps" if cfg.kind == "rl" else f"{cfg.tasks} tasks"
        print(f"{cfg.label} · {cfg.experiment} · profile {cfg.profile} · seed {cfg.seed} · {budget}")
        if cfg.kind == "continual":
            from . import continual

            print(f"data: {continual.stream(cfg).describe()}")
        else:
            print(f"data: {cfg.data_label}")
        print(f"run folder: {out}")
        r = runner.execute(cfg, out, progress=not args.no_progress, device=args.device, stop_after=args.stop_after)
    except ImportError as exc:
        print(f"error: this experiment needs the rl extra (pip install 'qcl-helpers[rl]'): {exc}", file=sys.stderr)
        return 2
    except (configs.ConfigError, results.RunError, data.DataUnavailable, ValueError) as exc:
        hint = ""
        if isinstance(exc, data.DataUnavailable) and "train-images" in str(exc):
            hint = (" (offline? --data-source test-split trains and tests on disjoint subsets of the "
                    "official 10k test split)")
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{hint}", file=sys.stderr)
        return 2
    if r.kind == "rl":
        rew = r["mean_reward"]
        print(f"done: {int(r.steps[-1]):,} steps, {len(r)} evaluations, return first {rew[0]:.1f}, "
              f"last {rew[-1]:.1f}")
    else:
        acc = r["test_accuracy"]
        print(f"done: {len(r)} tasks, test accuracy first {acc[0]:.3f}, last {acc[-1]:.3f}, mean {acc.mean():.3f}")
    return 0


def _list() -> int:
    from . import experiments

    for name in experiments.names():
        e = experiments.get(name)
        print(f"{name:<16} {e.kind:<10} {e.title}")
        for g in e.grids.values():
            print(f"    sweep {g.name:<13} {g.description} (default seeds: {g.seeds})")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qcl_helpers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the active profile, the data folder and the device choice")
    sub.add_parser("list", help="list the registered experiments and their sweep grids")
    _run_parser(sub)
    _sweep_parser(sub)
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
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    if args.command == "sweep":
        from . import sweep

        return sweep.main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
