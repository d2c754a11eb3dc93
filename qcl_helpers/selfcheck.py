"""Self-check functions for the exercises: the reader passes an answer, the book says whether it holds.

Expected answers are computed by the package itself, never typed in, so a check cannot drift
from the code it is about. ``check(label, answer)`` prints a verdict and returns ``True``/``False``.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import math

from . import circuits


def _close(rel: float = 1e-9):
    return lambda answer, expected: math.isclose(float(answer), float(expected), rel_tol=rel, abs_tol=1e-12)


#: label -> (what the answer is, function computing the expected answer, comparison)
CHECKS = {
    "ex-ansatz-count": ("parameters of a 9-qubit ring of 12 layers",
                        lambda: circuits.n_params("ring", 9, 12), lambda a, e: int(a) == e),
    "ex-ansatz-haar-z": ("variance of <Z_0> for a Haar-random state on 6 qubits (the exact value)",
                         lambda: 1 / (2**6 + 1), _close(1e-6)),
    "ex-backends-steps": ("training steps of the paper's permuted-MNIST QNN run",
                          lambda: _paper_mnist_steps(), lambda a, e: int(a) == e),
}


def _paper_mnist_steps() -> int:
    from .profiles import PAPER

    s = PAPER.permuted_mnist
    return s.tasks * s.qnn_epochs * math.ceil(s.train_per_task / s.batch_size)


def check(label: str, answer) -> bool:
    """Compare ``answer`` with the exercise's expected answer; print and return the verdict.

    Introduced in: 03 · QNN ansätze
    """
    if label not in CHECKS:
        raise KeyError(f"no self-check for {label!r}; available: {', '.join(sorted(CHECKS))}")
    what, expected_fn, same = CHECKS[label]
    try:
        ok = bool(same(answer, expected_fn()))
    except (TypeError, ValueError):
        ok = False
    print(f"{'Correct' if ok else 'Not yet'}: {what}" + ("" if ok else " -- try again"))
    return ok
