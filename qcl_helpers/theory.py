"""Saturation and scaling helpers for Proposition 1, and the primer's continual toy experiment.

Two groups of tools:

* **the primer** (chapter 01): :func:`random_label_tasks` and :func:`run_primer`, a small MLP
  trained on a sequence of *synthetic* random-label memorisation tasks, recording after each
  task how well it learned it and the metrics of :mod:`qcl_helpers.metrics`;
* **Proposition 1** (chapter 02): :func:`synthetic_blobs` (synthetic Gaussian clusters),
  :func:`fit`, :func:`margins`, scaled copies of a network (:func:`scale_output`,
  :func:`scale_input_layer`), the predicted sandwich bounds on the Fisher trace
  (:func:`output_saturation_bounds`, :func:`hidden_saturation_bound`) and a fitted decay rate.

All data here are synthetic and said to be so; nothing is downloaded.

Introduced in: 01 · Loss of plasticity
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from . import metrics, models


# --------------------------------------------------------------------------------------------
# The primer: continual learning of random-label tasks (synthetic)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PrimerConfig:
    """Settings of the primer's toy experiment (all synthetic; the same in every profile
    except the number of tasks).

    Introduced in: 01 · Loss of plasticity
    """

    samples: int = 256  # inputs per task (the same Gaussian inputs for every task)
    features: int = 32  # input dimension
    width: int = 64  # two hidden ReLU layers of this width
    classes: int = 10  # random labels in 0..classes-1
    epochs: int = 10  # passes over the task's data
    batch_size: int = 32
    lr: float = 3e-3  # Adam, state kept across tasks (no reset)
    probe: int = 64  # samples for the Fisher trace and the gradient norm


@dataclass
class PrimerResult:
    """Per-task records of :func:`run_primer` (lists of floats, one entry per task).

    ``accuracy``: training accuracy on the task's random labels after training on it (how
    much of the new task was learned: plasticity); ``weight_norm`` after the task;
    ``grad_norm`` and ``fisher`` measured on the new task *before* training on it (the
    learning signal available); ``dead`` the fraction of dead ReLU units after the task.

    Introduced in: 01 · Loss of plasticity
    """

    accuracy: list = field(default_factory=list)
    weight_norm: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    fisher: list = field(default_factory=list)
    dead: list = field(default_factory=list)

    def as_arrays(self) -> dict:
        return {k: np.asarray(v, dtype=float) for k, v in self.__dict__.items()}


def random_label_tasks(n_tasks: int, config: PrimerConfig = PrimerConfig(), seed: int = 0):
    """Synthetic inputs ``x`` (Gaussian, fixed) and ``n_tasks`` label vectors drawn uniformly at random.

    Returns ``(x, [y_0, y_1, ...])``. Each task asks the network to memorise a fresh random
    labelling of the same inputs, so every task is equally hard and a fresh network always
    reaches the same accuracy: any decline is the network's, not the data's.

    Introduced in: 01 · Loss of plasticity
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(config.samples, config.features, generator=gen)
    ys = [torch.randint(0, config.classes, (config.samples,), generator=gen) for _ in range(n_tasks)]
    return x, ys


def run_primer(n_tasks: int, config: PrimerConfig = PrimerConfig(), *, reset: bool = False,
               seed: int = 0) -> PrimerResult:
    """Train one MLP on ``n_tasks`` random-label tasks in sequence and record the metrics.

    ``reset=True`` is the control: a fresh network and optimiser for every task (same data,
    same seeds), which shows what a network *without* history learns in the same budget.

    Introduced in: 01 · Loss of plasticity
    """
    x, ys = random_label_tasks(n_tasks, config, seed)
    torch.manual_seed(seed)
    sizes = [config.features, config.width, config.width, config.classes]
    net = models.MLP(sizes)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(seed + 1)
    out = PrimerResult()
    probe = slice(0, config.probe)
    for y in ys:
        if reset:
            net = models.MLP(sizes)
            opt = torch.optim.Adam(net.parameters(), lr=config.lr)
        out.grad_norm.append(metrics.grad_norm(net, x[probe], y[probe]))
        out.fisher.append(metrics.fisher_trace(net, x[probe], y[probe]))
        for _ in range(config.epochs):
            perm = torch.randperm(config.samples, generator=gen)
            for i in range(0, config.samples, config.batch_size):
                idx = perm[i:i + config.batch_size]
                opt.zero_grad()
                metrics.loss(net(x[idx]), y[idx]).backward()
                opt.step()
        out.accuracy.append(metrics.accuracy(net, x, y))
        out.weight_norm.append(metrics.weight_norm(net))
        out.dead.append(metrics.dead_unit_fraction(net, x))
    return out


def check_fisher_trace(answer: float, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Exercise self-check: is ``answer`` the empirical Fisher trace of ``model`` on ``(x, y)``?

    Compares with :func:`qcl_helpers.metrics.fisher_trace` (relative tolerance 1e-4), prints a
    verdict and returns ``True`` or ``False``.

    Introduced in: 01 · Loss of plasticity
    """
    truth = metrics.fisher_trace(model, x, y)
    ok = bool(np.isclose(float(answer), truth, rtol=1e-4, atol=1e-12))
    if ok:
        print(f"correct: Tr F = {truth:.6g}")
    else:
        print(f"not yet: got {float(answer):.6g}, expected {truth:.6g}. Hint: square the norm of "
              "the gradient of log p(y_i|x_i) (the true label) for each sample, then average.")
    return ok


# --------------------------------------------------------------------------------------------
# Proposition 1: saturation under weight scaling
# --------------------------------------------------------------------------------------------

def synthetic_blobs(n: int, features: int = 8, classes: int = 3, spread: float = 0.6,
                    seed: int = 0, dtype=torch.float64):
    """Synthetic data: ``classes`` Gaussian clusters with random unit-norm centres, ``n`` points.

    Returns ``(x, y)``; labels are balanced (``i mod classes``).

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=gen, dtype=dtype)
    centres = 2.0 * centres / centres.norm(dim=1, keepdim=True)
    y = torch.arange(n) % classes
    x = centres[y] + spread * torch.randn(n, features, generator=gen, dtype=dtype)
    return x, y


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float = 1e-2,
        max_epochs: int = 2000, seed: int = 0) -> int:
    """Full-batch Adam on the cross-entropy until every sample of ``(x, y)`` is classified
    correctly (then 50 more steps, to open the margins); returns the number of steps taken.

    Raises ``RuntimeError`` when ``max_epochs`` is not enough: Proposition 1's direction
    needs a positive margin on every probe sample.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    extra = None
    for step in range(max_epochs):
        opt.zero_grad()
        metrics.loss(model(x), y).backward()
        opt.step()
        if extra is None and metrics.accuracy(model, x, y) == 1.0:
            extra = 50
        if extra is not None:
            extra -= 1
            if extra == 0:
                return step + 1
    raise RuntimeError(f"the model did not fit all {len(x)} samples in {max_epochs} steps")


def _linears(model: nn.Module) -> list:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("the model has no nn.Linear layers")
    return layers


def margins(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-class margins ``z_y - z_c`` of the logits, shape ``(n, C)`` (``+inf`` at ``c = y``).

    For the output-layer direction ``w_out = alpha * V`` these are exactly the exponents in
    Proposition 1: the margin of the *direction* is the margin of the logits at ``alpha = 1``.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    with torch.no_grad():
        z = model(x)
    if z.ndim == 1 or z.shape[-1] == 1:
        raise ValueError("margins need C >= 2 logits (softmax); write a sigmoid as logits (z, 0)")
    m = z.gather(1, y.reshape(-1, 1)) - z
    return m.scatter(1, y.reshape(-1, 1), float("inf"))


def scale_output(model: nn.Module, alpha: float) -> nn.Module:
    """A copy of ``model`` with its last ``nn.Linear`` (weights and bias) multiplied by ``alpha``.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    new = copy.deepcopy(model)
    last = _linears(new)[-1]
    with torch.no_grad():
        last.weight.mul_(alpha)
        if last.bias is not None:
            last.bias.mul_(alpha)
    return new


def scale_input_layer(model: nn.Module, beta: float) -> nn.Module:
    """A copy of ``model`` with its first ``nn.Linear`` (weights and bias) multiplied by ``beta``.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    new = copy.deepcopy(model)
    first = _linears(new)[0]
    with torch.no_grad():
        first.weight.mul_(beta)
        if first.bias is not None:
            first.bias.mul_(beta)
    return new


def _features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last hidden representation ``h(x)`` (input of the last linear layer)."""
    last = _linears(model)[-1]
    seen = {}
    hook = last.register_forward_pre_hook(lambda _m, inp: seen.__setitem__("h", inp[0].detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    return seen["h"]


def _feature_jacobian_sq_opnorms(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``||d h(x_i) / d w_int||_op^2`` per sample (``w_int``: every parameter but the last layer)."""
    last = _linears(model)[-1]
    last_ids = {id(p) for p in last.parameters()}
    named = {n: p.detach() for n, p in model.named_parameters() if id(p) not in last_ids}
    if not named:
        return torch.zeros(len(x), dtype=x.dtype)

    def h_of(params, xi):
        seen = {}
        hook = last.register_forward_pre_hook(lambda _m, inp: seen.__setitem__("h", inp[0]))
        try:
            torch.func.functional_call(model, params, (xi.unsqueeze(0),))
        finally:
            hook.remove()
        return seen["h"].reshape(-1)

    out = []
    for xi in x:
        jac = torch.func.jacrev(h_of)(named, xi)
        mat = torch.cat([j.reshape(j.shape[0], -1) for j in jac.values()], dim=1)
        out.append(torch.linalg.matrix_norm(mat, ord=2) ** 2)
    return torch.stack(out)


@dataclass(frozen=True)
class SaturationBounds:
    """Proposition 1's sandwich for ``Tr F(alpha)`` along ``w_out -> alpha * w_out``.

    ``lower[a] <= Tr F(alphas[a]) <= upper[a]``; ``rate = 2 * min margin`` is the exact
    exponential decay rate in ``alpha``. ``upper_output_only`` is a plausible *wrong* upper
    bound, the same expression without the feature-map term ``alpha^2 ||V||^2 ||J_i||^2`` (as
    if only the output layer were trained): a negative control that a trained network with
    hidden layers violates.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """

    alphas: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rate: float
    min_margin: float
    upper_output_only: np.ndarray | None = None


def output_saturation_bounds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, alphas) -> SaturationBounds:
    """The bounds of Proposition 1 for the empirical Fisher trace of ``scale_output(model, alpha)``.

    With ``u_i(alpha) = sum_{c != y_i} exp(-alpha m_ic)`` (``m_ic`` from :func:`margins`),
    ``h~_i = (h(x_i), 1)`` and ``J_i = d h(x_i)/d w_int``:

        (1/n) sum_i (u_i/(1+u_i))^2 ||h~_i||^2  <=  Tr F(alpha)
            <=  (2/n) sum_i u_i^2 (||h~_i||^2 + alpha^2 ||V||_op^2 ||J_i||_op^2).

    Requires every margin to be positive (the model fits ``(x, y)``).

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    alphas = np.asarray(alphas, dtype=float)
    m = margins(model, x, y).double()
    finite = m[torch.isfinite(m)]
    if bool((finite <= 0).any()):
        raise ValueError("Proposition 1 needs a positive margin on every probe sample: fit first")
    last = _linears(model)[-1]
    h = _features(model, x).double()
    h_sq = h.pow(2).sum(1) + (1.0 if last.bias is not None else 0.0)
    v_op_sq = float(torch.linalg.matrix_norm(last.weight.detach().double(), ord=2) ** 2)
    j_sq = _feature_jacobian_sq_opnorms(model, x).double()
    lower, upper, output_only = [], [], []
    for a in alphas:
        u = torch.exp(-a * m).sum(1)  # exp(-inf) = 0 drops c = y
        lower.append(float(((u / (1 + u)) ** 2 * h_sq).mean()))
        upper.append(float((2 * u**2 * (h_sq + a * a * v_op_sq * j_sq)).mean()))
        output_only.append(float((2 * u**2 * h_sq).mean()))
    mmin = float(finite.min())
    return SaturationBounds(alphas, np.array(lower), np.array(upper), 2 * mmin, mmin,
                            np.array(output_only))


def fisher_along(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scales, which: str = "output",
                 only_first_layer: bool = False) -> np.ndarray:
    """Empirical Fisher trace (:func:`qcl_helpers.metrics.fisher_trace`) of scaled copies of ``model``.

    ``which="output"`` scales the last layer (:func:`scale_output`), ``"input"`` the first
    (:func:`scale_input_layer`). ``only_first_layer=True`` counts only the gradient with
    respect to the first layer's parameters (the "hidden-layer" part of the trace).

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    scaler = {"output": scale_output, "input": scale_input_layer}[which]
    out = []
    for s in scales:
        net = scaler(model, float(s))
        if only_first_layer:
            keep = {id(p) for p in _linears(net)[0].parameters()}
            for p in net.parameters():
                p.requires_grad_(id(p) in keep)
        out.append(metrics.fisher_trace(net, x, y))
    return np.asarray(out)


def hidden_saturation_bound(model: nn.Module, x: torch.Tensor, betas) -> tuple[np.ndarray, float]:
    """Proposition 1(b) for a one-hidden-layer tanh network ``W2 tanh(W1 x + b1) + b2``.

    Scaling ``(W1, b1) -> beta (W1, b1)``, the first-layer part of the Fisher trace obeys

        (1/n) sum_i ||grad_{W1,b1} log p||^2 <= (2/n) sum_i ||x~_i||^2 sum_j ||W2[:, j]||^2 sech^4(beta a_ij)
                                            <= 32 ... exp(-4 beta gamma),

    where ``a_ij`` are the unscaled pre-activations and ``gamma = min |a_ij|``. Returns the
    middle expression for each ``beta`` and ``gamma`` (the decay rate in ``beta`` is ``4 gamma``).
    It holds for *any* labels, also ones the network gets wrong.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    layers = _linears(model)
    acts = [m for m in model.modules() if isinstance(m, nn.Tanh)]
    if len(layers) != 2 or len(acts) != 1:
        raise ValueError("hidden_saturation_bound expects MLP([d, H, C], activation=nn.Tanh)")
    w1, w2 = layers[0], layers[1]
    with torch.no_grad():
        pre = (x.double() @ w1.weight.double().T + w1.bias.double())  # (n, H)
        x_sq = x.double().pow(2).sum(1) + 1.0
        col_sq = w2.weight.double().pow(2).sum(0)  # (H,)
    out = []
    for b in np.asarray(betas, dtype=float):
        sech4 = torch.cosh(b * pre).pow(-4)
        out.append(float((2 * x_sq * (sech4 * col_sq).sum(1)).mean()))
    return np.asarray(out), float(pre.abs().min())


def fitted_decay_rate(scales, values) -> float:
    """Least-squares slope of ``-log(values)`` against ``scales`` (an exponential rate).

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    s = np.asarray(scales, dtype=float)
    v = np.asarray(values, dtype=float)
    if np.any(v <= 0):
        raise ValueError("values must be positive (did the Fisher trace underflow? use float64)")
    return float(-np.polyfit(s, np.log(v), 1)[0])


@dataclass(frozen=True)
class RateBracket:
    """The decay rate of ``Tr F(alpha)`` read off a fit window, bracketing the unknown prefactor.

    Proposition 1 gives ``Tr F(alpha) = e^{-2 m alpha} P(alpha)`` with a prefactor ``P`` between
    a constant and ``alpha^2`` times a constant. ``low`` is the fitted slope of ``-log Tr F``
    (prefactor taken as constant), ``high`` the slope of ``-log(Tr F / alpha^2)`` (prefactor
    ``alpha^2``); the true asymptotic rate lies between them up to the faster exponentials of
    the other margins, which ``slack`` (relative) absorbs. :meth:`contains` is the check: the
    width of the bracket is the tolerance, the same for the closed form and for any wrong one.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """

    low: float
    high: float
    slack: float = 0.02

    def contains(self, rate: float) -> bool:
        return self.low * (1 - self.slack) <= rate <= self.high * (1 + self.slack)

    def describe(self, rate: float) -> str:
        """Where ``rate`` lies relative to the bracket, in per cent of the nearer edge."""
        if self.contains(rate):
            return "inside"
        edge = self.low if rate < self.low else self.high
        return f"outside by {abs(rate / edge - 1):.0%}"


def decay_rate_bracket(scales, values, slack: float = 0.02) -> RateBracket:
    """:class:`RateBracket` of ``values`` (a Fisher trace) along ``scales`` (``alpha``).

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    s = np.asarray(scales, dtype=float)
    v = np.asarray(values, dtype=float)
    return RateBracket(fitted_decay_rate(s, v), fitted_decay_rate(s, v / s**2), slack)


def check_decay_rate(answer: float, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Exercise self-check: the asymptotic decay rate ``2 * min margin`` of ``Tr F(alpha)``.

    Introduced in: 02 · Proposition 1: saturation under weight growth
    """
    m = margins(model, x, y)
    truth = 2 * float(m[torch.isfinite(m)].min())
    ok = bool(math.isclose(float(answer), truth, rel_tol=1e-6))
    if ok:
        print(f"correct: Tr F(alpha) ~ exp(-{truth:.4f} alpha)")
    else:
        print(f"not yet: got {float(answer):.6g}, expected {truth:.6g}. Hint: the slowest term "
              "dominates, and the Fisher trace is a *square* of 1 - p.")
    return ok
