"""The registry of the book's experiments (see :mod:`qcl_helpers.experiments.base`).

Importing this package registers the four experiments of the paper. A new experiment is one new
module here (imported below) plus one profile section.

Introduced in: 04 · Permuted MNIST
"""
from . import ant, permuted_mnist, split_cifar100, xxz_eigenstates  # noqa: F401  (register themselves)
from .base import (ADAM_EPS, Experiment, Grid, UnknownName, get, get_grid, grids, names, register,  # noqa: F401
                   unregister)
