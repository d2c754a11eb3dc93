"""Classical remedies for loss of plasticity that act during training: continual backprop.

L2 regularization and Shrink & Perturb are one line each in the continual loop
(:mod:`qcl_helpers.continual`); continual backprop (Dohare et al., *Nature* 632, 2024 -- their own
remedy) keeps state, so it lives here.

**Continual backprop** (for an MLP): every hidden unit carries an age and a running *contribution
utility* ``u = decay * u + (1 - decay) * |h - f| * sum_k |w_out[k]|``, where ``h`` is its activation
(averaged over the batch), ``f`` a running mean of ``h`` and ``w_out`` its outgoing weights. After
every optimizer step, each layer adds ``replacement_rate x (units older than maturity)`` to a
counter; while the counter is at least one, the mature unit of least utility is replaced: fresh
incoming weights from the layer's initial distribution (Glorot-uniform, zero bias), zero outgoing
weights, its mean contribution ``f * w_out`` moved into the next layer's bias (so the network's
output does not jump), its age, utility and mean reset, and Adam's moments of those weights zeroed.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import math

import torch
from torch import nn


class ContinualBackprop:
    """Continual backprop on an :class:`~qcl_helpers.models.MLP` (``nn.Linear`` layers with
    activations between them). Call :meth:`after_step` after every ``optimizer.step()``; keep
    :meth:`state_dict` in the checkpoint so that a resumed run equals an uninterrupted one.

    Introduced in: 04 · Permuted MNIST
    """

    def __init__(self, model: nn.Module, replacement_rate: float = 1e-4, maturity: int = 100,
                 decay: float = 0.99, seed: int = 0):
        if not 0 < replacement_rate < 1 or maturity < 1 or not 0 < decay < 1:
            raise ValueError("continual backprop needs 0 < replacement_rate < 1, maturity >= 1 and 0 < decay < 1")
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        acts = [m for m in model.modules() if not isinstance(m, (nn.Linear, nn.Sequential)) and m is not model]
        if len(linears) < 2 or len(acts) != len(linears) - 1:
            raise ValueError("continual backprop needs an MLP: Linear layers with one activation between each pair")
        self.rate, self.maturity, self.decay = float(replacement_rate), int(maturity), float(decay)
        self.pairs = list(zip(linears[:-1], linears[1:]))  # (incoming layer, outgoing layer) per hidden layer
        n = [lin.out_features for lin, _ in self.pairs]
        dev = linears[0].weight.device
        self.age = [torch.zeros(k, dtype=torch.long, device=dev) for k in n]
        self.util = [torch.zeros(k, device=dev) for k in n]
        self.mean = [torch.zeros(k, device=dev) for k in n]
        self.pending = [0.0 for _ in n]
        self.replaced = [0 for _ in n]  # units replaced so far, per hidden layer
        self.gen = torch.Generator().manual_seed(int(seed))
        self._h = [None for _ in n]
        for i, act in enumerate(acts):
            act.register_forward_hook(self._hook(i))

    def _hook(self, i):
        def hook(_module, _inp, out):
            if torch.is_grad_enabled():  # training forwards only, not evaluations
                self._h[i] = out.detach()
        return hook

    @torch.no_grad()
    def after_step(self, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Update ages and utilities from the last training forward, replace units; returns how many."""
        total = 0
        for i, (lin, out) in enumerate(self.pairs):
            h = self._h[i]
            if h is None:
                continue
            h = h.reshape(-1, h.shape[-1]).float()
            self.age[i] += 1
            self.mean[i].mul_(self.decay).add_((1 - self.decay) * h.mean(0))
            contrib = (h - self.mean[i]).abs().mean(0) * out.weight.abs().sum(0)
            self.util[i].mul_(self.decay).add_((1 - self.decay) * contrib)
            mature = torch.nonzero(self.age[i] > self.maturity).reshape(-1)
            self.pending[i] += self.rate * len(mature)
            k = min(int(self.pending[i]), len(mature))
            if k < 1:
                continue
            self.pending[i] -= k
            worst = mature[torch.argsort(self.util[i][mature])[:k]]
            self._replace(lin, out, worst, i, optimizer)
            self.replaced[i] += k
            total += k
        return total

    def _replace(self, lin: nn.Linear, out: nn.Linear, units: torch.Tensor, i: int, optimizer) -> None:
        limit = math.sqrt(6.0 / (lin.in_features + lin.out_features))  # Glorot-uniform, as at initialization
        fresh = (torch.rand((len(units), lin.in_features), generator=self.gen) * 2 - 1) * limit
        if out.bias is not None:  # the unit's mean contribution moves into the next layer's bias
            out.bias += (out.weight[:, units] * self.mean[i][units]).sum(1)
        lin.weight[units] = fresh.to(lin.weight)
        if lin.bias is not None:
            lin.bias[units] = 0.0
        out.weight[:, units] = 0.0
        self.util[i][units], self.mean[i][units], self.age[i][units] = 0.0, 0.0, 0
        if optimizer is not None:
            for p, idx in ((lin.weight, (units,)), (lin.bias, (units,)), (out.weight, (slice(None), units))):
                st = optimizer.state.get(p, {}) if p is not None else {}
                for key in ("exp_avg", "exp_avg_sq"):
                    if key in st:
                        st[key][idx] = 0.0

    def state_dict(self) -> dict:
        return {"age": [a.cpu() for a in self.age], "util": [u.cpu() for u in self.util],
                "mean": [m.cpu() for m in self.mean], "pending": list(self.pending),
                "replaced": list(self.replaced), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        dev = self.age[0].device
        self.age = [a.to(dev) for a in state["age"]]
        self.util = [u.to(dev) for u in state["util"]]
        self.mean = [m.to(dev) for m in state["mean"]]
        self.pending, self.replaced = list(state["pending"]), list(state["replaced"])
        self.gen.set_state(state["gen"])
