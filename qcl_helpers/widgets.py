"""Depth and width explorers that also work in the static online book.

The rendered book has no kernel, so :func:`explorer` first draws the default figure as an
ordinary (static) output and only then adds the sliders, which recompute the figure live
when a kernel is attached (Jupyter, Colab). Sliders use ``continuous_update=False`` so a
drag triggers one recomputation, not dozens.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations


def _make_control(name, spec):
    import ipywidgets as w

    if isinstance(spec, (list, tuple)) and spec and not isinstance(spec[0], (int, float)):
        return w.Dropdown(options=list(spec), value=spec[0], description=name)
    if isinstance(spec, (list, tuple)) and len(spec) in (3, 4) and all(isinstance(v, int) for v in spec):
        lo, hi, step = spec[:3]
        value = spec[3] if len(spec) == 4 else lo
        return w.IntSlider(min=lo, max=hi, step=step, value=value, description=name,
                           continuous_update=False)
    if isinstance(spec, (list, tuple)):
        return w.SelectionSlider(options=list(spec), value=spec[0], description=name,
                                 continuous_update=False)
    raise ValueError(f"cannot make a control for {name}={spec!r}: use (min, max, step[, default]) "
                     "for integers or a list of options")


def _show(result) -> None:
    """Show what a plot function drew: the figure it returned, or pyplot's open figures."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        display(result)
        plt.close(result)
    else:
        plt.show()


def explorer(plot_fn, **controls):
    """Draw ``plot_fn(**defaults)`` statically, then return a live widget to vary the arguments.

    Each keyword is one control: ``(min, max, step[, default])`` for an integer slider,
    or a list of options (numbers: selection slider; strings: dropdown; first = default).
    ``plot_fn`` draws with matplotlib and returns its figure (or nothing: then pyplot's
    open figures are shown). Works with ipywidgets 7.7 (Colab) and 8.x.

    Introduced in: 03 · QNN ansätze
    """
    import ipywidgets as w
    from IPython.display import display

    if not controls:
        raise ValueError("explorer needs at least one control, e.g. depth=(1, 8, 1)")
    widgets = {name: _make_control(name, spec) for name, spec in controls.items()}
    _show(plot_fn(**{name: c.value for name, c in widgets.items()}))  # what the online book shows

    first = {"skip": True}

    def redraw(**kwargs):
        if first["skip"]:  # interactive_output calls once at once: the default, already drawn
            first["skip"] = False
            return
        _show(plot_fn(**kwargs))

    interactive = w.interactive_output(redraw, widgets)
    box = w.VBox([w.HBox(list(widgets.values())), interactive])
    display(box)
    return box
