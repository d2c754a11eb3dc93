"""The experiment registry: a fifth experiment is one module plus one profile section.

The toy experiment below is everything a new supervised experiment needs: its sizes (registered as
a profile section), a task stream, model factories and a grid. Nothing in the engines, the command
line or the sweep is edited for it, yet all of them run it.
"""
import dataclasses

import numpy as np
import pytest
import torch

from qcl_helpers import circuits, continual, experiments, models, profiles, readouts, results, runner
from qcl_helpers.__main__ import main
from qcl_helpers.data import Task
from qcl_helpers.experiments.base import Experiment, Grid, continual_config


@dataclasses.dataclass(frozen=True)
class ToySizes:
    tasks: int = 100
    train_per_task: int = 64
    test_per_task: int = 32
    batch_size: int = 16
    qnn_depths: tuple = (1,)
    qnn_lr: float = 0.05
    qnn_epochs: int = 2
    qnn_reset_optimizer: bool = False
    mlp_widths: tuple = (8,)
    mlp_lr: float = 0.01
    mlp_epochs: int = 2
    mlp_reset_optimizer: bool = False
    moving_average: int = 2
    data_source: str = "gauss"


class ToyStream:
    """Each task: two Gaussian blobs in 4 dimensions on either side of a random direction."""

    def __init__(self, seed, n_train, n_test):
        self.seed, self.n_train, self.n_test = seed, n_train, n_test

    def describe(self):
        return "two Gaussian blobs per task (a toy)"

    def task(self, t, family):
        rng = np.random.default_rng([self.seed, t])
        w = rng.normal(size=4)
        x = rng.normal(size=(self.n_train + self.n_test, 4))
        y = (x @ w > 0).astype(np.int64)
        xt = torch.tensor(x, dtype=torch.float32)
        if family == "qnn":
            xt = circuits.amplitude_encode(xt, 2)
        return Task(xt[: self.n_train], torch.tensor(y[: self.n_train]), xt[self.n_train:],
                    torch.tensor(y[self.n_train:]), info=f"toy task {t}")


def _build(config):
    if config.model == "qnn":
        return models.QNN(circuits.make_layout("brickwall", 2, config.depth), readouts.PauliZ(1, pair=True),
                          seed=config.seed)
    torch.manual_seed(config.seed)
    return models.MLP([4, config.width, 2])


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(profiles._SECTIONS, "toy", {})
    profiles.register_section("toy", paper=ToySizes(), quick=ToySizes(tasks=10), ci=ToySizes(tasks=3))
    exp = Experiment(
        name="toy", kind="continual", section="toy", title="a toy experiment", sources={"gauss": "Gaussian blobs"},
        default_tags=("gauss",), make_config=lambda model, **kw: continual_config(exp, model, **kw),
        build_model=_build, stream=lambda c: ToyStream(c.seed, c.train_per_task, c.test_per_task),
        grids={"toy-grid": Grid("toy-grid", "toy", "both families", lambda P: [
            dict(model="qnn", depth=1), dict(model="mlp", width=8)], seeds=2)})
    experiments.register(exp)
    yield exp
    experiments.unregister("toy")


def test_a_new_experiment_runs_through_every_engine(toy, tmp_path, capsys):
    cfg = runner.make_config("toy", "mlp", profile="ci")
    assert (cfg.tasks, cfg.label, cfg.data_label) == (3, "MLP NW8", "Gaussian blobs")
    run = continual.run(cfg, tmp_path / "mlp", progress=False)
    assert len(run) == 3 and run.complete and np.isfinite(run["test_accuracy"]).all()
    # the command line lists and runs it
    assert main(["list"]) == 0
    assert "toy-grid" in capsys.readouterr().out
    assert main(["run", "toy", "--model", "qnn", "--profile", "ci", "--out", str(tmp_path / "q"), "--no-progress"]) == 0
    assert results.load_run(tmp_path / "q").label == "QNN DP1"
    # the sweep plans its grid (running it on Ray is tested in test_sweep.py)
    from qcl_helpers import sweep

    _, _, runs = sweep.plan("toy-grid", profile="ci", out=tmp_path)
    assert [(r.key, r.seed) for r in runs] == [("qnn-dp1", 0), ("mlp-nw8", 0), ("qnn-dp1", 1), ("mlp-nw8", 1)]


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(experiments.UnknownName, match="unknown experiment 'imagenet'; choose one of ant, "):
        experiments.get("imagenet")
    with pytest.raises(experiments.UnknownName, match="unknown grid 'figure9'"):
        experiments.get_grid("figure9")
    assert set(experiments.names()) >= {"permuted-mnist", "split-cifar100", "xxz", "ant"}
    assert {"figure1", "figure2", "figure3", "figure4"} <= set(experiments.grids())


def test_two_configurations_never_share_a_default_folder(tmp_path):
    a = runner.make_config("permuted-mnist", "mlp", profile="ci", width=16)
    b = runner.make_config("permuted-mnist", "mlp", profile="ci", width=16, l2=1e-4)
    c = runner.make_config("permuted-mnist", "mlp", profile="ci", width=16, tasks=99)  # budget only
    fa, fb, fc = (results.default_folder(x, tmp_path) for x in (a, b, c))
    assert fa != fb and fa == fc
    # the hash covers every setting that changes results, e.g. Adam's epsilon
    d = dataclasses.replace(a, adam_eps=1e-8)
    assert results.config_hash(d.as_dict()) != results.config_hash(a.as_dict())


def test_zero_or_negative_sizes_are_refused():
    from qcl_helpers.configs import ConfigError

    for kw, msg in ((dict(train_per_task=0), "train_per_task must be a positive integer, got 0"),
                    (dict(test_per_task=-5), "test_per_task must be a positive integer, got -5"),
                    (dict(tasks=0), "tasks must be a positive integer"), (dict(epochs=0), "epochs must be"),
                    (dict(seed=-1), "seed must be a non-negative integer")):
        with pytest.raises(ConfigError, match=msg):
            runner.make_config("permuted-mnist", "mlp", profile="ci", **kw)
