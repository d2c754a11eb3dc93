import pytest
import torch
from torch import nn

from qcl_helpers import circuits, metrics, models


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
