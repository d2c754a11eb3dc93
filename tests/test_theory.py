"""Unit tests for qcl_helpers.theory (Proposition 1 bounds, primer experiment)."""

import numpy as np
import pytest
import torch
from torch import nn

from qcl_helpers import metrics, models, theory


@pytest.fixture(scope="module")
def fitted():
    x, y = theory.synthetic_blobs(24, features=5, classes=3, seed=1)
    torch.manual_seed(1)
    net = models.MLP([5, 8, 3]).double()
    theory.fit(net, x, y)
    return net, x, y


def test_synthetic_blobs():
    x, y = theory.synthetic_blobs(12, features=4, classes=3)
    assert x.shape == (12, 4) and y.tolist() == [i % 3 for i in range(12)]


def test_fit_and_margins(fitted):
    net, x, y = fitted
    assert metrics.accuracy(net, x, y) == 1.0
    m = theory.margins(net, x, y)
    assert m.shape == (24, 3)
    assert bool((m[torch.isfinite(m)] > 0).all())
    assert int(torch.isinf(m).sum()) == 24


def test_scaling_copies(fitted):
    net, x, _ = fitted
    before = [p.detach().clone() for p in net.parameters()]
    scaled = theory.scale_output(net, 3.0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert torch.allclose(scaled(x), 3.0 * net(x))
    inp = theory.scale_input_layer(net, 2.0)
    assert torch.allclose(inp[0].weight, 2.0 * net[0].weight)


def test_output_saturation_sandwich(fitted):
    net, x, y = fitted
    alphas = [0.5, 1, 2, 4, 8]
    b = theory.output_saturation_bounds(net, x, y, alphas)
    f = theory.fisher_along(net, x, y, alphas)
    assert np.all(b.lower <= f * (1 + 1e-9)) and np.all(f <= b.upper * (1 + 1e-9))
    assert b.rate == pytest.approx(2 * b.min_margin)
    fb = theory.fisher_along(net, x, y, [20, 24, 28])
    assert theory.fitted_decay_rate([20, 24, 28], fb) == pytest.approx(b.rate, rel=0.1)


def test_saturation_bounds_need_positive_margins(fitted):
    net, x, y = fitted
    with pytest.raises(ValueError):
        theory.output_saturation_bounds(net, x, (y + 1) % 3, [1.0])


def test_hidden_saturation_bound_any_labels():
    x, y = theory.synthetic_blobs(20, features=4, classes=2, seed=2)
    torch.manual_seed(2)
    net = models.MLP([4, 6, 2], activation=nn.Tanh).double()
    betas = [1, 4, 16]
    bound, gamma = theory.hidden_saturation_bound(net, x, betas)
    for labels in (y, 1 - y):
        f = theory.fisher_along(net, x, labels, betas, which="input", only_first_layer=True)
        assert np.all(f <= bound * (1 + 1e-9))
    assert gamma > 0 and bound[-1] < bound[0]


def test_fitted_decay_rate_exact():
    s = np.array([1.0, 2.0, 3.0])
    assert theory.fitted_decay_rate(s, 5 * np.exp(-0.7 * s)) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        theory.fitted_decay_rate(s, [1.0, 0.0, 1.0])


def test_primer_runs_and_reset_control():
    cfg = theory.PrimerConfig(samples=32, features=4, width=8, classes=3, epochs=2, probe=16)
    r = theory.run_primer(3, cfg).as_arrays()
    assert set(r) == {"accuracy", "weight_norm", "grad_norm", "fisher", "dead"}
    assert all(len(v) == 3 for v in r.values())
    assert np.all((r["accuracy"] >= 0) & (r["accuracy"] <= 1))
    c = theory.run_primer(3, cfg, reset=True).as_arrays()
    assert not np.allclose(r["weight_norm"], c["weight_norm"])


def test_self_checks(fitted, capsys):
    net, x, y = fitted
    assert theory.check_fisher_trace(metrics.fisher_trace(net, x, y), net, x, y)
    assert not theory.check_fisher_trace(1.0 + metrics.fisher_trace(net, x, y), net, x, y)
    m = theory.margins(net, x, y)
    assert theory.check_decay_rate(2 * float(m[torch.isfinite(m)].min()), net, x, y)
    assert not theory.check_decay_rate(float(m[torch.isfinite(m)].min()), net, x, y)


def test_decay_rate_bracket_contains_the_rate_for_either_prefactor():
    s = np.linspace(2.0, 8.0, 7)
    for prefactor in (np.ones_like(s), s, s**2):
        b = theory.decay_rate_bracket(s, prefactor * np.exp(-3.0 * s), slack=0.0)
        assert b.low - 1e-9 <= 3.0 <= b.high + 1e-9
        assert b.contains(3.0 * (1 + 1e-12)) or b.contains(3.0)
    b = theory.decay_rate_bracket(s, s * np.exp(-3.0 * s))
    assert not b.contains(1.5) and not b.contains(6.0)  # m instead of 2m, and 4m
    assert b.describe(1.5).startswith("outside") and b.describe(3.0) == "inside"


def test_output_saturation_rate_is_bracketed_and_wrong_rates_are_not(fitted):
    net, x, y = fitted
    m = theory.output_saturation_bounds(net, x, y, [1.0]).min_margin
    tail = np.linspace(10, 40, 7) / m
    b = theory.decay_rate_bracket(tail, theory.fisher_along(net, x, y, tail))
    assert b.contains(2 * m)
    assert not b.contains(m)  # the rate of 1 - p, not of its square


def test_output_only_upper_bound_is_a_failing_control(fitted):
    net, x, y = fitted
    alphas = [0.5, 1, 2, 4, 8]
    b = theory.output_saturation_bounds(net, x, y, alphas)
    f = theory.fisher_along(net, x, y, alphas)
    assert np.all(b.upper_output_only <= b.upper)
    assert np.any(f > b.upper_output_only * (1 + 1e-9))  # the hidden layers carry gradient too
