"""The fast simulation path (qcl_helpers.sim) against PennyLane default.qubit, on the paper's workloads.

W1 permuted MNIST (brickwall 4, BasisLogits(10), softmax CE), W2 split CIFAR (brickwall 10,
PauliZ(9, pair), softmax CE), W3 XXZ (ladder 6, PauliZ(0), sigmoid BCE, complex input).
complex128: loss and gradient to 1e-10 relative; complex64: loss to 1e-5, gradient to 1e-4
relative L2 norm. Small batches keep the PennyLane reference (broadcast over the batch) fast.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qcl_helpers import circuits, metrics, sim
from qcl_helpers.models import QNN
from qcl_helpers.readouts import BasisLogits, PauliZ, ProbFeatures
from qcl_helpers.reference import reference_qnode

WORKLOADS = {
    "W1": dict(layout=("brickwall", 10, 4), readout=lambda: BasisLogits(10), loss="ce", classes=10, complex=False,
               init=(0.0, 2 * math.pi)),
    "W2": dict(layout=("brickwall", 10, 10), readout=lambda: PauliZ(9, pair=True), loss="ce", classes=2,
               complex=False, init=(0.0, 2 * math.pi)),
    "W3": dict(layout=("ladder", 10, 6), readout=lambda: PauliZ(0), loss="bce", classes=2, complex=True,
               init=(-0.1, 0.1)),
}


def _problem(wid, batch, seed=0):
    w = WORKLOADS[wid]
    layout = circuits.make_layout(*w["layout"])
    rng = np.random.default_rng(seed)
    x = rng.random((batch, layout.dim)) - 0.5
    if w["complex"]:
        x = x + 1j * (rng.random((batch, layout.dim)) - 0.5)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = torch.as_tensor(rng.integers(0, w["classes"], size=batch))
    gen = torch.Generator().manual_seed(seed)
    theta = circuits.init_params(layout, *w["init"], generator=gen, dtype=torch.float64)
    return layout, w["readout"](), torch.as_tensor(x), y, theta, w["loss"]


def _loss(out, y, kind):
    if kind == "ce":
        return torch.nn.functional.cross_entropy(out, y)
    return torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))


def _pennylane_loss_grad(layout, readout, x, y, theta, kind):
    """Loss and gradient from PennyLane default.qubit (complex128, torch backprop)."""
    th = theta.detach().clone().double().requires_grad_(True)
    if type(readout) is PauliZ:
        qnode = reference_qnode(layout, ("z", readout.wire), diff_method="backprop")
        e = qnode(x.to(torch.complex128), th).real
        out = torch.stack([e, -e], -1) if readout.pair else e.unsqueeze(-1)
    else:
        qnode = reference_qnode(layout, "probs", diff_method="backprop")
        out = readout(qnode(x.to(torch.complex128), th))
    loss = _loss(out, y, kind)
    (g,) = torch.autograd.grad(loss, th)
    return float(loss.detach()), g


def _fast_loss_grad(layout, readout, x, y, theta, kind, dtype):
    th = theta.detach().clone().to(dtype).requires_grad_(True)
    loss = _loss(sim.outputs(x, th, layout, readout), y, kind)
    (g,) = torch.autograd.grad(loss, th)
    return float(loss.detach()), g.double()


# batch 12 > 10 classes exercises W1's backward-evolution shortcut; batch 6 its full-state route
CASES = [("W1", 12), ("W1", 6), ("W2", 6), ("W3", 6)]
_REF_CACHE: dict = {}


def _reference(wid, batch):
    if (wid, batch) not in _REF_CACHE:
        layout, readout, x, y, theta, kind = _problem(wid, batch)
        _REF_CACHE[(wid, batch)] = _pennylane_loss_grad(layout, readout, x, y, theta, kind)
    return _REF_CACHE[(wid, batch)]


@pytest.mark.parametrize("wid,batch", CASES)
def test_complex128_matches_pennylane(wid, batch):
    layout, readout, x, y, theta, kind = _problem(wid, batch)
    ref_loss, ref_grad = _reference(wid, batch)
    loss, grad = _fast_loss_grad(layout, readout, x, y, theta, kind, torch.float64)
    assert abs(loss - ref_loss) <= 1e-10 * abs(ref_loss)
    assert float((grad - ref_grad).norm() / ref_grad.norm()) <= 1e-10


@pytest.mark.parametrize("wid,batch", CASES)
def test_complex64_matches_pennylane(wid, batch):
    layout, readout, x, y, theta, kind = _problem(wid, batch)
    ref_loss, ref_grad = _reference(wid, batch)
    loss, grad = _fast_loss_grad(layout, readout, x.to(torch.complex64 if x.is_complex() else torch.float32),
                                 y, theta, kind, torch.float32)
    assert abs(loss - ref_loss) <= 1e-5 * abs(ref_loss)
    assert float((grad - ref_grad).norm() / ref_grad.norm()) <= 1e-4


def test_light_cone_and_fusion_plans():
    w2 = circuits.brickwall(10, 10)
    assert len(sim.light_cone(w2, [9])) == 70  # 20 of the 90 gates cancel in <Z_9>
    w3 = circuits.ladder(10, 6)
    assert len(sim.light_cone(w3, [0])) == 21  # 1 + 2 + ... + 6
    for layout in (w2, w3, circuits.ring(9, 3), circuits.brickwall(7, 3)):
        for batch in (1, 10, 128):
            plan = sim.fuse(layout, batch=batch)
            ids = sorted(g for blk in plan for g in blk.gates)
            assert ids == list(range(layout.n_gates))  # every gate exactly once
            for blk in plan:
                assert blk.general or blk.k <= 6


@pytest.mark.parametrize("layout", [circuits.ring(5, 2), circuits.brickwall(5, 3), circuits.ladder(4, 2)],
                         ids=["ring5", "brickwall5-odd", "ladder4"])
def test_evolve_and_other_readouts_match_pennylane(layout):
    """Non-neighbour gates (ring / odd brickwall closing gate) and the full-state route."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, layout.dim)) + 1j * rng.normal(size=(3, layout.dim))
    x = torch.as_tensor(x / np.linalg.norm(x, axis=1, keepdims=True))
    theta = circuits.init_params(layout, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ref = reference_qnode(layout, "probs")(x, theta).detach()
    probs = sim.probabilities(x, theta, layout)
    assert torch.allclose(probs, ref, atol=1e-12)
    psi = sim.evolve(x[0], theta, layout)  # single state, no batch axis
    assert psi.shape == (layout.dim,)
    assert torch.allclose(psi.abs() ** 2, ref[0], atol=1e-12)
    feats = sim.outputs(x, theta, layout, ProbFeatures(5.0))
    assert torch.allclose(feats, torch.tanh(5 * ref), atol=1e-12)
    for wire in range(layout.n_qubits):
        e_ref = reference_qnode(layout, ("z", wire))(x, theta).detach()
        e = sim.outputs(x, theta, layout, PauliZ(wire))[:, 0]
        assert torch.allclose(e, e_ref, atol=1e-12)


def test_fast_path_equals_per_gate_path_including_gradients():
    layout = circuits.brickwall(6, 3)
    rng = np.random.default_rng(3)
    xr = torch.as_tensor(rng.normal(size=(20, layout.dim)))
    xc = xr + 1j * torch.as_tensor(rng.normal(size=(20, layout.dim)))
    cases = [(x / x.norm(dim=1, keepdim=True), r) for x in (xr, xc)
             for r in (BasisLogits(10), PauliZ(2, pair=True), PauliZ(5), ProbFeatures())]
    for x, readout in cases:
        t1 = circuits.init_params(layout, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        t2 = t1.clone().requires_grad_(True)
        t1.requires_grad_(True)
        o1, o2 = sim.outputs(x, t1, layout, readout), sim.reference_outputs(x, t2, layout, readout)
        w = torch.randn(o1.shape, dtype=o1.dtype, generator=torch.Generator().manual_seed(5))
        (g1,) = torch.autograd.grad((o1 * w).sum(), t1)
        (g2,) = torch.autograd.grad((o2 * w).sum(), t2)
        assert torch.allclose(o1, o2, atol=1e-12), readout
        assert torch.allclose(g1, g2, atol=1e-11), readout


@pytest.mark.parametrize("wid", ["W1", "W2", "W3"])
def test_per_sample_grads_and_fisher_trace(wid):
    layout, readout, x, y, theta, kind = _problem(wid, 5, seed=7)
    def nll(out):  # per-sample -log p(y_b | x_b) for the first out.shape[0] samples
        yb = y[: out.shape[0]]
        if kind == "ce":
            return -out.log_softmax(-1)[torch.arange(out.shape[0]), yb]
        z = out.reshape(-1)
        return torch.nn.functional.binary_cross_entropy_with_logits(z, yb.to(z.dtype), reduction="none")

    g = sim.per_sample_grads(x, theta, layout, readout, nll)
    assert g.shape == (5, layout.n_gates, 15)
    # sample 0 against PennyLane, and the batch sum against autograd of the summed loss
    th = theta.clone().requires_grad_(True)
    qn = reference_qnode(layout, ("z", readout.wire) if type(readout) is PauliZ else "probs")
    res = qn(x[:1].to(torch.complex128), th)
    if type(readout) is PauliZ:
        e = res.real
        out = torch.stack([e, -e], -1) if readout.pair else e.unsqueeze(-1)
    else:
        out = readout(res)
    (g0,) = torch.autograd.grad(nll(out).sum(), th)
    assert float((g[0] - g0).norm() / g0.norm()) <= 1e-10
    th2 = theta.clone().requires_grad_(True)
    (gsum,) = torch.autograd.grad(nll(sim.outputs(x, th2, layout, readout)).sum(), th2)
    assert float((g.sum(0) - gsum).norm() / gsum.norm()) <= 1e-10
    qnn = QNN(layout, readout, precision="double")  # metrics.fisher_trace dispatches QNNs to per_sample_grads
    with torch.no_grad():
        qnn.theta.copy_(theta)
    fim = metrics.fisher_trace(qnn, x, y)
    assert fim == pytest.approx(float(g.reshape(5, -1).pow(2).sum(-1).mean()), rel=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    layout, readout, x, y, theta, kind = _problem("W2", 6)
    loss_cpu, g_cpu = _fast_loss_grad(layout, readout, x, y, theta, kind, torch.float64)
    th = theta.cuda().requires_grad_(True)
    loss = _loss(sim.outputs(x.cuda(), th, layout, readout), y.cuda(), kind)
    (g,) = torch.autograd.grad(loss, th)
    assert abs(float(loss) - loss_cpu) <= 1e-10 * abs(loss_cpu)
    assert float((g.cpu() - g_cpu).norm() / g_cpu.norm()) <= 1e-10


def test_bad_inputs_raise():
    layout = circuits.ladder(3, 1)
    theta = circuits.init_params(layout)
    with pytest.raises(ValueError, match="expected states of shape"):
        sim.outputs(torch.ones(2, 5), theta, layout, PauliZ(0))
    with pytest.raises(ValueError, match="does not exist"):
        sim.outputs(torch.ones(2, 8) / 8**0.5, theta, layout, PauliZ(3))


@pytest.mark.parametrize("scale", [6.3, 1e-9, 0.0])
def test_eigh_su4_matches_matrix_exp_including_degenerate_spectra(scale):
    from qcl_helpers.sim import su4_gates as _su4

    theta = torch.rand(12, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(8)) * scale
    theta[3] = 0.0
    theta[4] = 0.0
    theta[4, 14] = 0.3  # ZZ only: two doubly degenerate eigenvalues
    a, b = theta.clone().requires_grad_(True), theta.clone().requires_grad_(True)
    u1, u2 = _su4(a), circuits.su4_matrices(b)
    w = torch.randn(u1.shape, dtype=u1.dtype, generator=torch.Generator().manual_seed(9))
    (g1,) = torch.autograd.grad((u1 * w).real.sum(), a)
    (g2,) = torch.autograd.grad((u2 * w).real.sum(), b)
    assert torch.allclose(u1, u2, atol=1e-13)
    assert torch.allclose(g1, g2, atol=1e-12)


def test_repeated_backward_through_one_graph():
    """torch.autograd.functional.jacobian reuses the graph (retain_graph): the custom backward must allow it."""
    layout = circuits.brickwall(4, 2)
    x = circuits.amplitude_encode(torch.randn(3, 16, dtype=torch.float64), 4, dtype=torch.complex128)
    theta = circuits.init_params(layout, dtype=torch.float64)
    fast = torch.autograd.functional.jacobian(lambda t: sim.outputs(x, t, layout, PauliZ(0)).squeeze(-1), theta)
    ref = torch.autograd.functional.jacobian(lambda t: sim.reference_outputs(x, t, layout, PauliZ(0)).squeeze(-1), theta)
    assert torch.allclose(fast, ref, atol=1e-12)
