import pytest

from qcl_helpers import devices


def test_choice_is_reported_with_reasons_and_never_raises():
    devices.choose.cache_clear()
    choice = devices.choose()
    assert choice.qml_name in devices.PREFERENCE
    assert choice.torch_device in ("cpu", "cuda")
    text = devices.describe()
    assert f"using {choice.qml_name}" in text and "torch uses" in text
    if choice.qml_name != "lightning.gpu":
        assert "lightning.gpu not usable:" in text


def test_forced_device(monkeypatch):
    monkeypatch.setenv("QCL_QML_DEVICE", "default.qubit")
    devices.choose.cache_clear()
    try:
        assert devices.choose().qml_name == "default.qubit"
        assert "forced by QCL_QML_DEVICE" in devices.describe()
        assert devices.qml_device(2).name == "default.qubit"
    finally:
        devices.choose.cache_clear()


def test_unknown_forced_device(monkeypatch):
    monkeypatch.setenv("QCL_QML_DEVICE", "quantum.magic")
    devices.choose.cache_clear()
    try:
        with pytest.raises(ValueError, match="valid: lightning.gpu, lightning.qubit, default.qubit"):
            devices.choose()
    finally:
        devices.choose.cache_clear()


def test_missing_plugin_reason():
    reason = devices._try_qml_device("no.such.device")
    assert "not installed" in reason
