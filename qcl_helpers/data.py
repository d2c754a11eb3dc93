"""Where data lives: ``$QCL_DATA_DIR`` if set, else a per-user cache folder.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "QCL_DATA_DIR"


def data_dir() -> Path:
    """The data folder: ``$QCL_DATA_DIR``, else ``$XDG_CACHE_HOME/qcl_helpers`` (``~/.cache/qcl_helpers``).

    Introduced in: 04 · Permuted MNIST
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "qcl_helpers"
