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
