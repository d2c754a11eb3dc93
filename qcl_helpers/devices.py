"""Which simulator and which torch device to use, and why.

PennyLane device, in order of preference:

1. ``lightning.gpu`` -- when ``pennylane-lightning[gpu]`` is installed
   (``requirements-gpu.txt``) *and* a CUDA device actually runs a small circuit;
2. ``lightning.qubit`` -- the fast C++ CPU simulator;
3. ``default.qubit`` -- PennyLane's Python simulator, always available.

Set ``QCL_QML_DEVICE`` to force one. The torch device is ``cuda`` when available, else
``cpu``. Every choice comes with the reason for it, so a CPU fallback is reported, not
hidden.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

ENV_VAR = "QCL_QML_DEVICE"
PREFERENCE = ("lightning.gpu", "lightning.qubit", "default.qubit")


@dataclass(frozen=True)
class DeviceChoice:
    """The chosen PennyLane device name, torch device, and the reasons for both.

    Introduced in: 03 · QNN ansätze
    """

    qml_name: str
    torch_device: str
    reasons: tuple

    def __str__(self) -> str:
        return "; ".join(self.reasons)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _try_qml_device(name: str) -> str | None:
    """``None`` if ``name`` runs a one-qubit circuit here, else a one-line reason."""
    try:
        import pennylane as qml

        dev = qml.device(name, wires=1)

        @qml.qnode(dev)
        def circuit():
            qml.Hadamard(0)
            return qml.expval(qml.PauliZ(0))

        value = float(circuit())
        if abs(value) > 1e-6:
            return f"test circuit returned {value}, expected 0"
        return None
    except Exception as exc:  # missing package, no CUDA driver, no GPU, ...
        if "does not exist" in str(exc):
            extra = " (pip install -r requirements-gpu.txt)" if name == "lightning.gpu" else ""
            return f"its PennyLane plugin is not installed{extra}"
        return _first_line(exc)


def _torch_device() -> tuple[str, str]:
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda", f"torch uses cuda ({torch.cuda.get_device_name(0)})"
        return "cpu", "torch uses the CPU (no CUDA device visible to torch)"
    except Exception as exc:  # pragma: no cover - torch is a hard dependency
        return "cpu", f"torch uses the CPU ({_first_line(exc)})"


@functools.lru_cache(maxsize=None)
def choose() -> DeviceChoice:
    """Pick the PennyLane and torch devices (cached); never raises for a missing GPU.

    Introduced in: 03 · QNN ansätze
    """
    reasons = []
    forced = os.environ.get(ENV_VAR, "").strip()
    candidates = PREFERENCE
    if forced:
        if forced not in PREFERENCE:
            raise ValueError(f"unknown {ENV_VAR}={forced!r}; valid: {', '.join(PREFERENCE)}")
        candidates = (forced,) + tuple(n for n in PREFERENCE if n != forced)
    chosen = None
    for name in candidates:
        problem = _try_qml_device(name)
        if problem is None:
            chosen = name
            why = f"forced by {ENV_VAR}" if name == forced else "it is the first usable device"
            reasons.append(f"using {name} ({why})")
            break
        reasons.append(f"{name} not usable: {problem}")
    if chosen is None:  # pragma: no cover - default.qubit always works
        raise RuntimeError("no PennyLane device works: " + "; ".join(reasons))
    torch_device, torch_reason = _torch_device()
    return DeviceChoice(chosen, torch_device, tuple(reasons) + (torch_reason,))


def qml_device(wires: int, **kwargs):
    """A PennyLane device of the chosen kind with ``wires`` wires.

    Introduced in: 03 · QNN ansätze
    """
    import pennylane as qml

    return qml.device(choose().qml_name, wires=wires, **kwargs)


def torch_device():
    """The chosen ``torch.device``. Introduced in: 03 · QNN ansätze"""
    import torch

    return torch.device(choose().torch_device)


def describe() -> str:
    """One paragraph saying which devices are used and why. Introduced in: 03 · QNN ansätze"""
    return str(choose())
