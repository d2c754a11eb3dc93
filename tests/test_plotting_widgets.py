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
