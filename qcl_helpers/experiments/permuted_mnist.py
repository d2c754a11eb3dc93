"""Permuted MNIST (paper Figure 1): every task is MNIST with its own fixed pixel permutation.

This module holds the experiment's data sources, task stream and sweep grids. Its models are
``models.PAPER_MODELS['permuted-mnist']`` (the one place of the paper's model shapes: a 10-qubit
brickwall QNN with the 10-class basis-state readout, angles U(0, 2π); the MLP 784 -> NW -> 10);
sizes per profile are the ``permuted_mnist`` section of :mod:`qcl_helpers.profiles`.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

from .. import data
from .base import Experiment, Grid, continual_config, first_available, image_stream, paper_models, register

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


#: ``"auto"``: the real 60,000-image training split where it can be had, else the 10,000-image test split.
_auto_source = first_available((("official", lambda: data.load_mnist("train")),), "test-split")


stream = image_stream(data.PermutedMnist)
build_model = paper_models(NAME)


#: The released code's minibatch updates per task (one epoch of 60,000 images at batch 128; the QNN
#: makes five times as many). Offline, the MLP keeps this number over the smaller training set.
PAPER_MLP_UPDATES = 469


def paper_scale(P) -> dict:
    """Settings that give a sweep in the ``paper`` profile the largest data this machine has.

    With MNIST's training split (online): the released code's settings as they are. Offline (only
    the official 10k test split): its disjoint 8,000 / 2,000 parts per task, and the MLP keeps the
    released code's **469 updates per task** (about 7.5 passes over 8,000 images) -- weight growth is
    driven by updates -- while the QNN keeps its 5 epochs (315 updates; 2,345 would cost 7x the
    compute). Other profiles: nothing changes.

    Introduced in: 04 · Permuted MNIST
    """
    if P.name != "paper" or _auto_source() == "official":
        return {}
    return dict(data_source="test-split", train_per_task=10_000 - data.TEST_SPLIT_HOLDOUT,
                test_per_task=data.TEST_SPLIT_HOLDOUT)


def _mlp_updates(P) -> dict:
    return {"updates_per_task": PAPER_MLP_UPDATES} if paper_scale(P) else {}


def _figure1(P):
    s, scale = P.permuted_mnist, paper_scale(P)
    depths, widths = ((2, 4), (16, 64, 256)) if P.name == "paper" else (s.qnn_depths, s.mlp_widths)
    return ([dict(model="qnn", depth=d, diagnostics=True, **scale) for d in depths]
            + [dict(model="mlp", width=w, diagnostics=True, **scale, **_mlp_updates(P)) for w in widths])


def _fair(P):
    s, scale = P.permuted_mnist, paper_scale(P)
    return [dict(model="qnn", depth=s.qnn_depths[-1], fair=True, **scale),
            dict(model="mlp", width=s.mlp_widths[0], fair=True, **scale)]


def _remedies(P):
    w, scale = P.permuted_mnist.mlp_widths[0], dict(paper_scale(P), **_mlp_updates(P))
    return [dict(model="mlp", width=w, l2=1e-2, **scale), dict(model="mlp", width=w, shrink_perturb=(0.99, 1e-3), **scale),
            dict(model="mlp", width=w, continual_backprop=(1e-4, 100), **scale)]


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
