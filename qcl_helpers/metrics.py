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
    return loglik_grads(model, x, y).pow(2).sum(1)


def loglik_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients ``grad_theta log p(y_i | x_i)``, flattened: shape ``(n, n_params)``.

    QNNs use the adjoint per-sample gradients of :func:`qcl_helpers.sim.per_sample_grads` (one
    forward and one backward sweep for the whole probe set); other models use ``torch.func``
    (vmap of per-sample gradients), with a loop over samples as the fallback. Parameters are
    flattened in ``model.parameters()`` order.

    Introduced in: 05 · Split CIFAR-100
    """
    from .models import QNN

    if isinstance(model, QNN) and model.theta.requires_grad:
        from .sim import per_sample_grads

        y = torch.as_tensor(y, device=x.device)
        g = per_sample_grads(x, model.theta.detach(), model.layout, model.readout,
                             lambda out: log_likelihood(out, y[: out.shape[0]]))
        return g.reshape(g.shape[0], -1)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def loglik(p, xi, yi):
        out = torch.func.functional_call(model, p, (xi.unsqueeze(0),))
        return log_likelihood(out, yi.unsqueeze(0)).sum()

    try:
        grads = torch.func.vmap(torch.func.grad(loglik), in_dims=(None, 0, 0))(params, x, y)
        return torch.cat([grads[n].reshape(len(x), -1) for n in names], dim=1)
    except Exception:  # some ops have no batching rule: loop over samples instead
        plist = [p for p in model.parameters() if p.requires_grad]
        out = []
        for xi, yi in zip(x, y):
            ll = log_likelihood(model(xi.unsqueeze(0)), yi.unsqueeze(0)).sum()
            out.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(ll, plist)]))
        return torch.stack(out).detach()


def fisher_top_eigenvalues(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int = 5) -> list:
    """The ``k`` largest eigenvalues of the empirical Fisher matrix on the probe set ``(x, y)``.

    ``F = (1/N) sum_i g_i g_i^T`` with ``g_i = grad_theta log p(y_i | x_i)``
    (:func:`loglik_grads`, true labels, as :func:`fisher_trace`; ``Tr F`` is the sum of all
    eigenvalues). ``F`` has rank at most ``N``; its non-zero eigenvalues are those of the
    ``N x N`` Gram matrix ``G G^T / N`` (rows of ``G`` are the ``g_i``), which is what is
    diagonalized when ``N`` is smaller than the number of parameters. Returned in descending
    order, as a list of at most ``min(k, N, n_params)`` floats (double precision).

    Introduced in: 05 · Split CIFAR-100
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    g = loglik_grads(model, x, y).detach().to(torch.float64)
    n, p = g.shape
    gram = (g @ g.T) / n if n <= p else (g.T @ g) / n
    ev = torch.linalg.eigvalsh(gram).flip(0).clamp_min(0.0)
    return [float(v) for v in ev[: min(k, n, p)]]


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


# --------------------------------------------------------------------------------------
# Representation diagnostics of the continual-learning literature
# --------------------------------------------------------------------------------------

def hidden_representations(model: nn.Module, x: torch.Tensor) -> list:
    """Post-activation outputs of each hidden layer of an MLP on inputs ``x``.

    A list with one ``(n, width)`` tensor per hidden layer (the output of each activation
    module of the :class:`~qcl_helpers.models.MLP`; the output layer is not included), computed
    without gradients.

    Introduced in: 04 · Permuted MNIST
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError("hidden_representations needs an MLP (an nn.Sequential of Linear and "
                         f"activation layers), got {type(model).__name__}")
    reps = []
    h = x
    with torch.no_grad():
        for module in model:
            h = module(h)
            if not isinstance(module, nn.Linear):
                reps.append(h.reshape(h.shape[0], -1))
    return reps


def effective_rank(features) -> float:
    """Effective rank of a ``(samples, units)`` matrix (Dohare et al. 2024; Roy & Vetterli 2007).

    ``exp(H(p))`` with ``p_k = s_k / sum_j s_j`` the singular values normalized to sum 1 and
    ``H(p) = -sum_k p_k log p_k`` (``0 log 0 = 0``). It lies between 1 (rank one) and the
    rank, and equals the rank when all non-zero singular values are equal. An all-zero matrix
    (a layer of dead units) has effective rank 0.

    Introduced in: 04 · Permuted MNIST
    """
    m = torch.as_tensor(features).detach().to(torch.float64)
    if m.ndim != 2:
        raise ValueError(f"effective_rank expects a 2-D (samples, units) matrix, got shape {tuple(m.shape)}")
    s = torch.linalg.svdvals(m)
    total = s.sum()
    if not total > 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _dormant_counts(reps, tau: float):
    dormant, total = 0, 0
    for h in reps:
        score = h.abs().mean(0)  # E_x |h_i(x)| per unit
        layer_mean = score.mean()
        score = score / layer_mean if layer_mean > 0 else torch.zeros_like(score)
        dormant += int((score <= tau).sum())
        total += score.numel()
    return dormant, total


def dormant_fraction(model: nn.Module, x: torch.Tensor, tau: float = 0.01) -> float:
    """Fraction of tau-dormant hidden units of an MLP on inputs ``x`` (Sokar et al. 2023).

    Unit ``i`` of a hidden layer is dormant when ``E_x|h_i(x)|`` divided by that layer's mean
    over units of the same quantity is at most ``tau`` (a layer whose units are all silent
    counts as dormant). The fraction is over all hidden units of all layers.

    Introduced in: 04 · Permuted MNIST
    """
    if not tau >= 0:
        raise ValueError(f"tau must be a non-negative number, got {tau!r}")
    dormant, total = _dormant_counts(hidden_representations(model, x), tau)
    if total == 0:
        raise ValueError("the model has no hidden layers, so no units can be dormant")
    return dormant / total


def diagnostics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, k: int = 5, tau: float = 0.01,
                fisher: bool | None = None) -> dict:
    """The continual-learning diagnostics of one model on a probe set, as JSON-ready values.

    MLPs: ``effective_rank`` (list, one per hidden layer, :func:`effective_rank` of
    :func:`hidden_representations`) and ``dormant_fraction`` (:func:`dormant_fraction`, ``tau``).
    QNNs: ``fisher_top_eigenvalues`` (list of ``k``, :func:`fisher_top_eigenvalues` on ``(x, y)``
    with the true labels). ``fisher=True`` adds the Fisher spectrum for MLPs too, ``False``
    leaves it out for QNNs. ``x`` are the model's inputs (encoded states for a QNN).

    Introduced in: 04 · Permuted MNIST
    """
    from .models import QNN

    is_qnn = isinstance(model, QNN)
    out = {}
    if not is_qnn:
        reps = hidden_representations(model, x)
        out["effective_rank"] = [effective_rank(h) for h in reps]
        dormant, total = _dormant_counts(reps, tau)
        out["dormant_fraction"] = dormant / total if total else None
    if fisher or (fisher is None and is_qnn):
        out["fisher_top_eigenvalues"] = fisher_top_eigenvalues(model, x, y, k=k)
    return out
