"""The fast QNN features extractor of the Ant chapter equals the gate-by-gate reference simulation.

For PPO's minibatches ``rl.QNNFeatures`` does not simulate the encoded batch: it simulates the
``obs_dim`` basis states an observation can reach (27 of 512 amplitudes), for a ring layout in a
rotating qubit order (``rl._RingColumns``), and combines them linearly. These tests check its
features and its gradients against ``sim.reference_outputs`` on the amplitude-encoded
observations (the plain per-gate path), at the paper's architecture (9 qubits, 12 ring layers,
``tanh(5 p)``) and at other ring sizes, and show plausible wrong formulas (the transposed
circuit, ``U^T`` instead of ``U``; a forgotten final rotation) failing at the same tolerance.

Tolerances: complex128 -- features 1e-12 absolute, gradients 1e-10 relative (measured ~5e-15 and
~4e-14 at the paper's size); complex64 against the complex128 reference -- features 1e-5 absolute,
gradients 1e-4 relative (measured ~1e-6 and ~1e-5). Features are ~0.1 in size, gradients ~10.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")

from gymnasium.spaces import Box  # noqa: E402

from qcl_helpers import rl, sim  # noqa: E402
from qcl_helpers.readouts import ProbFeatures  # noqa: E402

OBS = Box(-np.inf, np.inf, (27,), np.float64)
TOL = {"double": (1e-12, 1e-10), "single": (1e-5, 1e-4)}  # (features abs, gradient rel)


def _reference(x, theta, layout):
    """Features by the gate-by-gate reference path on the encoded observations (complex128)."""
    states = rl.encode_observations(x.double(), layout.n_qubits, torch.complex128)
    return sim.reference_outputs(states, theta.double(), layout, ProbFeatures(5.0))


def _transposed_circuit(x, theta, layout):
    """A plausible bug: amplitudes from the rows of U (U^T |x>) instead of its columns."""
    rows = sim.evolve(torch.eye(layout.dim, dtype=torch.complex128), theta.double(), layout)  # U|k>
    xn = x.double() / x.double().norm(dim=1, keepdim=True)
    amp = xn.to(torch.complex128) @ rows.transpose(0, 1)[: x.shape[1]]
    return torch.tanh(5 * (amp.real**2 + amp.imag**2))


def _data(batch, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(batch, 27, generator=gen, dtype=dtype),
            torch.randn(batch, 512, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("precision", ["double", "single"])
def test_features_and_gradients_equal_reference_at_paper_size(precision):
    fe = rl.QNNFeatures(OBS, n_qubits=9, depth=12, seed=0, precision=precision)
    dtype = torch.float64 if precision == "double" else torch.float32
    x, w = _data(128, dtype)  # PPO's minibatch size
    theta = fe.qnn.theta
    fast = fe(x)
    assert fast.shape == (128, 512) and fast.dtype == dtype
    g_fast, = torch.autograd.grad((fast.double() * w).sum(), theta)

    theta64 = theta.detach().double().requires_grad_(True)
    ref = _reference(x, theta64, fe.qnn.layout)
    g_ref, = torch.autograd.grad((ref * w).sum(), theta64)
    wrong = _transposed_circuit(x, theta64.detach(), fe.qnn.layout)

    f_tol, g_tol = TOL[precision]
    assert (fast.double() - ref).abs().max() < f_tol
    assert (g_fast.double() - g_ref).norm() / g_ref.norm() < g_tol
    assert (wrong - ref).abs().max() > 100 * f_tol  # the transposed circuit is caught
    # its gradient is caught too
    theta_w = theta64.detach().clone().requires_grad_(True)
    g_wrong, = torch.autograd.grad((_transposed_circuit(x, theta_w, fe.qnn.layout) * w).sum(), theta_w)
    assert (g_wrong - g_ref).norm() / g_ref.norm() > 100 * g_tol


def test_every_path_agrees_small_batches_cache_and_zero_observation():
    """Small grad batches (batch simulated), gradient-free calls (cached columns) and the
    all-zero observation (encoded as |0...0>) give the reference's numbers."""
    fe = rl.QNNFeatures(OBS, n_qubits=9, depth=3, seed=4, precision="double")
    x, w = _data(40, torch.float64, seed=5)
    x[7] = 0.0
    theta = fe.qnn.theta
    ref = _reference(x, theta.detach(), fe.qnn.layout)
    with torch.no_grad():
        cached = fe(x)
    assert (cached - ref).abs().max() < 1e-12
    small = fe(x[:5])  # fewer rows than the 27 columns: the batch itself is simulated
    assert (small.detach() - ref[:5]).abs().max() < 1e-12
    g_small, = torch.autograd.grad((small * w[:5]).sum(), theta)
    g_big, = torch.autograd.grad((fe(x)[:5] * w[:5]).sum(), theta)  # columns path, same rows
    assert (g_small - g_big).norm() / g_big.norm() < 1e-10
    with torch.no_grad():
        theta.add_(0.3)  # an optimizer step: the cache must follow
        moved = fe(x)
    assert (moved - _reference(x, theta.detach(), fe.qnn.layout)).abs().max() < 1e-12
    assert (moved - cached).abs().max() > 1e-3


def test_ppo_loss_gradient_equals_reference_extractor():
    """End to end through SB3's policy (float32 observations, complex64 circuit, as in training):
    the PPO terms (log-probabilities, values, entropy) and their gradients with respect to every
    parameter are those of the complex128 reference simulation, to the single-precision tolerance."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    act = Box(-1.0, 1.0, (8,), np.float32)
    torch.manual_seed(0)
    policy = ActorCriticPolicy(OBS, act, lambda _: 1e-3, net_arch=dict(pi=[], vf=[]),
                               features_extractor_class=rl.QNNFeatures,
                               features_extractor_kwargs=dict(n_qubits=9, depth=12, seed=2))
    fe = policy.features_extractor
    x, _ = _data(128, torch.float32, seed=6)
    actions = torch.rand(128, 8, generator=torch.Generator().manual_seed(7)) * 2 - 1

    def loss_and_grads():
        values, log_prob, entropy = policy.evaluate_actions(x, actions)
        loss = -log_prob.mean() + 0.5 * values.pow(2).mean() - 0.01 * entropy.mean()
        grads = torch.autograd.grad(loss, list(policy.parameters()))
        return loss.detach(), grads

    fast_loss, fast_grads = loss_and_grads()
    layout = fe.qnn.layout
    fe.forward = lambda obs: _reference(obs, fe.qnn.theta, layout).float()  # instance override
    ref_loss, ref_grads = loss_and_grads()
    f_tol, g_tol = TOL["single"]
    assert abs(float(fast_loss - ref_loss)) < f_tol
    names = [n for n, _ in policy.named_parameters()]
    assert "features_extractor.qnn.theta" in names  # the circuit's angles are among the checked
    for name, gf, gr in zip(names, fast_grads, ref_grads):
        assert (gf - gr).norm() <= g_tol * gr.norm(), name


@pytest.mark.parametrize("n_qubits,depth", [(9, 1), (9, 5), (5, 3), (4, 2), (3, 4), (6, 7)])
def test_ring_columns_equal_reference_at_other_sizes(n_qubits, depth):
    """The rotating-order ring simulation at other sizes (1 to 8 rotations, final offsets 1 to 5);
    a plausible slip (leaving the register in the rotated order at the end) fails the tolerance."""
    obs = Box(-np.inf, np.inf, (min(5, 2**n_qubits),), np.float64)
    fe = rl.QNNFeatures(obs, n_qubits=n_qubits, depth=depth, seed=depth, precision="double")
    assert fe._ring is not None
    gen = torch.Generator().manual_seed(n_qubits)
    x = torch.randn(40, obs.shape[0], generator=gen, dtype=torch.float64)
    w = torch.randn(40, 2**n_qubits, generator=gen, dtype=torch.float64)
    theta = fe.qnn.theta
    fast = fe(x)
    g_fast, = torch.autograd.grad((fast * w).sum(), theta)
    ref = _reference(x, theta, fe.qnn.layout)
    g_ref, = torch.autograd.grad((ref * w).sum(), theta)
    assert (fast - ref).abs().max() < 1e-12
    assert (g_fast - g_ref).norm() / g_ref.norm() < 1e-10
    steps, shift = fe._ring
    if shift:  # forget the final rotation back to the standard qubit order
        fe._ring = (steps, 0)
        with torch.no_grad():
            slip = fe._parts(fe.columns())
            fe._ring = (steps, shift)
            good = fe._parts(fe.columns())
        assert max(float((a - b).abs().max()) for a, b in zip(slip, good)) > 1e-3


def test_general_layout_path_equals_ring_path():
    """Without the ring plan (any other layout) the columns come from ``sim.evolve``: same numbers."""
    fe = rl.QNNFeatures(OBS, n_qubits=9, depth=4, seed=8, precision="double")
    x, w = _data(64, torch.float64, seed=9)
    theta = fe.qnn.theta
    ring_out = fe(x)
    g_ring, = torch.autograd.grad((ring_out * w).sum(), theta)
    fe._ring = None
    general = fe(x)
    g_general, = torch.autograd.grad((general * w).sum(), theta)
    assert (ring_out - general).abs().max() < 1e-12
    assert (g_ring - g_general).norm() / g_general.norm() < 1e-10
