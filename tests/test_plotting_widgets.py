import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from qcl_helpers import plotting, widgets  # noqa: E402


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


def test_plot_band_caption_and_colors():
    fig, ax = plt.subplots()
    line = plotting.plot_band(ax, np.arange(10.0), 3, label="x", color="C0")
    assert len(line.get_xdata()) == 8 and len(ax.collections) == 1
    plotting.caption(fig, data="MNIST", profile="ci", scale="3 tasks")
    assert any("profile: ci" in t.get_text() for t in fig.texts)
    assert len(plotting.family_colors([1, 2, 3], "qnn")) == 3
    with pytest.raises(ValueError, match="unknown model family"):
        plotting.family_colors([1], "cnn")
    plt.close(fig)


def test_explorer_draws_static_default_then_returns_widget():
    calls = []

    def plot(depth, layout):
        calls.append((depth, layout))
        plt.figure()

    box = widgets.explorer(plot, depth=(1, 4, 1, 2), layout=["brickwall", "ladder"])
    assert calls == [(2, "brickwall")]
    sliders = box.children[0].children
    assert sliders[0].continuous_update is False and sliders[0].value == 2
    sliders[0].value = 3  # a live change recomputes the figure
    assert calls[-1] == (3, "brickwall")
    with pytest.raises(ValueError, match="cannot make a control"):
        widgets.explorer(plot, depth=5)
    plt.close("all")


def _fake_run(model, size, tasks=12, source="test-split", seed=0, **extra):
    from pathlib import Path

    from qcl_helpers.results import Run

    rng = np.random.default_rng(seed)
    config = {"model": model, "depth": size if model == "qnn" else None, "width": size if model == "mlp" else None,
              "profile": "ci", "data_source": source, "train_per_task": 100, "test_per_task": 50, **extra}
    rows = [{"task": t, "test_accuracy": float(rng.uniform(0.4, 0.9)), "weight_norm": 1.0 + 0.1 * t,
             "grad_norm": float(rng.uniform(0.5, 1.5)), "fim_trace": float(rng.uniform(0.1, 1.0)),
             "dead_fraction": 0.1 if model == "mlp" else None} for t in range(tasks)]
    return Run(Path("/nonexistent") / f"{model}{size}", config, rows)


def test_run_figures_and_summary_table():
    from qcl_helpers import results

    runs = {r.label: r for r in (_fake_run("qnn", 2), _fake_run("qnn", 4), _fake_run("mlp", 16),
                                 _fake_run("mlp", 16, fair=True, seed=1))}
    colors = plotting.run_colors(runs)
    assert colors["QNN DP2"] != colors["QNN DP4"] and len(colors) == 4
    for draw in (lambda: plotting.figure1(runs, 3, "t"), lambda: plotting.figure2(runs, 3, "t"),
                 lambda: plotting.side_by_side({"a": runs, "b": runs}, "test_accuracy", "acc", 3),
                 lambda: plotting.accuracy_figure(runs, 3, "t", data="d", scale="s")):
        assert draw() is None  # the figure is shown, not returned
        plt.close("all")
    standin = {"x": _fake_run("mlp", 8, source="standin")}
    plotting.figure2(standin, 2, "Split CIFAR-100")
    plt.close("all")
    text = results.summary_table(runs, 3, fim=True, dead=True)
    lines = text.splitlines()
    assert len(lines) == 5 and "TrF first" in lines[0] and "dead last" in lines[0]
    assert lines[1].split()[:2] == ["QNN", "DP2"] and lines[1].split()[-1] == "-"
    # the weight norm grows from 1.0 to 2.1 over 12 tasks: last/first window ratio over 3 tasks
    assert f"{(2.0 / 1.1):.2f}" in lines[3]
