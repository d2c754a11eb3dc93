"""Plots in the paper's style: moving averages with a shaded ±std band, one colormap per model family.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import numpy as np

#: Colormaps per model family: QNN depths in blues, MLP widths in oranges/reds.
FAMILY_CMAPS = {"qnn": "Blues", "mlp": "Oranges"}


def moving_average(y, window: int):
    """Trailing moving average and standard deviation of ``y`` over ``window`` points.

    Returns ``(index, mean, std)`` where ``index[t]`` is the position of the last point of
    window ``t`` (so curves line up with the task axis). A window longer than ``y`` is shrunk
    to ``len(y)``.

    Introduced in: 03 · QNN ansätze
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    if y.size == 0:
        raise ValueError("moving_average needs at least one value")
    if int(window) < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    w = min(int(window), y.size)
    windows = np.lib.stride_tricks.sliding_window_view(y, w)
    return np.arange(w - 1, y.size), windows.mean(axis=1), windows.std(axis=1)


def family_colors(values, family: str):
    """One colour per value (depths or widths) from the family's colormap, light to dark.

    Introduced in: 03 · QNN ansätze
    """
    import matplotlib

    if family not in FAMILY_CMAPS:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILY_CMAPS)}")
    cmap = matplotlib.colormaps[FAMILY_CMAPS[family]]
    values = list(values)
    if len(values) == 1:
        return [cmap(0.75)]
    return [cmap(0.45 + 0.5 * i / (len(values) - 1)) for i in range(len(values))]


def plot_band(ax, y, window: int, *, x=None, label=None, color=None, alpha: float = 0.25):
    """Draw the moving average of ``y`` with a shaded ±std band on ``ax``; returns the line.

    ``x`` (default ``0..len(y)-1``) gives the horizontal positions of the raw values.

    Introduced in: 03 · QNN ansätze
    """
    idx, mean, std = moving_average(y, window)
    xs = np.arange(len(np.asarray(y).reshape(-1))) if x is None else np.asarray(x)
    (line,) = ax.plot(xs[idx], mean, label=label, color=color, lw=1.8)
    ax.fill_between(xs[idx], mean - std, mean + std, color=line.get_color(), alpha=alpha, lw=0)
    return line


def caption(fig, *, data: str, profile: str, scale: str) -> None:
    """Write the provenance line every figure carries: which data, which profile, what scale.

    Introduced in: 03 · QNN ansätze
    """
    fig.text(0.01, 0.005, f"Data: {data} · profile: {profile} · scale: {scale}",
             fontsize=8, color="0.35", ha="left", va="bottom")
