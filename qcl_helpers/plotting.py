"""Plots in the paper's style: moving averages with a shaded ±std band, one colormap per model family.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import numpy as np

from .configs import TRAINING_CHANGES, changes_training

#: Colormaps per model family: QNN depths in blues, MLP widths in oranges/reds.
FAMILY_CMAPS = {"qnn": "Blues", "mlp": "Oranges"}

#: Font sizes (points) legible in the book's ~700 px column for figures up to ~7.5 in wide.
BOOK_STYLE = {
    "font.size": 11,
    "axes.titlesize": 11.5,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 9.5,
    "figure.titlesize": 12,
    "figure.figsize": (7.0, 4.0),
}
#: Width (inches) the figures of this module are made for: the book's column at 100 dpi.
COLUMN_WIDTH = 7.2


def book_style() -> None:
    """Set matplotlib's fonts and default figure size for the book's ~700 px column.

    The chapters' setup cell calls it once; figures wider than the column are scaled down by
    the browser and their text with them, so figures are sized for the column instead.

    Introduced in: 01 · Loss of plasticity
    """
    import matplotlib

    matplotlib.rcParams.update(BOOK_STYLE)


def rendered_font_px(fig, column_px: int = 700) -> float:
    """Height in screen pixels of the smallest visible text of ``fig`` once the book shows it
    in a ``column_px``-wide column (figures wider than the column are scaled down).

    Introduced in: 03 · QNN ansätze
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    width_px = fig.get_size_inches()[0] * fig.dpi
    scale = min(1.0, column_px / width_px)
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0]
    if not sizes:
        raise ValueError("the figure has no visible text to measure")
    return min(sizes) * fig.dpi / 72 * scale


def choose_window(n_points: int, preferred: int) -> int:
    """The moving-average window for a run of ``n_points`` values.

    ``preferred`` (the profile's or the paper's window) is used unless the run is long, where
    the window grows to a twentieth of the run (about twenty independent windows), or short,
    where it shrinks to a fifth (so at least five windows remain). Never below 1.

    Introduced in: 04 · Permuted MNIST
    """
    n, preferred = int(n_points), int(preferred)
    if n < 1 or preferred < 1:
        raise ValueError(f"choose_window needs n_points >= 1 and preferred >= 1, got {n_points!r}, "
                         f"{preferred!r}")
    return max(1, min(max(preferred, n // 20), n // 5))


def has_curve(n_points: int, window: int) -> bool:
    """True when ``n_points`` values make a moving-average curve (at least two averaged points).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    return int(n_points) > int(window) >= 1


def too_little_data(ax, n_points: int, window: int, what: str = "points") -> None:
    """Say in words, inside ``ax``, that ``n_points`` are too few for a ``window``-point curve.

    Drawn once per axes, whatever the number of runs that lack data; the empty axes lose their
    tick labels (a later curve on the same axes brings them back).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    import textwrap

    if getattr(ax, "_qcl_too_little", False):
        return
    ax._qcl_too_little = True
    message = (f"Too little data for a curve yet: {n_points} {what}, and a {window}-point moving "
               f"average needs at least {window + 1}. Longer runs (a larger QCL_PROFILE, or "
               "the stored runs) show the trend.")
    size = 11
    width_in = ax.get_position().width * ax.figure.get_size_inches()[0]
    chars = max(20, int(width_in * 72 / (size * 0.56)) - 4)
    ax.text(0.5, 0.5, textwrap.fill(message, chars), transform=ax.transAxes, ha="center",
            va="center", fontsize=size, color="0.2")
    if not ax.lines:
        ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)


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

    ``x`` (default ``0..len(y)-1``) gives the horizontal positions of the raw values. When
    ``y`` is too short for a curve (see :func:`has_curve`), nothing is plotted: the axes say
    so in words (:func:`too_little_data`) and the return value is ``None``.

    Introduced in: 03 · QNN ansätze
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    if not has_curve(y.size, window):
        too_little_data(ax, y.size, window)
        return None
    idx, mean, std = moving_average(y, window)
    if getattr(ax, "_qcl_too_little", False):  # another run had too little: ticks back
        ax.tick_params(left=True, bottom=True, labelleft=True, labelbottom=True)
    xs = np.arange(y.size) if x is None else np.asarray(x)
    (line,) = ax.plot(xs[idx], mean, label=label, color=color, lw=1.8)
    ax.fill_between(xs[idx], mean - std, mean + std, color=line.get_color(), alpha=alpha, lw=0)
    return line


def caption_text(*, data: str, profile: str, scale: str) -> str:
    """The provenance line of a figure: which data, which profile, what scale.

    Introduced in: 03 · QNN ansätze
    """
    return f"Data: {data} · profile: {profile} · scale: {scale}"


def caption(fig, *, data: str, profile: str, scale: str):
    """Attach the provenance line every figure carries (data, profile, scale); returns ``fig``.

    In a notebook the figure is then shown as an image with the line as a real text caption
    under it (HTML ``<figcaption>``, body-text size at any figure width). Saved outside a
    notebook (``fig.savefig(..., bbox_inches="tight")``) the line is drawn under the axes at
    a size legible at the book's column width.

    Introduced in: 03 · QNN ansätze
    """
    text = caption_text(data=data, profile=profile, scale=scale)
    fig._qcl_caption = text
    if not _register_html_caption():
        width_in = fig.get_size_inches()[0]
        size = 10.5 * max(1.0, width_in / COLUMN_WIDTH)  # ~10.5 pt once scaled to the column
        fig.text(0.01, -0.01, text, fontsize=size, color="0.25", ha="left", va="top", wrap=True)
    return fig


def figure_html(fig) -> str | None:
    """HTML for a captioned figure: the PNG, then its caption as text (``None`` without one).

    IPython calls it to display figures (registered by :func:`caption`). Once shown, the figure
    is closed in pyplot, so a helper's figure returned as a cell's last value is shown once,
    not a second time when the inline backend flushes the open figures at the end of the cell.

    Introduced in: 03 · QNN ansätze
    """
    import base64
    import html
    import io

    import matplotlib.pyplot as plt

    text = getattr(fig, "_qcl_caption", None)
    if not text:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure class="qcl-figure" style="margin:0">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(text)}" '
            f'style="max-width:100%;height:auto"/>'
            f'<figcaption class="qcl-caption" style="font-size:0.9em;color:#444;margin-top:0.3em">'
            f"{html.escape(text)}</figcaption></figure>")


def _register_html_caption() -> bool:
    """Make IPython show captioned figures through :func:`figure_html`; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    from matplotlib.figure import Figure

    ip.display_formatter.formatters["text/html"].for_type(Figure, figure_html)
    return True


# ---- figures of continual runs (run objects from qcl_helpers.results) -------------------------

def _runs_list(runs) -> list:
    return list(runs.values()) if isinstance(runs, dict) else list(runs)


def _model_size(config: dict) -> tuple:
    return config["model"], config.get("depth") if config["model"] == "qnn" else config.get("width")


def _variant(config: dict) -> tuple:
    """What tells runs of one family apart for colouring: their size (0 if none) and data source."""
    return (_model_size(config)[1] or 0, str(config.get("data_source") or ""))


#: Line style of a run whose training departs from the released code's (solid): one per change,
#: so that remedies of one model, drawn in its colour, stay apart.
CHANGE_STYLES = dict(zip(TRAINING_CHANGES, ("--", "--", ":", "-.")))  # fair, L2, S&P, CBP


def training_style(config: dict) -> str:
    """The line style of a run (its ``config.json`` as a dict): solid with the released code's
    training, else :data:`CHANGE_STYLES` of its first change. Introduced in: 04 · Permuted MNIST"""
    return next((CHANGE_STYLES[k] for k in CHANGE_STYLES if config.get(k)), "-")


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
        keys = sorted({_variant(r.config) for r in members})
        if keys:
            table = dict(zip(keys, family_colors(keys, fam)))
            out.update({r.label: table[_variant(r.config)] for r in members})
    return out


def plot_runs(ax, runs, key: str, window: int, *, relative: bool = False, n_ref: int = 10,
              ylabel: str | None = None) -> None:
    """Moving average (±std band) of ``key`` per task for each run, in the family colours.

    Runs with the fair budget or a remedy are dashed or dotted (:func:`training_style`).
    ``relative=True`` divides by the mean over the first ``n_ref`` tasks (the paper's Figure 1 d-e).

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
        line = plot_band(ax, y, window, x=np.arange(1, len(y) + 1), label=r.label,
                         color=colors[r.label])
        if line is not None:
            line.set_linestyle(training_style(r.config))
    ax.set_xlabel("task")
    ax.set_ylabel(ylabel or key.replace("_", " "))


def _legend(ax, **kw) -> None:
    """A legend when the axes have labelled curves (none when they say there is too little data)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _finish(fig, runs, window, scale=None, source=""):
    first = _runs_list(runs)[0]
    plotting_scale = scale or first.scale
    fig.tight_layout()
    return caption(fig, data=first.data_label, profile=first.config["profile"],
                   scale=f"{plotting_scale}{source}; {window}-task moving average, ±std band")


def figure1(runs, window: int, title: str):
    """The paper's Figure 1 b-e for a set of permuted-MNIST runs: accuracy per task, accuracy drop
    against initial accuracy, relative gradient norm and relative weight norm. Returns the
    figure (sized for the book's column, captioned).

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    from .results import accuracy_drop

    runs = _runs_list(runs)
    colors = run_colors(runs)
    fig, ax = plt.subplots(2, 2, figsize=(COLUMN_WIDTH, 6.8))
    plot_runs(ax[0, 0], runs, "test_accuracy", window, ylabel="test accuracy, new task")
    ax[0, 0].set_title("(b) accuracy on each new task")
    _legend(ax[0, 0])
    for r in runs:
        initial, drop = accuracy_drop(r["test_accuracy"], window)
        ax[0, 1].scatter(initial, drop, color=colors[r.label], s=60, edgecolor="k")
        ax[0, 1].annotate(r.label, (initial, drop), fontsize=9, xytext=(4, 4),
                          textcoords="offset points")
    ax[0, 1].axhline(0, color="0.6", lw=0.8)
    ax[0, 1].set(xlabel=f"initial accuracy\n(mean of the first {window} tasks)",
                 ylabel="accuracy drop\n(first minus last window)", title="(c) drop vs initial")
    plot_runs(ax[1, 0], runs, "grad_norm", window, relative=True,
              ylabel="gradient norm / first tasks")
    ax[1, 0].set_title("(d) relative gradient norm")
    plot_runs(ax[1, 1], runs, "weight_norm", window, relative=True,
              ylabel="weight norm / first tasks")
    ax[1, 1].set_title("(e) relative weight norm")
    fig.suptitle(title)
    return _finish(fig, runs, window)


def figure2(runs, window: int, title: str):
    """The paper's Figure 2 b-c: accuracy and Tr(FIM) per task; a stand-in's title says so.
    Returns the figure.

    Introduced in: 05 · Split CIFAR-100
    """
    import matplotlib.pyplot as plt

    from .results import titled

    runs = _runs_list(runs)
    fig, ax = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.8))
    plot_runs(ax[0], runs, "test_accuracy", window, ylabel="test accuracy, new task")
    ax[0].set_title("(b) accuracy on each new task")
    _legend(ax[0])
    plot_runs(ax[1], runs, "fim_trace", window, ylabel="Tr F, task-0 probe set")
    if ax[1].lines:
        ax[1].set_yscale("log")
    ax[1].set_title("(c) empirical Fisher trace")
    fig.suptitle(titled(title, runs[0].config["data_source"]))
    return _finish(fig, runs, window)


def side_by_side(groups: dict, key: str, ylabel: str, window: int, *, relative: bool = False):
    """One panel per group of runs (``{title: runs}``), sharing the vertical axis; returns the
    figure (panels side by side within the book's column).

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    import textwrap

    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(min(COLUMN_WIDTH, 4.2 * n), 3.9), sharey=True)
    for ax, (title, group) in zip(np.atleast_1d(axes), groups.items()):
        plot_runs(ax, group, key, window, relative=relative, ylabel=ylabel)
        ax.set_title(textwrap.fill(title, 34 if n > 1 else 70))
        _legend(ax)
    return _finish(fig, next(iter(groups.values())), window)


def accuracy_figure(runs, window: int, title: str, *, data: str, scale: str):
    """Accuracy per task for QNN and MLP runs on one panel, chance level dotted; returns the
    figure.

    Introduced in: 07 · Quantum-native data
    """
    import matplotlib.pyplot as plt

    runs = _runs_list(runs)
    import textwrap

    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 4.0))
    plot_runs(ax, runs, "test_accuracy", window, ylabel="test accuracy, current task")
    ax.axhline(0.5, color="0.5", lw=0.8, ls=":")
    ax.set_title(textwrap.fill(f"{title}; {window}-task moving average ± std", 70))
    _legend(ax, loc="lower right")
    fig.tight_layout()
    return caption(fig, data=data, profile=runs[0].config["profile"], scale=scale)


# ---------------------------------------------------------------------------------------------
# Sweep summaries (mean over seeds with a standard-error band)
# ---------------------------------------------------------------------------------------------

def summary_colors(summary: dict) -> dict:
    """``{configuration key: colour}`` for a sweep summary, in the family colours of :func:`run_colors`.

    Introduced in: 04 · Permuted MNIST
    """
    entries = summary["configurations"]
    out = {}
    for fam in ("qnn", "mlp"):
        members = {k: e for k, e in entries.items() if e["config"]["model"] == fam}
        variants = sorted({_variant(e["config"]) for e in members.values()})
        if variants:
            table = dict(zip(variants, family_colors(variants, fam)))
            out.update({k: table[_variant(e["config"])] for k, e in members.items()})
    return out


def plot_summary(ax, summary: dict, metric: str, *, keys=None, relative: bool = False, n_ref: int = 10,
                 ylabel: str | None = None, x: str | None = None, x_scale: float = 1.0,
                 xlabel: str | None = None) -> list:
    """Per configuration of a sweep summary: the moving average of the mean over seeds of ``metric``
    per task, with a band of ± one standard error over seeds (moving-averaged too). ``relative``
    divides by the mean over the first ``n_ref`` tasks (the paper's Figure 1 d-e). ``x`` names a
    per-row metric to use as the horizontal axis instead of the task (e.g. ``"steps"`` of a PPO
    sweep, divided by ``x_scale``), each moving average placed at its window's last row; ``xlabel``
    overrides the axis label this implies. Returns the lines.

    Introduced in: 04 · Permuted MNIST
    """
    colors = summary_colors(summary)
    lines = []
    for key, e in summary["configurations"].items():
        if (keys is not None and key not in keys) or metric not in e["moving_mean"]:
            continue
        mean = np.array(e["moving_mean"][metric], dtype=float)
        if mean.size == 0 or np.all(np.isnan(mean)):
            continue
        sem = np.array(e["moving_sem"].get(metric) or [np.nan] * mean.size, dtype=float)
        rows = np.arange(mean.size) + e.get("moving_start", 0)
        xs = rows + 1 if x is None else np.array(e["mean"][x], dtype=float)[rows] / x_scale
        scale = 1.0
        if relative:
            raw = np.array(e["mean"][metric], dtype=float)
            scale = float(np.nanmean(raw[: max(1, min(n_ref, raw.size))]))
        n = len(e["seeds"])
        (line,) = ax.plot(xs, mean / scale, color=colors.get(key), lw=1.6,
                          ls=training_style(e["config"]),
                          label=f"{e['label']} ({n} seed{'s' if n != 1 else ''})")
        if np.isfinite(sem).any():
            ax.fill_between(xs, (mean - sem) / scale, (mean + sem) / scale, color=line.get_color(), alpha=0.25,
                            lw=0)
        lines.append(line)
    ax.set_xlabel(xlabel or ("task" if x is None else
                             x.replace("_", " ") + (f" (÷ {x_scale:,.0f})" if x_scale != 1 else "")))
    ax.set_ylabel(ylabel or metric.replace("_", " "))
    return lines


def _is_ppo(entries) -> bool:
    """Whether sweep-summary entries are of a PPO sweep (one row per evaluation, with steps)."""
    return all("steps" in e["mean"] for e in entries)


def summary_extent(summary: dict) -> str:
    """How much a sweep summary covers, in words: ``"1,000 tasks, 3 seeds per configuration"``, or
    for a PPO sweep ``"31 evaluations up to 3,000,000 steps, 2 seeds per configuration"``.

    Introduced in: 04 · Permuted MNIST
    """
    entries = list(summary["configurations"].values())
    seeds = sorted({len(e["seeds"]) for e in entries})
    rows = sorted({e["rows"] for e in entries})
    n = f"{rows[0]:,}" if len(rows) == 1 else f"{rows[0]:,}-{rows[-1]:,}"
    if _is_ppo(entries):  # one row per evaluation
        n = f"{n} evaluations up to {max(int(e['mean']['steps'][-1]) for e in entries):,} steps"
    else:
        n = f"{n} tasks"
    return f"{n}, {'/'.join(str(s) for s in seeds)} seed{'s' if seeds != [1] else ''} per configuration"


def summary_caption(fig, summary: dict, profile: str):
    """The data / profile / scale caption of a figure drawn from a sweep summary.

    Introduced in: 04 · Permuted MNIST
    """
    entries = list(summary["configurations"].values())
    data = "; ".join(sorted({e["data_label"] for e in entries}))
    unit = "evaluation" if _is_ppo(entries) else "task"
    scale = (f"{summary_extent(summary)}; {summary['window']}-{unit} moving average of the mean over seeds, "
             "band ± one standard error")
    return caption(fig, data=data, profile=profile, scale=scale)


def diagnostics_figure(runs, window: int, title: str):
    """What the continual loop measures with ``diagnostics=True``, per task: the effective rank of
    each MLP hidden layer (Dohare et al. 2024), the MLPs' dormant-unit fraction (Sokar et al. 2023,
    τ = 0.01) and the largest eigenvalue of each QNN's empirical Fisher matrix on the probe set.
    Returns the figure (captioned with the runs' data, profile and scale).

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    runs = [r for r in _runs_list(runs) if len(r)]
    colors = run_colors(runs)
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    x = lambda r: np.arange(1, len(r) + 1)  # noqa: E731
    for r in runs:
        c = colors[r.label]
        if r.config["model"] == "mlp":
            layers = sorted(k for k in r.rows[0] if k.startswith("effective_rank_"))
            for k, style in zip(layers, ("-", "--", ":", "-.")):
                plot_band(axes[0], r[k], window, x=x(r), color=c,
                          label=f"{r.label}, layer {k.rsplit('_', 1)[1]}").set_linestyle(style)
            plot_band(axes[1], r["dormant_fraction"], window, x=x(r), color=c, label=r.label)
        elif "fisher_top_eigenvalues_1" in r.rows[0]:
            plot_band(axes[2], r["fisher_top_eigenvalues_1"], window, x=x(r), color=c, label=r.label)
    axes[0].set(xlabel="task", ylabel="effective rank", title="MLP hidden layers: effective rank")
    axes[1].set(xlabel="task", ylabel="fraction of units", title="MLP dormant units (τ = 0.01)")
    axes[2].set(xlabel="task", ylabel="largest eigenvalue", yscale="log", title="QNN Fisher spectrum, top")
    for ax in axes:
        _legend(ax, fontsize=7)
    fig.suptitle(title)
    return _finish(fig, runs, window)


def _seed_errorbar(ax, x: list, y: list, color, label: str) -> None:
    """A point at the mean over seeds with standard-error bars in both directions."""
    n = len(x)
    se = (lambda v: float(np.std(v, ddof=1) / np.sqrt(n)) if n > 1 else 0.0)  # noqa: E731
    ax.errorbar(np.mean(x), np.mean(y), xerr=se(x), yerr=se(y), fmt="o", color=color, ms=7, mec="k",
                capsize=3)
    ax.annotate(f"{label} ({n} seed{'s' if n != 1 else ''})", (np.mean(x), np.mean(y)), fontsize=9,
                xytext=(4, 4), textcoords="offset points")


def figure1_summary(summary: dict, runs: dict, title: str, profile: str = "paper"):
    """The paper's Figure 1 b-e from a stored sweep: (b) accuracy, (d) relative gradient norm and
    (e) relative weight norm as means over seeds with standard-error bands, and (c) each
    configuration's accuracy drop over the first 200 tasks against its initial accuracy, mean ±
    standard error over seeds. ``runs`` maps configuration keys to their runs (one per seed), as
    :func:`qcl_helpers.claims.load_grid` returns them. Returns the captioned figure.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    from .results import accuracy_drop

    window = summary["window"]
    colors = summary_colors(summary)
    fig, ax = plt.subplots(2, 2, figsize=(COLUMN_WIDTH, 6.8))
    plot_summary(ax[0, 0], summary, "test_accuracy", ylabel="test accuracy, new task")
    ax[0, 0].set_title("(b) accuracy on each new task")
    _legend(ax[0, 0], fontsize=7)
    for key, rs in runs.items():
        pairs = [accuracy_drop(r["test_accuracy"], window, horizon=200) for r in rs]
        _seed_errorbar(ax[0, 1], [p[0] for p in pairs], [p[1] for p in pairs], colors.get(key), rs[0].label)
    ax[0, 1].axhline(0, color="0.6", lw=0.8)
    ax[0, 1].set(xlabel=f"initial accuracy\n(mean of the first {window} tasks)",
                 ylabel="accuracy drop over the\nfirst 200 tasks", title="(c) drop vs initial")
    plot_summary(ax[1, 0], summary, "grad_norm", relative=True, ylabel="gradient norm / first tasks")
    ax[1, 0].set_title("(d) relative gradient norm")
    plot_summary(ax[1, 1], summary, "weight_norm", relative=True, ylabel="weight norm / first tasks")
    ax[1, 1].set_title("(e) relative weight norm")
    fig.suptitle(title)
    fig.tight_layout()
    return summary_caption(fig, summary, profile)


def merge_summaries(summaries: list, keys=None) -> dict:
    """One summary holding the configurations (those in ``keys``, default all) of several sweeps of
    one experiment and profile, to plot them on the same axes in consistent colours.

    Introduced in: 04 · Permuted MNIST
    """
    return {"window": summaries[0]["window"],
            "configurations": {k: e for s in summaries for k, e in s["configurations"].items()
                               if keys is None or k in keys}}


def dead_units_figure(runs, window: int, summaries: list, profile: str):
    """The fraction of dead ReLU units before each task: the MLPs of ``runs`` (computed live) on
    the left, the MLPs of the stored sweeps ``summaries`` (mean over seeds) on the right.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    mlps = [r for r in _runs_list(runs) if r.config["model"] == "mlp"]
    fig, ax = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.6), sharey=True)
    plot_runs(ax[0], mlps, "dead_fraction", window, ylabel="fraction of dead ReLU units")
    ax[0].set_title("computed in this notebook")
    data = {r.data_label for r in mlps}
    scale = f"left: {mlps[0].scale}, {window}-task moving average, ±std band" if mlps else "left: no run"
    if summaries:
        merged = merge_summaries(summaries)
        plot_summary(ax[1], merged, "dead_fraction")
        ax[1].set_ylabel("")
        data |= {e["data_label"] for e in merged["configurations"].values()}
        scale += (f"; right: {summary_extent(merged)}, {merged['window']}-task moving average of the mean, "
                  "± standard error over seeds")
    ax[1].set_title("stored sweeps")
    for a in ax:
        _legend(a, fontsize=7)
    fig.tight_layout()
    left = mlps[0].config["profile"] if mlps else "none"
    return caption(fig, data="; ".join(sorted(data)), profile=f"{left} (left), {profile} (right)", scale=scale)


def variants_figure(summary: dict, released: dict | None, title: str, profile: str = "paper"):
    """A sweep that changes the training (chapter 04's fair budget or remedies, dashed or dotted
    by :func:`training_style`) beside the same models with the released code's training from the
    sweep ``released`` (solid, same colour), if given: accuracy on each new task and relative
    weight norm, means over seeds with standard-error bands. Returns the captioned figure.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    models = {_model_size(e["config"]) for e in summary["configurations"].values()}
    same = [k for k, e in (released or {"configurations": {}})["configurations"].items()
            if _model_size(e["config"]) in models and not changes_training(e["config"])]
    merged = merge_summaries([summary] + ([released] if released else []),
                             keys=set(summary["configurations"]) | set(same))
    fig, ax = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.8))
    plot_summary(ax[0], merged, "test_accuracy", ylabel="test accuracy, new task")
    plot_summary(ax[1], merged, "weight_norm", relative=True, ylabel="weight norm / first tasks")
    _legend(ax[0], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return summary_caption(fig, merged, profile)


def compare_sizes(runs, depth: int, width: int, window: int, source: str):
    """One QNN depth against one MLP width, with the released code's training: accuracy on each new
    task and relative weight norm (chapter 04's depth/width explorer). ``runs`` are the runs to pick
    from, ``source`` says where they come from (caption). Returns the figure.

    Introduced in: 04 · Permuted MNIST
    """
    import matplotlib.pyplot as plt

    chosen = {r.label: r for r in _runs_list(runs) if not changes_training(r.config)
              and _model_size(r.config) in {("qnn", depth), ("mlp", width)}}
    fig, ax = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.4))
    fig.suptitle(f"QNN DP{depth} vs MLP NW{width}")
    if not chosen:
        ax[0].text(0.5, 0.5, f"no run with DP{depth} or NW{width} in {source}", ha="center")
        fig.tight_layout()
        return fig
    first = next(iter(chosen.values()))
    window = choose_window(min(len(r) for r in chosen.values()), window)
    plot_runs(ax[0], chosen, "test_accuracy", window, ylabel="test accuracy on the new task")
    plot_runs(ax[1], chosen, "weight_norm", window, relative=True, ylabel="weight norm / first tasks")
    _legend(ax[0], fontsize=8)
    fig.tight_layout()
    return caption(fig, data=first.data_label, profile=first.config["profile"],
                   scale=f"{first.scale} ({source}); {window}-task moving average, ±std band")


def figure3_summary(summary: dict, runs: dict, title: str, profile: str = "paper"):
    """The paper's Figure 3 from a stored sweep, with the episode length beside it: (a) evaluation
    return and (b) mean episode length against environment steps, the mean over seeds (moving
    average, band ± one standard error) and each seed's own moving average as a thin line.
    ``runs`` maps configuration keys to their runs (one per seed), as
    :func:`qcl_helpers.claims.load_grid` returns them. Returns the captioned figure.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    import matplotlib.pyplot as plt

    colors = summary_colors(summary)
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH * 1.5, 3.8))
    for ax, metric, label in ((axes[0], "mean_reward", "evaluation return\n(10 deterministic episodes)"),
                              (axes[1], "mean_length", "mean episode length (steps)")):
        plot_summary(ax, summary, metric, ylabel=label, x="steps", x_scale=1e6,
                     xlabel="environment steps (millions)")
        for key, members in runs.items():
            for r in members:
                if len(r) >= summary["window"]:
                    idx, ma, _ = moving_average(r[metric], summary["window"])
                    ax.plot(r.steps[idx] / 1e6, ma, color=colors.get(key), lw=1.0, alpha=0.8, ls=":")
    axes[0].axhline(1000, ls="--", color="0.5", lw=0.8, label="standing still (about 1,000)")
    axes[0].set_title("(a) evaluation return: mean over seeds, dotted: each seed")
    axes[1].set_title("(b) episode length (1,000 = never fell)")
    _legend(axes[0], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return summary_caption(fig, summary, profile)


def figure2_summary(summary: dict, title: str, profile: str = "paper"):
    """The paper's Figure 2 b-c from a stored sweep: accuracy on each new task and the empirical
    Fisher trace (log scale), means over seeds with standard-error bands. Returns the captioned figure.

    Introduced in: 05 · Split CIFAR-100
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.8))
    plot_summary(ax[0], summary, "test_accuracy", ylabel="test accuracy, new task")
    ax[0].set_title("(b) accuracy on each new task")
    _legend(ax[0], fontsize=7)
    plot_summary(ax[1], summary, "fim_trace", ylabel="Tr F (probe of task 0)")
    ax[1].set(yscale="log", title="(c) empirical Fisher trace")
    fig.suptitle(title)
    fig.tight_layout()
    return summary_caption(fig, summary, profile)
