"""XXZ quantum-native data (paper Figure 4): classify which of two eigenstates of the XXZ chain a state is.

This module holds the experiment's data sources, task stream and sweep grids. Its models are
``models.PAPER_MODELS['xxz']`` (a ladder QNN on the chain's qubits, readout ⟨Z₀⟩ as one logit,
angles U(−0.1, 0.1), its batch loss summed as in the released code; the MLP [Re ψ, Im ψ] -> NW ->
NW -> 1). Sizes per profile: the ``xxz`` section of
:mod:`qcl_helpers.profiles`; the physics is :mod:`qcl_helpers.xxz`.

Introduced in: 07 · Quantum-native data
"""
from __future__ import annotations

import functools

from .. import data, models, xxz
from ..configs import ConfigError
from .base import Experiment, Grid, continual_config, register, seeded

NAME = "xxz"
SOURCES = {
    "released": "XXZ chain eigenstates as the released generator makes them (complex64 eigh, arbitrary phases)",
    "raw": "XXZ chain eigenstates, real float64 eigh (signs arbitrary)",
    "phase-fixed": "XXZ chain eigenstates, largest amplitude made real and positive",
    "random-phase": "XXZ chain eigenstates, a random global phase per state",
}


def _extra(s, model, fair, options):
    """The chain and Δ grid; a task holds every state of the grid, so its size follows from it."""
    if options["train_per_task"] or options["test_per_task"]:
        raise ConfigError("xxz tasks hold all 2 x len(Δ grid) states; their split is set by the profile's "
                          "grid and test_fraction, not by --train-per-task/--test-per-task")
    grid = (s.delta_min, s.delta_max, s.delta_step)
    try:
        train, test = xxz.split_sizes(len(xxz.delta_grid(*grid)), s.test_fraction)
        xxz.check_sites(s.sites)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return dict(sites=s.sites, delta_grid=grid, train_per_task=train, test_per_task=test, split=s.split, pairs=s.pairs,
                loss_reduction=s.qnn_loss_reduction if model == "qnn" and not fair else "mean")


def make_config(model: str, **options):
    """A checked run configuration. Introduced in: 07 · Quantum-native data"""
    return continual_config(EXPERIMENT, model, resolve_source=lambda: "released", extra=_extra, **options)


@functools.lru_cache(maxsize=8)
def _stream(source, seed, sites, grid, test_fraction, split, pairs, _where):
    return xxz.XXZTasks(source, seed=seed, sites=sites, deltas=xxz.delta_grid(*grid), test_fraction=test_fraction,
                        split=split, pairs=pairs)


def stream(config):
    """The task stream of ``config`` (the spectrum is shared in memory by :func:`qcl_helpers.xxz.spectrum`).

    Introduced in: 07 · Quantum-native data
    """
    n = config.train_per_task + config.test_per_task
    return _stream(config.data_source, config.seed, config.sites, tuple(config.delta_grid),
                   config.test_per_task / n, config.split, config.pairs, str(data.data_dir()))


def build_model(config):
    """The paper's ladder QNN on ``config.sites`` qubits, or the MLP on ``[Re ψ, Im ψ]``.

    Introduced in: 07 · Quantum-native data
    """
    if config.model == "qnn":
        return models.paper_qnn(NAME, depth=config.depth, seed=config.seed, precision=config.precision,
                                n_qubits=config.sites)
    sizes = models.PAPER_MODELS[NAME]["mlp"](config.width)  # [2 * 2**10, w, w, 1] on the paper's chain
    return seeded(config.seed, models.MLP, [2 * 2**config.sites] + sizes[1:])


def _figure4(P):
    s = P.xxz
    depths, widths = ((6, 12), (64, 256)) if P.name == "paper" else (s.qnn_depths, s.mlp_widths)
    return [dict(model="qnn", depth=d) for d in depths] + [dict(model="mlp", width=w) for w in widths]


def _phases(P):
    w = P.xxz.mlp_widths[0]
    return [dict(model="mlp", width=w, data_source=src) for src in SOURCES]


EXPERIMENT = register(Experiment(
    name=NAME, kind="continual", section="xxz", title="XXZ eigenstates (paper Figure 4)", sources=SOURCES,
    default_tags=("released",), make_config=make_config, build_model=build_model, stream=stream,
    grids={"figure4": Grid("figure4", NAME, "Figure 4: QNN depths against MLP widths on XXZ eigenstates",
                           _figure4),
           "xxz-phases": Grid("xxz-phases", NAME, "the MLP under each eigenvector phase convention", _phases,
                              seeds=1)}))
