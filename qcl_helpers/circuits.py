"""The paper's circuits, defined once: the SU(4) gate, the three block layouts and amplitude encoding.

Both simulation paths read these definitions: the PennyLane reference
(:mod:`qcl_helpers.reference`) queues one ``qml.SpecialUnitary`` per gate of a
:class:`Layout`, and the batched torch path (:mod:`qcl_helpers.sim`) applies the
matrices from :func:`su4_matrices` to the same gate list.

Sign convention
---------------
A gate with parameters ``theta`` (15 real numbers) is

    U(theta) = exp(-i * sum_k theta_k P_k),

with ``P_k`` the 15 non-identity two-qubit Pauli words in the order of
:data:`PAULI_WORDS` (PennyLane's order, which is also TensorCircuit's). This is the gate of
the paper's released code (TensorCircuit's ``su4(theta)``), so the same angles give the same
circuit and the released initial distributions give the released ensemble of circuits.
PennyLane's ``qml.SpecialUnitary(theta)`` is ``exp(+i sum theta P)``: our gate is
``qml.SpecialUnitary(-theta)`` (:func:`pennylane_ops` queues it that way). Qubit 0 is the
most significant bit of a basis index, as in both PennyLane and TensorCircuit.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

_PAULI_1Q = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}

#: The 15 non-identity two-qubit Pauli words, in ``qml.SpecialUnitary``'s order.
PAULI_WORDS = tuple(a + b for a, b in itertools.product("IXYZ", repeat=2) if a + b != "II")

#: Parameters of one SU(4) gate.
SU4_PARAMS = len(PAULI_WORDS)

LAYOUT_KINDS = ("brickwall", "ladder", "ring")


def pauli_generators() -> np.ndarray:
    """The 15 Pauli words as a ``(15, 4, 4)`` complex array (qubit ``a`` of the pair is the left factor).

    Introduced in: 03 · QNN ansätze
    """
    return np.stack([np.kron(_PAULI_1Q[w[0]], _PAULI_1Q[w[1]]) for w in PAULI_WORDS])


_GENERATOR_CACHE: dict = {}


def _generators_torch(dtype: torch.dtype, device) -> torch.Tensor:
    key = (dtype, str(device))
    if key not in _GENERATOR_CACHE:
        _GENERATOR_CACHE[key] = torch.tensor(pauli_generators(), dtype=dtype, device=device)
    return _GENERATOR_CACHE[key]


def su4_matrices(theta: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """SU(4) matrices ``exp(-i sum_k theta_k P_k)`` for parameters of shape ``(..., 15)``.

    The released code's convention (TensorCircuit's ``su4``); see the module docstring.
    Differentiable (``torch.linalg.matrix_exp``). ``dtype`` is the complex dtype of the
    result (default: complex128 for float64 input, else complex64).

    Introduced in: 03 · QNN ansätze
    """
    theta = torch.as_tensor(theta)
    if theta.shape[-1] != SU4_PARAMS:
        raise ValueError(f"an SU(4) gate takes {SU4_PARAMS} parameters, got a last axis of {theta.shape[-1]}")
    if dtype is None:
        dtype = torch.complex128 if theta.dtype == torch.float64 else torch.complex64
    # The exponential is always taken in double precision: in complex64, matrix_exp of a
    # generator with norm ~10 (angles up to 2*pi) drifts from unitarity by ~1e-5 per gate,
    # which compounds to ~1e-4 over a deep circuit. Casting 4x4 matrices costs nothing.
    gens = _generators_torch(torch.complex128, theta.device)
    herm = torch.einsum("...k,kij->...ij", theta.to(torch.float64).to(torch.complex128), gens)
    return torch.linalg.matrix_exp(-1j * herm).to(dtype)


@dataclass(frozen=True)
class Layout:
    """Which pairs of qubits the SU(4) gates act on, in order.

    ``gates`` lists ``(a, b)`` wire pairs; gate ``g`` uses parameters
    ``theta[g]`` (15 of them). Build layouts with :func:`brickwall`, :func:`ladder`,
    :func:`ring` or :func:`make_layout`.

    Introduced in: 03 · QNN ansätze
    """

    kind: str
    n_qubits: int
    depth: int
    gates: tuple

    @property
    def n_gates(self) -> int:
        return len(self.gates)

    @property
    def n_params(self) -> int:
        return SU4_PARAMS * len(self.gates)

    @property
    def dim(self) -> int:
        return 2**self.n_qubits

    @property
    def param_groups(self) -> tuple:
        """The released code's parameter arrays as ``((name, gate_ids), ...)``, gates in array order.

        The paper's code stores the angles of a brickwall in two arrays, ``main_even`` (per
        layer, the gates on ``(i, i+1 mod n)`` for even ``i``) and ``main_odd`` (the gates on
        ``(i, i+1)`` for odd ``i``), each of shape ``(depth, gates per sublayer, 15)``; its
        ladder (XXZ) and ring (Ant) keep one ``(depth, gates per layer, 15)`` array. Norms of
        "the parameters" in the paper are means over these arrays
        (:func:`qcl_helpers.metrics.weight_norm`). A brickwall always has both arrays, as in
        the released code, even when one is empty (two qubits). For an odd number of qubits
        the released ``main_even`` array has one gate fewer per layer than it applies (JAX
        clamps the closing gate's index onto the previous gate's angles); here the closing
        gate has its own angles and counts in ``main_even``.

        Introduced in: 04 · Permuted MNIST
        """
        if self.kind == "brickwall" and self.depth > 0 and self.n_gates % self.depth == 0:
            per_layer = self.n_gates // self.depth
            n_even = len(range(0, self.n_qubits, 2))
            even = tuple(d * per_layer + j for d in range(self.depth) for j in range(n_even))
            odd = tuple(d * per_layer + j for d in range(self.depth) for j in range(n_even, per_layer))
            return (("main_even", even), ("main_odd", odd))
        return (("params", tuple(range(self.n_gates))),)

    def __str__(self) -> str:
        return (f"{self.kind} layout: {self.n_qubits} qubits, depth {self.depth}, "
                f"{self.n_gates} SU(4) gates, {self.n_params} parameters")


def _check_sizes(n_qubits, depth, min_qubits=2):
    for name, v, lo in (("n_qubits", n_qubits, min_qubits), ("depth", depth, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")


def brickwall(n_qubits: int, depth: int) -> Layout:
    """Brickwall block (paper Fig. 5a): per layer, gates on (0,1),(2,3),... then (1,2),(3,4),...

    As in the paper's code, the first sublayer pairs ``(i, (i+1) mod n)`` for even ``i``, so for
    an odd number of qubits it closes with a gate on ``(n-1, 0)``. Ten qubits: 9 gates per layer.

    Introduced in: 03 · QNN ansätze
    """
    _check_sizes(n_qubits, depth)
    layer = [(i, (i + 1) % n_qubits) for i in range(0, n_qubits, 2)]
    layer += [(i, i + 1) for i in range(1, n_qubits - 1, 2)]
    return Layout("brickwall", n_qubits, depth, tuple(layer) * depth)


def ladder(n_qubits: int, depth: int) -> Layout:
    """Ladder block (paper Fig. 5b): per layer, gates on (0,1),(1,2),...,(n-2,n-1) in that order.

    Introduced in: 03 · QNN ansätze
    """
    _check_sizes(n_qubits, depth)
    return Layout("ladder", n_qubits, depth, tuple((i, i + 1) for i in range(n_qubits - 1)) * depth)


def ring(n_qubits: int, depth: int) -> Layout:
    """Ring block (the paper's RL policy): per layer, gates on (i, (i+1) mod n) for i = 0..n-1.

    Introduced in: 03 · QNN ansätze
    """
    _check_sizes(n_qubits, depth, min_qubits=3)
    return Layout("ring", n_qubits, depth, tuple((i, (i + 1) % n_qubits) for i in range(n_qubits)) * depth)


def make_layout(kind: str, n_qubits: int, depth: int) -> Layout:
    """Layout by name: ``"brickwall"``, ``"ladder"`` or ``"ring"``.

    Introduced in: 03 · QNN ansätze
    """
    builders = {"brickwall": brickwall, "ladder": ladder, "ring": ring}
    if kind not in builders:
        raise ValueError(f"unknown layout {kind!r}; choose one of {', '.join(LAYOUT_KINDS)}")
    return builders[kind](n_qubits, depth)


def n_params(kind: str, n_qubits: int, depth: int) -> int:
    """Number of trainable parameters of a layout (15 per SU(4) gate).

    Introduced in: 03 · QNN ansätze
    """
    return make_layout(kind, n_qubits, depth).n_params


#: Distributions of the initial angles: ``("uniform", low, high)`` or ``("normal", mean, std)``.
INIT_KINDS = ("uniform", "normal")


def init_spec(init) -> tuple:
    """Check and normalize an initial-angle distribution to ``(kind, a, b)``.

    Accepts ``("uniform", low, high)``, ``("normal", mean, std)`` or a bare pair ``(low, high)``
    (uniform). The paper's settings: ``("uniform", 0, 2*pi)`` (permuted MNIST, split CIFAR),
    ``("uniform", -0.1, 0.1)`` (XXZ), ``("normal", 0, 1)`` (Ant: TensorCircuit's ``TorchLayer``
    without an initializer draws ``torch.randn``).

    Introduced in: 03 · QNN ansätze
    """
    if isinstance(init, (tuple, list)) and len(init) == 2 and not isinstance(init[0], str):
        init = ("uniform", *init)
    if not (isinstance(init, (tuple, list)) and len(init) == 3 and init[0] in INIT_KINDS):
        raise ValueError(f"init must be ('uniform', low, high) or ('normal', mean, std), got {init!r}")
    kind, a, b = init[0], float(init[1]), float(init[2])
    if kind == "uniform" and not a < b:
        raise ValueError(f"uniform init needs low < high, got ({a}, {b})")
    if kind == "normal" and not b > 0:
        raise ValueError(f"normal init needs a positive standard deviation, got {b}")
    return (kind, a, b)


def init_params(layout: Layout, low: float = 0.0, high: float = 2 * math.pi, *, init=None,
                generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """Initial angles of shape ``(n_gates, 15)``: uniform in ``[low, high)``, or as ``init`` says.

    ``init`` (see :func:`init_spec`), when given, replaces ``low``/``high``:
    ``("uniform", low, high)`` or ``("normal", mean, std)``. The paper uses U(0, 2π) for the
    image tasks, U(-0.1, 0.1) for the XXZ task and N(0, 1) for the Ant policy.

    Introduced in: 03 · QNN ansätze
    """
    kind, a, b = init_spec((low, high) if init is None else init)
    shape = (layout.n_gates, SU4_PARAMS)
    if kind == "normal":
        return a + b * torch.randn(shape, generator=generator, dtype=dtype)
    return a + (b - a) * torch.rand(shape, generator=generator, dtype=dtype)


def amplitude_encode(x, n_qubits: int, dtype=torch.complex64) -> torch.Tensor:
    """Amplitude encoding: zero-pad the last axis to ``2**n_qubits`` and L2-normalize.

    Accepts real or complex numpy arrays or tensors of shape ``(dim,)`` or ``(batch, dim)``.
    Raises ``ValueError`` for inputs longer than ``2**n_qubits`` or with zero norm.

    Introduced in: 03 · QNN ansätze
    """
    _check_sizes(n_qubits, 1, min_qubits=1)
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    dim = 2**n_qubits
    if t.ndim not in (1, 2):
        raise ValueError(f"amplitude_encode expects shape (dim,) or (batch, dim), got {tuple(t.shape)}")
    if t.shape[-1] > dim:
        raise ValueError(f"input of length {t.shape[-1]} does not fit {n_qubits} qubits "
                         f"(at most {dim} amplitudes); use more qubits or reduce the input")
    t = t.to(dtype)
    if t.shape[-1] < dim:
        pad = torch.zeros(t.shape[:-1] + (dim - t.shape[-1],), dtype=dtype, device=t.device)
        t = torch.cat([t, pad], dim=-1)
    norm = torch.linalg.vector_norm(t, dim=-1, keepdim=True)
    if bool((norm == 0).any()):
        bad = torch.nonzero(norm.reshape(-1) == 0).reshape(-1)[:5].tolist()
        raise ValueError(f"cannot amplitude-encode an all-zero input (rows {bad}): "
                         "a quantum state needs a non-zero norm")
    return t / norm


def pennylane_ops(theta, layout: Layout) -> None:
    """Queue the layout's gates as ``qml.SpecialUnitary(-theta[g])`` operations (inside a QNode).

    PennyLane's ``SpecialUnitary(t)`` is ``exp(+i sum t P)``; the minus sign gives this
    package's (and TensorCircuit's) ``exp(-i sum theta P)``.

    Introduced in: 03 · QNN ansätze
    """
    import pennylane as qml

    if tuple(theta.shape) != (layout.n_gates, SU4_PARAMS):
        raise ValueError(f"{layout} needs parameters of shape ({layout.n_gates}, {SU4_PARAMS}), "
                         f"got {tuple(theta.shape)}")
    for g, (a, b) in enumerate(layout.gates):
        qml.SpecialUnitary(-theta[g], wires=[a, b])
