"""The batched simulator and QNN module against PennyLane's reference circuits."""
import math

import pytest
import torch

from qcl_helpers import circuits, metrics, models, readouts, reference, sim


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("kind,n", [("brickwall", 4), ("ladder", 4), ("ring", 3), ("brickwall", 5)])
@pytest.mark.parametrize("precision,tol", [("single", 1e-5), ("double", 1e-10)])
def test_probabilities_match_default_qubit(kind, n, precision, tol):
    layout = circuits.make_layout(kind, n, 2)
    qnn = models.QNN(layout, readouts.ProbFeatures(), precision=precision, seed=0)
    real = torch.float64 if precision == "double" else torch.float32
    cplx = torch.complex128 if precision == "double" else torch.complex64
    x = circuits.amplitude_encode(torch.randn(3, layout.dim, dtype=real), n, dtype=cplx)
    ref = reference.reference_qnode(layout)
    theirs = torch.stack([ref(xi, qnn.theta.detach()) for xi in x])
    assert _rel(qnn.probabilities(x).detach(), theirs) < tol


def test_loss_and_gradient_match_default_qubit_in_double_precision():
    layout = circuits.brickwall(4, 2)
    qnn = models.QNN(layout, readouts.BasisLogits(10), precision="double", seed=3)
    x = circuits.amplitude_encode(torch.randn(4, 16, dtype=torch.float64), 4, dtype=torch.complex128)
    y = torch.tensor([0, 3, 7, 9])
    loss = metrics.loss(qnn(x), y)
    (g,) = torch.autograd.grad(loss, qnn.theta)

    theta = qnn.theta.detach().clone().requires_grad_(True)
    ref = reference.reference_qnode(layout, diff_method="backprop")
    logits = readouts.BasisLogits(10)(torch.stack([ref(xi, theta) for xi in x]))
    loss_ref = metrics.loss(logits, y)
    (g_ref,) = torch.autograd.grad(loss_ref, theta)
    assert abs(loss.item() - loss_ref.item()) / abs(loss_ref.item()) < 1e-10
    assert _rel(g, g_ref) < 1e-10


def test_gradient_matches_lightning_adjoint_on_one_sample():
    layout = circuits.ladder(4, 2)
    qnn = models.QNN(layout, readouts.PauliZ(1), precision="double", seed=4)
    x = circuits.amplitude_encode(torch.randn(16, dtype=torch.complex128), 4, dtype=torch.complex128)
    (g,) = torch.autograd.grad(qnn(x.unsqueeze(0)).sum(), qnn.theta)
    theta = qnn.theta.detach().clone().requires_grad_(True)
    f = reference.reference_qnode(layout, ("z", 1), device="lightning.qubit", diff_method="adjoint")
    (g_ref,) = torch.autograd.grad(f(x, theta), theta)
    assert _rel(g, g_ref) < 1e-6


def test_non_adjacent_gate_matches_kron_construction():
    n = 3
    gate = circuits.su4_matrices(torch.rand(15, dtype=torch.float64))
    psi = circuits.amplitude_encode(torch.randn(2, 8, dtype=torch.complex128), n, dtype=torch.complex128)
    out = sim.apply_two_qubit(psi, gate, 2, 0, n)
    # gate on (2, 0): permute qubits so that the pair becomes (0, 1), apply kron, permute back
    full = torch.kron(gate, torch.eye(2, dtype=gate.dtype)).reshape([2] * 6)  # acts on (q2, q0, q1)
    t = psi.reshape(2, 2, 2, 2).permute(0, 3, 1, 2)  # (batch, q2, q0, q1)
    ref = torch.einsum("abcdef,zdef->zabc", full, t).permute(0, 2, 3, 1).reshape(2, 8)
    assert torch.allclose(out, ref, atol=1e-12)


def test_readouts():
    probs = torch.zeros(2, 16, dtype=torch.float64)
    probs[0, 0] = 1.0  # |0000>
    probs[1, 0b0101] = 1.0  # |0101>: qubit 1 and 3 are 1
    z1 = readouts.PauliZ(1)(probs)
    assert z1.shape == (2, 1) and z1[:, 0].tolist() == [1.0, -1.0]
    assert readouts.PauliZ(0, pair=True)(probs).tolist() == [[1.0, -1.0], [1.0, -1.0]]
    logits = readouts.BasisLogits(10)(probs)
    assert logits.shape == (2, 10)
    assert logits[0, 0] == pytest.approx(math.log((1 - 1e-7) / 1e-7))
    assert readouts.ProbFeatures(5.0)(probs).max() == pytest.approx(math.tanh(5.0))
    with pytest.raises(ValueError, match="does not exist on 4 qubits"):
        readouts.PauliZ(4)(probs)


def test_qnn_rejects_wrong_state_size():
    qnn = models.paper_qnn("permuted-mnist", depth=1)
    with pytest.raises(ValueError, match=r"expected states of shape \(batch, 1024\).*amplitude_encode"):
        qnn(torch.rand(2, 784))
    with pytest.raises(ValueError, match="precision"):
        models.QNN(circuits.ladder(3, 1), readouts.PauliZ(0), precision="half")


def test_paper_models():
    q = models.paper_qnn("permuted-mnist")
    assert q.layout.kind == "brickwall" and q.layout.depth == 4 and q.theta.shape == (36, 15)
    assert 0 <= q.theta.min() and q.theta.max() < 2 * math.pi
    x = models.paper_qnn("xxz")
    assert x.layout.kind == "ladder" and x.theta.abs().max() <= 0.1
    ant = models.paper_qnn("ant")
    assert ant.layout.kind == "ring" and ant.n_outputs == 512
    assert models.paper_mlp("split-cifar100").sizes == [1024, 256, 256, 2]
    assert models.paper_mlp("xxz", 32).sizes == [2048, 32, 32, 1]
    with pytest.raises(ValueError, match="unknown experiment"):
        models.paper_qnn("mnist")
    with pytest.raises(ValueError, match="stable-baselines3"):
        models.paper_mlp("ant")
    with pytest.raises(ValueError, match="positive integers"):
        models.MLP([784, 0, 10])


def test_qnn_trains_one_step_and_is_seeded():
    a = models.paper_qnn("xxz", depth=1, n_qubits=4, seed=7)
    b = models.paper_qnn("xxz", depth=1, n_qubits=4, seed=7)
    assert torch.equal(a.theta, b.theta)
    x = circuits.amplitude_encode(torch.randn(8, 16), 4)
    y = torch.randint(0, 2, (8,))
    opt = torch.optim.Adam(a.parameters(), lr=0.05)
    before = metrics.loss(a(x), y).item()
    for _ in range(20):
        opt.zero_grad()
        metrics.loss(a(x), y).backward()
        opt.step()
    assert metrics.loss(a(x), y).item() < before


def _keras_expected_norms(sizes):
    """sqrt(E ||W||^2) per layer for Glorot-uniform weights: E ||W||^2 = fan_in fan_out limit^2 / 3."""
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        limit2 = 6.0 / (fan_in + fan_out)
        out.append(math.sqrt(fan_in * fan_out * limit2 / 3))
    return out


def _mean_layer_norms(init, seeds=40):
    sq = None
    wn = []
    for s in range(seeds):
        torch.manual_seed(s)
        m = models.paper_mlp("permuted-mnist") if init == "paper" else models.MLP([784, 16, 10], init=init)
        norms = torch.stack([lin.weight.detach().norm() for lin in m if isinstance(lin, torch.nn.Linear)])
        sq = norms**2 if sq is None else sq + norms**2
        wn.append(metrics.weight_norm(m))
    return (sq / seeds).sqrt().tolist(), sum(wn) / seeds


def test_paper_mlp_has_keras_initial_weight_norm_and_zero_biases():
    expected = _keras_expected_norms([784, 16, 10])  # about [5.60, 3.51]
    per_layer, mean_norm = _mean_layer_norms("paper")
    for got, want in zip(per_layer, expected):
        assert got == pytest.approx(want, rel=0.03)
    assert mean_norm == pytest.approx(sum(expected) / 2, rel=0.03)  # what Figure 1e normalizes by
    torch.manual_seed(0)
    m = models.paper_mlp("permuted-mnist")
    assert m.init == "keras"
    assert all(float(lin.bias.detach().abs().max()) == 0.0 for lin in m if isinstance(lin, torch.nn.Linear))
    limit = math.sqrt(6 / (784 + 16))
    w_max = float(m[0].weight.detach().abs().max())
    assert 0.95 * limit < w_max <= limit
    # negative control: PyTorch's default init fails the same check (about half the norm)
    torch_layers, torch_mean = _mean_layer_norms("torch")
    assert all(abs(got / want - 1) > 0.3 for got, want in zip(torch_layers, expected))
    assert abs(torch_mean / (sum(expected) / 2) - 1) > 0.3
    with pytest.raises(ValueError, match="unknown MLP init 'xavier'"):
        models.MLP([4, 2], init="xavier")


def test_ant_qnn_angles_are_standard_normal_like_torchlayer():
    """TensorCircuit's TorchLayer without an initializer draws torch.randn: N(0, 1) angles."""
    q = models.paper_qnn("ant", seed=0)  # 12 ring layers on 9 qubits: 1620 angles
    th = q.theta.detach().double().reshape(-1)
    assert q.init == ("normal", 0.0, 1.0) and th.numel() == 1620
    # standard errors: mean 1/sqrt(1620) = 0.025, std 1/sqrt(2*1620) = 0.018
    assert abs(float(th.mean())) < 0.1
    assert abs(float(th.std()) - 1.0) < 0.07
    assert 0.45 < float((th < 0).double().mean()) < 0.55
    # negative control: the former U(0, 2 pi) draw fails each of the checks above
    u = models.paper_qnn("ant", seed=0, init=("uniform", 0.0, 2 * math.pi)).theta.detach().double()
    assert abs(float(u.mean())) > 1.0 and abs(float(u.std()) - 1.0) > 0.5 and float((u < 0).double().mean()) == 0.0
    # the other experiments keep the released uniform ranges
    assert models.paper_qnn("permuted-mnist").init == ("uniform", 0.0, 2 * math.pi)
    assert models.paper_qnn("xxz").init == ("uniform", -0.1, 0.1)


def test_init_spec_and_bad_init():
    layout = circuits.ladder(3, 2)
    g = torch.Generator().manual_seed(1)
    n = circuits.init_params(layout, init=("normal", 2.0, 0.5), generator=g, dtype=torch.float64)
    assert n.shape == (4, 15)
    legacy = circuits.init_params(layout, -0.1, 0.1, generator=torch.Generator().manual_seed(1))
    assert legacy.abs().max() <= 0.1
    assert circuits.init_spec((0, 1)) == ("uniform", 0.0, 1.0)
    for bad, msg in [(("gauss", 0, 1), "init must be"), (("uniform", 1, 0), "low < high"),
                     (("normal", 0, 0), "positive standard deviation"), ((1, 2, 3), "init must be")]:
        with pytest.raises(ValueError, match=msg):
            models.QNN(layout, readouts.PauliZ(0), init=bad)
