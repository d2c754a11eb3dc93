"""The paper's three readouts: from basis-state probabilities to logits or features.

* :class:`PauliZ` -- binary: ``e = <Z_k>`` as one logit (sigmoid) or as the pair ``(e, -e)`` (softmax).
* :class:`BasisLogits` -- 10-class: probabilities of ``|0...0000>`` .. ``|0...1001>``, mapped to
  logits ``log(p / (1 - p))`` with ``p`` clipped to ``[1e-7, 1 - 1e-7]``, then softmax.
* :class:`ProbFeatures` -- RL: ``tanh(scale * p)`` over all ``2**n`` probabilities, fed to linear heads.

Each readout is a callable on a ``(batch, 2**n)`` probability tensor.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import torch


class PauliZ:
    """``<Z_wire>`` from probabilities; ``pair=True`` returns logits ``(e, -e)`` for 2-class softmax.

    Introduced in: 03 · QNN ansätze
    """

    def __init__(self, wire: int, pair: bool = False):
        self.wire, self.pair = int(wire), bool(pair)
        self.n_outputs = 2 if pair else 1

    def signs(self, dim: int, dtype, device) -> torch.Tensor:
        n = dim.bit_length() - 1
        if not 0 <= self.wire < n:
            raise ValueError(f"readout wire {self.wire} does not exist on {n} qubits")
        idx = torch.arange(dim, device=device)
        bit = (idx >> (n - 1 - self.wire)) & 1
        return (1 - 2 * bit).to(dtype)

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        e = probs @ self.signs(probs.shape[-1], probs.dtype, probs.device)
        return torch.stack([e, -e], dim=-1) if self.pair else e.unsqueeze(-1)

    def __repr__(self):
        return f"PauliZ(wire={self.wire}, pair={self.pair})"


class BasisLogits:
    """Logits ``log(p_k / (1 - p_k))`` of the first ``n_classes`` basis states (p clipped).

    Introduced in: 03 · QNN ansätze
    """

    def __init__(self, n_classes: int = 10, eps: float = 1e-7):
        self.n_classes, self.eps = int(n_classes), float(eps)
        self.n_outputs = self.n_classes

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        if probs.shape[-1] < self.n_classes:
            raise ValueError(f"{self.n_classes} classes need at least {self.n_classes} basis states")
        p = probs[..., : self.n_classes].clamp(self.eps, 1 - self.eps)
        return torch.log(p) - torch.log1p(-p)

    def __repr__(self):
        return f"BasisLogits(n_classes={self.n_classes})"


class ProbFeatures:
    """Features ``tanh(scale * p)`` over all basis probabilities (the paper's RL readout, scale 5).

    Introduced in: 03 · QNN ansätze
    """

    def __init__(self, scale: float = 5.0):
        self.scale = float(scale)
        self.n_outputs = None  # 2**n, known once the circuit is

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.scale * probs)

    def __repr__(self):
        return f"ProbFeatures(scale={self.scale})"
