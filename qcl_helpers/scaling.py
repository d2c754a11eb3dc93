"""Gradient variance and Fisher trace of random QNNs against the qubit count, measured with lightning.

The Fisher/Haar chapter predicts, in closed form (:func:`qcl_helpers.haar.gradient_variance`), how
large the gradient of one SU(4) gate is when the circuit around it is a unitary 2-design:
``E ||grad_g <Z_0>||^2 = d^2 S(theta_g) / (2 (d+1)(d^2-1)) ~ S / (2 d)``, ``d = 2^n``. This module
measures that quantity, and the Fisher trace of the whole circuit, for one circuit at a time on
many qubits -- the job PennyLane-lightning's adjoint method is built for (one forward and one
backward sweep give every derivative of one expectation value):

* :func:`measure` -- ``draws`` random parameter points ``theta ~ U(0, 2 pi)`` of a layout from
  :mod:`qcl_helpers.circuits`; per draw ``z = <0|U^dag Z_0 U|0>``, the squared gradient of one gate
  (the first gate of the middle layer, on wires (0, 1)) and, optionally, the Fisher trace;
* :func:`sweep` -- the same for every qubit count, layout and depth of a :class:`ScalingSizes`;
* :func:`fit_exponent` -- the slope of ``log2`` of a statistic against ``n`` (``-1`` for ``2^{-n}``);
* :func:`save` / :func:`load` -- stored results with provenance (``results/scaling/``).

The circuit is the book's: the gate list comes from :func:`qcl_helpers.circuits.pennylane_ops`
(recorded on a tape) and each ``qml.SpecialUnitary`` is handed to the device as PennyLane's own
adjoint decomposition does it -- the gate matrix, followed by 15 Pauli rotations at angle zero
whose derivatives are the gate's derivatives (:func:`generator_coefficients`). PennyLane builds
that decomposition with a torch Jacobian per gate (~15 ms each), which would dominate a 20-qubit
run; here the coefficients come for all gates at once from forward-mode derivatives of
:func:`qcl_helpers.circuits.su4_matrices`, whatever the sign convention of the gate.

Introduced in: 09 · Fisher trace and gradients at scale
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import circuits, devices, haar, sim

_CHAPTER = "09 · Fisher trace and gradients at scale"


# --------------------------------------------------------------------------------------------
# Sizes per profile
# --------------------------------------------------------------------------------------------

from .profiles import ScalingSizes  # noqa: E402,F401  (this chapter's profile section)


def sizes(profile=None) -> ScalingSizes:
    """The :class:`ScalingSizes` of a profile (a :class:`~qcl_helpers.profiles.Profile`, a name,
    or ``None`` for the active one). Uses ``profile.scaling`` once the profile has that section.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    from . import profiles

    return profiles.resolve(profile).scaling


def compare(profile, name: str) -> str:
    """``"draws: 200 (paper profile: 400)"`` for a field of :class:`ScalingSizes`.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    from . import profiles

    p = profiles.resolve(profile)
    mine, theirs = getattr(sizes(p), name), getattr(sizes("paper"), name)
    label = name.replace("_", " ")
    return f"{label}: {mine} (paper profile: {theirs})"


# --------------------------------------------------------------------------------------------
# One circuit, one draw: lightning adjoint gradients
# --------------------------------------------------------------------------------------------

def deep_depth(n_qubits: int) -> int:
    """Depth of the "deep" circuits: ``2 n + 8`` layers, as in the Fisher/Haar chapter.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    return haar.brickwall_depth(n_qubits)


def middle_gate(layout: circuits.Layout) -> int:
    """Index of the gate whose gradient is measured: the first gate of layer ``depth // 2``.

    In all three layouts that gate acts on wires ``(0, 1)``, so it lies in the light cone of the
    ``Z_0`` readout at every depth; in a deep circuit it has ``depth / 2`` layers on either side.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    per_layer = layout.n_gates // layout.depth
    g = (layout.depth // 2) * per_layer
    if tuple(layout.gates[g]) != (0, 1):  # pragma: no cover - guards a change of the layouts
        raise ValueError(f"expected the first gate of a layer on wires (0, 1), got {layout.gates[g]}")
    return g


def generator_coefficients(theta: torch.Tensor) -> np.ndarray:
    """Real ``c[g, k, j]`` with ``dU_g / dtheta_{g,k} = i (sum_j c[g,k,j] P_j) U_g``.

    ``theta`` has shape ``(G, 15)``; ``U_g`` is :func:`qcl_helpers.circuits.su4_matrices`
    (whatever its sign convention) and ``P_j`` are :data:`qcl_helpers.circuits.PAULI_WORDS`.
    Computed by forward-mode differentiation of the batched matrix exponential: the effective
    generator ``Omega_k = -i (dU/dtheta_k) U^dag`` is Hermitian and traceless, so it is a real
    combination of the 15 Pauli words, ``c_kj = tr(Omega_k P_j) / 4``. A Pauli rotation
    ``exp(-i phi_j P_j / 2)`` after ``U_g`` then gives ``d/dtheta_k = sum_j (-2 c_kj) d/dphi_j``.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    theta = torch.as_tensor(theta, dtype=torch.float64)
    g = theta.shape[0]
    eye = torch.eye(circuits.SU4_PARAMS, dtype=torch.float64)

    def dir_deriv(tangent):
        return torch.func.jvp(circuits.su4_matrices, (theta,), (tangent.expand(g, -1),))[1]

    du = torch.func.vmap(dir_deriv)(eye)  # (15, G, 4, 4)
    u = circuits.su4_matrices(theta)  # (G, 4, 4)
    omega = -1j * du @ u.conj().transpose(-1, -2).unsqueeze(0)  # (15, G, 4, 4)
    paulis = torch.as_tensor(circuits.pauli_generators())
    coef = torch.einsum("kgab,jba->gkj", omega, paulis) / 4
    return coef.real.numpy()


class GateGradients:
    """``z = <0|U^dag Z_0 U|0>`` and its gradient with respect to chosen gates, on a PennyLane device.

    ``layout`` is a :class:`qcl_helpers.circuits.Layout`; ``gates`` the indices of the gates to
    differentiate (``"all"`` for every gate); ``device`` a PennyLane device name (default: the
    choice of :func:`qcl_helpers.devices.choose`, e.g. ``lightning.qubit``). Calling the object
    with angles ``theta`` (shape ``(G, 15)``) returns ``(z, grad)`` with ``grad`` of shape
    ``(len(gates), 15)`` from one adjoint sweep.

    Introduced in: 09 · Fisher trace and gradients at scale
    """

    def __init__(self, layout: circuits.Layout, gates="all", device: str | None = None,
                 wire: int = 0):
        import pennylane as qml

        self.layout = layout
        self.gates = tuple(range(layout.n_gates)) if gates == "all" else tuple(int(g) for g in gates)
        if not self.gates or min(self.gates) < 0 or max(self.gates) >= layout.n_gates:
            raise ValueError(f"gates must be indices in [0, {layout.n_gates}) of {layout}, got {gates!r}")
        self.device_name = device or devices.choose().qml_name
        dev = qml.device(self.device_name, wires=layout.n_qubits)
        row = {g: r for r, g in enumerate(self.gates)}
        words = circuits.PAULI_WORDS

        @qml.qnode(dev, interface="torch", diff_method="adjoint")
        def circuit(ops, mats, phi):
            for g, op in enumerate(ops):
                qml.QubitUnitary(mats[g], wires=op.wires)
                r = row.get(g)
                if r is not None:
                    for j, word in enumerate(words):
                        qml.PauliRot(phi[r, j], word, wires=op.wires)
            return qml.expval(qml.PauliZ(wire))

        self._circuit = circuit

    def reference_ops(self, theta) -> list:
        """The gates as :func:`qcl_helpers.circuits.pennylane_ops` queues them (on a tape)."""
        import pennylane as qml

        return qml.tape.make_qscript(circuits.pennylane_ops)(theta, self.layout).operations

    def __call__(self, theta) -> tuple:
        theta = torch.as_tensor(theta, dtype=torch.float64).detach()
        ops = self.reference_ops(theta.numpy())
        sel = list(self.gates)
        # The matrices of all gates in one batched call; the reference op of the first
        # differentiated gate must be the same matrix (guards against a sign-convention drift).
        mats = circuits.su4_matrices(theta).numpy()
        if not np.allclose(ops[sel[0]].matrix(), mats[sel[0]], atol=1e-10):
            raise RuntimeError("circuits.pennylane_ops and circuits.su4_matrices disagree on the "
                               "SU(4) gate; fix the sign convention in circuits.py")
        coef = generator_coefficients(theta[sel])  # (len(gates), 15, 15)
        phi = torch.zeros(len(sel), circuits.SU4_PARAMS, dtype=torch.float64, requires_grad=True)
        z = self._circuit(ops, mats, phi)
        z.backward()
        grad = -2.0 * np.einsum("gkj,gj->gk", coef, phi.grad.numpy())
        return float(z.detach()), grad


# --------------------------------------------------------------------------------------------
# Many draws
# --------------------------------------------------------------------------------------------

@dataclass
class Draws:
    """Per-draw measurements of one (layout, depth, n): see :func:`measure`.

    Introduced in: 09 · Fisher trace and gradients at scale
    """

    kind: str
    n_qubits: int
    depth: int
    n_gates: int
    gate: int
    z: np.ndarray  # (draws,) <Z_0>
    gate_sq: np.ndarray  # (draws,) ||grad_{theta_g} z||^2 of the middle gate
    predicted: np.ndarray  # (draws,) Haar closed form given each draw's theta_g
    fisher: np.ndarray | None = None  # (draws,) sigma(z) sigma(-z) ||grad z||^2, all gates
    fisher_haar: float | None = None  # the 2-design estimate of E Tr F (see fisher_haar_estimate)
    seconds: float = 0.0  # wall-clock seconds for all draws
    cpu_seconds: float = 0.0
    device: str = ""

    @property
    def draws(self) -> int:
        return len(self.gate_sq)

    @property
    def mean(self) -> float:
        """``E ||grad_g z||^2 = sum_k Var(dz/dtheta_{g,k})`` (the mean of dz/dtheta is 0)."""
        return float(self.gate_sq.mean())

    @property
    def stderr(self) -> float:
        return float(self.gate_sq.std(ddof=1) / math.sqrt(self.draws))

    @property
    def prediction(self) -> float:
        return float(self.predicted.mean())

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, np.ndarray):
                d[k] = v.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Draws":
        d = dict(d)
        for k in ("z", "gate_sq", "predicted", "fisher"):
            if d.get(k) is not None:
                d[k] = np.asarray(d[k], dtype=float)
        return cls(**d)


def model_fisher_trace(z: float, grad_sq: float) -> float:
    """Fisher trace of the one-logit readout ``p(1|x) = sigma(z)`` at one input:
    ``E_{y ~ p} ||grad log p(y|x)||^2 = sigma(z) sigma(-z) ||grad z||^2``.

    (``d log p(1)/dz = sigma(-z)``, ``d log p(0)/dz = -sigma(z)``; averaging the squares with
    weights ``sigma(z)``, ``sigma(-z)`` gives ``sigma(z) sigma(-z)``.) It never exceeds
    ``||grad z||^2 / 4 <= 15 G`` (every ``|dz/dtheta| <= 2``).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    s = 1.0 / (1.0 + math.exp(-z))
    return s * (1.0 - s) * grad_sq


def fisher_bound(n_gates: int) -> float:
    """The uniform bound ``15 G`` on :func:`model_fisher_trace` (``4 * 15 G / 4``).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    return 15.0 * n_gates


def fisher_haar_estimate(layout: circuits.Layout, theta: np.ndarray) -> float:
    """2-design estimate of ``E Tr F`` for :func:`model_fisher_trace` at ``|0...0>``.

    Derivation: ``Tr F = sigma(z) sigma(-z) sum_g ||grad_g z||^2``. In a deep random circuit
    ``z`` is ``O(2^{-n/2})``, so ``sigma(z) sigma(-z) = 1/4`` up to ``O(2^{-n})``; a gate outside
    the backward light cone of ``Z_0`` (:func:`qcl_helpers.sim.light_cone`) has zero gradient;
    a gate inside it, if the circuit on both sides were a 2-design, has
    ``E ||grad_g z||^2 = haar.gradient_variance(n, theta_g)``. Hence

        E Tr F  ~  (1/4) sum_{g in cone} E_theta gradient_variance(n, theta_g),

    averaged here over the draws ``theta`` (shape ``(draws, G, 15)``). Gates within a few layers
    of either end do not sit between two 2-designs, so this is an estimate of the scale (the
    factor ``2^{-n}`` times the number of gates), not an identity; the chapter compares exponents.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    cone = list(sim.light_cone(layout, [0]))
    theta = np.asarray(theta).reshape(-1, layout.n_gates, circuits.SU4_PARAMS)
    per_gate = haar.gradient_variance(layout.n_qubits, theta[:, cone].reshape(-1, 15))
    return 0.25 * len(cone) * float(np.mean(per_gate))


def measure(kind: str, n_qubits: int, depth: int, draws: int, *, seed: int = 0,
            fisher: bool = False, device: str | None = None) -> Draws:
    """``draws`` random parameter points of a layout, each simulated once with adjoint gradients.

    Angles ``U(0, 2 pi)`` (the paper's initialization; :func:`qcl_helpers.circuits.init_params`),
    input ``|0...0>``, readout ``z = <Z_0>``. With ``fisher=False`` only the middle gate
    (:func:`middle_gate`) is differentiated; with ``fisher=True`` every gate, which also gives
    :func:`model_fisher_trace`. ``device`` defaults to :func:`qcl_helpers.devices.choose`.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    for name, v in (("draws", draws), ("depth", depth)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2 - (name == "depth"):
            raise ValueError(f"{name} must be an integer >= {2 - (name == 'depth')}, got {v!r}")
    layout = circuits.make_layout(kind, n_qubits, depth)
    g = middle_gate(layout)
    runner = GateGradients(layout, "all" if fisher else (g,), device)
    gen = torch.Generator().manual_seed(int(seed))
    zs, sq, pred, fis, thetas = [], [], [], [], []
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(draws):
        theta = circuits.init_params(layout, generator=gen, dtype=torch.float64)
        z, grad = runner(theta)
        row = runner.gates.index(g)
        zs.append(z)
        sq.append(float(np.sum(grad[row] ** 2)))
        pred.append(float(haar.gradient_variance(n_qubits, theta[g].numpy())))
        if fisher:
            fis.append(model_fisher_trace(z, float(np.sum(grad**2))))
            thetas.append(theta.numpy())
    seconds, cpu = time.perf_counter() - w0, time.process_time() - c0
    return Draws(kind, n_qubits, depth, layout.n_gates, g, np.asarray(zs), np.asarray(sq),
                 np.asarray(pred), np.asarray(fis) if fisher else None,
                 fisher_haar_estimate(layout, np.stack(thetas)) if fisher else None,
                 seconds, cpu, runner.device_name)


def sweep(sz: ScalingSizes, *, device: str | None = None, progress=None) -> dict:
    """Every measurement of the chapter for one :class:`ScalingSizes`.

    Returns ``{"shallow": [Draws...], "deep": [...], "fisher_shallow": [...], "fisher_deep":
    [...], "onset": [...]}``; ``progress`` (e.g. ``print``) gets one line per measurement.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    out = {"shallow": [], "deep": [], "fisher_shallow": [], "fisher_deep": [], "onset": []}
    say = progress or (lambda *_: None)

    def run(key, kind, n, depth, draws, fisher):
        d = measure(kind, n, depth, draws, seed=sz.seed + 1000 * n + depth, fisher=fisher,
                    device=device)
        out[key].append(d)
        say(f"{key:15s} {kind:9s} n={n:2d} depth {depth:2d}: E||grad_g z||^2 {d.mean:.3e} "
            f"(2-design {d.prediction:.3e}) · {d.draws} draws in {d.seconds:.1f} s")

    for kind in sz.layouts:
        for n in sz.qubits:
            run("shallow", kind, n, sz.shallow_depth, sz.draws, False)
        for n in sz.deep_qubits:
            run("deep", kind, n, deep_depth(n), sz.draws, False)
        for n in sz.fisher_qubits:
            run("fisher_shallow", kind, n, sz.shallow_depth, sz.fisher_draws, True)
            run("fisher_deep", kind, n, deep_depth(n), sz.fisher_draws, True)
    for depth in sz.onset_depths:
        run("onset", "brickwall", sz.onset_qubits, depth, sz.draws, False)
    return out


def select(rows, kind: str) -> list:
    """The :class:`Draws` of one layout, sorted by qubit count, then depth.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    return sorted((r for r in rows if r.kind == kind), key=lambda r: (r.n_qubits, r.depth))


# --------------------------------------------------------------------------------------------
# Exponents
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    """``log2 y = intercept + slope * n``, with the slope's standard error.

    Introduced in: 09 · Fisher trace and gradients at scale
    """

    slope: float
    slope_se: float
    intercept: float

    def agrees(self, slope: float, tol: float) -> bool:
        """``|self.slope - slope| <= tol``."""
        return abs(self.slope - float(slope)) <= tol


def fit_exponent(ns, values, stderrs=None) -> Fit:
    """Weighted least-squares fit of ``log2(values)`` against ``ns``.

    ``stderrs`` (same shape as ``values``) weight each point by ``1 / se(log2 y)^2`` with
    ``se(log2 y) = stderr / (y ln 2)``; without them all points weigh the same and the slope's
    error comes from the residuals. A slope of ``-1`` means ``y ~ 2^{-n} = 1/d``.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    x = np.asarray(ns, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.size < 2 or np.any(y <= 0):
        raise ValueError("fit_exponent needs at least two positive values, one per qubit count")
    ly = np.log2(y)
    if stderrs is None:
        w = np.ones_like(x)
    else:
        se = np.maximum(np.asarray(stderrs, dtype=float) / (y * math.log(2)), 1e-12)
        w = 1.0 / se**2
    a = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(a.T @ (w[:, None] * a))
    coef = cov @ (a.T @ (w * ly))
    if stderrs is None and x.size > 2:
        resid = ly - a @ coef
        cov = cov * float(resid @ resid) / (x.size - 2)
    return Fit(float(coef[1]), float(math.sqrt(max(cov[1, 1], 0.0))), float(coef[0]))


def closed_form_fit(rows) -> Fit:
    """:func:`fit_exponent` of the Haar closed form (mean prediction per n) over the same rows.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    return fit_exponent([r.n_qubits for r in rows], [r.prediction for r in rows])


def measured_fit(rows) -> Fit:
    """:func:`fit_exponent` of the measured ``E ||grad_g z||^2`` (weighted by standard errors).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    return fit_exponent([r.n_qubits for r in rows], [r.mean for r in rows], [r.stderr for r in rows])


def law_checks(rows, *, k: float = 4.0, slack: float = 0.05, fisher: bool = False) -> dict:
    """Which scaling laws the measured exponent of ``rows`` (one layout and depth rule) agrees with.

    The tolerance is ``k * se(slope) + slack`` (``slack`` for the residual design error at finite
    depth). Laws: ``"2-design"`` -- the slope of the Haar closed form over the same qubit counts
    (of the 2-design Fisher estimate, per gate, with ``fisher=True``); ``"1/d^2"`` -- twice that
    slope; ``"no decay"`` -- slope 0. Returns ``{"fit", "law_slopes", "tol", "agrees"}``.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    ns = [r.n_qubits for r in rows]
    if fisher:
        fit = fit_exponent(ns, [r.fisher.mean() / r.n_gates for r in rows],
                           [r.fisher.std(ddof=1) / math.sqrt(r.draws) / r.n_gates for r in rows])
        law = fit_exponent(ns, [r.fisher_haar / r.n_gates for r in rows]).slope
    else:
        fit, law = measured_fit(rows), closed_form_fit(rows).slope
    laws = {"2-design": law, "1/d^2": 2 * law, "no decay": 0.0}
    tol = k * fit.slope_se + slack
    return {"fit": fit, "law_slopes": laws, "tol": tol,
            "agrees": {name: fit.agrees(s, tol) for name, s in laws.items()}}


def exponent_table(result: dict, keys=("deep", "shallow")) -> str:
    """One line per (circuit family, layout): fitted slope of ``log2 E||grad_g z||^2`` vs ``n``,
    the closed form's slope over the same ``n``, the tolerance, and which laws agree.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    lines = [f"{'circuits':8s} {'layout':9s} {'n':>7s} {'slope':>14s} {'2-design':>9s} {'tol':>5s}  agrees with"]
    for key in keys:
        for kind in sorted({r.kind for r in result[key]}):
            rows = select(result[key], kind)
            c = law_checks(rows)
            ok = ", ".join(name for name, a in c["agrees"].items() if a) or "none"
            span = f"{rows[0].n_qubits}-{rows[-1].n_qubits}"
            lines.append(f"{key:8s} {kind:9s} {span:>7s} {c['fit'].slope:+7.3f} ± {c['fit'].slope_se:.3f} "
                         f"{c['law_slopes']['2-design']:+9.3f} {c['tol']:5.3f}  {ok}")
    return "\n".join(lines)


def closed_form_mean(n_qubits: int, samples: int = 4000) -> float:
    """The Haar closed form averaged over the paper's initialization ``theta_g ~ U(0, 2 pi)^15``:
    ``E_theta haar.gradient_variance(n, theta)`` (a fixed seed, so the curve is reproducible).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    theta = haar.random_gate_params(samples, None, seed=12345)
    return float(np.mean(haar.gradient_variance(n_qubits, theta)))


_MARKERS = {"brickwall": "o", "ladder": "s", "ring": "^"}


def plot_gradients(result: dict, *, title: str = ""):
    """Measured ``E ||grad_g z||^2`` (±2 s.e.) against ``n`` on a log scale, deep and shallow
    circuits per layout, with the Haar closed form (line). Returns the figure.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    import matplotlib.pyplot as plt

    from . import plotting

    kinds = sorted({r.kind for r in result["deep"] + result["shallow"]})
    colors = dict(zip(kinds, plotting.family_colors(list(range(1, len(kinds) + 1)), "qnn")))
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for key, fill in (("deep", True), ("shallow", False)):
        for kind in kinds:
            rows = select(result[key], kind)
            if not rows:
                continue
            ns = np.array([r.n_qubits for r in rows]) + (0.08 if key == "deep" else -0.08)
            ax.errorbar(ns, [r.mean for r in rows], [2 * r.stderr for r in rows],
                        fmt=_MARKERS.get(kind, "o"), color=colors[kind], ms=5, capsize=2,
                        mfc=colors[kind] if fill else "white", label=f"{kind}, {key}")
    all_n = sorted({r.n_qubits for r in result["deep"] + result["shallow"]})
    dense = np.arange(min(all_n), max(all_n) + 1)
    ax.plot(dense, [closed_form_mean(n) for n in dense], "k-",
            lw=1, label="Haar closed form (2-design)")
    ax.set(yscale="log", xlabel="qubits n",
           ylabel=r"$\mathbb{E}\,\|\nabla_{\theta_g}\langle Z_0\rangle\|^2$",
           title=title or "gradient of the middle gate: shallow (open) vs deep (filled)")
    ax.legend(fontsize=8, ncol=2)
    return fig


def plot_onset(rows, *, title: str = ""):
    """Measured / closed form against depth at one ``n`` (the onset of the 2-design regime).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r.depth)
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    depths = [r.depth for r in rows]
    ratio = [r.mean / r.prediction for r in rows]
    err = [2 * r.stderr / r.prediction for r in rows]
    ax.errorbar(depths, ratio, err, fmt="o-", color="C0", capsize=2)
    ax.axhline(1.0, color="k", lw=1, ls="--", label="2-design value")
    ax.axvline(deep_depth(rows[0].n_qubits), color="0.5", ls=":", label="depth 2n+8")
    ax.set(xscale="log", yscale="log", xlabel="layers", ylabel="measured / closed form",
           title=title or f"onset of the 2-design regime, brickwall n={rows[0].n_qubits}")
    ax.legend(fontsize=8)
    return fig


def plot_fisher(result: dict, *, title: str = ""):
    """Fisher trace against ``n``: measured mean (markers) and maximum over draws (dashes), the
    2-design estimate for deep circuits (dotted) and the uniform bound ``15 G`` (dashed, first
    layout). Returns the figure.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    import matplotlib.pyplot as plt

    from . import plotting

    kinds = sorted({r.kind for r in result["fisher_deep"]})
    colors = dict(zip(kinds, plotting.family_colors(list(range(1, len(kinds) + 1)), "qnn")))
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for key, fill in (("fisher_deep", True), ("fisher_shallow", False)):
        family = key.split("_")[1]
        for kind in kinds:
            rows = select(result[key], kind)
            ns = [r.n_qubits for r in rows]
            ax.plot(ns, [r.fisher.mean() for r in rows], _MARKERS.get(kind, "o") + "-", color=colors[kind],
                    mfc=colors[kind] if fill else "white", label=f"{kind}, {family}")
            ax.plot(ns, [r.fisher.max() for r in rows], "_", ms=12, color=colors[kind])
            if fill:
                ax.plot(ns, [r.fisher_haar for r in rows], ":", color=colors[kind])
        rows = select(result[key], kinds[0])
        ax.plot([r.n_qubits for r in rows], [fisher_bound(r.n_gates) for r in rows], "k--" if fill else "k-.",
                lw=1, label=f"uniform bound 15G, {family}")
    ax.set(yscale="log", xlabel="qubits n", ylabel=r"$\mathrm{Tr}\,F$ at $|0\ldots0\rangle$",
           title=title or "Fisher trace (dashes: max over draws; dotted: 2-design estimate)")
    ax.legend(fontsize=8, ncol=2)
    return fig


def cost_line(rows) -> str:
    """Wall and CPU seconds per draw of the largest ``n`` in ``rows`` (one line).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    r = max(rows, key=lambda r: (r.n_qubits, r.n_gates))
    return (f"{r.kind} n={r.n_qubits}, {r.depth} layers ({r.n_gates} gates) on {r.device}: "
            f"{r.seconds / r.draws:.2f} s wall, {r.cpu_seconds / r.draws:.2f} s CPU per draw "
            f"({r.draws} draws)")


# --------------------------------------------------------------------------------------------
# Stored results
# --------------------------------------------------------------------------------------------

def save(result: dict, path, sz: ScalingSizes, profile_name: str, *, note: str = "") -> Path:
    """Write a :func:`sweep` result as JSON with provenance (:func:`qcl_helpers.results.provenance`).

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    from . import results

    rows = {k: [d.to_dict() for d in v] for k, v in result.items()}
    prov = results.provenance("cpu")
    prov.update(profile=profile_name, seed=sz.seed, note=note,
                qml_device=sorted({d.device for v in result.values() for d in v}))
    try:
        from importlib.metadata import version

        prov["versions"]["pennylane_lightning"] = version("pennylane_lightning")
    except Exception:  # pragma: no cover
        pass
    doc = {"sizes": dataclasses.asdict(sz), "provenance": prov, "rows": rows}
    path = Path(path)
    results.atomic_write(path, json.dumps(doc, indent=1) + "\n")
    return path


def load(path) -> tuple:
    """``(result, sizes dict, provenance)`` from a file written by :func:`save`; raises a one-line
    ``ValueError`` when a provenance field is missing.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    from . import results

    doc = json.loads(Path(path).read_text())
    prov = doc.get("provenance", {})
    missing = [f for f in results.PROVENANCE_FIELDS if f not in prov]
    if missing:
        raise ValueError(f"{path}: provenance lacks {', '.join(missing)}; regenerate it with "
                         "python -m qcl_helpers.scaling")
    rows = {k: [Draws.from_dict(d) for d in v] for k, v in doc["rows"].items()}
    return rows, doc["sizes"], prov


STORED = "scaling"


def load_stored(folder=None) -> tuple:
    """Every ``lightning-cpu-*.json`` under ``results/scaling/`` merged into one result, with the
    provenance of each file: ``(result, [(file name, sizes, provenance), ...])``. Raises a one-line
    ``FileNotFoundError`` when there is none.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    from . import results

    folder = Path(folder) if folder is not None else results.stored_path(STORED)
    files = sorted(folder.glob("lightning-cpu-*.json"))
    if not files:
        raise FileNotFoundError(f"no stored scaling results in {folder}; run python -m qcl_helpers.scaling "
                                "--profile paper --out results/scaling/lightning-cpu-<layout>.json")
    merged, meta = {}, []
    for f in files:
        rows, sz, prov = load(f)
        for k, v in rows.items():
            merged.setdefault(k, []).extend(v)
        meta.append((f.name, sz, prov))
    return merged, meta


def main(argv=None) -> None:
    """``python -m qcl_helpers.scaling --profile paper --out results/scaling/lightning-cpu.json``

    Flags ``--qubits``, ``--deep-qubits``, ``--fisher-qubits`` (comma lists) and ``--draws``
    override the profile's sizes; the file records the sizes actually used.

    Introduced in: 09 · Fisher trace and gradients at scale
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m qcl_helpers.scaling", description=main.__doc__)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default=None)
    ap.add_argument("--note", default="")
    for flag in ("qubits", "deep-qubits", "fisher-qubits", "layouts", "onset-depths"):
        ap.add_argument(f"--{flag}", default=None)
    for flag in ("draws", "fisher-draws", "onset-qubits"):
        ap.add_argument(f"--{flag}", type=int, default=None)
    args = ap.parse_args(argv)
    sz = sizes(args.profile)
    changes = {}
    for flag in ("qubits", "deep_qubits", "fisher_qubits", "onset_depths"):
        v = getattr(args, flag)
        if v is not None:
            changes[flag] = tuple(int(x) for x in v.split(",") if x)
    if args.layouts:
        changes["layouts"] = tuple(args.layouts.split(","))
    for flag in ("draws", "fisher_draws", "onset_qubits"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    sz = dataclasses.replace(sz, **changes)
    from . import profiles

    result = sweep(sz, device=args.device, progress=lambda s: print(s, flush=True))
    path = save(result, args.out, sz, profiles.resolve(args.profile).name, note=args.note)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
