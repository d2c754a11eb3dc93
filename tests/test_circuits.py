import math

import numpy as np
import pennylane as qml
import pytest
import torch

from qcl_helpers import circuits


def test_pauli_order_matches_pennylane():
    from pennylane.ops.qubit.special_unitary import pauli_basis_strings

    assert circuits.PAULI_WORDS == tuple(pauli_basis_strings(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_su4_is_special_unitary_and_equals_pennylane(dtype):
    theta = 2 * math.pi * torch.rand(5, 15, dtype=dtype)
    U = circuits.su4_matrices(theta)
    assert U.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    eye = torch.eye(4, dtype=U.dtype)
    assert (U.conj().transpose(-1, -2) @ U - eye).abs().max() < tol
    assert (torch.linalg.det(U) - 1).abs().max() < tol
    for t, u in zip(theta, U):  # our gate exp(-i theta.P) is PennyLane's SpecialUnitary(-theta)
        ref = qml.matrix(qml.SpecialUnitary(-t.double().numpy(), wires=[0, 1]))
        assert np.abs(u.numpy() - ref).max() < tol


def _released_su4(theta):
    """The released code's gate (TensorCircuit's ``su4``), rebuilt independently of the package:
    ``expm(-i sum_k theta_k P_k)`` over the Pauli words IX, IY, IZ, XI, XX, ..., ZZ (TensorCircuit's
    ``_su4_generators`` order), each word the kron product of its two one-qubit matrices."""
    from scipy.linalg import expm

    one = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
           "Z": np.array([[1, 0], [0, -1]])}
    words = [a + b for a in "IXYZ" for b in "IXYZ"][1:]
    herm = sum(t * np.kron(one[w[0]], one[w[1]]) for t, w in zip(theta, words))
    return expm(-1j * herm), expm(1j * herm)


def test_su4_sign_is_the_released_convention_and_the_old_sign_fails():
    rng = np.random.default_rng(11)
    for theta in rng.uniform(0, 2 * math.pi, size=(4, 15)):  # the paper's U(0, 2 pi) draws
        ours = circuits.su4_matrices(torch.tensor(theta)).numpy()
        released, old_sign = _released_su4(theta)
        assert np.abs(ours - released).max() < 1e-12
        # exp(+i theta.P), the book's former gate, is the adjoint: it must fail the same check
        assert np.abs(ours - old_sign).max() > 1e-2
        assert np.abs(ours - released.conj().T).max() > 1e-2
    # the PennyLane reference circuit queues the same gate (two qubits, one gate, full unitary)
    theta = torch.tensor(rng.uniform(0, 2 * math.pi, size=(1, 15)))
    layout = circuits.ladder(2, 1)
    ref = qml.matrix(lambda t: circuits.pennylane_ops(t, layout), wire_order=[0, 1])(theta)
    assert np.abs(np.asarray(ref) - _released_su4(theta[0].numpy())[0]).max() < 1e-12


def test_su4_rejects_wrong_parameter_count():
    with pytest.raises(ValueError, match="15 parameters"):
        circuits.su4_matrices(torch.zeros(14))


def test_layouts_match_the_paper():
    b = circuits.brickwall(10, 1)
    assert b.gates == ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (1, 2), (3, 4), (5, 6), (7, 8))
    assert circuits.ladder(4, 2).gates == ((0, 1), (1, 2), (2, 3)) * 2
    assert circuits.ring(9, 1).gates[-1] == (8, 0) and circuits.ring(9, 1).n_gates == 9
    assert circuits.brickwall(3, 1).gates == ((0, 1), (2, 0), (1, 2))  # the paper's wrap for odd n
    assert circuits.n_params("brickwall", 10, 4) == 540
    assert circuits.n_params("ladder", 10, 6) == 810
    assert circuits.n_params("ring", 9, 12) == 1620


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_depth_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        circuits.brickwall(4, bad)


def test_unknown_layout_and_too_few_qubits():
    with pytest.raises(ValueError, match="unknown layout 'star'"):
        circuits.make_layout("star", 4, 1)
    with pytest.raises(ValueError, match="n_qubits must be an integer >= 3"):
        circuits.ring(2, 1)


def test_amplitude_encode_pads_and_normalizes():
    x = np.arange(1, 6, dtype=float)
    s = circuits.amplitude_encode(x, 3, dtype=torch.complex128)
    assert s.shape == (8,)
    assert torch.allclose(s[:5].real, torch.tensor(x / np.linalg.norm(x)))
    assert (s[5:] == 0).all()
    batch = circuits.amplitude_encode(torch.rand(4, 784), 10)
    assert batch.shape == (4, 1024) and batch.dtype == torch.complex64
    assert torch.allclose(torch.linalg.vector_norm(batch, dim=1), torch.ones(4), atol=1e-6)
    cplx = circuits.amplitude_encode(torch.randn(2, 8, dtype=torch.complex128), 3, dtype=torch.complex128)
    assert torch.allclose(torch.linalg.vector_norm(cplx, dim=1), torch.ones(2, dtype=torch.float64))


def test_amplitude_encode_bad_inputs():
    with pytest.raises(ValueError, match="does not fit 10 qubits"):
        circuits.amplitude_encode(torch.rand(1100), 10)
    with pytest.raises(ValueError, match="all-zero input"):
        circuits.amplitude_encode(torch.zeros(2, 16), 4)
    with pytest.raises(ValueError, match="shape"):
        circuits.amplitude_encode(torch.rand(2, 2, 4), 2)


def test_pennylane_ops_checks_parameter_shape():
    with pytest.raises(ValueError, match="needs parameters of shape"):
        circuits.pennylane_ops(torch.zeros(2, 15), circuits.brickwall(4, 1))


def test_selfcheck():
    from qcl_helpers import selfcheck

    assert selfcheck.check("ex-ansatz-count", 1620) is True
    assert selfcheck.check("ex-ansatz-count", 1500) is False
    assert selfcheck.check("ex-ansatz-count", "many") is False
    assert selfcheck.check("ex-ansatz-haar-z", 1 / 65) is True
    assert selfcheck.check("ex-ansatz-haar-z", 1 / 64) is False  # 1/2^n, a plausible slip, fails
    assert selfcheck.check("ex-backends-steps", 1000 * 5 * 469) is True
    with pytest.raises(KeyError, match="available"):
        selfcheck.check("ex-nope", 1)
