"""Split CIFAR-100 (paper Figure 2): every task is a binary classification of two random fine classes.

This module holds the experiment's data sources, task stream and sweep grids. Its models are
``models.PAPER_MODELS['split-cifar100']`` (a 10-qubit brickwall QNN, readout ⟨Z⟩ of the last
qubit as logits (e, −e), angles U(0, 2π); the MLP 1024 -> 256 -> NW -> 2). The empirical Fisher
trace is measured after every task. Sizes per profile: the ``split_cifar``
section of :mod:`qcl_helpers.profiles`. Offline, a generated stand-in replaces CIFAR-100 and every
caption says so.

Introduced in: 05 · Split CIFAR-100
"""
from __future__ import annotations

from .. import data
from .base import Experiment, Grid, continual_config, first_available, image_stream, paper_models, register

NAME = "split-cifar100"
SOURCES = {
    "cifar100": "CIFAR-100 (official)",
    "mnist-pairs": "OFFLINE PROXY, not CIFAR-100: pairs of real MNIST digits through the CIFAR pipeline",
    "standin": "generated STAND-IN data, not CIFAR-100",
}


def make_config(model: str, *, fim=None, **options):
    """A checked run configuration; Tr(FIM) is measured unless ``fim=False``. Introduced in: 05 · Split CIFAR-100"""
    return continual_config(EXPERIMENT, model, fim=True if fim is None else fim, resolve_source=_auto_source,
                            **options)


#: ``"auto"``: CIFAR-100 where it can be had, else real images of another kind (MNIST pairs), else
#: generated ones.
_auto_source = first_available((("cifar100", lambda: data.load_cifar100("train")),
                                ("mnist-pairs", lambda: data.load_mnist("test"))), "standin")


stream = image_stream(data.SplitCifar100)
build_model = paper_models(NAME)


def _figure2(P):
    """The paper's QNN DP10 and MLP NW256 (the profile's sizes elsewhere), on CIFAR-100 where it can be
    had and otherwise on the best offline proxy (real MNIST digit pairs, named so in every title)."""
    s = P.split_cifar
    depths, widths = ((10,), (256,)) if P.name == "paper" else (s.qnn_depths, s.mlp_widths)
    source = {"data_source": _auto_source()} if s.data_source in ("auto", "cifar100") else {}
    return ([dict(model="qnn", depth=d, diagnostics=True, **source) for d in depths]
            + [dict(model="mlp", width=w, diagnostics=True, **source) for w in widths])


EXPERIMENT = register(Experiment(
    name=NAME, kind="continual", section="split_cifar", title="Split CIFAR-100 (paper Figure 2)",
    sources=SOURCES, default_tags=tuple(SOURCES), make_config=make_config, build_model=build_model, stream=stream,
    grids={"figure2": Grid("figure2", NAME, "Figure 2: accuracy and Tr(FIM) of the paper's QNN and MLP",
                           _figure2)}))
