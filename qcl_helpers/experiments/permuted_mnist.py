"""Permuted MNIST (paper Figure 1): every task is MNIST with its own fixed pixel permutation.

This module holds the experiment's data sources, task stream and sweep grids. Its models are
``models.PAPER_MODELS['permuted-mnist']`` (the one place of the paper's model shapes: a 10-qubit
brickwall QNN with the 10-class basis-state readout, angles U(0, 2π); the MLP 784 -> NW -> 10);
sizes per profile are the ``permuted_mnist`` section of :mod:`qcl_helpers.profiles`.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import functools

from .. import data, models
from .base import Experiment, Grid, continual_config, register, seeded

NAME = "permuted-mnist"
SOURCES = {
    "official": "MNIST (official train/test splits)",
    "test-split": "MNIST, disjoint train/test subsets of the official 10k test split",
}


def make_config(model: str, **options):
    """A checked run configuration (see :func:`qcl_helpers.experiments.base.continual_config`).

    Introduced in: 04 · Permuted MNIST
    """
    return continual_config(EXPERIMENT, model, resolve_source=_auto_source, **options)


def _auto_source() -> str:
    return _resolve_auto(str(data.data_dir()))


@functools.lru_cache(maxsize=None)
def _resolve_auto(_where: str) -> str:
    try:
        data.load_mnist("train")
        return "official"
    except data.DataUnavailable:
        return "test-split"


@functools.lru_cache(maxsize=4)
def _stream(source, seed, train_per_task, test_per_task, _where):
    return data.PermutedMnist(source, seed=seed, train_per_task=train_per_task, test_per_task=test_per_task)


def stream(config):
    """The task stream of ``config`` (cached per data settings). Introduced in: 04 · Permuted MNIST"""
    return _stream(config.data_source, config.seed, config.train_per_task, config.test_per_task,
                   str(data.data_dir()))


def build_model(config):
    """The paper's QNN (depth ``config.depth``) or MLP (width ``config.width``), seeded by ``config.seed``.

    Introduced in: 04 · Permuted MNIST
    """
    if config.model == "qnn":
        return models.paper_qnn(NAME, depth=config.depth, seed=config.seed, precision=config.precision)
    return seeded(config.seed, models.paper_mlp, NAME, config.width)


def _figure1(P):
    s = P.permuted_mnist
    depths, widths = ((2, 4), (16, 64, 256)) if P.name == "paper" else (s.qnn_depths, s.mlp_widths)
    return [dict(model="qnn", depth=d) for d in depths] + [dict(model="mlp", width=w) for w in widths]


def _fair(P):
    s = P.permuted_mnist
    return [dict(model="qnn", depth=s.qnn_depths[-1], fair=True), dict(model="mlp", width=s.mlp_widths[0], fair=True)]


def _remedies(P):
    w = P.permuted_mnist.mlp_widths[0]
    return [dict(model="mlp", width=w, l2=1e-2), dict(model="mlp", width=w, shrink_perturb=(0.99, 1e-3)),
            dict(model="mlp", width=w, continual_backprop=(1e-4, 100))]


EXPERIMENT = register(Experiment(
    name=NAME, kind="continual", section="permuted_mnist", title="Permuted MNIST (paper Figure 1)",
    sources=SOURCES, default_tags=tuple(SOURCES), make_config=make_config, build_model=build_model, stream=stream,
    grids={
        "figure1": Grid("figure1", NAME, "Figure 1: QNN depths against MLP widths, released-code settings", _figure1),
        "fair-budget": Grid("fair-budget", NAME, "Figure 1 with the same budget for both families "
                            "(QNN epochs, persistent Adam)", _fair, seeds=1),
        "remedies": Grid("remedies", NAME, "Figure 1's MLP with L2, Shrink & Perturb and continual backprop",
                         _remedies, seeds=1),
    }))
