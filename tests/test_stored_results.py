"""Stored sweep results: clean provenance from this repository's history, and reproducible by today's code.

Every run folder of a stored sweep (``results/<grid>/``) must have been made from a clean commit
(the loader refuses others) that is an ancestor of HEAD (checked where the git history is there,
as in CI; a shallow clone or an installed package has none, and the loader does not need it).

**Reproducibility**: for every stored configuration, rerunning its first two tasks with today's
code reproduces the stored rows. Tolerances: accuracies within 2 test samples (one flipped
prediction on either side of a decision boundary moves an accuracy by 1/n_test), every other metric
to 1e-3 relative. The runs are float32/complex64 on CPU: a different BLAS build or CPU may reorder
sums (relative changes ~1e-6 per operation), which two tasks of training amplify but not beyond this.
A code change that alters results (a sign, an initialization, a data order) moves accuracies by far
more than 2 samples and norms by far more than 1e-3, as the negative control below shows.
"""
import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from qcl_helpers import configs, continual, experiments, results, sweep

ROOT = Path(__file__).resolve().parent.parent
STORED = ROOT / "results"
#: Timing and machine-dependent fields, not compared.
SKIP = ("seconds", "ms_per_step", "time", "eval_seconds")
N_TASKS = 2


def _grids():
    """The stored sweeps: folders of results/ named after a registered grid (finished or not)."""
    return [STORED / g for g in sorted(experiments.grids()) if (STORED / g).is_dir()]


def _sweep_runs():
    return [p for g in _grids() for p in sorted(g.iterdir()) if (p / results.CONFIG).exists()]


def _configurations():
    """One folder per stored configuration (its first seed), from each sweep's summary."""
    out = []
    for g in _grids():
        summary = sweep.stored_summary(g.name, STORED)
        for key, entry in (summary or {"configurations": {}})["configurations"].items():
            out.append(pytest.param(g / entry["folders"][0], id=f"{g.name}/{key}"))
    return out


def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("folder", _sweep_runs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_run_is_clean_and_from_this_history(folder):
    run = results.load_run(folder, require_complete=False, clean=True)
    assert not (folder / results.CHECKPOINT).exists() or not run.complete  # checkpoints only of unfinished runs
    if _git("rev-parse", "--is-shallow-repository").stdout.strip() != "false":
        pytest.skip("no full git history here (shallow clone or installed package)")
    for commit in [run.config["git_commit"]] + [r["git_commit"] for r in run.config.get("resumed", [])]:
        assert _git("merge-base", "--is-ancestor", commit, "HEAD").returncode == 0, \
            f"{folder.name}: commit {commit[:12]} is not an ancestor of HEAD"


def _close(stored: dict, fresh: dict, n_test: int) -> list:
    bad = []
    for key, want in stored.items():
        if key in SKIP:
            continue
        got = fresh.get(key)
        if isinstance(want, (int, float)) and not isinstance(want, bool) and want is not None:
            tol = 2 / n_test + 1e-9 if key == "test_accuracy" else 1e-3 * max(abs(want), 1e-12)
            if got is None or abs(got - want) > tol:
                bad.append(f"{key}: stored {want!r}, now {got!r}")
        elif got != want:
            bad.append(f"{key}: stored {want!r}, now {got!r}")
    return bad


def _rerun(folder, tmp_path, **change):
    cfg = configs.from_dict(results.read_config(folder))
    if cfg.kind != "continual":
        pytest.skip("PPO runs are checked by their first evaluation in test_rl.py")
    cfg = dataclasses.replace(cfg, tasks=N_TASKS, **change)
    return cfg, continual.run(cfg, tmp_path / "rerun", progress=False)


@pytest.mark.parametrize("folder", _configurations())
def test_first_tasks_reproduce(folder, tmp_path):
    cfg, fresh = _rerun(folder, tmp_path)
    stored = results.read_metrics(folder)[:N_TASKS]
    for s, f in zip(stored, fresh.rows):
        assert not _close(s, f, cfg.test_per_task), _close(s, f, cfg.test_per_task)


def test_the_tolerance_passes_a_rerun_and_catches_a_changed_result(tmp_path):
    """The check on a real run: the same configuration again passes; a changed result (another
    initialization seed for the model, everything else equal) fails it."""
    cfg = continual.make_config("xxz", "mlp", profile="ci", tasks=N_TASKS)
    base = continual.run(cfg, tmp_path / "a", progress=False)
    again = continual.run(cfg, tmp_path / "b", progress=False)
    assert all(not _close(s, f, cfg.test_per_task) for s, f in zip(base.rows, again.rows))
    changed = continual.run(dataclasses.replace(cfg, seed=1), tmp_path / "c", progress=False)
    assert any(_close(s, f, cfg.test_per_task) for s, f in zip(base.rows, changed.rows))
