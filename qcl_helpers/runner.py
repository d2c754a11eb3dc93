"""One entry point that makes and runs any registered experiment's run: what ``python -m qcl_helpers
run`` and every task of a sweep (:mod:`qcl_helpers.sweep`) call.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

from pathlib import Path

from . import continual, experiments, results
from .configs import ConfigError


def make_config(experiment: str, model: str, **options):
    """A checked configuration of any registered experiment; an option that does not apply to it
    raises :class:`~qcl_helpers.configs.ConfigError` naming it. Introduced in: 04 · Permuted MNIST"""
    try:
        exp = experiments.get(experiment)
    except experiments.UnknownName as exc:
        raise ConfigError(str(exc)) from None
    allowed = experiments.base.options_of(exp)
    bad = [k for k in options if k not in allowed]
    if bad:
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in bad)} "
                          f"{'does' if len(bad) == 1 else 'do'} not apply to the {experiment} experiment")
    return exp.make_config(model, **options)


def execute(config, out=None, *, progress: bool = True, device=None, stop_after=None) -> results.Run:
    """Run (or resume) ``config`` with its engine in ``out`` (default:
    :func:`qcl_helpers.results.default_folder`). Introduced in: 04 · Permuted MNIST"""
    if config.kind == "rl":
        from . import rl  # needs the rl extra (stable-baselines3, gymnasium[mujoco])

        return rl.run_ppo(config, out, progress=progress, stop_after=stop_after, device=device or "cpu")
    if stop_after is not None:
        raise ConfigError("--stop-after applies to PPO runs (ant) only; a continual run stops with --tasks")
    return continual.run(config, out, progress=progress, device=device)


def run_spec(spec: dict, out, *, progress: bool = False) -> dict:
    """Make and run one configuration from a plain dict (``experiment``, ``model``, options) in
    folder ``out``; return a short JSON-ready summary. What each sweep task calls.

    Introduced in: 04 · Permuted MNIST
    """
    spec = dict(spec)
    config = make_config(spec.pop("experiment"), spec.pop("model"), **spec)
    run = execute(config, Path(out), progress=progress)
    return {"folder": str(run.path), "rows": len(run), "complete": run.complete}
