"""PennyLane reference circuits: the ground truth the batched torch path is checked against.

They queue the very gate list of a :class:`~qcl_helpers.circuits.Layout` (via
:func:`~qcl_helpers.circuits.pennylane_ops`) after ``qml.StatePrep`` of the input state.
Use them for exact per-sample work and cross-checks; train with :mod:`qcl_helpers.sim`
(``lightning.qubit``'s adjoint method loops over samples and is ~1000x slower for batches).

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

from .circuits import Layout, pennylane_ops


def reference_qnode(layout: Layout, measure="probs", *, device: str = "default.qubit",
                    interface: str = "torch", diff_method: str = "best"):
    """A QNode ``f(state, theta)`` for ``layout``.

    ``measure`` is ``"probs"`` (all basis probabilities) or ``("z", wire)`` for ``<Z_wire>``
    (adjoint differentiation in lightning needs an expectation value).

    Introduced in: 03 · QNN ansätze
    """
    import pennylane as qml

    wires = list(range(layout.n_qubits))
    dev = qml.device(device, wires=layout.n_qubits)

    @qml.qnode(dev, interface=interface, diff_method=diff_method)
    def circuit(state, theta):
        qml.StatePrep(state, wires=wires, normalize=False)
        pennylane_ops(theta, layout)
        if measure == "probs":
            return qml.probs(wires=wires)
        kind, wire = measure
        if kind != "z":
            raise ValueError(f"unknown measurement {measure!r}; use 'probs' or ('z', wire)")
        return qml.expval(qml.PauliZ(wire))

    return circuit
