"""The two model families the paper compares: a batched QNN module and plain MLPs.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import sim
from .circuits import Layout, init_params, init_spec, make_layout
from .readouts import BasisLogits, PauliZ, ProbFeatures


class QNN(nn.Module):
    """A QNN as a torch module: a batch of encoded states in, logits (or features) out.

    ``theta`` (shape ``(n_gates, 15)``) are the trainable angles of the SU(4) gates of
    ``layout``; ``readout`` maps probabilities to outputs (see :mod:`qcl_helpers.readouts`).
    ``init`` is the distribution of the initial angles, ``("uniform", low, high)`` or
    ``("normal", mean, std)`` (a bare ``(low, high)`` pair means uniform), drawn with ``seed``.
    ``precision="double"`` simulates in complex128 (float64 parameters), ``"single"`` in
    complex64 as the paper's code does. Inputs must already be amplitude-encoded
    (:func:`qcl_helpers.circuits.amplitude_encode`). Moves to CUDA with ``.to("cuda")``.

    Introduced in: 03 · QNN ansätze
    """

    def __init__(self, layout: Layout, readout, init=("uniform", 0.0, 2 * math.pi), *,
                 precision: str = "single", seed: int | None = None):
        super().__init__()
        if precision not in ("single", "double"):
            raise ValueError(f"precision must be 'single' or 'double', got {precision!r}")
        self.layout, self.readout, self.init = layout, readout, init_spec(init)
        dtype = torch.float64 if precision == "double" else torch.float32
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        self.theta = nn.Parameter(init_params(layout, init=self.init, generator=gen, dtype=dtype))

    @property
    def n_outputs(self) -> int:
        return self.readout.n_outputs or self.layout.dim

    def probabilities(self, states: torch.Tensor) -> torch.Tensor:
        """Basis-state probabilities after the circuit, shape ``(batch, 2**n)``."""
        return sim.probabilities(states, self.theta, self.layout)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return sim.outputs(states, self.theta, self.layout, self.readout)

    def extra_repr(self) -> str:
        return f"{self.layout}, readout={self.readout!r}"


MLP_INITS = ("keras", "torch")


class MLP(nn.Sequential):
    """A fully connected network with layer sizes ``sizes`` (input, hidden..., output).

    ``activation`` follows every hidden layer (default ReLU). ``init`` sets the initial weights:

    * ``"keras"`` (default) -- as a Keras ``Dense`` layer, the released code's MLPs:
      Glorot-uniform weights, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``, and zero biases;
    * ``"torch"`` -- PyTorch's ``nn.Linear`` default, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
      for weights and biases (about half the weight norm of the Keras model for the paper's NW16).

    Draws come from torch's global generator (seed it with ``torch.manual_seed``).

    Introduced in: 03 · QNN ansätze
    """

    def __init__(self, sizes, activation=nn.ReLU, init: str = "keras"):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"MLP sizes must be at least two positive integers, got {sizes}")
        if init not in MLP_INITS:
            raise ValueError(f"unknown MLP init {init!r}; choose one of {', '.join(MLP_INITS)}")
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = nn.Linear(fan_in, fan_out)
            if init == "keras":
                with torch.no_grad():
                    nn.init.xavier_uniform_(lin.weight)  # limit sqrt(6 / (fan_in + fan_out))
                    nn.init.zeros_(lin.bias)
            layers.append(lin)
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)
        self.sizes, self.init = sizes, init


#: The paper's models per experiment: QNN layout, readout, initial-angle distribution (released
#: code: jax U(0, 2 pi) for the images, U(-0.1, 0.1) for XXZ, TorchLayer's torch.randn = N(0, 1) for
#: Ant); MLP sizes given a width.
PAPER_MODELS = {
    "permuted-mnist": dict(layout="brickwall", n_qubits=10, depth=4, readout=lambda: BasisLogits(10),
                           init=("uniform", 0.0, 2 * math.pi), mlp=lambda w: [784, w, 10], width=16),
    "split-cifar100": dict(layout="brickwall", n_qubits=10, depth=10, readout=lambda: PauliZ(9, pair=True),
                           init=("uniform", 0.0, 2 * math.pi), mlp=lambda w: [1024, 256, w, 2], width=256),
    "xxz": dict(layout="ladder", n_qubits=10, depth=6, readout=lambda: PauliZ(0),
                init=("uniform", -0.1, 0.1), mlp=lambda w: [2048, w, w, 1], width=64),
    "ant": dict(layout="ring", n_qubits=9, depth=12, readout=lambda: ProbFeatures(5.0),
                init=("normal", 0.0, 1.0), mlp=None, width=None),
}


def _spec(experiment: str) -> dict:
    if experiment not in PAPER_MODELS:
        raise ValueError(f"unknown experiment {experiment!r}; choose one of {', '.join(PAPER_MODELS)}")
    return PAPER_MODELS[experiment]


def paper_qnn(experiment: str, depth: int | None = None, n_qubits: int | None = None, **kwargs) -> QNN:
    """The paper's QNN for ``experiment`` (layout, readout, initialisation), optionally at another depth.

    ``kwargs`` go to :class:`QNN` (``precision``, ``seed``, or ``init`` to override the paper's
    initial-angle distribution).

    Introduced in: 03 · QNN ansätze
    """
    s = _spec(experiment)
    layout = make_layout(s["layout"], n_qubits or s["n_qubits"], s["depth"] if depth is None else depth)
    kwargs.setdefault("init", s["init"])
    return QNN(layout, s["readout"](), **kwargs)


def paper_mlp(experiment: str, width: int | None = None) -> MLP:
    """The paper's MLP for ``experiment`` with hidden width ``width`` (NW in the figures).

    Keras initialization (Glorot-uniform weights, zero biases), as the released code's models.

    Introduced in: 03 · QNN ansätze
    """
    s = _spec(experiment)
    if s["mlp"] is None:
        raise ValueError(f"the {experiment} MLP is built by stable-baselines3 (see the RL chapter)")
    return MLP(s["mlp"](s["width"] if width is None else width), init="keras")
