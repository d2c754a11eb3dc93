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


# ---- figures of continual runs (run objects from qcl_helpers.results) -------------------------

def _runs_list(runs) -> list:
    return list(runs.values()) if isinstance(runs, dict) else list(runs)


def _variant(run) -> tuple:
    c = run.config
    size = c["depth"] if c["model"] == "qnn" else c["width"]
    return (size, str(c.get("data_source") or ""))


def run_colors(runs) -> dict:
    """``{run label: colour}``: QNN depths from one colormap, MLP widths from another.

    Runs of the same size that differ in their data (e.g. the XXZ phase conventions) get
    neighbouring shades.

    Introduced in: 04 · Permuted MNIST
    """
    runs = _runs_list(runs)
    out = {}
    for fam in ("qnn", "mlp"):
        members = [r for r in runs if r.config["model"] == fam]
        keys = sorted({_variant(r) for r in members})
        if keys:
            table = dict(zip(keys, family_colors(keys, fam)))
            out.update({r.label: table[_variant(r)] for r in members})
    return out


def plot_runs(ax, runs, key: str, window: int, *, relative: bool = False, n_ref: int = 10,
              ylabel: str | None = None) -> None:
    """Moving average (±std band) of ``key`` per task for each run, in the family colours.

    Runs with the fair budget or a remedy are dashed. ``relative=True`` divides by the mean over
    the first ``n_ref`` tasks (the paper's Figure 1 d-e).

    Introduced in: 04 · Permuted MNIST
    """
    from .results import relative_to_start

    runs = _runs_list(runs)
    colors = run_colors(runs)
    for r in runs:
        y = r[key]
        if np.all(np.isnan(y)):
            continue
        if relative:
            y = relative_to_start(y, n_ref)
        line = plot_band(ax, y, window, x=np.arange(1, len(y) + 1), label=r.label, color=colors[r.label])
        if r.config.get("fair") or r.config.get("l2") or r.config.get("shrink_perturb"):
            line.set_linestyle("--")
    ax.set_xlabel("task")
    ax.set_ylabel(ylabel or key.replace("_", " "))


def _finish(fig, runs, window, scale=None, source=""):
    first = _runs_list(runs)[0]
    plotting_scale = scale or first.scale
    caption(fig, data=first.data_label, profile=first.config["profile"],
            scale=f"{plotting_scale}{source}; {window}-task moving average, ±std band")
    fig.tight_layout(rect=(0, 0.04, 1, 1))


def figure1(runs, window: int, title: str):
    """The paper's Figure 1 b-e for a set of permuted-MNIST runs: accuracy per task, accuracy drop
    against initial accuracy, relative gradient norm and relative weight norm.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    from .results import accuracy_drop

    runs = _runs_list(runs)
    colors = run_colors(runs)
    fig, ax = plt.subplots(2, 2, figsize=(11, 7.6))
    plot_runs(ax[0, 0], runs, "test_accuracy", window, ylabel="test accuracy on the new task")
    ax[0, 0].set_title("(b) accuracy on each new task")
    ax[0, 0].legend(fontsize=8)
    for r in runs:
        initial, drop = accuracy_drop(r["test_accuracy"], window)
        ax[0, 1].scatter(initial, drop, color=colors[r.label], s=60, edgecolor="k")
        ax[0, 1].annotate(r.label, (initial, drop), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax[0, 1].axhline(0, color="0.6", lw=0.8)
    ax[0, 1].set(xlabel=f"initial accuracy (mean of the first {window} tasks)",
                 ylabel="accuracy drop (first minus last window)", title="(c) accuracy drop vs initial accuracy")
    plot_runs(ax[1, 0], runs, "grad_norm", window, relative=True, ylabel="gradient norm / first tasks")
    ax[1, 0].set_title("(d) relative gradient norm")
    plot_runs(ax[1, 1], runs, "weight_norm", window, relative=True, ylabel="weight norm / first tasks")
    ax[1, 1].set_title("(e) relative weight norm")
    fig.suptitle(title)
    _finish(fig, runs, window)
    plt.show()


def figure2(runs, window: int, title: str):
    """The paper's Figure 2 b-c: accuracy and Tr(FIM) per task; a stand-in's title says so.

    Introduced in: 05 · Split CIFAR-100
    """
    import matplotlib.pyplot as plt

    from .results import titled

    runs = _runs_list(runs)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_runs(ax[0], runs, "test_accuracy", window, ylabel="test accuracy on the new task")
    ax[0].set_title("(b) accuracy on each new task")
    ax[0].legend(fontsize=8)
    plot_runs(ax[1], runs, "fim_trace", window, ylabel="Tr F on the task-0 probe set")
    ax[1].set_yscale("log")
    ax[1].set_title("(c) empirical Fisher trace")
    fig.suptitle(titled(title, runs[0].config["data_source"]))
    _finish(fig, runs, window)
    plt.show()


def side_by_side(groups: dict, key: str, ylabel: str, window: int, *, relative: bool = False):
    """One panel per group of runs (``{title: runs}``), sharing the vertical axis.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.9), sharey=True)
    for ax, (title, group) in zip(np.atleast_1d(axes), groups.items()):
        plot_runs(ax, group, key, window, relative=relative, ylabel=ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    _finish(fig, next(iter(groups.values())), window)
    plt.show()


def accuracy_figure(runs, window: int, title: str, *, data: str, scale: str):
    """Accuracy per task for QNN and MLP runs on one panel, chance level dotted.

    Introduced in: 07 · Quantum-native data
    """
    import matplotlib.pyplot as plt

    runs = _runs_list(runs)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    plot_runs(ax, runs, "test_accuracy", window, ylabel="test accuracy, current task")
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_title(f"{title}; {window}-task moving average ± std")
    ax.legend(fontsize=8, loc="lower right")
    caption(fig, data=data, profile=runs[0].config["profile"], scale=scale)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    plt.show()
