"""What the chapters' setup cell needs on Colab after it installed this package.

Colab preloads some modules (numpy among them) before the first cell runs. If ``%pip install``
upgraded one of them, the running kernel still holds the old version and later imports fail in
confusing ways; ``pip install -q`` also hides Colab's own "restart session" prompt. The setup
cell therefore calls :func:`check_restart`, which compares each loaded module with the version
now installed and stops with one line naming the fix.

Introduced in: 01 · Loss of plasticity
"""
from __future__ import annotations

import sys
from importlib import metadata

#: The book's dependencies whose upgrade, once loaded, needs a fresh kernel (module -> distribution).
WATCHED = {
    "numpy": "numpy",
    "scipy": "scipy",
    "torch": "torch",
    "matplotlib": "matplotlib",
    "ipywidgets": "ipywidgets",
    "tqdm": "tqdm",
    "gymnasium": "gymnasium",
    "pennylane": "pennylane",
}


def _base(version: str) -> str:
    return str(version).split("+")[0]


def stale_modules(modules=None) -> list[tuple[str, str, str]]:
    """``[(module, loaded version, installed version)]`` for every watched module that is
    imported in this kernel but whose installed distribution now has another version.

    Introduced in: 01 · Loss of plasticity
    """
    modules = sys.modules if modules is None else modules
    out = []
    for name, dist in WATCHED.items():
        mod = modules.get(name)
        loaded = getattr(mod, "__version__", None)
        if mod is None or not isinstance(loaded, str):
            continue
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        if _base(loaded) != _base(installed):
            out.append((name, loaded, installed))
    return out


def restart_message(stale) -> str:
    """The one line the setup cell shows when it must stop (empty when nothing is stale).

    Introduced in: 01 · Loss of plasticity
    """
    if not stale:
        return ""
    changed = ", ".join(f"{m} {old} -> {new}" for m, old, new in stale)
    return (f"pip upgraded modules this session had already loaded ({changed}): restart the "
            "session (Runtime > Restart session), then run this cell again.")


def check_restart(modules=None) -> None:
    """Stop the notebook with a clear one-line message when :func:`stale_modules` finds any.

    Raises ``SystemExit`` (IPython shows its message without a traceback and "Run all" stops
    here), so the reader restarts before a confusing import error appears further down.

    Introduced in: 01 · Loss of plasticity
    """
    message = restart_message(stale_modules(modules))
    if message:
        raise SystemExit(message)
