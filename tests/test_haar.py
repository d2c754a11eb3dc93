"""Unit tests for qcl_helpers.haar (closed forms against Monte Carlo and finite differences)."""
import math

import numpy as np
import pytest
import torch

from qcl_helpers import circuits, haar, models, readouts


def test_effective_generators_are_the_derivative():
    rng = np.random.default_rng(3)
    theta = rng.normal(size=15)
    omega = haar.effective_generators(theta)
    u = circuits.su4_matrices(torch.tensor(theta)).numpy()
    eps = 1e-6
    for k in range(15):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += eps
        tm[k] -= eps
        du = (circuits.su4_matrices(torch.tensor(tp)).numpy()
              - circuits.su4_matrices(torch.tensor(tm)).numpy()) / (2 * eps)
        assert np.abs(du - (-1j) * omega[k] @ u).max() < 1e-8  # dU = -i Omega U
        assert np.abs(omega[k] - omega[k].conj().T).max() < 1e-12  # Hermitian
        assert abs(np.trace(omega[k])) < 1e-12  # traceless
        assert np.linalg.norm(omega[k], 2) <= 1 + 1e-12  # ||Omega_k|| <= ||P_k||


def test_generator_weight_closed_form():
    rng = np.random.default_rng(4)
    assert haar.generator_weight(np.zeros(15)) == pytest.approx(60.0)
    for theta in rng.normal(size=(5, 15)) * 2:
        omega = haar.effective_generators(theta)
        direct = sum(np.trace(o @ o).real for o in omega)
        assert haar.generator_weight(theta) == pytest.approx(direct, rel=1e-10)
        assert 12.0 - 1e-9 <= haar.generator_weight(theta) <= 60.0 + 1e-9
    batch = rng.normal(size=(3, 15))
    assert np.allclose(haar.generator_weight(batch), [haar.generator_weight(t) for t in batch])


def test_weingarten_exact_special_case():
    rng = np.random.default_rng(5)
    b, c, d = (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)) for _ in range(3))
    # a = identity: E tr(b U c U^dag d) = tr(c) tr(bd) / N
    assert haar.weingarten_trace4(np.eye(3), b, c, d) == pytest.approx(np.trace(c) * np.trace(b @ d) / 3)


def test_weingarten_against_monte_carlo():
    rng = np.random.default_rng(6)
    mats = []
    for _ in range(4):
        m = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
        mats.append(m + m.conj().T)
    exact = haar.weingarten_trace4(*mats)
    mean, se = haar.monte_carlo_trace4(*mats, samples=20000, seed=1)
    assert abs(mean - exact) < 5 * se * math.sqrt(2)


def test_haar_unitaries_shape_and_unitarity():
    u = haar.haar_unitaries(4, 3, seed=0)
    assert u.shape == (3, 4, 4)
    assert np.allclose(u @ np.conj(np.swapaxes(u, 1, 2)), np.eye(4))
    assert haar.haar_unitaries(4, 1).shape == (1, 4, 4)


def test_gradient_variance_values():
    # n = 2, theta = 0, O = Z_0: 2 * 4 * 1 * 60 / (5 * 15) = 6.4
    assert haar.gradient_variance(2, np.zeros(15)) == pytest.approx(6.4)
    # the identity part of O does not contribute
    assert haar.gradient_variance(3, np.zeros(15), obs_sq_trace=8 + 2 * 0 + 8, obs_trace=8) == \
        pytest.approx(haar.gradient_variance(3, np.zeros(15)))


@pytest.mark.parametrize("n", [2, 3])
def test_haar_gradient_monte_carlo(n):
    r = haar.haar_gradient_mc(n, 3000, seed=n)
    assert abs(r.z_score()) < 4.5


def test_brickwall_gradient_monte_carlo_small():
    r = haar.brickwall_gradient_mc(2, haar.brickwall_depth(2), 300, seed=0)
    assert abs(r.mean - r.prediction) < 4.5 * r.stderr + 0.05 * r.prediction


def test_fisher_bound_and_range():
    q = models.paper_qnn("xxz", depth=2, n_qubits=3, precision="double")
    x = circuits.amplitude_encode(torch.randn(8, 8, dtype=torch.float64), 3, dtype=torch.complex128)
    y = torch.randint(0, 2, (8,))
    values = haar.fisher_at_random_points(q, x, y, points=4)
    assert values.max() <= haar.fisher_trace_bound(q.layout.n_params, q.readout)
    lo, hi = haar.likelihood_range(q.readout)
    p = torch.sigmoid(q(x)).detach()
    assert lo <= float(p.min()) and float(p.max()) <= hi
    assert haar.likelihood_range(readouts.PauliZ(0, pair=True))[1] == pytest.approx(1 / (1 + math.exp(-2)))
    with pytest.raises(ValueError):
        haar.fisher_trace_bound(10, readouts.BasisLogits(10))
    # the split-CIFAR QNN: 10-qubit brickwall, <Z_9> pair readout, 15 angles per gate
    n = circuits.brickwall(10, 10).n_params
    assert haar.paper_fisher_bound("split-cifar100", 10) == pytest.approx(n * 4 * (2 / (1 + math.exp(-2))) ** 2)
    # control: the single-logit constant (sigma(1)), the plausible slip, is a different bound
    assert haar.paper_fisher_bound("split-cifar100", 10) != pytest.approx(n * 4 / (1 + math.exp(-1)) ** 2)


def test_check_projector_variance(capsys):
    d = 8
    truth = 2 * (1 - 1 / d) * (d / 4) * 60 / ((d + 1) * (d * d - 1))
    assert haar.check_projector_variance(truth, 3)
    assert not haar.check_projector_variance(truth * 1.1, 3)


def test_batched_z_expectation_matches_the_book_simulator():
    from qcl_helpers import sim

    layout = circuits.brickwall(3, 2)
    theta = 2 * math.pi * torch.rand(3, layout.n_gates, 15, dtype=torch.float64)
    z = haar.batched_z_expectation(theta, layout)
    psi0 = torch.zeros(1, 8, dtype=torch.complex128)
    psi0[0, 0] = 1
    for s in range(3):
        ref = sim.outputs(psi0, theta[s], layout, readouts.PauliZ(0)).reshape(())
        assert float(z[s]) == pytest.approx(float(ref), abs=1e-10)


def test_effective_generators_follow_the_gate_sign():
    # the book's gate is exp(-iH): dU = -i Omega U; the other sign (+i Omega U) must fail
    theta = np.random.default_rng(7).normal(size=15)
    omega = haar.effective_generators(theta)
    u = circuits.su4_matrices(torch.tensor(theta)).numpy()
    tp = theta.copy()
    tp[2] += 1e-6
    tm = theta.copy()
    tm[2] -= 1e-6
    du = (circuits.su4_matrices(torch.tensor(tp)).numpy()
          - circuits.su4_matrices(torch.tensor(tm)).numpy()) / 2e-6
    assert np.abs(du - (-1j) * omega[2] @ u).max() < 1e-8
    assert np.abs(du - 1j * omega[2] @ u).max() > 1e-2


def test_formula_check_accepts_truth_and_rejects_wrong():
    ok = haar.FormulaCheck("x", measured=1.02, scale=0.01, truth=1.0, wrong=1.2,
                           wrong_name="w", tol=4.5)
    assert ok.accepts_truth and ok.rejects_wrong and ok.verify() is ok
    blind = haar.FormulaCheck("x", 1.02, 0.1, 1.0, 1.2, "w", 4.5)  # too noisy to tell them apart
    with pytest.raises(AssertionError, match="cannot tell"):
        blind.verify()
    off = haar.FormulaCheck("x", 1.2, 0.01, 1.0, 1.2, "w", 4.5)  # measures the wrong formula
    with pytest.raises(AssertionError, match="closed form fails"):
        off.verify()


def test_mc_check_rejects_the_angle_blind_formula():
    r = haar.haar_gradient_mc(2, 2000, seed=3)
    theta = haar.random_gate_params(2000, 3.0, 3 + 2)  # the parameters haar_gradient_mc drew
    assert np.allclose(r.predicted, haar.gradient_variance(2, theta))
    check = haar.mc_check("n=2", r, haar.gradient_variance_angle_blind(2, theta), "S = 60")
    check.verify()
    # the d^3 shortcut differs by ~1/d: at n = 2 (d = 4) it is off by a third
    assert haar.gradient_variance_cubed_denominator(2, np.zeros(15)) == pytest.approx(6.4 * 75 / 64)


def test_haar_state_z_moments_against_sampling():
    mean, var = haar.haar_state_z_moments(3)
    assert mean == pytest.approx(1 / 9) and var == pytest.approx(3 / (9 * 11) - 1 / 81)
    psi = torch.randn(200_000, 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    psi = psi / torch.linalg.vector_norm(psi, dim=1, keepdim=True)
    z2 = readouts.PauliZ(0)(psi.abs() ** 2).reshape(-1) ** 2
    assert float(z2.mean()) == pytest.approx(mean, rel=0.01)
    assert float(z2.var()) == pytest.approx(var, rel=0.03)


def test_check_state_z_variance(capsys):
    n, samples = 6, 400_000
    mean, var = haar.haar_state_z_moments(n)
    se = math.sqrt(var / samples)
    assert haar.check_state_z_variance(mean + se, n, samples)
    assert not haar.check_state_z_variance(1 / 2**n, n, samples)  # the wrong formula fails
    assert not haar.check_state_z_variance(mean, n, 20_000)  # too few samples to tell them apart
    assert "281," in capsys.readouterr().out
