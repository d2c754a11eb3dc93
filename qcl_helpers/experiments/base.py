"""The experiment registry: one :class:`Experiment` record per experiment, registered in one place.

An experiment module (``permuted_mnist``, ``split_cifar100``, ``xxz_eigenstates``, ``ant``) says
everything that is particular to it -- the profile section with its sizes, its data sources and
how captions must name them, its task stream or environment, its models, its labels and its named
sweep grids -- and calls :func:`register`. The engines (:mod:`qcl_helpers.continual` for
supervised task sequences, :mod:`qcl_helpers.rl` for PPO) and the sweep know no experiment by
name: they look the record up here. A new experiment is one new module plus one profile section
(:func:`qcl_helpers.profiles.register_section`).

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

#: Adam's epsilon per model family in the released code: its MLPs are Keras models (Keras Adam,
#: eps 1e-7), its QNNs are trained with optax's adam (eps 1e-8).
ADAM_EPS = {"qnn": 1e-8, "mlp": 1e-7}
MODELS = ("qnn", "mlp")


class UnknownName(ValueError):
    """An experiment or grid name that is not registered. Introduced in: 04 · Permuted MNIST"""


@dataclass(frozen=True)
class Grid:
    """A named sweep: the runs one figure (or ablation) needs, per profile, times seeds.

    ``runs(profile)`` returns one dict of settings per configuration (``model`` and ``depth`` or
    ``width``, plus any option of the experiment's ``make_config``, e.g. ``fair=True``); each is run
    with seeds ``0 .. seeds-1`` unless the sweep command says otherwise. ``seeds`` is the grid's
    default (the book's figures use at least 3).

    Introduced in: 04 · Permuted MNIST
    """

    name: str
    experiment: str
    description: str
    runs: Callable
    seeds: int = 3


@dataclass(frozen=True)
class Experiment:
    """Everything particular to one experiment; see the module docstring.

    * ``name`` -- as on the command line (``permuted-mnist``); ``kind`` -- ``"continual"`` (a task
      sequence, run by :func:`qcl_helpers.continual.run`) or ``"rl"`` (PPO, :func:`qcl_helpers.rl.run_ppo`);
    * ``section`` -- its profile section (``profile.<section>`` holds its sizes);
    * ``sources`` -- data source -> the words every caption must use for it (stand-ins say so);
      ``default_tags`` -- sources that are the experiment's reference and get no label tag;
    * ``make_config(model, profile=..., seed=..., **options)`` -- a checked run configuration;
    * ``stream(config)`` (continual) -- the task stream; ``build_model(config)`` -- the model;
    * ``grids`` -- its named sweeps (:class:`Grid`).

    Introduced in: 04 · Permuted MNIST
    """

    name: str
    kind: str
    section: str
    title: str
    sources: dict
    make_config: Callable
    build_model: Callable | None = None
    stream: Callable | None = None
    default_tags: tuple = ()
    grids: dict = field(default_factory=dict)

    def label(self, config: dict) -> str:
        """``"QNN DP4"`` / ``"MLP NW16"`` with budget, remedy and data tags. Introduced in: 04 · Permuted MNIST"""
        c = config
        if c["model"] == "qnn":
            base = f"QNN DP{c['depth']}"
        else:
            base = f"MLP NW{c['width']}" if c.get("width") else f"MLP {list(c['net_arch']['pi'])}"
        tags = [t for t, on in (("fair", c.get("fair")), (f"L2 {c.get('l2')}", c.get("l2")),
                                ("S&P", c.get("shrink_perturb")), ("CBP", c.get("continual_backprop")),
                                (c.get("data_source"), c.get("data_source") not in self.default_tags)) if on]
        return base + (f" ({', '.join(tags)})" if tags else "")

    def data_label(self, source: str) -> str:
        """What data ``source`` is, in caption words. Introduced in: 04 · Permuted MNIST"""
        return self.sources.get(source, str(source))


_REGISTRY: dict = {}


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` (and its grids) to the registry; return it. Introduced in: 04 · Permuted MNIST"""
    if experiment.kind not in ("continual", "rl"):
        raise ValueError(f"experiment kind must be 'continual' or 'rl', got {experiment.kind!r}")
    for g in experiment.grids.values():
        other = grid_owner(g.name)
        if other is not None and other != experiment.name:
            raise ValueError(f"grid {g.name!r} is already defined by experiment {other!r}")
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> None:
    """Remove an experiment (used by tests that register a toy one). Introduced in: 04 · Permuted MNIST"""
    _REGISTRY.pop(name, None)


def names(kind: str | None = None) -> tuple:
    """Registered experiment names (of one ``kind`` if given). Introduced in: 04 · Permuted MNIST"""
    return tuple(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)


def get(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name raises :class:`UnknownName` listing the others.

    Introduced in: 04 · Permuted MNIST
    """
    if name not in _REGISTRY:
        raise UnknownName(f"unknown experiment {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def grid_owner(grid: str) -> str | None:
    for e in _REGISTRY.values():
        if grid in e.grids:
            return e.name
    return None


def grids() -> dict:
    """Every registered grid: ``{name: Grid}``. Introduced in: 04 · Permuted MNIST"""
    return {g.name: g for e in _REGISTRY.values() for g in e.grids.values()}


def get_grid(name: str) -> Grid:
    """The grid called ``name``; an unknown name raises :class:`UnknownName` listing the others.

    Introduced in: 04 · Permuted MNIST
    """
    all_grids = grids()
    if name not in all_grids:
        raise UnknownName(f"unknown grid {name!r}; choose one of {', '.join(sorted(all_grids))} "
                          "(python -m qcl_helpers sweep --list)")
    return all_grids[name]


def continual_config(exp: Experiment, model: str, *, profile=None, depth=None, width=None, seed: int = 0,
                     tasks=None, fair: bool = False, l2: float = 0.0, shrink_perturb=None, data_source=None,
                     fim=None, epochs=None, reset_optimizer=None, train_per_task=None, test_per_task=None,
                     precision: str = "single", diagnostics: bool = False, continual_backprop=None,
                     updates_per_task=None, resolve_source: Callable | None = None, extra: Callable | None = None):
    """A checked :class:`~qcl_helpers.configs.RunConfig` for a continual experiment, with the values
    of the profile section ``exp.section`` for everything not given.

    ``fair=True`` gives both model families the **same budget**: the section's QNN epochs per task
    and a persistent Adam (no per-task reset -- itself a plasticity aid). Without it, the released
    code's settings are used (permuted MNIST: QNN 5 epochs + fresh Adam per task, MLP 1 epoch +
    persistent Adam). ``epochs``/``reset_optimizer`` override either. ``resolve_source(source)``
    turns ``"auto"`` into an available source; ``extra(sizes, model, fair, options)`` returns the
    experiment's own settings (and may fix the task sizes).

    Introduced in: 04 · Permuted MNIST
    """
    from ..configs import ConfigError, RunConfig, positive_int, seed_value

    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    prof = resolve_profile(profile)
    s = getattr(prof, exp.section)
    if model == "qnn":
        if width is not None:
            raise ConfigError("--width applies to --model mlp; a QNN is sized by --depth")
        depth = positive_int("depth", s.qnn_depths[0] if depth is None else depth)
    else:
        if depth is not None:
            raise ConfigError("--depth applies to --model qnn; an MLP is sized by --width")
        width = positive_int("width", s.mlp_widths[0] if width is None else width)
    tasks = positive_int("tasks", s.tasks if tasks is None else tasks)
    seed = seed_value(seed)
    per_family_epochs = lambda m: getattr(s, f"{m}_epochs", None) or s.epochs  # noqa: E731
    fam_epochs, fam_reset = per_family_epochs(model), getattr(s, f"{model}_reset_optimizer")
    if fair:
        fam_epochs, fam_reset = per_family_epochs("qnn"), False
    epochs = positive_int("epochs", fam_epochs if epochs is None else epochs)
    if updates_per_task is not None:
        updates_per_task = positive_int("updates_per_task", updates_per_task)
    reset = bool(fam_reset if reset_optimizer is None else reset_optimizer)
    l2 = float(l2 or 0.0)
    if l2 < 0:
        raise ConfigError(f"l2 must be >= 0, got {l2}")
    if shrink_perturb is not None:
        try:
            shrink, sigma = (float(v) for v in shrink_perturb)
        except (TypeError, ValueError):
            raise ConfigError(f"shrink_perturb must be two numbers (shrink, sigma), got {shrink_perturb!r}") from None
        if not (0 < shrink <= 1 and sigma >= 0):
            raise ConfigError(f"shrink_perturb needs 0 < shrink <= 1 and sigma >= 0, got {shrink}, {sigma}")
        shrink_perturb = (shrink, sigma)
    if continual_backprop is not None:
        if model != "mlp":
            raise ConfigError("continual backprop replaces hidden units: it applies to --model mlp only")
        try:
            rate, maturity = float(continual_backprop[0]), int(continual_backprop[1])
        except (TypeError, ValueError, IndexError):
            raise ConfigError("continual_backprop must be (replacement rate, maturity threshold), "
                              f"got {continual_backprop!r}") from None
        if not (0 < rate < 1 and maturity >= 1):
            raise ConfigError(f"continual backprop needs 0 < rate < 1 and maturity >= 1, got {rate}, {maturity}")
        continual_backprop = (rate, maturity)
    if precision not in ("single", "double"):
        raise ConfigError(f"precision must be 'single' or 'double', got {precision!r}")
    if fim is None:
        fim = bool(getattr(s, "fim", False))
    source = s.data_source if data_source is None else data_source
    if source not in exp.sources:
        if source == "auto" and resolve_source is not None:
            source = resolve_source()
        else:
            raise ConfigError(f"unknown data source {source!r} for {exp.name}; choose "
                              f"{', '.join((('auto',) if resolve_source else ()) + tuple(exp.sources))}")
    for name, v in (("train_per_task", train_per_task), ("test_per_task", test_per_task)):
        if v is not None:
            positive_int(name, v)
    options = dict(train_per_task=train_per_task, test_per_task=test_per_task, data_source=source)
    more = extra(s, model, fair, options) if extra is not None else {}
    loss_reduction = more.pop("loss_reduction", "mean")
    train_per_task = more.pop("train_per_task", train_per_task)
    test_per_task = more.pop("test_per_task", test_per_task)
    cfg = dict(experiment=exp.name, model=model, depth=depth, width=width, profile=prof.name, seed=seed,
               tasks=tasks,
               train_per_task=positive_int("train_per_task", s.train_per_task if train_per_task is None
                                           else train_per_task),
               test_per_task=positive_int("test_per_task", s.test_per_task if test_per_task is None
                                          else test_per_task),
               batch_size=positive_int("batch_size", s.batch_size), lr=float(getattr(s, f"{model}_lr")),
               epochs=epochs, reset_optimizer=reset, fair=bool(fair), l2=l2, shrink_perturb=shrink_perturb,
               data_source=source, fim=bool(fim),
               fim_probe_samples=positive_int("fim_probe_samples", getattr(s, "fim_probe_samples", 64)),
               precision=precision, loss_reduction=loss_reduction, adam_eps=ADAM_EPS[model],
               diagnostics=bool(diagnostics), continual_backprop=continual_backprop,
               updates_per_task=updates_per_task)
    tmp = dict(cfg, **more)
    return RunConfig(**cfg, label=exp.label(tmp), data_label=exp.data_label(source), extra=more)


def seeded(seed: int, factory: Callable, *args, **kwargs):
    """``factory(*args, **kwargs)`` with torch's global RNG seeded by ``seed`` (and restored after),
    so a model's initial weights depend on the run's seed only. Introduced in: 04 · Permuted MNIST"""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return factory(*args, **kwargs)


def options_of(exp: Experiment) -> tuple:
    """The option names ``exp.make_config`` accepts besides ``model`` (for one-line errors about
    options that do not apply). Introduced in: 04 · Permuted MNIST"""
    import inspect

    fn = continual_config if exp.kind == "continual" else exp.make_config
    skip = {"exp", "model", "resolve_source", "extra", "options"}
    return tuple(p for p in inspect.signature(fn).parameters if p not in skip)


def first_available(candidates: tuple, fallback: str) -> Callable[[], str]:
    """A resolver of a ``data_source="auto"``: the name of the first ``(name, load)`` candidate
    whose ``load()`` runs without :class:`qcl_helpers.data.DataUnavailable`, else ``fallback``;
    remembered per data folder (``QCL_DATA_DIR``), so each loader is tried once.

    Introduced in: 04 · Permuted MNIST
    """
    from .. import data

    @functools.lru_cache(maxsize=None)
    def resolve(_where: str) -> str:
        for name, load in candidates:
            try:
                load()
                return name
            except data.DataUnavailable:
                continue
        return fallback

    return lambda: resolve(str(data.data_dir()))


def resolve_profile(profile):
    """:func:`qcl_helpers.profiles.resolve`, with an unknown name as a one-line
    :class:`~qcl_helpers.configs.ConfigError`. Introduced in: 04 · Permuted MNIST"""
    from .. import profiles
    from ..configs import ConfigError

    try:
        return profiles.resolve(profile)
    except profiles.ProfileError as exc:
        raise ConfigError(str(exc)) from None


def paper_models(name: str) -> Callable:
    """``build_model(config)`` for an experiment whose models are ``models.PAPER_MODELS[name]``: the
    QNN at ``config.depth`` or the MLP at ``config.width``, seeded by ``config.seed``.

    Introduced in: 04 · Permuted MNIST
    """
    def build_model(config):
        from .. import models

        if config.model == "qnn":
            return models.paper_qnn(name, depth=config.depth, seed=config.seed, precision=config.precision)
        return seeded(config.seed, models.paper_mlp, name, config.width)

    build_model.__doc__ = f"The paper's QNN or MLP for {name}, seeded by the run's seed."
    return build_model


def image_stream(cls) -> Callable:
    """``stream(config)`` for a task-stream class of :mod:`qcl_helpers.data` built from the
    configuration's data source, seed and task sizes; cached per data settings and data folder.

    Introduced in: 04 · Permuted MNIST
    """
    import functools

    @functools.lru_cache(maxsize=4)
    def _cached(source, seed, train_per_task, test_per_task, _where):
        return cls(source, seed=seed, train_per_task=train_per_task, test_per_task=test_per_task)

    def stream(config):
        from .. import data

        return _cached(config.data_source, config.seed, config.train_per_task, config.test_per_task,
                       str(data.data_dir()))

    stream.__doc__ = f"The {cls.__name__} task stream of a run configuration (cached per data settings)."
    return stream
