"""Behaviour of the plot helpers and the explorers: what they return, draw and say."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from qcl_helpers import plotting, widgets  # noqa: E402

LEGIBLE_PX = 12  # smallest text height (pixels) readable beside 16 px body text


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_moving_average():
    idx, mean, std = plotting.moving_average([1, 2, 3, 4, 5], 2)
    assert idx.tolist() == [1, 2, 3, 4]
    assert mean.tolist() == [1.5, 2.5, 3.5, 4.5]
    assert np.allclose(std, 0.5)
    idx, mean, _ = plotting.moving_average([1.0, 3.0], 10)  # window shrinks to the data
    assert idx.tolist() == [1] and mean.tolist() == [2.0]
    with pytest.raises(ValueError, match="positive integer"):
        plotting.moving_average([1, 2], 0)
    with pytest.raises(ValueError, match="at least one value"):
        plotting.moving_average([], 3)


def test_choose_window_keeps_the_preferred_window_within_a_fifth_and_a_twentieth():
    assert plotting.choose_window(100, 5) == 5        # neither long nor short
    assert plotting.choose_window(1000, 5) == 50      # long stored run: a twentieth
    assert plotting.choose_window(10, 5) == 2         # short run: at most a fifth
    assert plotting.choose_window(3, 5) == 1
    with pytest.raises(ValueError, match="n_points >= 1"):
        plotting.choose_window(0, 5)


def test_plot_band_draws_the_moving_average_and_its_band():
    fig, ax = plt.subplots()
    line = plotting.plot_band(ax, np.arange(10.0), 3, label="x", color="C0")
    assert np.allclose(line.get_xdata(), np.arange(2, 10))
    assert np.allclose(line.get_ydata(), np.arange(1.0, 9.0))  # mean of (t-2, t-1, t)
    (band,) = ax.collections
    ys = band.get_paths()[0].vertices[:, 1]
    std = np.std([0.0, 1.0, 2.0])
    assert np.isclose(ys.max(), 8.0 + std) and np.isclose(ys.min(), 1.0 - std)


def test_too_little_data_is_said_in_words_once_instead_of_dots():
    fig, ax = plt.subplots()
    assert plotting.plot_band(ax, [1.0, 2.0, 3.0], 3) is None  # 3 points, 3-point window
    assert plotting.plot_band(ax, [2.0], 3) is None
    assert not ax.lines and not ax.collections
    notes = [" ".join(t.get_text().split()) for t in ax.texts]
    assert len(notes) == 1 and "Too little data" in notes[0] and "at least 4" in notes[0]
    assert plotting.has_curve(4, 3) and not plotting.has_curve(3, 3)
    fig.canvas.draw()
    shown = [t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_visible() and t.get_text()]
    assert shown == []  # no empty 0..1 scales
    # the note fits inside the axes it is written in
    note = ax.texts[0].get_window_extent()
    assert ax.get_window_extent().contains(note.x0, note.y0)
    assert ax.get_window_extent().contains(note.x1, note.y1)


def test_caption_is_attached_and_readable_outside_a_notebook():
    fig, ax = plt.subplots(figsize=(11, 4))  # wider than the column: scaled down on the page
    ax.plot([0, 1])
    assert plotting.caption(fig, data="MNIST", profile="ci", scale="3 tasks") is fig
    assert fig._qcl_caption == "Data: MNIST · profile: ci · scale: 3 tasks"
    (text,) = [t for t in fig.texts if "profile: ci" in t.get_text()]
    assert text.get_position()[1] < 0  # under the axes, not over them
    scale = 700 / (11 * fig.dpi)
    assert text.get_fontsize() * fig.dpi / 72 * scale >= LEGIBLE_PX


def test_figure_html_shows_the_caption_as_text_under_the_image():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert plotting.figure_html(fig) is None  # no caption: IPython shows the plain PNG
    fig._qcl_caption = "Data: d · profile: ci · scale: s"
    html = plotting.figure_html(fig)
    assert html.index("<img src=\"data:image/png;base64,") < html.index("<figcaption")
    assert "Data: d · profile: ci · scale: s</figcaption>" in html


def _fake_run(model, size, tasks=12, source="test-split", seed=0, **extra):
    from pathlib import Path

    from qcl_helpers.results import Run

    rng = np.random.default_rng(seed)
    config = {"model": model, "depth": size if model == "qnn" else None,
              "width": size if model == "mlp" else None, "profile": "ci", "data_source": source,
              "train_per_task": 100, "test_per_task": 50, **extra}
    rows = [{"task": t, "test_accuracy": float(rng.uniform(0.4, 0.9)), "weight_norm": 1.0 + 0.1 * t,
             "grad_norm": float(rng.uniform(0.5, 1.5)), "fim_trace": float(rng.uniform(0.1, 1.0)),
             "dead_fraction": 0.1 if model == "mlp" else None} for t in range(tasks)]
    return Run(Path("/nonexistent") / f"{model}{size}", config, rows)


def _runs():
    return {r.label: r for r in (_fake_run("qnn", 2), _fake_run("qnn", 4), _fake_run("mlp", 16),
                                 _fake_run("mlp", 16, fair=True, seed=1, label="MLP NW16 fair"))}


def test_run_figures_are_returned_captioned_and_legible_at_the_column_width():
    runs = _runs()
    colors = plotting.run_colors(runs)
    assert colors["QNN DP2"] != colors["QNN DP4"] and len(colors) == 4
    figures = {
        "figure1": plotting.figure1(runs, 3, "t"),
        "figure2": plotting.figure2(runs, 3, "t"),
        "side_by_side": plotting.side_by_side({"a": runs, "b": runs}, "test_accuracy", "acc", 3),
        "accuracy_figure": plotting.accuracy_figure(runs, 3, "t", data="d", scale="s"),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), f"{name} returned {fig!r}, not its figure"
        assert "profile: ci" in fig._qcl_caption, name
        assert fig.get_size_inches()[0] <= plotting.COLUMN_WIDTH + 1e-9, name
        assert plotting.rendered_font_px(fig) >= LEGIBLE_PX, name
        # every run is drawn: 4 curves in the accuracy panel, fair budget dashed
        ax = fig.axes[0]
        assert len(ax.lines) >= 4, name
        assert sum(line.get_linestyle() == "--" for line in ax.lines) == 1, name
    # the same check fails on the old style: an 11-inch figure with 8-point legends
    old, ax = plt.subplots(figsize=(11, 7.6))
    ax.plot([0, 1], label="QNN DP2")
    ax.legend(fontsize=8)
    assert plotting.rendered_font_px(old) < LEGIBLE_PX
    standin = plotting.figure2({"x": _fake_run("mlp", 8, source="standin")}, 2, "Split CIFAR-100")
    assert standin._suptitle.get_text().startswith("STAND-IN DATA")


def test_run_figure_with_too_few_tasks_says_so():
    short = {r.label: r for r in (_fake_run("qnn", 2, tasks=2), _fake_run("mlp", 16, tasks=2))}
    fig = plotting.accuracy_figure(short, 3, "t", data="d", scale="s")
    ax = fig.axes[0]
    assert not [line for line in ax.lines if len(line.get_xdata()) > 2]  # only the chance line
    assert any("Too little data" in t.get_text() for t in ax.texts)
    assert ax.get_legend() is None


def test_summary_table():
    from qcl_helpers import results

    runs = _runs()
    text = results.summary_table(runs, 3, fim=True, dead=True)
    lines = text.splitlines()
    assert len(lines) == 5 and "TrF first" in lines[0] and "dead last" in lines[0]
    assert lines[1].split()[:2] == ["QNN", "DP2"] and lines[1].split()[-1] == "-"
    # the weight norm grows from 1.0 to 2.1 over 12 tasks: last/first window ratio over 3 tasks
    assert f"{(2.0 / 1.1):.2f}" in lines[3]


def test_book_style_sets_legible_fonts():
    with matplotlib.rc_context():
        plotting.book_style()
        assert matplotlib.rcParams["legend.fontsize"] >= 9.5
        fig, ax = plt.subplots()
        ax.plot([0, 1], label="x")
        ax.legend()
        ax.set(xlabel="task", ylabel="accuracy", title="t")
        assert fig.get_size_inches()[0] <= plotting.COLUMN_WIDTH
        assert plotting.rendered_font_px(fig) >= LEGIBLE_PX


def test_explorer_draws_static_default_then_recomputes_live(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, *a, **k: shown.append(obj))
    calls = []

    def plot(depth, layout):
        calls.append((depth, layout))
        fig, ax = plt.subplots()
        ax.plot(range(depth))
        return fig

    box = widgets.explorer(plot, depth=(1, 4, 1, 2), layout=["brickwall", "ladder"])
    assert calls == [(2, "brickwall")]
    # the static figure is shown first (what the online book keeps), then the widget
    assert isinstance(shown[0], Figure) and shown[-1] is box
    assert plt.get_fignums() == []  # the returned figure was shown once and closed
    depth, layout = box.children[0].children
    assert depth.continuous_update is False and depth.value == 2
    assert layout.options == ("brickwall", "ladder")
    depth.value = 3  # a live change recomputes the figure
    layout.value = "ladder"
    assert calls == [(2, "brickwall"), (3, "brickwall"), (3, "ladder")]


def test_explorer_rejects_bad_controls():
    with pytest.raises(ValueError, match="cannot make a control"):
        widgets.explorer(lambda depth: None, depth=5)
    with pytest.raises(ValueError, match="at least one control"):
        widgets.explorer(lambda: None)
