"""What the book measures to track plasticity: weight norm, gradient norm, empirical Fisher trace,
dead and dormant units, effective rank and the Fisher spectrum.

Definitions follow the paper's released code (``mnist.py``, ``cifar.py``):

* **weight norm** -- mean Frobenius norm over the model's parameter arrays: for an MLP the weight
  matrices only (Keras ``get_weights()`` with ``ndim > 1``, no biases); for a QNN the arrays the
  released code keeps (a brickwall's ``main_even`` and ``main_odd`` sublayer arrays, one array
  for a ladder or a ring; :attr:`qcl_helpers.circuits.Layout.param_groups`);
* **gradient norm** -- the same mean over the gradient of the mean loss on one batch, but for an
  MLP over *every* trainable tensor, biases included (``model.trainable_variables``);
* **empirical Fisher trace** -- ``mean_i ||grad_theta log p(y_i | x_i)||^2`` over probe samples
  with their true labels;
* **dead units** (beyond the paper) -- the fraction of ReLU units that output zero on every
  probe sample.

Beyond the paper, the diagnostics of the continual-learning literature
(:func:`diagnostics`): the effective rank of each hidden layer's representation (Dohare et al.
2024), the dormant-unit fraction (Sokar et al. 2023) and the top eigenvalues of the empirical
Fisher matrix.

Introduced in: 01 · Loss of plasticity
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _qnn_arrays(model, values: torch.Tensor) -> list:
    """``values`` (shape of ``model.theta``) split into the released code's parameter arrays."""
    return [values[list(ids)] for _, ids in model.layout.param_groups]


def _mean_norm(tensors) -> float:
    return float(torch.stack([t.detach().norm() for t in tensors]).mean())


def weight_norm(model: nn.Module) -> float:
    """Mean Frobenius norm of the model's parameter arrays, as the paper's code measures it.

    QNN: the mean over the released code's arrays of the angles (for a brickwall, the norms of
    the even-sublayer and the odd-sublayer arrays, averaged; for a ladder or a ring, the norm
    of all angles). Any other model: the mean over its parameter tensors with two or more
    axes (an MLP's weight matrices; biases do not count).

    Introduced in: 01 · Loss of plasticity
    """
    from .models import QNN

    if isinstance(model, QNN):
        return _mean_norm(_qnn_arrays(model, model.theta.detach()))
    norms = [p.detach() for p in model.parameters() if p.ndim >= 2]
    if not norms:
        raise ValueError("model has no weight matrices (parameters with two or more axes)")
    return _mean_norm(norms)


def log_likelihood(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``log p(y | x)`` per sample: softmax for ``(batch, C>1)`` logits, sigmoid for one logit.

    Introduced in: 01 · Loss of plasticity
    """
    if logits.ndim == 1 or logits.shape[-1] == 1:
        z = logits.reshape(-1)
        yf = y.reshape(-1).to(z.dtype)
        return yf * nn.functional.logsigmoid(z) + (1 - yf) * nn.functional.logsigmoid(-z)
    return torch.log_softmax(logits, dim=-1).gather(-1, y.reshape(-1, 1).long()).reshape(-1)


def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood (cross-entropy or binary cross-entropy).

    Introduced in: 01 · Loss of plasticity
    """
    return -log_likelihood(logits, y).mean()


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean norm of the gradient of the mean loss on ``(x, y)``, as the paper's code measures it.

    QNN: the mean over the released parameter arrays (see :func:`weight_norm`) of the norms of
    the gradient's parts. Any other model: the mean over *all* trainable tensors, biases
    included. The released code uses the first 128 training samples of the task for the QNN
    and 128 random ones for the MLP. Leaves ``model``'s ``.grad`` fields untouched.

    Introduced in: 01 · Loss of plasticity
    """
    from .models import QNN

    if isinstance(model, QNN):
        (g,) = torch.autograd.grad(loss(model(x), y), model.theta)
        return _mean_norm(_qnn_arrays(model, g))
    params = [p for p in model.parameters() if p.requires_grad]
    return _mean_norm(torch.autograd.grad(loss(model(x), y), params))


def fisher_trace(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Empirical Fisher trace ``mean_i ||grad log p(y_i | x_i)||^2`` over the probe set ``(x, y)``.

    QNNs use the adjoint per-sample gradients of :func:`qcl_helpers.sim.per_sample_grads` (one
    forward and one backward sweep for the whole probe set); other models use ``torch.func``
    (vmap of per-sample gradients), with a loop over samples as the fallback.

    Introduced in: 01 · Loss of plasticity
    """
    per_sample = per_sample_sq_grad_norms(model, x, y)
    return float(per_sample.mean())


def per_sample_sq_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||grad_theta log p(y_i | x_i)||^2`` for every probe sample, shape ``(n,)``.

    Introduced in: 01 · Loss of plasticity
    """
    from .models import QNN

    if isinstance(model, QNN) and model.theta.requires_grad:
        from .sim import per_sample_grads

        y = torch.as_tensor(y, device=x.device)
        g = per_sample_grads(x, model.theta.detach(), model.layout, model.readout,
                             lambda out: log_likelihood(out, y[: out.shape[0]]))
        return g.reshape(g.shape[0], -1).pow(2).sum(1)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def loglik(p, xi, yi):
        out = torch.func.functional_call(model, p, (xi.unsqueeze(0),))
        return log_likelihood(out, yi.unsqueeze(0)).sum()

    try:
        grads = torch.func.vmap(torch.func.grad(loglik), in_dims=(None, 0, 0))(params, x, y)
        return sum(grads[n].reshape(len(x), -1).pow(2).sum(1) for n in names)
    except Exception:  # some ops have no batching rule: loop over samples instead
        plist = [p for p in model.parameters() if p.requires_grad]
        out = []
        for xi, yi in zip(x, y):
            ll = log_likelihood(model(xi.unsqueeze(0)), yi.unsqueeze(0)).sum()
            g = torch.autograd.grad(ll, plist)
            out.append(sum(gi.pow(2).sum() for gi in g))
        return torch.stack(out).detach()


def dead_unit_fraction(model: nn.Module, x: torch.Tensor) -> float:
    """Fraction of ReLU units that are zero for every sample of ``x`` (0 for a model without ReLUs).

    Introduced in: 01 · Loss of plasticity
    """
    alive, total, hooks = [], [], []

    def hook(_module, _inp, out):
        flat = out.detach().reshape(out.shape[0], -1)
        alive.append(int((flat > 0).any(0).sum()))
        total.append(flat.shape[1])

    for m in model.modules():
        if isinstance(m, nn.ReLU):
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return 0.0 if not total else 1.0 - sum(alive) / sum(total)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Classification accuracy; one logit means a sigmoid (threshold at 0), several an argmax.

    Introduced in: 01 · Loss of plasticity
    """
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(x[i:i + batch_size])
            if out.ndim == 1 or out.shape[-1] == 1:
                pred = (out.reshape(-1) > 0).long()
            else:
                pred = out.argmax(-1)
            correct += int((pred == y[i:i + batch_size].reshape(-1).long()).sum())
    return correct / max(len(x), 1)
