import json
import math

import numpy as np
import pytest
import torch

from qcl_helpers import circuits, haar, scaling
from qcl_helpers.reference import reference_qnode


def _reference(layout, theta):
    """z and dz/dtheta from the plain PennyLane reference (default.qubit, backprop)."""
    f = reference_qnode(layout, ("z", 0), device="default.qubit", diff_method="backprop")
    state = torch.zeros(layout.dim, dtype=torch.complex128)
    state[0] = 1
    t = theta.clone().requires_grad_(True)
    v = f(state, t)
    v.backward()
    return float(v.detach()), t.grad.numpy()


@pytest.mark.parametrize("kind", ["brickwall", "ladder", "ring"])
def test_lightning_adjoint_gradients_equal_the_reference(kind):
    layout = circuits.make_layout(kind, 4, 2)
    theta = circuits.init_params(layout, generator=torch.Generator().manual_seed(3),
                                 dtype=torch.float64)
    z_ref, g_ref = _reference(layout, theta)
    z, g = scaling.GateGradients(layout, "all", "lightning.qubit")(theta)
    assert abs(z - z_ref) < 1e-7
    assert np.abs(g - g_ref).max() < 1e-7
    # the same check rejects a gradient with the wrong sign of the generator coefficients
    assert np.abs(-g - g_ref).max() > 1e-2
    # differentiating one gate gives that gate's row
    g1 = scaling.middle_gate(layout)
    _, row = scaling.GateGradients(layout, (g1,), "lightning.qubit")(theta)
    assert np.abs(row[0] - g_ref[g1]).max() < 1e-7


def test_generator_coefficients_reproduce_the_gate_derivative():
    theta = torch.randn(3, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = scaling.generator_coefficients(theta)
    paulis = circuits.pauli_generators()
    u = circuits.su4_matrices(theta).numpy()
    eps = 1e-6
    for k in (0, 7, 14):
        step = torch.zeros_like(theta)
        step[:, k] = eps
        du = (circuits.su4_matrices(theta + step).numpy() - circuits.su4_matrices(theta - step).numpy()) / (2 * eps)
        omega = np.einsum("gj,jab->gab", c[:, k], paulis)
        assert np.abs(du - 1j * omega @ u).max() < 1e-7
        assert np.abs(du + 1j * omega @ u).max() > 1e-2  # the opposite sign is detected


def test_fit_exponent_recovers_known_laws():
    ns = np.arange(4, 16, 2)
    y = 3.0 * 2.0 ** (-ns)
    fit = scaling.fit_exponent(ns, y)
    assert abs(fit.slope + 1) < 1e-12 and abs(fit.intercept - math.log2(3)) < 1e-12
    y4 = 3.0 * 4.0 ** (-ns)
    assert abs(scaling.fit_exponent(ns, y4).slope + 2) < 1e-12
    noisy = y * (1 + 0.05 * np.random.default_rng(0).standard_normal(ns.size))
    f2 = scaling.fit_exponent(ns, noisy, 0.05 * y)
    assert f2.agrees(-1, 4 * f2.slope_se) and not f2.agrees(-2, 4 * f2.slope_se)
    with pytest.raises(ValueError, match="positive"):
        scaling.fit_exponent([4, 6], [1.0, 0.0])


def test_deep_circuit_matches_the_haar_closed_form_and_shallow_does_not():
    deep = scaling.measure("brickwall", 4, scaling.deep_depth(4), 60, seed=1)
    assert deep.depth == 16 and deep.draws == 60
    assert abs(deep.mean - deep.prediction) < 4.5 * deep.stderr + 0.05 * deep.prediction
    # every draw's prediction is the closed form at that draw's middle-gate angles
    layout = circuits.brickwall(4, 16)
    theta = circuits.init_params(layout, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert deep.predicted[0] == pytest.approx(float(haar.gradient_variance(4, theta[deep.gate].numpy())))
    shallow = scaling.measure("brickwall", 8, 2, 30, seed=2)
    assert shallow.mean - shallow.prediction > 4.5 * shallow.stderr + 0.05 * shallow.prediction


def test_model_fisher_trace_is_the_label_average():
    z, grad_sq = 0.7, 2.3
    s = 1 / (1 + math.exp(-z))
    by_label = s * (1 - s) ** 2 * grad_sq + (1 - s) * s**2 * grad_sq  # E_y (dlogp/dz)^2 ||grad z||^2
    assert scaling.model_fisher_trace(z, grad_sq) == pytest.approx(by_label, rel=1e-12)
    assert scaling.model_fisher_trace(z, grad_sq) != pytest.approx(s**2 * grad_sq, rel=1e-3)


def test_fisher_measurement_is_below_the_bound_and_near_the_estimate():
    d = scaling.measure("brickwall", 4, scaling.deep_depth(4), 3, seed=4, fisher=True)
    assert d.fisher.shape == (3,) and d.fisher.max() <= scaling.fisher_bound(d.n_gates)
    assert 0.5 < d.fisher.mean() / d.fisher_haar < 2.0


def test_bad_input_fails_with_one_line():
    with pytest.raises(ValueError, match="draws must be an integer"):
        scaling.measure("brickwall", 4, 2, 0)
    with pytest.raises(ValueError, match="unknown layout"):
        scaling.measure("zigzag", 4, 2, 3)
    with pytest.raises(ValueError, match="gates must be indices"):
        scaling.GateGradients(circuits.brickwall(4, 1), (99,))


def test_save_and_load_keep_rows_and_provenance(tmp_path):
    sz = scaling.ScalingSizes(layouts=("brickwall",), qubits=(4,), deep_qubits=(4,), draws=3,
                              fisher_qubits=(), onset_depths=(1,), onset_qubits=4)
    res = scaling.sweep(sz)
    path = scaling.save(res, tmp_path / "s.json", sz, "ci")
    rows, sizes, prov = scaling.load(path)
    assert sizes["draws"] == 3 and prov["profile"] == "ci" and "git_commit" in prov
    assert np.allclose(rows["deep"][0].gate_sq, res["deep"][0].gate_sq)
    doc = json.loads(path.read_text())
    del doc["provenance"]["git_commit"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="provenance lacks git_commit"):
        scaling.load(path)


def test_profile_sizes_grow_from_ci_to_paper():
    ci, quick, paper = (scaling.sizes(p) for p in ("ci", "quick", "paper"))
    assert max(ci.qubits) < max(quick.qubits) < max(paper.qubits) == 20
    assert ci.draws < quick.draws < paper.draws
    assert "paper profile: 400" in scaling.compare("quick", "draws")


def _synthetic(kind, ns, slope, rel_noise=0.02, draws=200):
    """Draws whose mean follows 2^(slope n) and whose predictions are the Haar closed form."""
    rng = np.random.default_rng(0)
    rows = []
    for n in ns:
        mean = 0.5 * 2.0 ** (slope * n)
        sq = mean * (1 + rel_noise * rng.standard_normal(draws) * math.sqrt(draws))
        pred = haar.gradient_variance(n, haar.random_gate_params(draws, None, seed=n))
        rows.append(scaling.Draws(kind, n, 2 * n + 8, 10 * n, 0, np.zeros(draws), np.abs(sq), pred))
    return rows


def test_law_checks_accept_the_right_law_and_reject_the_wrong_ones():
    ns = (4, 6, 8, 10, 12)
    deep = scaling.law_checks(_synthetic("brickwall", ns, -1.0))
    assert deep["agrees"] == {"2-design": True, "1/d^2": False, "no decay": False}
    flat = scaling.law_checks(_synthetic("brickwall", ns, 0.0))
    assert flat["agrees"] == {"2-design": False, "1/d^2": False, "no decay": True}
    steep = scaling.law_checks(_synthetic("brickwall", ns, -2.0))
    assert steep["agrees"]["1/d^2"] and not steep["agrees"]["2-design"]
    table = scaling.exponent_table({"deep": _synthetic("ladder", ns, -1.0), "shallow": []}, keys=("deep",))
    assert "ladder" in table and "2-design" in table.splitlines()[-1]


def test_load_stored_merges_files_and_names_the_fix_when_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m qcl_helpers.scaling"):
        scaling.load_stored(tmp_path)
    sz = scaling.ScalingSizes(layouts=("ladder",), qubits=(4,), deep_qubits=(4,), draws=2,
                              fisher_qubits=(), onset_depths=())
    for kind in ("brickwall", "ladder"):
        res = scaling.sweep(dataclasses_replace(sz, layouts=(kind,)))
        scaling.save(res, tmp_path / f"lightning-cpu-{kind}.json", sz, "ci")
    merged, meta = scaling.load_stored(tmp_path)
    assert {r.kind for r in merged["deep"]} == {"brickwall", "ladder"} and len(meta) == 2
    assert "n=4" in scaling.cost_line(merged["deep"])


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)
