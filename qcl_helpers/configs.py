"""Run configurations: what defines a run, for each engine, and the checks every setting goes through.

* :class:`RunConfig` -- a supervised continual run (a task sequence; :mod:`qcl_helpers.continual`);
* :class:`PPOConfig` -- a PPO run (:mod:`qcl_helpers.rl`).

Both turn into the ``config.json`` of a run folder (:meth:`as_dict`), whose
:func:`~qcl_helpers.results.identity` decides whether a folder holds the same run. Experiments
(:mod:`qcl_helpers.experiments`) build them from a profile section with their own ``make_config``.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


class ConfigError(ValueError):
    """A run was asked for with invalid settings. Introduced in: 04 · Permuted MNIST"""


def from_dict(c: dict):
    """The run configuration stored in a ``config.json`` (a :class:`RunConfig` or a :class:`PPOConfig`).

    Introduced in: 04 · Permuted MNIST
    """
    kind = c.get("kind") or ("rl" if "total_steps" in c else "continual")
    return (PPOConfig if kind == "rl" else RunConfig).from_dict(c)


def positive_int(name: str, v) -> int:
    """``v`` as an ``int`` if it is a positive integer, else :class:`ConfigError` naming ``name``.

    Introduced in: 04 · Permuted MNIST
    """
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def seed_value(seed) -> int:
    """A seed as a non-negative ``int``, else :class:`ConfigError`. Introduced in: 04 · Permuted MNIST"""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


#: The settings by which a run departs from the released code's training: the fair budget and the
#: classical remedies (chapter 04).
TRAINING_CHANGES = ("fair", "l2", "shrink_perturb", "continual_backprop")


def changes_training(config: dict) -> bool:
    """Whether a run's config (``config.json`` as a dict) has the fair budget or a classical remedy,
    i.e. departs from the released code's training. Introduced in: 04 · Permuted MNIST
    """
    return any(config.get(k) for k in TRAINING_CHANGES)


def updates_per_task(config, n_train: int | None = None) -> int:
    """Adam updates per task of a run: its fixed ``updates_per_task`` if set, else ``epochs`` whole
    passes over ``n_train`` examples (default: its ``train_per_task``) in batches of ``batch_size``.
    ``config`` is a :class:`RunConfig` or a run's ``config.json`` as a dict.

    Introduced in: 04 · Permuted MNIST
    """
    get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
    n = get("train_per_task") if n_train is None else n_train
    return int(get("updates_per_task") or get("epochs") * -(-n // get("batch_size")))


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a continual run (what ``config.json`` holds, minus provenance).

    Build one with the experiment's ``make_config`` (:func:`qcl_helpers.continual.make_config`),
    which fills the profile's values and checks them. ``extra`` holds settings particular to one
    experiment (e.g. the XXZ chain length); :meth:`as_dict` writes them beside the others.

    Introduced in: 04 · Permuted MNIST
    """

    experiment: str
    model: str
    depth: int | None
    width: int | None
    profile: str
    seed: int
    tasks: int
    train_per_task: int
    test_per_task: int
    batch_size: int
    lr: float
    epochs: int
    reset_optimizer: bool
    fair: bool
    l2: float
    shrink_perturb: tuple | None
    data_source: str
    fim: bool
    fim_probe_samples: int
    precision: str = "single"
    loss_reduction: str = "mean"
    adam_eps: float = 1e-8
    diagnostics: bool = False
    continual_backprop: tuple | None = None
    updates_per_task: int | None = None
    label: str = ""
    data_label: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    kind = "continual"

    @property
    def family(self) -> str:
        """``"qnn"`` or ``"mlp"`` (the model family). Introduced in: 04 · Permuted MNIST"""
        return self.model

    def slug(self) -> str:
        """A readable folder name prefix: experiment, model and size, profile, seed and tags.

        Introduced in: 04 · Permuted MNIST
        """
        size = f"dp{self.depth}" if self.model == "qnn" else f"nw{self.width}"
        parts = [self.experiment, f"{self.model}-{size}", self.profile, f"s{self.seed}", self.data_source]
        if self.fair:
            parts.append("fair")
        if self.l2:
            parts.append(f"l2-{self.l2:g}")
        if self.shrink_perturb:
            parts.append("sp-{:g}-{:g}".format(*self.shrink_perturb))
        if self.continual_backprop:
            parts.append("cbp")
        if self.updates_per_task:
            parts.append(f"u{self.updates_per_task}")
        return "_".join(parts)

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict (what ``config.json`` holds). Introduced in: 04 · Permuted MNIST"""
        d = asdict(self)
        extra = d.pop("extra")
        for k in ("shrink_perturb", "continual_backprop"):
            d[k] = list(d[k]) if d[k] else None
        d.update({k: list(v) if isinstance(v, tuple) else v for k, v in extra.items()})
        d["kind"] = self.kind
        return d

    @classmethod
    def from_dict(cls, c: dict) -> "RunConfig":
        """The config back from ``config.json``: known fields as fields, the experiment's own settings
        in ``extra``; provenance and descriptive keys are dropped. Introduced in: 04 · Permuted MNIST"""
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        skip = {"kind", "git_commit", "versions", "date", "device", "platform", "resumed", "data_description"}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in c.items() if k in names}
        extra = {k: (tuple(v) if isinstance(v, list) else v) for k, v in c.items() if k not in names | skip}
        return cls(**d, extra=extra)

    def __getattr__(self, name):  # experiment-specific settings read like fields: config.sites
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no setting {name!r}")


@dataclass(frozen=True)
class PPOConfig:
    """Everything that defines one PPO run (``config.json`` minus provenance).

    Build one with the experiment's ``make_config`` (e.g. :func:`qcl_helpers.experiments.ant.make_config`).

    Introduced in: 06 · Reinforcement learning on Ant
    """

    experiment: str
    model: str
    profile: str
    seed: int
    depth: int | None  # QNN layers (None for the MLP)
    n_qubits: int | None
    total_steps: int
    eval_every: int
    eval_episodes: int
    n_envs: int
    n_steps: int
    batch_size: int
    n_epochs: int
    lr: float
    gamma: float
    gae_lambda: float
    clip_range: float
    env_id: str
    env_kwargs: tuple = ()
    net_arch: tuple = ()
    qnn_init: tuple = ()
    normalize: bool = False  # SB3 VecNormalize on observations and rewards (statistics kept with the agent)
    log_std_init: float = 0.0  # initial log sigma of the Gaussian policy (SB3's default is 0)
    label: str = ""
    data_label: str = ""

    kind = "rl"

    @property
    def rollout(self) -> int:
        """Environment steps per PPO update (``n_envs * n_steps``)."""
        return self.n_envs * self.n_steps

    def slug(self) -> str:
        """A readable folder name prefix (not its step budget). Introduced in: 06 · Reinforcement learning on Ant"""
        size = f"qnn-dp{self.depth}" if self.model == "qnn" else "mlp"
        return f"{self.experiment}_{size}_{self.profile}_s{self.seed}"

    def arch(self) -> dict:
        """SB3 ``net_arch`` as a dict of lists. Introduced in: 06 · Reinforcement learning on Ant"""
        return {k: list(v) for k, v in self.net_arch}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["env_kwargs"] = dict(self.env_kwargs)
        d["net_arch"] = self.arch()
        d["qnn_init"] = list(self.qnn_init) if self.qnn_init else None
        d["kind"] = self.kind
        return d

    @classmethod
    def from_dict(cls, c: dict) -> "PPOConfig":
        """The config back from ``config.json`` (provenance and unknown keys ignored)."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in c.items() if k in names}
        d["env_kwargs"] = tuple(sorted(dict(c.get("env_kwargs") or {}).items()))
        d["net_arch"] = tuple(sorted((k, tuple(v)) for k, v in dict(c.get("net_arch") or {}).items()))
        d["qnn_init"] = tuple(c.get("qnn_init") or ())
        return cls(**d)
