import math

import pytest
import torch
from torch import nn

from qcl_helpers import circuits, metrics, models, readouts, reference


def _data(n=16, d=784, c=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


def test_weight_norm_is_mean_matrix_norm():
    m = models.MLP([3, 2, 1])
    with torch.no_grad():
        m[0].weight.fill_(1.0)  # norm sqrt(6)
        m[2].weight.fill_(2.0)  # norm 2*sqrt(2)
    assert metrics.weight_norm(m) == pytest.approx((6**0.5 + 2 * 2**0.5) / 2)
    with pytest.raises(ValueError, match="no weight matrices"):
        metrics.weight_norm(nn.Sequential())


def test_fisher_trace_vectorized_equals_loop():
    m = models.paper_mlp("permuted-mnist", 8)
    x, y = _data()
    vec = metrics.per_sample_sq_grad_norms(m, x, y)
    loop = []
    for xi, yi in zip(x, y):
        m.zero_grad()
        metrics.log_likelihood(m(xi[None]), yi[None]).sum().backward()
        loop.append(sum(p.grad.pow(2).sum() for p in m.parameters()))
    assert torch.allclose(vec, torch.stack(loop), rtol=1e-5)
    assert metrics.fisher_trace(m, x, y) == pytest.approx(float(torch.stack(loop).mean()), rel=1e-5)


def test_fisher_trace_for_a_binary_qnn():
    q = models.paper_qnn("xxz", depth=1, n_qubits=4, precision="double", seed=0)
    x = circuits.amplitude_encode(torch.randn(6, 16, dtype=torch.float64), 4, dtype=torch.complex128)
    y = torch.randint(0, 2, (6,))
    vec = metrics.per_sample_sq_grad_norms(q, x, y)
    for i in range(6):
        (g,) = torch.autograd.grad(metrics.log_likelihood(q(x[i:i + 1]), y[i:i + 1]).sum(), q.theta)
        assert vec[i].item() == pytest.approx(g.pow(2).sum().item(), rel=1e-9)


def test_grad_norm_leaves_grads_alone_and_log_likelihood():
    m = models.paper_mlp("permuted-mnist", 8)
    x, y = _data()
    assert metrics.grad_norm(m, x, y) > 0
    assert all(p.grad is None for p in m.parameters())
    z = torch.tensor([[0.0], [100.0]])
    ll = metrics.log_likelihood(z, torch.tensor([1, 1]))
    assert ll[0].item() == pytest.approx(-0.6931, abs=1e-4) and ll[1].item() == pytest.approx(0.0, abs=1e-6)


def test_dead_units_and_accuracy():
    m = models.MLP([4, 3, 2])
    with torch.no_grad():
        m[0].weight.zero_()
        m[0].bias.copy_(torch.tensor([-1.0, -1.0, 1.0]))  # two of three units never fire
        m[2].weight.zero_()
        m[2].bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.rand(5, 4)
    assert metrics.dead_unit_fraction(m, x) == pytest.approx(2 / 3)
    assert metrics.accuracy(m, x, torch.ones(5, dtype=torch.long)) == 1.0
    assert metrics.dead_unit_fraction(models.paper_qnn("xxz", depth=1, n_qubits=3), torch.zeros(1, 8)) == 0.0


def _released_brickwall_pairs(n, depth):
    """Wire pairs of the released mnist.py's main_even / main_odd arrays, in array order."""
    even = [(i, (i + 1) % n) for _ in range(depth) for i in range(0, n, 2)]
    odd = [(i, (i + 1) % n) for _ in range(depth) for i in range(1, n - 1, 2)]
    return even, odd


@pytest.mark.parametrize("n,depth", [(10, 4), (10, 10), (6, 3)])
def test_brickwall_param_groups_are_the_released_arrays(n, depth):
    layout = circuits.brickwall(n, depth)
    groups = dict(layout.param_groups)
    even, odd = _released_brickwall_pairs(n, depth)
    assert [layout.gates[g] for g in groups["main_even"]] == even  # shape (depth, n // 2, 15)
    assert [layout.gates[g] for g in groups["main_odd"]] == odd  # shape (depth, (n - 1) // 2, 15)
    assert sorted(groups["main_even"] + groups["main_odd"]) == list(range(layout.n_gates))
    assert [name for name, _ in circuits.ladder(4, 2).param_groups] == ["params"]


def test_qnn_weight_norm_is_mean_of_even_and_odd_array_norms():
    q = models.QNN(circuits.brickwall(4, 1), readouts.PauliZ(0), precision="double")  # (0,1),(2,3) | (1,2)
    with torch.no_grad():
        q.theta[:2] = 1.0  # main_even: 30 ones, norm sqrt(30)
        q.theta[2] = 2.0  # main_odd: 15 twos, norm sqrt(60)
    assert metrics.weight_norm(q) == pytest.approx((30**0.5 + 60**0.5) / 2, rel=1e-12)  # 6.611
    assert abs(metrics.weight_norm(q) - 90**0.5) > 2.0  # negative control: one-array norm 9.487
    lad = models.QNN(circuits.ladder(4, 2), readouts.PauliZ(0))  # one array: the plain Frobenius norm
    with torch.no_grad():
        lad.theta.fill_(0.5)
    assert metrics.weight_norm(lad) == pytest.approx(0.5 * (6 * 15) ** 0.5, rel=1e-6)


def test_qnn_grad_norm_splits_the_pennylane_gradient_into_released_arrays():
    layout = circuits.brickwall(4, 2)
    q = models.QNN(layout, readouts.BasisLogits(10), precision="double", seed=5)
    x = circuits.amplitude_encode(torch.randn(6, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1)),
                                  4, dtype=torch.complex128)
    y = torch.tensor([0, 1, 2, 3, 9, 5])
    theta = q.theta.detach().clone().requires_grad_(True)
    ref = reference.reference_qnode(layout, diff_method="backprop")
    (g,) = torch.autograd.grad(metrics.loss(readouts.BasisLogits(10)(torch.stack([ref(xi, theta) for xi in x])), y),
                               theta)
    even_pairs, odd_pairs = _released_brickwall_pairs(4, 2)
    even = torch.stack([g[i] for i, p in enumerate(layout.gates) if p in set(even_pairs)])
    odd = torch.stack([g[i] for i, p in enumerate(layout.gates) if p in set(odd_pairs)])
    want = (even.norm() + odd.norm()).item() / 2
    got = metrics.grad_norm(q, x, y)
    assert got == pytest.approx(want, rel=1e-9)
    assert abs(got / g.norm().item() - 1) > 0.1  # negative control: the single-array norm differs
    assert q.theta.grad is None


def test_mlp_grad_norm_averages_weights_and_biases_by_hand():
    m = models.MLP([1, 2])  # one Linear layer, zeroed: p = (1/2, 1/2) for every input
    with torch.no_grad():
        m[0].weight.zero_()
        m[0].bias.zero_()
    x, y = torch.tensor([[2.0], [2.0]]), torch.tensor([0, 0])
    # dL/dlogits = p - onehot = (-1/2, 1/2): dL/dW = (-1, 1)^T (norm sqrt 2), dL/db = (-1/2, 1/2) (norm sqrt 1/2)
    assert metrics.grad_norm(m, x, y) == pytest.approx((2**0.5 + 0.5**0.5) / 2, rel=1e-6)  # 1.0607
    assert abs(metrics.grad_norm(m, x, y) - 2**0.5) > 0.3  # weights only would be 1.414
    assert abs(metrics.grad_norm(m, x, y) - 2.5**0.5) > 0.3  # one global norm would be 1.581
    with torch.no_grad():
        m[0].bias.fill_(100.0)
        m[0].weight.fill_(1.0)
    assert metrics.weight_norm(m) == pytest.approx(2**0.5)  # biases do not count in the weight norm


def test_effective_rank_by_hand():
    assert metrics.effective_rank(torch.diag(torch.tensor([1.0, 1.0, 0.0]))) == pytest.approx(2.0, rel=1e-12)
    u, v = torch.randn(7, 1, dtype=torch.float64), torch.randn(1, 5, dtype=torch.float64)
    assert metrics.effective_rank(u @ v) == pytest.approx(1.0, abs=1e-6)  # rank one
    assert metrics.effective_rank(torch.eye(4)) == pytest.approx(4.0, rel=1e-12)
    # diag(3, 1): p = (3/4, 1/4), exp(H) = exp(-(3/4) ln(3/4) - (1/4) ln(1/4)) = 1.7548
    want = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    got = metrics.effective_rank(torch.diag(torch.tensor([3.0, 1.0])))
    assert got == pytest.approx(want, rel=1e-12) and want == pytest.approx(1.7548, abs=1e-4)
    # plausible wrong definitions fail: the matrix rank (2) and the entropy of s^2/sum s^2 (1.384)
    assert abs(got - 2.0) > 0.2
    assert abs(got - math.exp(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))) > 0.2
    assert metrics.effective_rank(torch.zeros(3, 4)) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        metrics.effective_rank(torch.ones(3))


def _silent_mlp():
    """MLP 3 -> 4 -> 2 -> 1 with constant hidden activations: layer 1 = (10, 10, 0.2, 0.05), layer 2 = (0, 1)."""
    m = models.MLP([3, 4, 2, 1])
    with torch.no_grad():
        for lin in (m[0], m[2], m[4]):
            lin.weight.zero_()
        m[0].bias.copy_(torch.tensor([10.0, 10.0, 0.2, 0.05]))
        m[2].bias.copy_(torch.tensor([-1.0, 1.0]))
    return m


def test_dormant_fraction_and_hidden_representations_by_hand():
    m = _silent_mlp()
    x = torch.rand(5, 3)
    reps = metrics.hidden_representations(m, x)
    assert [tuple(h.shape) for h in reps] == [(5, 4), (5, 2)]
    assert torch.equal(reps[1], torch.tensor([[0.0, 1.0]]).repeat(5, 1))
    # layer 1: mean 5.0625, scores (1.98, 1.98, 0.0395, 0.00988): one dormant; layer 2: scores (0, 2): one
    assert metrics.dormant_fraction(m, x) == pytest.approx(2 / 6)
    assert metrics.dormant_fraction(m, x, tau=0.05) == pytest.approx(3 / 6)
    # negative controls: dead units (exactly zero) are 1 of 6; an absolute threshold |h| <= 0.01 too
    assert metrics.dead_unit_fraction(m, x) == pytest.approx(1 / 6)
    assert sum(int((h.abs().mean(0) <= 0.01).sum()) for h in reps) == 1
    with pytest.raises(ValueError, match="no hidden layers"):
        metrics.dormant_fraction(models.MLP([3, 2]), x)
    with pytest.raises(ValueError, match="needs an MLP"):
        metrics.hidden_representations(models.paper_qnn("xxz", depth=1, n_qubits=3), torch.zeros(1, 8))


def _tiny_qnn_probe(n_samples, layout):
    q = models.QNN(layout, readouts.PauliZ(0, pair=True), precision="double", seed=2)
    g = torch.Generator().manual_seed(3)
    x = circuits.amplitude_encode(torch.randn(n_samples, layout.dim, dtype=torch.float64, generator=g),
                                  layout.n_qubits, dtype=torch.complex128)
    return q, x, torch.randint(0, 2, (n_samples,), generator=g)


@pytest.mark.parametrize("n_samples,layout", [(6, circuits.ladder(3, 1)), (20, circuits.ladder(2, 1))],
                         ids=["gram-N<P", "dense-N>P"])
def test_fisher_top_eigenvalues_match_dense_eigendecomposition(n_samples, layout):
    q, x, y = _tiny_qnn_probe(n_samples, layout)
    rows = []  # per-sample gradients by plain autograd, the full Fisher matrix densely
    for i in range(n_samples):
        (gi,) = torch.autograd.grad(metrics.log_likelihood(q(x[i:i + 1]), y[i:i + 1]).sum(), q.theta)
        rows.append(gi.reshape(-1))
    g = torch.stack(rows)
    dense = torch.linalg.eigvalsh(g.T @ g / n_samples).flip(0)
    top = metrics.fisher_top_eigenvalues(q, x, y, k=5)
    assert len(top) == 5
    assert torch.allclose(torch.tensor(top, dtype=torch.float64), dense[:5], rtol=1e-9, atol=1e-12)
    assert top[0] > 0 and top == sorted(top, reverse=True)
    assert abs(top[0] / float(torch.linalg.eigvalsh(g @ g.T)[-1]) - 1) > 0.5  # no 1/N: wrong by a factor N
    everything = metrics.fisher_top_eigenvalues(q, x, y, k=10_000)
    assert len(everything) == min(n_samples, layout.n_params)
    assert sum(everything) == pytest.approx(metrics.fisher_trace(q, x, y), rel=1e-9)  # Tr F
    with pytest.raises(ValueError, match="positive integer"):
        metrics.fisher_top_eigenvalues(q, x, y, k=0)


def test_diagnostics_dict_is_json_ready():
    import json

    m = _silent_mlp()
    x, y = torch.rand(5, 3), torch.randint(0, 2, (5,))
    d = metrics.diagnostics(m, x, y)
    assert set(d) == {"effective_rank", "dormant_fraction"}
    # layer 1: every row is (10, 10, 0.2, 0.05): rank one; layer 2: rows (0, 1): rank one
    assert d["effective_rank"] == pytest.approx([1.0, 1.0]) and d["dormant_fraction"] == pytest.approx(1 / 3)
    assert "fisher_top_eigenvalues" in metrics.diagnostics(m, x, y, fisher=True)
    q, xq, yq = _tiny_qnn_probe(6, circuits.ladder(3, 1))
    dq = metrics.diagnostics(q, xq, yq, k=3)
    assert set(dq) == {"fisher_top_eigenvalues"} and len(dq["fisher_top_eigenvalues"]) == 3
    json.dumps(d), json.dumps(dq)
