"""Batched state-vector simulation in torch: a batch of input states through one layout.

This is the training path of the book: the whole batch is one tensor of shape
``(batch, 2**n)``, each SU(4) gate is one tensor contraction, and torch's autograd
gives the gradient. It runs on CPU or CUDA tensors alike. It is exact (no
sampling) and is checked against PennyLane's ``default.qubit`` in the tests and in
the QNN-ansätze chapter.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import torch

from .circuits import Layout, su4_matrices


def apply_two_qubit(states: torch.Tensor, gate: torch.Tensor, a: int, b: int, n_qubits: int) -> torch.Tensor:
    """Apply a 4x4 ``gate`` on wires ``(a, b)`` to every state of a ``(batch, 2**n)`` tensor.

    Wire ``a`` is the more significant qubit of the gate's 4x4 basis.

    Introduced in: 03 · QNN ansätze
    """
    batch = states.shape[0]
    if b == a + 1:  # neighbours: one batched matmul on a (batch, left, 4, right) view
        view = states.reshape(batch, 2**a, 4, 2 ** (n_qubits - a - 2))
        return torch.matmul(gate, view).reshape(batch, -1)
    view = states.reshape((batch,) + (2,) * n_qubits)
    out = torch.tensordot(view, gate.reshape(2, 2, 2, 2), dims=([a + 1, b + 1], [2, 3]))
    return out.movedim((-2, -1), (a + 1, b + 1)).reshape(batch, -1)


def evolve(states: torch.Tensor, theta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Final states ``U(theta) |psi>`` for a batch of input states, shape ``(batch, 2**n)``.

    ``states`` may be real or complex; it is cast to the complex dtype matching ``theta``
    (float64 -> complex128, else complex64).

    Introduced in: 03 · QNN ansätze
    """
    check_states(states, layout)
    gates = su4_matrices(theta)
    psi = states.to(gates.dtype)
    squeeze = psi.ndim == 1
    if squeeze:
        psi = psi.unsqueeze(0)
    for g, (a, b) in enumerate(layout.gates):
        psi = apply_two_qubit(psi, gates[g], a, b, layout.n_qubits)
    return psi[0] if squeeze else psi


def probabilities(states: torch.Tensor, theta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Computational-basis probabilities ``|<k|U(theta)|psi>|^2``, shape ``(batch, 2**n)``.

    Introduced in: 03 · QNN ansätze
    """
    psi = evolve(states, theta, layout)
    return psi.real**2 + psi.imag**2


def outputs(states: torch.Tensor, theta: torch.Tensor, layout: Layout, readout) -> torch.Tensor:
    """Readout outputs (logits or features) for a batch: ``readout(probabilities(...))``.

    This is the entry point the QNN module trains through, so a faster route for a given
    readout can be added here without touching the models.

    Introduced in: 03 · QNN ansätze
    """
    return readout(probabilities(states, theta, layout))


def check_states(states: torch.Tensor, layout: Layout) -> None:
    """Raise a clear ``ValueError`` unless ``states`` has ``2**n`` amplitudes on its last axis."""
    if not isinstance(states, torch.Tensor):
        raise TypeError(f"states must be a torch tensor, got {type(states).__name__}")
    if states.ndim not in (1, 2) or states.shape[-1] != layout.dim:
        raise ValueError(
            f"expected states of shape (batch, {layout.dim}) for {layout.n_qubits} qubits, got "
            f"{tuple(states.shape)}; encode raw inputs with qcl_helpers.circuits.amplitude_encode"
        )
