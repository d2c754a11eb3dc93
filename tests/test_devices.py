"""Behaviour of qcl_helpers.devices: which device is chosen, in which order, and the reasons given.

The device probes are replaced by fakes where a test needs a situation this machine does not
have (a working GPU, a broken lightning), so every branch of ``choose`` is exercised here.
"""
import pytest

from qcl_helpers import devices


@pytest.fixture
def fresh(monkeypatch):
    """A clean cache and no forced device before and after each test."""
    monkeypatch.delenv(devices.ENV_VAR, raising=False)
    devices.choose.cache_clear()
    yield monkeypatch
    devices.choose.cache_clear()


def _fake_probe(working):
    """A stand-in for ``_try_qml_device``: devices in ``working`` pass, others fail with a reason."""
    calls = []

    def probe(name):
        calls.append(name)
        return None if name in working else f"fake failure of {name}"

    return probe, calls


def _fake_torch(monkeypatch, cuda: bool):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake H200")


def test_first_working_device_in_preference_order_wins(fresh):
    probe, calls = _fake_probe({"lightning.qubit", "default.qubit"})
    fresh.setattr(devices, "_try_qml_device", probe)
    _fake_torch(fresh, cuda=False)
    choice = devices.choose()
    assert choice.qml_name == "lightning.qubit"
    assert calls == ["lightning.gpu", "lightning.qubit"]  # stops at the first that works
    assert choice.reasons[0] == "lightning.gpu not usable: fake failure of lightning.gpu"
    assert choice.reasons[1] == "using lightning.qubit (it is the first usable device)"
    assert choice.torch_device == "cpu" and "no CUDA device" in choice.reasons[-1]


def test_gpu_is_chosen_when_it_works(fresh):
    probe, calls = _fake_probe(set(devices.PREFERENCE))
    fresh.setattr(devices, "_try_qml_device", probe)
    _fake_torch(fresh, cuda=True)
    choice = devices.choose()
    assert (choice.qml_name, choice.torch_device) == ("lightning.gpu", "cuda")
    assert calls == ["lightning.gpu"]
    assert "torch uses cuda (Fake H200)" in devices.describe()
    assert str(devices.torch_device()) == "cuda"


def test_falls_back_to_default_qubit_and_says_why(fresh):
    probe, _ = _fake_probe({"default.qubit"})
    fresh.setattr(devices, "_try_qml_device", probe)
    _fake_torch(fresh, cuda=False)
    text = devices.describe()
    assert devices.choose().qml_name == "default.qubit"
    assert "lightning.gpu not usable: fake failure" in text
    assert "lightning.qubit not usable: fake failure" in text


def test_forced_device_is_tried_first_and_falls_back_when_broken(fresh):
    probe, calls = _fake_probe({"lightning.qubit"})
    fresh.setattr(devices, "_try_qml_device", probe)
    _fake_torch(fresh, cuda=False)
    fresh.setenv(devices.ENV_VAR, "default.qubit")
    choice = devices.choose()
    assert calls[0] == "default.qubit"
    assert choice.qml_name == "lightning.qubit"  # the forced one failed; the next usable one
    assert "default.qubit not usable" in choice.reasons[0]


def test_forced_device_real(fresh):
    fresh.setenv(devices.ENV_VAR, "default.qubit")
    assert devices.choose().qml_name == "default.qubit"
    assert "forced by QCL_QML_DEVICE" in devices.describe()
    dev = devices.qml_device(3)
    assert dev.name == "default.qubit" and len(dev.wires) == 3


def test_choice_is_cached_until_cleared(fresh):
    probe, calls = _fake_probe({"lightning.qubit"})
    fresh.setattr(devices, "_try_qml_device", probe)
    devices.choose()
    devices.choose()
    assert calls.count("lightning.gpu") == 1


def test_unknown_forced_device(fresh):
    fresh.setenv(devices.ENV_VAR, "quantum.magic")
    with pytest.raises(ValueError, match="valid: lightning.gpu, lightning.qubit, default.qubit"):
        devices.choose()


def test_probe_reports_missing_plugins_and_passes_working_devices():
    assert devices._try_qml_device("default.qubit") is None
    assert "not installed" in devices._try_qml_device("no.such.device")
    reason = devices._try_qml_device("lightning.gpu")
    if reason is not None:  # without the GPU plugin or a GPU, the reason is one line
        assert "\n" not in reason and reason
        if "not installed" in reason:
            assert "requirements-gpu.txt" in reason


def test_probe_rejects_a_device_that_computes_wrongly(monkeypatch):
    import pennylane as qml

    real = qml.device

    def wrong(name, wires):  # a device whose Hadamard is an identity: <Z> = 1, not 0
        dev = real("default.qubit", wires=wires)
        monkeypatch.setattr(qml, "Hadamard", lambda w: qml.Identity(w))
        return dev

    monkeypatch.setattr(qml, "device", wrong)
    assert devices._try_qml_device("default.qubit") == "test circuit returned 1.0, expected 0"
