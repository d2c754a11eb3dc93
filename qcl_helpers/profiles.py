"""Scale profiles: one switch, ``QCL_PROFILE``, sets every size a chapter uses.

* ``ci``    -- seconds per chapter; what the tests and CI run.
* ``quick`` -- the default; minutes per chapter on a laptop CPU or free Colab.
* ``paper`` -- the exact settings of the paper's released code (GPU hours).

A chapter reads its sizes from :func:`current` and prints them next to the
paper's values with :meth:`Profile.compare`, e.g. ``tasks: 20 (paper: 1,000)``.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

ENV_VAR = "QCL_PROFILE"
DEFAULT = "quick"


class ProfileError(ValueError):
    """Raised for an unknown profile name. Introduced in: 03 · QNN ansätze"""


@dataclass(frozen=True)
class AnsatzSizes:
    """Sizes used by the QNN-ansätze chapter (the book's own; the paper has no such chapter)."""

    FROM_PAPER = False

    n_qubits: int = 6  # circuits drawn and simulated live in the chapter
    depths: tuple = (1, 2, 4, 8)  # rows of the parameter-count table
    max_widget_depth: int = 8
    reference_samples: int = 4  # random inputs compared against PennyLane
    random_circuits: int = 200  # samples in the <Z> histogram


@dataclass(frozen=True)
class PermutedMnistSizes:
    """Permuted MNIST (paper Figure 1). Paper values are the released code's."""

    tasks: int = 1000
    train_per_task: int = 60_000
    test_per_task: int = 10_000
    batch_size: int = 128
    qnn_depths: tuple = (4,)
    qnn_lr: float = 0.03
    qnn_epochs: int = 5
    qnn_reset_optimizer: bool = True
    mlp_widths: tuple = (16,)
    mlp_lr: float = 1e-3
    mlp_epochs: int = 1
    mlp_reset_optimizer: bool = False
    moving_average: int = 40
    # "official": MNIST's train split for training, its test split for testing; "test-split":
    # disjoint subsets of the official 10k test split only; "auto": official when it can be
    # found or downloaded, else test-split (said so in every printout and caption).
    data_source: str = "official"


@dataclass(frozen=True)
class SplitCifarSizes:
    """Split CIFAR-100 (paper Figure 2)."""

    tasks: int = 3000
    train_per_task: int = 1000
    test_per_task: int = 200
    batch_size: int = 128
    qnn_depths: tuple = (10,)
    qnn_lr: float = 1e-3
    qnn_epochs: int = 5
    qnn_reset_optimizer: bool = False
    mlp_widths: tuple = (256,)
    mlp_lr: float = 1e-3
    mlp_epochs: int = 5
    mlp_reset_optimizer: bool = False
    fim_probe_samples: int = 64
    moving_average: int = 150
    # "cifar100": the official files; "standin": a generated stand-in (never called CIFAR-100);
    # "auto": CIFAR-100 when it can be found or downloaded, else the stand-in.
    data_source: str = "cifar100"


@dataclass(frozen=True)
class AntSizes:
    """PPO on MuJoCo Ant (paper Figure 3).

    Where the paper leaves a choice open (rollout length, observation normalization, initial
    exploration noise) these are the settings under which the MLP agent learns to walk; the search
    that found them is ``tools/ant_search.py``, summarized in chapter 06's appendix.
    """

    total_steps: int = 30_000_000
    eval_every: int = 100_000  # the paper evaluates every 200,000; 100,000 resolves a peak better
    eval_episodes: int = 10
    n_envs: int = 16
    n_steps: int = 128  # per environment and update: 2,048-step rollouts (the released code: one rollout)
    batch_size: int = 128
    n_epochs: int = 10
    normalize: bool = True  # SB3 VecNormalize on observations and rewards
    log_std_init: float = -1.0  # initial sigma = 0.37; SB3's default sigma = 1 teaches the ant to fall
    qnn_depth: int = 12
    qnn_lr: float = 2e-3
    mlp_lr: float = 1e-4
    moving_average: int = 5


@dataclass(frozen=True)
class XXZSizes:
    """Continual classification of XXZ eigenstates (paper Figure 4)."""

    tasks: int = 2000
    sites: int = 10
    delta_min: float = -2.0
    delta_max: float = 2.0
    delta_step: float = 0.02
    batch_size: int = 64
    epochs: int = 5
    qnn_depths: tuple = (6, 12)
    qnn_lr: float = 2e-3
    mlp_widths: tuple = (64,)
    mlp_lr: float = 2e-3
    moving_average: int = 40
    test_fraction: float = 0.2  # per task: 80/20 split of the 2 x 201 states (test share rounded up)
    qnn_reset_optimizer: bool = False  # both models keep their Adam state across tasks
    mlp_reset_optimizer: bool = False
    # The released code SUMS the QNN's per-sample gradients over a batch (the MLP averages);
    # ``--fair`` uses the mean for both. See chapter 07 for why Adam barely notices.
    qnn_loss_reduction: str = "sum"
    # Eigenvectors: "released" (the released generator's complex64 eigh of TensorCircuit's complex64
    # matrix: the paper's data); ablations "raw" (float64 real eigh), "phase-fixed", "random-phase".
    data_source: str = "released"
    # Train/test split: "fixed" (one shuffle, seed 42, reused by every task: the released code) or
    # "per-task" (a new split per task). Feeds xxz.XXZTasks(split=...).
    split: str = "fixed"
    # Eigenstate pairs: "released" (the released script's sequence, np.random.seed(42), the same
    # for every seed) or "seeded" (drawn from (seed, task)). Feeds xxz.XXZTasks(pairs=...).
    pairs: str = "released"


@dataclass(frozen=True)
class TheorySizes:
    """Monte Carlo sizes for the theory chapters (the book's own checks, not the paper's)."""

    FROM_PAPER = False

    haar_samples: int = 2000
    haar_qubits: tuple = (2, 3, 4, 5, 6)
    fisher_probe_samples: int = 64
    primer_tasks: int = 200
    haar_unitary_samples: int = 4000  # exact-Haar Monte Carlo (cheap: d x d matrices only)


#: Registered sections: section name -> {profile name: sizes}. See :func:`register_section`.
_SECTIONS: dict = {}


@dataclass(frozen=True)
class ScalingSizes:
    """How far the scaling chapter measures (the book's own measurement, not the paper's).

    ``qubits`` -- qubit counts for the shallow circuits (``shallow_depth`` layers);
    ``deep_qubits`` -- qubit counts for the deep circuits (``2 n + 8`` layers,
    :func:`qcl_helpers.haar.brickwall_depth`); ``draws`` -- random parameter points per (layout,
    depth, n); ``fisher_qubits`` / ``fisher_draws`` -- where the full Fisher trace (every gate
    differentiated, ~16x the cost) is measured; ``onset_qubits`` / ``onset_depths`` -- the depth
    sweep that shows the onset of the 2-design regime; ``layouts`` -- from
    :data:`qcl_helpers.circuits.LAYOUT_KINDS`.

    Introduced in: 09 · Fisher trace and gradients at scale
    """

    FROM_PAPER = False

    layouts: tuple = ("brickwall", "ladder", "ring")
    qubits: tuple = (4, 6, 8, 10, 12, 14, 16, 18, 20)
    deep_qubits: tuple = (4, 6, 8, 10, 12, 14, 16, 18)
    draws: int = 400
    shallow_depth: int = 2
    fisher_qubits: tuple = (4, 6, 8, 10, 12, 14)
    fisher_draws: int = 40
    onset_qubits: int = 10
    onset_depths: tuple = (1, 2, 4, 8, 12, 20, 28)
    seed: int = 0


@dataclass(frozen=True)
class Profile:
    """Every size a chapter uses, for one scale: ``profile.<section>.<field>``, e.g.
    ``profile.permuted_mnist.tasks``. The sections are registered with :func:`register_section`.

    Introduced in: 03 · QNN ansätze
    """

    name: str
    description: str
    overrides: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __getattr__(self, section: str):
        if section.startswith("__") or section not in _SECTIONS:
            raise AttributeError(f"profile has no section {section!r}; sections: {', '.join(_SECTIONS)}")
        return self.overrides.get(section) or _SECTIONS[section][self.name]

    def replace(self, **sections) -> "Profile":
        """This profile with some sections replaced (same name), e.g. a tiny ``ci`` for a test:
        ``CI.replace(ant=dataclasses.replace(CI.ant, total_steps=512))``.

        Introduced in: 03 · QNN ansätze
        """
        unknown = [k for k in sections if k not in _SECTIONS]
        if unknown:
            raise AttributeError(f"profile has no section {unknown[0]!r}; sections: {', '.join(_SECTIONS)}")
        return dataclasses.replace(self, overrides={**self.overrides, **sections})

    @property
    def sections(self) -> tuple:
        """The names of the registered sections."""
        return tuple(_SECTIONS)

    def value(self, path: str):
        """Value at a dotted path such as ``"permuted_mnist.tasks"``."""
        obj = self
        for part in path.split("."):
            if not hasattr(obj, part):
                raise AttributeError(f"profile has no field {path!r}")
            obj = getattr(obj, part)
        return obj

    def compare(self, path: str) -> str:
        """``"tasks: 20 (paper: 1,000)"`` -- this profile's value beside the paper's.

        Introduced in: 03 · QNN ansätze
        """
        mine, theirs = self.value(path), PAPER.value(path)
        label = path.split(".")[-1].replace("_", " ")
        if not getattr(self.value(path.split(".")[0]), "FROM_PAPER", True):
            return f"{label}: {_fmt(mine)} (paper profile: {_fmt(theirs)})"
        if mine == theirs:
            return f"{label}: {_fmt(mine)} (as in the paper)"
        return f"{label}: {_fmt(mine)} (paper: {_fmt(theirs)})"

    def summary(self, section: str) -> str:
        """One line per field of ``section`` with the paper's value beside it."""
        sizes = getattr(self, section)
        lines = [f"profile {self.name!r} · {section}"]
        lines += ["  " + self.compare(f"{section}.{f.name}") for f in dataclasses.fields(sizes)]
        return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return str(v)


PAPER = Profile(name="paper", description="the exact settings of the paper's released code (GPU hours)")
QUICK = Profile(name="quick", description="minutes per chapter on a laptop CPU or free Colab (the default)")
CI = Profile(name="ci", description="seconds per chapter; what the tests and CI run")
PROFILES = {p.name: p for p in (CI, QUICK, PAPER)}
NAMES = tuple(PROFILES)


def register_section(section: str, *, paper, quick, ci) -> None:
    """Add a section of sizes to every profile: ``paper`` (the released code's values), ``quick``
    and ``ci``. A new experiment registers its section here, beside the others.

    Introduced in: 03 · QNN ansätze
    """
    if not section.isidentifier():
        raise ValueError(f"a section name must be a Python identifier, got {section!r}")
    sizes = {"paper": paper, "quick": quick, "ci": ci}
    kinds = {type(v) for v in sizes.values()}
    if len(kinds) != 1 or not dataclasses.is_dataclass(paper):
        raise ValueError(f"section {section!r}: paper, quick and ci must be instances of one dataclass")
    _SECTIONS[section] = sizes


register_section("ansatz", paper=AnsatzSizes(), quick=AnsatzSizes(max_widget_depth=12),
                 ci=AnsatzSizes(n_qubits=4, depths=(1, 2, 4), max_widget_depth=4, reference_samples=2,
                                random_circuits=50))
register_section(
    "permuted_mnist", paper=PermutedMnistSizes(),
    quick=PermutedMnistSizes(tasks=60, train_per_task=1000, test_per_task=500, qnn_depths=(2, 4),
                             mlp_widths=(16, 64), moving_average=5, data_source="auto"),
    ci=PermutedMnistSizes(tasks=4, train_per_task=256, test_per_task=256, qnn_depths=(1, 2),
                          mlp_widths=(16, 64), qnn_epochs=2, moving_average=2, data_source="test-split"))
register_section(
    "split_cifar", paper=SplitCifarSizes(),
    quick=SplitCifarSizes(tasks=30, train_per_task=1000, test_per_task=200, qnn_depths=(4, 10),
                          mlp_widths=(64, 256), moving_average=5, data_source="auto"),
    ci=SplitCifarSizes(tasks=4, train_per_task=128, test_per_task=64, qnn_depths=(1, 2), mlp_widths=(16, 64),
                       qnn_epochs=1, mlp_epochs=1, fim_probe_samples=16, moving_average=2, data_source="auto"))
register_section(
    "ant", paper=AntSizes(),
    quick=AntSizes(total_steps=20_480, eval_every=10_240, eval_episodes=10, n_envs=4, n_steps=512,
                   moving_average=3),
    ci=AntSizes(total_steps=2048, eval_every=1024, eval_episodes=1, n_envs=2, n_steps=256, batch_size=64,
                n_epochs=1, qnn_depth=1, moving_average=1))
register_section(
    "xxz", paper=XXZSizes(),
    quick=XXZSizes(tasks=60, sites=10, qnn_depths=(6, 12), mlp_widths=(64, 256), moving_average=5),
    ci=XXZSizes(tasks=3, sites=6, delta_step=0.2, qnn_depths=(2,), epochs=1, moving_average=2))
register_section("theory", paper=TheorySizes(), quick=TheorySizes(haar_samples=1000, primer_tasks=60),
                 ci=TheorySizes(haar_samples=200, haar_qubits=(2, 3, 4), fisher_probe_samples=16,
                                primer_tasks=8))


def get(name: str) -> Profile:
    """The profile called ``name``; an unknown name raises :class:`ProfileError`.

    Introduced in: 03 · QNN ansätze
    """
    key = str(name).strip().lower()
    if key not in PROFILES:
        raise ProfileError(
            f"unknown profile {name!r}; valid profiles: {', '.join(NAMES)} "
            f"(set {ENV_VAR} to one of them)"
        )
    return PROFILES[key]


def current() -> Profile:
    """The active profile: ``$QCL_PROFILE`` if set, else ``quick``.

    Introduced in: 03 · QNN ansätze
    """
    return get(os.environ.get(ENV_VAR, "").strip() or DEFAULT)


def resolve(profile=None) -> Profile:
    """A :class:`Profile` from a profile, a profile name, or ``None`` (the active one, :func:`current`).

    Introduced in: 04 · Permuted MNIST
    """
    if isinstance(profile, Profile):
        return profile
    return get(profile) if profile else current()
register_section(
    "scaling", paper=ScalingSizes(),
    quick=ScalingSizes(qubits=(4, 6, 8, 10, 12, 14), deep_qubits=(4, 6, 8, 10, 12), draws=100,
                       fisher_qubits=(4, 6, 8), fisher_draws=10, onset_qubits=8,
                       onset_depths=(1, 2, 4, 8, 16, 24)),
    ci=ScalingSizes(layouts=("brickwall", "ladder"), qubits=(4, 6, 8), deep_qubits=(4, 6, 8),
                    draws=30, fisher_qubits=(4, 6), fisher_draws=3, onset_qubits=6,
                    onset_depths=(1, 4, 20)))
