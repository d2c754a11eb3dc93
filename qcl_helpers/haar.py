"""Haar averages for the Fisher/Haar chapter: closed forms (Weingarten calculus) and Monte Carlo.

The chapter proves a uniform bound on the gradients of a QNN built from SU(4) blocks and then
computes the *typical* size of those gradients when the circuit around a gate is Haar random
(a unitary 2-design). This module holds

* the effective generators ``Omega_k(theta)`` of an SU(4) gate, ``d/dtheta_k U = -i Omega_k U``,
  and the closed form of ``sum_k tr(Omega_k^2)`` from the eigenvalues of ``H(theta)``;
* the second-moment (Weingarten) formula for ``E tr(U A U^dag B U C U^dag D)``;
* the closed form of the Haar variance of a QNN gradient and its Monte Carlo estimates, with
  Haar-random unitaries from :data:`scipy.stats.unitary_group` and with deep random brickwall
  circuits (checked against :mod:`qcl_helpers.sim`).

Everything here is exact linear algebra on small matrices; sampling uses seeded generators so
that a notebook's asserts are reproducible.

Introduced in: 08 · Fisher information and Haar integration
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import circuits, readouts

_CHAPTER = "08 · Fisher information and Haar integration"


# --------------------------------------------------------------------------------------------
# The SU(4) gate and its effective generators
# --------------------------------------------------------------------------------------------

def su4_hamiltonian(theta) -> np.ndarray:
    """``H(theta) = sum_k theta_k P_k`` (4x4 Hermitian) for one gate's 15 parameters.

    Introduced in: 08 · Fisher information and Haar integration
    """
    theta = np.asarray(theta, dtype=float).reshape(-1)
    if theta.size != circuits.SU4_PARAMS:
        raise ValueError(f"an SU(4) gate has {circuits.SU4_PARAMS} parameters, got {theta.size}")
    return np.einsum("k,kij->ij", theta, circuits.pauli_generators())


def effective_generators(theta) -> np.ndarray:
    """The 15 effective generators ``Omega_k = int_0^1 e^{-isH} P_k e^{isH} ds``, shape ``(15, 4, 4)``.

    They satisfy ``dU/dtheta_k = -i Omega_k U`` for the book's gate ``U = exp(-iH(theta))``
    (:func:`qcl_helpers.circuits.su4_matrices`, the released code's sign); each is Hermitian,
    traceless, with operator norm at most ``||P_k|| = 1``. Computed in the eigenbasis of ``H``:
    ``(Omega_k)_{jl} = (P_k)_{jl} (e^{-i(l_j - l_l)} - 1) / (-i (l_j - l_l))``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    lam, vec = np.linalg.eigh(su4_hamiltonian(theta))
    delta = lam[:, None] - lam[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(np.abs(delta) < 1e-12, 1.0, (np.exp(-1j * delta) - 1) / (-1j * delta))
    p_eig = np.einsum("ai,kab,bj->kij", vec.conj(), circuits.pauli_generators(), vec)
    return np.einsum("ai,kij,bj->kab", vec, p_eig * phi, vec.conj())


def generator_weight(theta) -> np.ndarray:
    """``S(theta) = sum_k tr(Omega_k^2) = 4 sum_{j,l} sinc^2((l_j - l_l)/2) - 4`` (4x4 traces).

    The same for either sign of the exponent (it depends on the gaps of ``H`` only through
    ``sinc^2``, an even function).

    ``theta`` has shape ``(15,)`` or ``(..., 15)``; ``l_j`` are the eigenvalues of ``H(theta)``
    and ``sinc(x) = sin(x)/x``. It equals 60 at ``theta = 0`` and tends to 12 when all gaps of
    ``H`` are large. Derived from the Pauli twirl ``sum_P P X P = 4 tr(X) 1``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    theta = np.asarray(theta, dtype=float)
    herm = np.einsum("...k,kij->...ij", theta, circuits.pauli_generators())
    lam = np.linalg.eigvalsh(herm)
    delta = lam[..., :, None] - lam[..., None, :]
    return 4.0 * np.sinc(delta / (2 * np.pi)).__pow__(2).sum(axis=(-1, -2)) - 4.0


# --------------------------------------------------------------------------------------------
# Weingarten calculus: second moments of the Haar measure
# --------------------------------------------------------------------------------------------

def weingarten_trace4(a, b, c, d) -> complex:
    """Closed form of ``E_U tr(U a U^dag b U c U^dag d)`` over Haar-random ``U`` in U(N)::

        [tr a tr c tr(bd) + tr(ac) tr b tr d] / (N^2 - 1)
          - [tr(ac) tr(bd) + tr a tr b tr c tr d] / (N (N^2 - 1))

    the two-copy Weingarten formula (Collins & Sniady 2006).

    Introduced in: 08 · Fisher information and Haar integration
    """
    a, b, c, d = (np.asarray(m, dtype=complex) for m in (a, b, c, d))
    n = a.shape[0]
    if n < 2:
        raise ValueError("the formula needs dimension N >= 2")
    tr = np.trace
    first = (tr(a) * tr(c) * tr(b @ d) + tr(a @ c) * tr(b) * tr(d)) / (n * n - 1)
    second = (tr(a @ c) * tr(b @ d) + tr(a) * tr(b) * tr(c) * tr(d)) / (n * (n * n - 1))
    return complex(first - second)


def haar_unitaries(dim: int, samples: int, seed: int = 0) -> np.ndarray:
    """``samples`` Haar-random unitaries of size ``dim`` from :data:`scipy.stats.unitary_group`.

    Returns shape ``(samples, dim, dim)`` (also for ``samples == 1``).

    Introduced in: 08 · Fisher information and Haar integration
    """
    from scipy.stats import unitary_group

    u = unitary_group.rvs(dim, size=samples, random_state=np.random.default_rng(seed))
    return np.asarray(u).reshape(samples, dim, dim)


def monte_carlo_trace4(a, b, c, d, samples: int, seed: int = 0) -> tuple[complex, float]:
    """Monte Carlo estimate of ``E tr(U a U^dag b U c U^dag d)``: ``(mean, standard error)``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    a, b, c, d = (np.asarray(m, dtype=complex) for m in (a, b, c, d))
    u = haar_unitaries(a.shape[0], samples, seed)
    ud = np.conj(np.swapaxes(u, -1, -2))
    vals = np.einsum("sij,ji->s", u @ a @ ud @ b @ u @ c @ ud, d)
    return complex(vals.mean()), float(vals.std(ddof=1) / math.sqrt(samples))


# --------------------------------------------------------------------------------------------
# The gradient of a QNN around one gate: closed form
# --------------------------------------------------------------------------------------------

def gradient_variance(n_qubits: int, theta_gate, obs_sq_trace: float | None = None,
                      obs_trace: float = 0.0) -> np.ndarray:
    """Haar closed form of ``E ||grad_gate f||^2 = sum_k Var[d f / d theta_k]`` for one SU(4) gate.

    Setting: ``f = <psi| A^dag U_g^dag B^dag O B U_g A |psi>`` with ``A`` and ``B`` independent
    unitary 2-designs on ``n_qubits`` qubits (``d = 2**n``). Then ``E[df/dtheta_k] = 0`` and

        E ||grad_g f||^2 = 2 tr(O_0^2) (d/4) S(theta_g) / ((d+1)(d^2-1)),

    with ``O_0 = O - tr(O)/d`` and ``S`` from :func:`generator_weight`. ``obs_sq_trace`` is
    ``tr(O^2)`` (default ``d``: a Pauli observable such as ``Z_0``), ``obs_trace`` is ``tr(O)``.
    ``theta_gate`` may be ``(15,)`` or ``(batch, 15)``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    d = 2**int(n_qubits)
    tr_o2 = float(d if obs_sq_trace is None else obs_sq_trace)
    tr_o0_sq = tr_o2 - float(obs_trace) ** 2 / d
    return 2.0 * tr_o0_sq * (d / 4.0) * generator_weight(theta_gate) / ((d + 1) * (d * d - 1))


# --------------------------------------------------------------------------------------------
# Monte Carlo: exact Haar unitaries, and deep random brickwall circuits
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GradientSample:
    """Per-sample squared gradient norms of one gate and the closed-form prediction for each.

    Introduced in: 08 · Fisher information and Haar integration
    """

    n_qubits: int
    sq_norms: np.ndarray  # (samples,) measured ||grad_g <Z_0>||^2
    predicted: np.ndarray  # (samples,) closed form given each sample's theta_g

    @property
    def mean(self) -> float:
        return float(self.sq_norms.mean())

    @property
    def stderr(self) -> float:
        return float(self.sq_norms.std(ddof=1) / math.sqrt(len(self.sq_norms)))

    @property
    def prediction(self) -> float:
        return float(self.predicted.mean())

    def z_score(self) -> float:
        """``(measured - predicted) / standard error``."""
        return (self.mean - self.prediction) / self.stderr


def _apply_batched(psi: torch.Tensor, gates: torch.Tensor, a: int, b: int, n: int) -> torch.Tensor:
    """Apply per-sample 4x4 ``gates`` (shape ``(S, 4, 4)``) on wires ``(a, b)`` of ``psi`` ``(S, 2**n)``."""
    s = psi.shape[0]
    view = psi.reshape((s,) + (2,) * n).movedim((a + 1, b + 1), (-2, -1))
    shape = view.shape
    out = torch.einsum("sij,srj->sri", gates, view.reshape(s, -1, 4))
    return out.reshape(shape).movedim((-2, -1), (a + 1, b + 1)).reshape(s, -1)


def random_gate_params(samples: int, scale: float | None = None, seed: int = 0) -> np.ndarray:
    """Gate parameters for the Monte Carlo: ``U(0, 2 pi)^15`` (``scale=None``, as the paper's init)
    or ``r * u`` with ``u`` uniform on the unit sphere and ``r ~ U(0, scale)``, which sweeps
    ``S(theta)`` over its whole range ``(12, 60]``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    rng = np.random.default_rng(seed)
    if scale is None:
        return rng.uniform(0.0, 2 * np.pi, size=(samples, circuits.SU4_PARAMS))
    u = rng.normal(size=(samples, circuits.SU4_PARAMS))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return u * rng.uniform(0.0, scale, size=(samples, 1))


def haar_gradient_mc(n_qubits: int, samples: int, seed: int = 0, theta_scale: float | None = 3.0,
                     wires=(0, 1)) -> GradientSample:
    """``||grad_g <Z_0>||^2`` for ``f = <0| A^dag U_g^dag B^dag Z_0 B U_g A |0>`` with Haar ``A, B``.

    ``A`` and ``B`` come from :func:`haar_unitaries` (scipy), the gate ``U_g`` from
    :func:`qcl_helpers.circuits.su4_matrices` on ``wires``; the gradient is torch autograd
    through the matrix exponential (so it does not use the effective generators).

    Introduced in: 08 · Fisher information and Haar integration
    """
    circuits._check_sizes(n_qubits, 1)
    d = 2**n_qubits
    a_u = torch.from_numpy(haar_unitaries(d, samples, seed))
    b_u = torch.from_numpy(haar_unitaries(d, samples, seed + 1))
    theta_np = random_gate_params(samples, theta_scale, seed + 2)
    theta = torch.tensor(theta_np, dtype=torch.float64, requires_grad=True)
    psi = _apply_batched(a_u[:, :, 0], circuits.su4_matrices(theta), *wires, n_qubits)
    psi = torch.einsum("sij,sj->si", b_u, psi)
    z = readouts.PauliZ(0)(psi.real**2 + psi.imag**2).reshape(-1)
    (grad,) = torch.autograd.grad(z.sum(), theta)
    return GradientSample(n_qubits, grad.pow(2).sum(-1).numpy(), gradient_variance(n_qubits, theta_np))


def batched_z_expectation(theta: torch.Tensor, layout: circuits.Layout, wire: int = 0) -> torch.Tensor:
    """``<0...0| U(theta_s)^dag Z_wire U(theta_s) |0...0>`` for a batch of parameter sets ``theta_s``.

    ``theta`` has shape ``(samples, n_gates, 15)``: one *different* circuit per sample (the book's
    simulator :mod:`qcl_helpers.sim` batches input states for one circuit instead). Gates come
    from :func:`qcl_helpers.circuits.su4_matrices` and the layout's gate list, so the circuit is
    the same object; plain torch autograd gives per-sample gradients because samples do not
    interact. Checked against :func:`qcl_helpers.sim.outputs` in ``tests/test_haar.py``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    samples = theta.shape[0]
    gates = circuits.su4_matrices(theta)  # (samples, n_gates, 4, 4)
    psi = torch.zeros(samples, layout.dim, dtype=gates.dtype)
    psi[:, 0] = 1
    for g, (a, b) in enumerate(layout.gates):
        psi = _apply_batched(psi, gates[:, g], a, b, layout.n_qubits)
    return readouts.PauliZ(wire)(psi.real**2 + psi.imag**2).reshape(-1)


def brickwall_gradient_mc(n_qubits: int, depth: int, samples: int, seed: int = 0,
                          gate: int | None = None) -> GradientSample:
    """``||grad_g <Z_0>||^2`` of one gate in the middle of a random brickwall circuit.

    All parameters are ``U(0, 2 pi)`` (the paper's initialisation), the input is ``|0...0>``,
    the circuit is :func:`qcl_helpers.circuits.brickwall`, evaluated for all samples at once
    by :func:`batched_z_expectation`. ``gate`` defaults to the middle gate. A deep random
    circuit is an approximate 2-design on both sides of that gate, so the closed form
    :func:`gradient_variance` should match up to the design error.

    Introduced in: 08 · Fisher information and Haar integration
    """
    layout = circuits.brickwall(n_qubits, depth)
    g = layout.n_gates // 2 if gate is None else int(gate)
    gen = torch.Generator().manual_seed(seed)
    theta = 2 * math.pi * torch.rand((samples, layout.n_gates, circuits.SU4_PARAMS),
                                     generator=gen, dtype=torch.float64)
    theta.requires_grad_(True)
    (grad,) = torch.autograd.grad(batched_z_expectation(theta, layout).sum(), theta)
    theta_g = theta[:, g].detach().numpy()
    return GradientSample(n_qubits, grad[:, g].pow(2).sum(-1).numpy(), gradient_variance(n_qubits, theta_g))


def brickwall_depth(n_qubits: int) -> int:
    """Depth used for the "deep random brickwall" Monte Carlo: ``2 n + 8`` layers.

    Introduced in: 08 · Fisher information and Haar integration
    """
    return 2 * int(n_qubits) + 8


# --------------------------------------------------------------------------------------------
# The uniform bound of the theorem, and Tr F at random parameter points
# --------------------------------------------------------------------------------------------

def _sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def fisher_trace_bound(n_params: int, readout) -> float:
    """The theorem's uniform bound on ``||grad log p(y|x)||^2`` (hence on Tr F) for a ``<Z>`` readout.

    Every derivative of ``e = <Z_k>`` obeys ``|de/dtheta| <= (l_max - l_min) ||P|| = 2``. For one
    logit ``z = e`` (sigmoid) ``|d log p / d z| = 1 - sigma(+-z) <= sigma(1)``; for the pair
    ``(e, -e)`` (softmax) ``log p = log sigma(+-2e)`` and the factor is ``2 sigma(2)``. So

        Tr F <= n_params * 4 * sigma(1)^2      (PauliZ(k))
        Tr F <= n_params * 4 * (2 sigma(2))^2  (PauliZ(k, pair=True)).

    Introduced in: 08 · Fisher information and Haar integration
    """
    if not isinstance(readout, readouts.PauliZ):
        raise ValueError("the bound is stated for PauliZ readouts; BasisLogits has a clipping-"
                         "dependent constant (see the chapter's exercise)")
    factor = 2 * _sigmoid(2.0) if readout.pair else _sigmoid(1.0)
    return float(n_params) * 4.0 * factor**2


def paper_fisher_bound(experiment: str, depth: int) -> float:
    """:func:`fisher_trace_bound` for the paper's QNN of ``experiment`` at ``depth`` (its parameter
    count and readout), the ceiling a stored run's Fisher trace is checked against.

    Introduced in: 08 · Fisher information and Haar integration
    """
    from .models import paper_qnn

    qnn = paper_qnn(experiment, depth=depth)
    return fisher_trace_bound(qnn.theta.numel(), qnn.readout)


def likelihood_range(readout) -> tuple[float, float]:
    """The interval that ``p(y|x)`` of a ``<Z>`` readout can never leave: ``[sigma(-1), sigma(1)]``
    for one logit, ``[sigma(-2), sigma(2)]`` for the pair ``(e, -e)``.

    Introduced in: 08 · Fisher information and Haar integration
    """
    if not isinstance(readout, readouts.PauliZ):
        raise ValueError("likelihood_range is stated for PauliZ readouts")
    t = 2.0 if readout.pair else 1.0
    return _sigmoid(-t), _sigmoid(t)


def fisher_at_random_points(model, x: torch.Tensor, y: torch.Tensor, points: int,
                            low: float = 0.0, high: float = 2 * math.pi, seed: int = 0) -> np.ndarray:
    """Empirical Fisher trace (:func:`qcl_helpers.metrics.fisher_trace`) of a QNN at ``points``
    parameter vectors drawn from ``U(low, high)``; the model's own parameters are restored.

    Introduced in: 08 · Fisher information and Haar integration
    """
    from . import metrics

    gen = torch.Generator().manual_seed(seed)
    saved = model.theta.detach().clone()
    out = []
    try:
        for _ in range(points):
            with torch.no_grad():
                model.theta.copy_(circuits.init_params(model.layout, low, high, generator=gen,
                                                       dtype=model.theta.dtype))
            out.append(metrics.fisher_trace(model, x, y))
    finally:
        with torch.no_grad():
            model.theta.copy_(saved)
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# Checks that can fail: a closed form against a plausible wrong alternative
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FormulaCheck:
    """A measured value compared with a closed form *and* with a plausible wrong alternative.

    ``scale`` is the unit of the comparison (a standard error, or ``|truth|`` for a relative
    tolerance); a formula is accepted when ``|measured - value| / scale < tol``. The check is
    informative only when the true formula is accepted **and** the wrong one rejected at the
    same tolerance: :meth:`verify` raises ``AssertionError`` otherwise (naming which failed).

    Introduced in: 08 · Fisher information and Haar integration
    """

    name: str
    measured: float
    scale: float
    truth: float
    wrong: float
    wrong_name: str
    tol: float

    def deviation(self, value: float) -> float:
        """``|measured - value| / scale``."""
        return abs(self.measured - value) / self.scale

    @property
    def accepts_truth(self) -> bool:
        return self.deviation(self.truth) < self.tol

    @property
    def rejects_wrong(self) -> bool:
        return self.deviation(self.wrong) >= self.tol

    def line(self) -> str:
        """One printable line: both deviations against the tolerance."""
        return (f"{self.name}: closed form off by {self.deviation(self.truth):.3g}, "
                f"{self.wrong_name} off by {self.deviation(self.wrong):.3g} (tolerance {self.tol:g})")

    def verify(self) -> "FormulaCheck":
        """Raise ``AssertionError`` unless the truth passes and the wrong alternative fails."""
        if not self.accepts_truth:
            raise AssertionError(f"{self.line()}: the closed form fails the check")
        if not self.rejects_wrong:
            raise AssertionError(f"{self.line()}: the check cannot tell the closed form from "
                                 f"{self.wrong_name}; it would pass a wrong formula")
        return self


def mc_check(name: str, sample: "GradientSample", wrong: np.ndarray | float, wrong_name: str,
             tol: float = 4.5, design_error: float = 0.0) -> FormulaCheck:
    """:class:`FormulaCheck` of a Monte Carlo :class:`GradientSample` against its closed form.

    The unit is the standard error, widened by ``design_error`` times the prediction (the
    allowance for a circuit that is only an approximate 2-design): the tolerance
    ``tol * se + design_error * prediction`` becomes ``tol`` units. ``wrong`` is the wrong
    formula's per-sample prediction (or its mean).

    Introduced in: 08 · Fisher information and Haar integration
    """
    scale = sample.stderr + design_error * sample.prediction / tol
    return FormulaCheck(name, sample.mean, scale, sample.prediction, float(np.mean(wrong)),
                        wrong_name, tol)


def gradient_variance_cubed_denominator(n_qubits: int, theta_gate) -> np.ndarray:
    """A plausible *wrong* closed form: :func:`gradient_variance` with ``d^3`` in place of
    ``(d+1)(d^2-1)`` (the large-``d`` shortcut). Differs by a relative ``~1/d``, so it can be
    told apart only with enough samples at small ``n``; used as a negative control.

    Introduced in: 08 · Fisher information and Haar integration
    """
    d = 2**int(n_qubits)
    return gradient_variance(n_qubits, theta_gate) * (d + 1) * (d * d - 1) / d**3


def gradient_variance_angle_blind(n_qubits: int, theta_gate) -> np.ndarray:
    """A plausible *wrong* closed form: :func:`gradient_variance` as if the gate's angles did
    not matter (``S = 60``, its value at ``theta_g = 0``, for every sample); the negative
    control for the ``S(theta_g)`` dependence.

    Introduced in: 08 · Fisher information and Haar integration
    """
    theta = np.asarray(theta_gate, dtype=float)
    return gradient_variance(n_qubits, np.zeros_like(theta))


def haar_state_z_moments(n_qubits: int) -> tuple[float, float]:
    """``(E <Z_0>^2, Var <Z_0>^2)`` for a Haar-random ``n``-qubit state: ``1/(d+1)`` and
    ``3/((d+1)(d+3)) - 1/(d+1)^2`` (from ``E <Z>^4 = 3/((d+1)(d+3))``, the fourth-moment
    formula with the 3 double transpositions and 6 four-cycles of S_4 for a traceless
    ``Z`` with ``Z^2 = 1``).

    Introduced in: 03 · QNN ansätze
    """
    d = 2**int(n_qubits)
    mean = 1.0 / (d + 1)
    return mean, 3.0 / ((d + 1) * (d + 3)) - mean**2


def check_state_z_variance(estimate: float, n_qubits: int, samples: int,
                           tol: float = 3.0) -> bool:
    """Exercise self-check: is ``estimate`` (from ``samples`` Haar-random states) within ``tol``
    standard errors of ``Var <Z_0> = 1/(2^n + 1)``, with enough samples to rule out the plausible
    wrong answer ``1/2^n`` (the two must be at least ``2 tol`` standard errors apart, so that no
    estimate can pass for both)? Prints a verdict and returns ``True`` or ``False``.

    Introduced in: 03 · QNN ansätze
    """
    mean, var = haar_state_z_moments(n_qubits)
    wrong = 2.0**-int(n_qubits)
    se = math.sqrt(var / int(samples))
    resolution = (wrong - mean) / se  # how many standard errors separate the two answers
    if abs(float(estimate) - mean) >= tol * se:
        print(f"not yet: {float(estimate):.6g} is {abs(float(estimate) - mean) / se:.1f} standard "
              f"errors from the Haar value (se = {se:.2g} for {samples:,} samples). Hint: "
              "normalize each state, then take the variance of <Z_0> over the states.")
        return False
    if resolution < 2 * tol:
        needed = math.ceil(samples * (2 * tol / resolution) ** 2)
        print(f"consistent with 1/(2^n+1) = {mean:.6g}, but {samples:,} samples cannot tell it from "
              f"1/2^n = {wrong:.6g}: it takes about {needed:,} samples.")
        return False
    print(f"correct: {float(estimate):.6g} agrees with 1/(2^n+1) = {mean:.6g}; with {samples:,} "
          f"samples 1/2^n = {wrong:.6g} lies {resolution:.1f} standard errors away.")
    return True


# --------------------------------------------------------------------------------------------
# Self-checks for the exercises
# --------------------------------------------------------------------------------------------

def check_projector_variance(answer: float, n_qubits: int) -> bool:
    """Exercise self-check: the Haar value of ``E ||grad_g p_0||^2`` at ``theta_g = 0`` for the
    projector ``O = |0...0><0...0|``, on ``n_qubits`` qubits. Prints a verdict, returns ``True``
    when ``answer`` is within 1e-9 (relative) of the closed form.

    Introduced in: 08 · Fisher information and Haar integration
    """
    d = 2**int(n_qubits)
    truth = float(gradient_variance(n_qubits, np.zeros(15), obs_sq_trace=1.0, obs_trace=1.0))
    ok = bool(np.isclose(float(answer), truth, rtol=1e-9, atol=0))
    if ok:
        print(f"correct: E||grad p_0||^2 = {truth:.6g} for d = {d}")
    else:
        print(f"not yet: got {float(answer):.6g}. Hint: the traceless part of a rank-one projector "
              f"has tr(O_0^2) = 1 - 1/d; S(0) = 60.")
    return ok
