"""Sweeps: a named grid of runs (every configuration x seeds) on Ray, resumable, with a summary.

``python -m qcl_helpers sweep GRID`` expands a grid (defined beside its experiment, see
:mod:`qcl_helpers.experiments`) into one run per configuration and seed, each in its own run folder
``<out>/<grid>/<slug>_<hash>/``. Every run is one **Ray task with one CPU** that calls the same
function as ``python -m qcl_helpers run`` (:func:`qcl_helpers.runner.run_spec`): a task that fails or
whose worker dies is retried by Ray and resumes from its folder, losing at most the task (or PPO
evaluation interval) in progress. Finished runs are never started again; a sweep started again after
it finished does nothing and says so.

* Without ``--address`` (and without ``$RAY_ADDRESS``) Ray starts locally with one worker per core.
* With ``--address HOST:PORT`` (or ``auto``) the sweep joins a running Ray cluster; every node must
  see the output folder at the same path (a shared file system), because workers write the run
  folders and the driver reads them.

While it runs, the driver shows runs finished / running / waiting and tasks done per run;
``--status`` says the same from the folders alone. At the end (and with ``--aggregate``) it writes
``<out>/<grid>/summary.json``: per configuration, the mean and standard error over seeds of every
per-task metric, and their moving averages, which the chapters plot as bands. A finished run's
checkpoint is deleted (stored results keep rows and provenance); only unfinished runs keep one, so
that a sweep committed half-way resumes on another machine.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import experiments, profiles, results, runner
from .configs import ConfigError

SUMMARY = "summary.json"
#: Set to ``"<task>"`` (continual) to make every run's worker die once right after finishing that
#: task (index from 0), to see Ray retry it and the run resume. For testing fault tolerance.
FAULT_VAR = "QCL_SWEEP_FAULT_AFTER"


class SweepError(ValueError):
    """A sweep was asked for with invalid settings. Introduced in: 04 · Permuted MNIST"""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its configuration key, seed, settings and folder."""

    key: str
    seed: int
    spec: dict
    folder: Path
    config: object

    def state(self) -> str:
        """``finished``, ``started`` (some rows, not complete) or ``waiting`` (nothing yet)."""
        return self.progress()[0]

    def progress(self) -> tuple:
        """``(state, done)`` from one read of the folder: :meth:`state`, and the rows done (the
        environment steps done, for a PPO run) as text."""
        try:
            run = results.load_run(self.folder, require_complete=False)
        except results.RunError:
            return "waiting", "0"
        state = "finished" if run.complete else ("started" if len(run) else "waiting")
        return state, (f"{run.rows[-1]['steps']:,}" if self.config.kind == "rl" and len(run) else str(len(run)))


#: Settings that set a run's scale or what it measures, not which configuration it is (left out of its key).
SCALE_KEYS = ("tasks", "total_steps", "train_per_task", "test_per_task", "updates_per_task", "diagnostics", "fim")


def config_key(settings: dict) -> str:
    """A short key for one configuration of a grid: ``qnn-dp4``, ``mlp-nw16``, ``mlp-nw16-l2-0.01``,
    ``mlp-nw64-raw`` (a data source is named by its value; scale settings are left out).

    Introduced in: 04 · Permuted MNIST
    """
    s = {k: v for k, v in settings.items() if k not in SCALE_KEYS}
    model = s.pop("model")
    parts = [model + (f"-dp{s.pop('depth')}" if "depth" in s else f"-nw{s.pop('width')}" if "width" in s else "")]
    source = s.pop("data_source", None)
    for k in sorted(s):
        v = s[k]
        name = k.replace("_", "-")
        if v is True:
            parts.append(name)
        elif isinstance(v, (list, tuple)):
            parts.append(name + "-" + "-".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v))
        else:
            parts.append(f"{name}-{v:g}" if isinstance(v, float) else f"{name}-{v}")
    return "-".join(parts + ([source] if source else []))


def default_root() -> Path:
    """Where sweeps go by default: ``$QCL_RUNS_DIR``, else ``~/.cache/qcl_helpers/runs``."""
    return results.runs_root("sweep")


def plan(grid_name: str, *, profile=None, seeds=None, only=None, tasks=None, total_steps=None,
         out=None) -> tuple:
    """``(grid, profile, [PlannedRun, ...])``: every run of ``grid_name``, checked, with its folder.

    ``only`` (keys from :func:`config_key`) narrows the configurations; ``tasks`` / ``total_steps``
    set the budget of continual / PPO runs. Bad input raises :class:`SweepError` with one line.

    Introduced in: 04 · Permuted MNIST
    """
    try:
        grid = experiments.get_grid(grid_name)
        prof = profiles.resolve(profile)
    except (experiments.UnknownName, profiles.ProfileError) as exc:
        raise SweepError(str(exc)) from None
    exp = experiments.get(grid.experiment)
    n_seeds = grid.seeds if seeds is None else seeds
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise SweepError(f"--seeds must be a positive integer, got {n_seeds!r}")
    budget = {}
    if tasks is not None:
        if exp.kind != "continual":
            raise SweepError(f"--tasks applies to continual grids; {grid_name} is a PPO grid (use --total-steps)")
        budget["tasks"] = tasks
    if total_steps is not None:
        if exp.kind != "rl":
            raise SweepError(f"--total-steps applies to PPO grids; {grid_name} is continual (use --tasks)")
        budget["total_steps"] = total_steps
    settings = grid.runs(prof)
    keys = [config_key(s) for s in settings]
    if only:
        wanted = [k.strip() for k in (only.split(",") if isinstance(only, str) else only) if k.strip()]
        unknown = [k for k in wanted if k not in keys]
        if unknown:
            raise SweepError(f"unknown configuration {unknown[0]!r} in --only; {grid_name} has {', '.join(keys)}")
        settings = [s for s, k in zip(settings, keys) if k in wanted]
        keys = [k for k in keys if k in wanted]
    root = Path(out or default_root()) / grid_name
    runs = []
    for seed in range(n_seeds):  # seed-major: every configuration's first seed is run first
        for key, s in zip(keys, settings):
            spec = dict(experiment=exp.name, profile=prof.name, seed=seed, **s, **budget)
            try:
                cfg = runner.make_config(**spec)
            except ConfigError as exc:
                raise SweepError(f"{grid_name} {key} seed {seed}: {exc}") from None
            runs.append(PlannedRun(key, seed, spec, results.default_folder(cfg, root), cfg))
    return grid, prof, runs


def status_lines(runs) -> list:
    """One line per configuration (seeds finished, rows done per seed) and a total line."""
    progress = {id(r): r.progress() for r in runs}
    states = {k: v[0] for k, v in progress.items()}
    lines = []
    for key in dict.fromkeys(r.key for r in runs):
        mine = [r for r in runs if r.key == key]
        budget = [r.config.tasks if r.config.kind == "continual" else r.config.total_steps for r in mine]
        done = [progress[id(r)][1] for r in mine]
        lines.append(f"  {key:<24} seeds {sum(states[id(r)] == 'finished' for r in mine)}/{len(mine)} finished · "
                     f"done per seed: {', '.join(done)} of {budget[0]:,}")
    counts = {s: sum(v == s for v in states.values()) for s in ("finished", "started", "waiting")}
    lines.append(f"runs: {counts['finished']} finished · {counts['started']} started · {counts['waiting']} waiting "
                 f"(of {len(runs)})")
    return lines


def _check_address(address: str) -> None:
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address must be HOST:PORT (the head node's GCS address, default port 6379) or "
                         f"'auto', got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        raise SweepError(f"no Ray cluster at {address}: start one with `ray start --head` on the head node, "
                         "or omit --address to run locally") from None


def _task(spec: dict, folder: str) -> dict:
    """One sweep task, run inside a Ray worker: resume-or-run the configuration in its folder."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    fault = os.environ.get(FAULT_VAR, "").strip()
    if fault:
        marker = Path(folder) / ".fault-injected"
        if not marker.exists():
            k = int(fault)
            runner.run_spec(dict(spec, tasks=k + 1), folder)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"worker killed after task {k}\n")
            os._exit(1)  # the worker dies: Ray retries the task
    out = runner.run_spec(spec, folder)
    results.RunFolder(folder).prune()  # a finished run keeps its rows and provenance, not its checkpoint
    return out


def aggregate(grid_name: str, runs, window: int) -> dict:
    """The sweep's summary: per configuration, mean and standard error over seeds of every numeric
    per-row metric (over the rows all its seeds have), and their ``window``-row moving averages.
    Where some of a configuration's seeds have finished and others not (a sweep half-way), only the
    finished ones are summarized and the others are listed in ``unfinished_seeds``; the
    configuration is then not ``complete``.

    Introduced in: 04 · Permuted MNIST
    """
    from .plotting import moving_average

    out = {"grid": grid_name, "window": window, "configurations": {}}
    for key in dict.fromkeys(r.key for r in runs):
        loaded = []
        for r in runs:
            if r.key != key:
                continue
            try:
                loaded.append(results.load_run(r.folder, require_complete=False))
            except results.RunError:
                pass
        loaded = [run for run in loaded if len(run)]
        if not loaded:
            continue
        waiting = [run.config["seed"] for run in loaded if not run.complete]
        if len(waiting) < len(loaded):  # half-way: the finished seeds speak, the unfinished ones wait
            loaded = [run for run in loaded if run.complete]
        else:
            waiting = []
        n = min(len(run) for run in loaded)
        metrics = sorted({k for run in loaded for row in run.rows[:n] for k, v in row.items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)})
        entry = {"label": loaded[0].label, "data_label": loaded[0].data_label, "seeds": [run.config["seed"] for run in loaded],
                 "rows": n, "complete": all(run.complete for run in loaded) and not waiting,
                 "unfinished_seeds": waiting,
                 "folders": [run.path.name for run in loaded],
                 "commits": sorted({str(run.config.get("git_commit")) for run in loaded}),
                 "config": {k: v for k, v in results.identity(loaded[0].config).items() if k != "seed"},
                 "mean": {}, "sem": {}, "moving_mean": {}, "moving_sem": {}}
        for m in metrics:
            values = np.array([run[m][:n] for run in loaded])  # (seeds, rows)
            mean = np.nanmean(values, axis=0)
            sem = (np.nanstd(values, axis=0, ddof=1) / np.sqrt(len(loaded)) if len(loaded) > 1
                   else np.full(n, np.nan))
            entry["mean"][m], entry["sem"][m] = _json_list(mean), _json_list(sem)
            w = max(1, min(int(window), n))
            entry["moving_mean"][m] = _json_list(moving_average(mean, w)[1] if n else [])
            entry["moving_sem"][m] = _json_list(moving_average(sem, w)[1] if n and len(loaded) > 1 else [])
        entry["moving_start"] = max(1, min(int(window), n)) - 1  # row index of the first moving average
        out["configurations"][key] = entry
    return out


def _json_list(a) -> list:
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, dtype=float)]


def write_summary(grid_name: str, runs, window: int, root) -> Path:
    """Write :func:`aggregate`'s summary to ``<root>/<grid>/summary.json`` (atomically)."""
    path = Path(root) / grid_name / SUMMARY
    results.atomic_write(path, json.dumps(aggregate(grid_name, runs, window), indent=1, sort_keys=True) + "\n")
    return path


def load_summary(path) -> dict:
    """A sweep summary written by :func:`write_summary` (a file, or a sweep folder holding one).

    Introduced in: 04 · Permuted MNIST
    """
    p = Path(path)
    p = p / SUMMARY if p.is_dir() else p
    if not p.exists():
        raise results.RunError(f"no sweep summary at {p}; run `python -m qcl_helpers sweep GRID --aggregate`")
    return json.loads(p.read_text())


def stored_summary(grid_name: str, root=None) -> dict | None:
    """The summary of a stored sweep ``<root>/<grid>`` (default root: the repository's ``results/``):
    its ``summary.json`` when the sweep wrote one, else one aggregated from whatever run folders are
    there (a sweep committed half-way; ``partial`` is then true), else ``None``.

    Introduced in: 04 · Permuted MNIST
    """
    folder = Path(root) / grid_name if root is not None else results.stored_path(grid_name)
    if (folder / SUMMARY).exists():
        summary = load_summary(folder)
        summary["partial"] = not all(e["complete"] for e in summary["configurations"].values())
        return summary
    runs = []
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            run = results.load_run(p, require_complete=False)
        except results.RunError:
            continue
        if len(run):
            runs.append(PlannedRun(run.label, int(run.config["seed"]), {}, p, None))
    if not runs:
        return None
    first = results.read_config(runs[0].folder)
    section = experiments.get(first["experiment"]).section
    window = getattr(getattr(profiles.get(first["profile"]), section), "moving_average", 1)
    summary = aggregate(grid_name, runs, window)
    summary["partial"] = True
    return summary


def run_sweep(grid_name: str, *, profile=None, seeds=None, only=None, tasks=None, total_steps=None, out=None,
              address=None, workers=None, progress: bool = True, poll: float = 5.0) -> dict:
    """Run (or resume) a grid on Ray and write its summary; returns the summary.

    Introduced in: 04 · Permuted MNIST
    """
    grid, prof, runs = plan(grid_name, profile=profile, seeds=seeds, only=only, tasks=tasks,
                            total_steps=total_steps, out=out)
    root = Path(out or default_root())
    window = getattr(getattr(prof, experiments.get(grid.experiment).section), "moving_average", 1)
    todo = [r for r in runs if r.state() != "finished"]
    print(f"sweep {grid_name} · profile {prof.name} · {len(runs)} runs "
          f"({len({r.key for r in runs})} configurations x seeds) · folder {root / grid_name}")
    if not todo:
        print(f"nothing to do: all {len(runs)} runs of {grid_name} are finished")
        path = write_summary(grid_name, runs, window, root)
        print(f"summary: {path}")
        return load_summary(path)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_address(address)
    import ray

    env = {k: v for k, v in os.environ.items() if k.startswith("QCL_") or k in ("PYTHONPATH", "OMP_NUM_THREADS")}
    env.setdefault("OMP_NUM_THREADS", "1")
    init = dict(runtime_env={"env_vars": env}, log_to_driver=False, include_dashboard=False)
    try:
        if address:
            ray.init(address=address, **init)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), **init)
    except (ConnectionError, RuntimeError) as exc:
        raise SweepError(f"could not start or join Ray ({str(exc).splitlines()[0]})") from None
    try:
        remote = ray.remote(num_cpus=1, max_retries=3, retry_exceptions=True)(_task)
        tic = time.perf_counter()
        pending = {remote.remote(r.spec, str(r.folder)): r for r in todo}
        print(f"started {len(todo)} runs on Ray ({int(ray.cluster_resources().get('CPU', 0))} CPUs)")
        failures = []
        last = None
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll)
            for ref in ready:
                r = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - reported per run, the others go on
                    failures.append(f"{r.key} seed {r.seed}: {str(exc).strip().splitlines()[-1][:200]}")
            if progress:
                lines = status_lines(runs)
                if lines != last:
                    print(f"[{time.perf_counter() - tic:7.0f} s] " + lines[-1], flush=True)
                    last = lines
        for line in status_lines(runs)[:-1]:
            print(line)
    finally:
        ray.shutdown()
    path = write_summary(grid_name, runs, window, root)
    print(f"summary: {path}")
    if failures:
        raise SweepError(f"{len(failures)} runs failed after retries; first: {failures[0]}")
    return load_summary(path)


def main(args) -> int:
    """The ``sweep`` command (see :mod:`qcl_helpers.__main__`)."""
    try:
        if args.status or args.aggregate:
            grid, prof, runs = plan(args.grid, profile=args.profile, seeds=args.seeds, only=args.only,
                                    tasks=args.tasks, total_steps=args.total_steps, out=args.out)
            print(f"sweep {args.grid} · profile {prof.name} · {len(runs)} runs · folder "
                  f"{Path(args.out or default_root()) / args.grid}")
            for line in status_lines(runs):
                print(line)
            if args.aggregate:
                window = getattr(getattr(prof, experiments.get(grid.experiment).section), "moving_average", 1)
                print(f"summary: {write_summary(args.grid, runs, window, Path(args.out or default_root()))}")
            return 0
        run_sweep(args.grid, profile=args.profile, seeds=args.seeds, only=args.only, tasks=args.tasks,
                  total_steps=args.total_steps, out=args.out, address=args.address, workers=args.workers)
    except ImportError as exc:
        print(f"error: sweeps need Ray (pip install 'qcl-helpers[sweep]' or -r requirements.txt): {exc}",
              file=sys.stderr)
        return 2
    except (SweepError, results.RunError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
