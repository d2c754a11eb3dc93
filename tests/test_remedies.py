"""Continual backprop (Dohare et al. 2024): which units it replaces, how, and that runs resume exactly."""
import copy
import math

import pytest
import torch

from qcl_helpers import continual, models
from qcl_helpers.remedies import ContinualBackprop


def _net_with_a_dead_unit():
    torch.manual_seed(0)
    net = models.MLP([3, 5, 2])
    with torch.no_grad():
        net[0].bias[0] = -100.0  # unit 0 never fires: zero activation, zero utility
    return net


_GEN = torch.Generator().manual_seed(5)
X, Y = torch.randn(32, 3, generator=_GEN), torch.randint(0, 2, (32,), generator=_GEN)


def _train_steps(net, cbp, steps, opt=None):
    opt = opt or torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = X, Y
    replaced = 0
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        replaced += cbp.after_step(opt)
    return replaced, opt


def test_the_dead_unit_is_replaced_once_mature_and_outputs_do_not_jump():
    net = _net_with_a_dead_unit()
    cbp = ContinualBackprop(net, replacement_rate=0.1, maturity=3, seed=1)
    # 5 units become mature after step 4 (age > 3): 0.5 per step pending -> one replacement at step 5
    replaced, opt = _train_steps(net, cbp, 4)
    assert replaced == 0 and cbp.replaced == [0]
    x = torch.randn(16, 3)
    before_w = net[0].weight[0].clone()
    with torch.no_grad():
        out_before = net(x)
    # the step itself changes the weights; compare against a copy that takes the same step without CBP
    twin = models.MLP([3, 5, 2])
    twin.load_state_dict(net.state_dict())
    twin_opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))  # (a shallow copy would share moments)
    replaced, _ = _train_steps(net, cbp, 1, opt)
    assert replaced == 1 and cbp.replaced == [1]
    assert not torch.equal(net[0].weight[0], before_w)  # fresh incoming weights ...
    limit = math.sqrt(6 / (3 + 5))
    assert net[0].weight[0].abs().max() <= limit and net[0].bias[0] == 0  # ... from the initial distribution
    assert torch.all(net[2].weight[:, 0] == 0)  # zero outgoing weights
    assert cbp.age[0][0] == 0 and cbp.util[0][0] == 0
    assert opt.state[net[0].weight]["exp_avg"][0].abs().sum() == 0  # Adam's moments reset
    # the dead unit contributed nothing, so the network computes what its twin (no CBP) computes
    _train_steps(twin, ContinualBackprop(twin, 0.5, 10**6), 1, twin_opt)
    with torch.no_grad():
        assert torch.allclose(net(x), twin(x), atol=1e-6)
        assert not torch.allclose(out_before, net(x), atol=1e-9)  # (the step did change the network)


def test_least_useful_mature_unit_goes_first():
    torch.manual_seed(1)
    net = models.MLP([3, 4, 2])
    with torch.no_grad():
        net[2].weight[:, 2] = 1e-6  # unit 2's outgoing weights are tiny: least contribution
    cbp = ContinualBackprop(net, replacement_rate=0.25, maturity=1, seed=0)
    replaced, _ = _train_steps(net, cbp, 2)
    assert replaced == 1 and torch.all(net[2].weight[:, 2] == 0)  # unit 2 was the one replaced


def test_bad_settings_and_models_are_refused():
    with pytest.raises(ValueError, match="0 < replacement_rate < 1"):
        ContinualBackprop(models.MLP([2, 3, 2]), replacement_rate=0)
    with pytest.raises(ValueError, match="needs an MLP"):
        ContinualBackprop(torch.nn.Linear(3, 2))


def test_a_run_with_continual_backprop_resumes_exactly(tmp_path):
    mk = lambda tasks: continual.make_config("split-cifar100", "mlp", profile="ci", data_source="standin",  # noqa: E731
                                             tasks=tasks, fim=False, continual_backprop=(0.05, 2))
    full = continual.run(mk(3), tmp_path / "full", progress=False)
    continual.run(mk(2), tmp_path / "part", progress=False)
    resumed = continual.run(mk(3), tmp_path / "part", progress=False)
    assert continual.same_results(full, resumed)
    assert full.rows[-1]["units_replaced"] > 0 and full.label == "MLP NW16 (CBP)"
