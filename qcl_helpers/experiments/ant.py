"""MuJoCo Ant with PPO (paper Figure 3): a QNN features extractor against the paper's MLP policy.

This module holds the paper's constants for this experiment: the environment (``Ant-v5`` spelled
as the paper's ``Ant-v4`` without contact forces: 27-dim observation, no contact cost), the PPO
constants of the released code and the MLP policy's ``net_arch``. The QNN's shape (9 qubits, a
ring, ``tanh(5 p)`` features, N(0, 1) angles) is ``models.PAPER_MODELS['ant']``; its depth comes
from the ``ant`` section of :mod:`qcl_helpers.profiles`. The engine is :func:`qcl_helpers.rl.run_ppo`.

Introduced in: 06 · Reinforcement learning on Ant
"""
from __future__ import annotations

from .. import models
from ..configs import ConfigError, PPOConfig, positive_int, seed_value
from .base import Experiment, Grid, register, resolve_profile

NAME = "ant"
ENV_ID = "Ant-v5"
#: Ant-v5 settings equal to the paper's Ant-v4 without contact forces (27-dim observation).
ENV_KWARGS = {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0}
#: PPO constants of the paper's released code (same in every profile).
PPO_CONSTANTS = {"gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2}
#: SB3 ``net_arch`` per model family: the QNN has linear heads only; the MLP the paper's sizes.
NET_ARCH = {"qnn": {"pi": [], "vf": []}, "mlp": {"pi": [1024, 256], "vf": [256, 256]}}
SOURCES = {"gym": "MuJoCo Ant-v5 (gymnasium), 27-dim observation, no contact cost (the paper's Ant-v4 setup)"}


def make_config(model: str, *, profile=None, seed: int = 0, depth: int | None = None,
                total_steps: int | None = None) -> PPOConfig:
    """A checked :class:`~qcl_helpers.configs.PPOConfig` with the profile's sizes.

    ``depth`` overrides the QNN depth, ``total_steps`` the step budget. Evaluations and the end of
    training happen between PPO updates: at the first update boundary at or after each multiple of
    ``eval_every`` (and of ``total_steps``), exactly there when they are multiples of the rollout
    size ``n_envs * n_steps`` (as in the ``ci`` and ``quick`` profiles; the paper profile's 100,000 is not).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    if model not in NET_ARCH:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(NET_ARCH)}")
    prof = resolve_profile(profile)
    s = prof.ant
    if model == "mlp" and depth is not None:
        raise ConfigError("--depth applies to --model qnn; the MLP has the paper's fixed sizes")
    qnn = model == "qnn"
    cfg = dict(
        experiment=NAME, model=model, profile=prof.name, seed=seed_value(seed),
        depth=positive_int("depth", s.qnn_depth if depth is None else depth) if qnn else None,
        n_qubits=models.PAPER_MODELS[NAME]["n_qubits"] if qnn else None,
        total_steps=positive_int("total_steps", s.total_steps if total_steps is None else total_steps),
        eval_every=positive_int("eval_every", s.eval_every),
        eval_episodes=positive_int("eval_episodes", s.eval_episodes),
        n_envs=positive_int("n_envs", s.n_envs), n_steps=positive_int("n_steps", s.n_steps),
        batch_size=positive_int("batch_size", s.batch_size), n_epochs=positive_int("n_epochs", s.n_epochs),
        normalize=bool(s.normalize), log_std_init=float(s.log_std_init),
        lr=float(s.qnn_lr if qnn else s.mlp_lr), env_id=ENV_ID, env_kwargs=tuple(sorted(ENV_KWARGS.items())),
        net_arch=tuple(sorted((k, tuple(v)) for k, v in NET_ARCH[model].items())), **PPO_CONSTANTS)
    label = f"QNN DP{cfg['depth']}" if qnn else f"MLP {NET_ARCH['mlp']['pi']}"
    return PPOConfig(**cfg, label=label, data_label=SOURCES["gym"])


def _figure3(P):
    return [dict(model="qnn"), dict(model="mlp")]


EXPERIMENT = register(Experiment(
    name=NAME, kind="rl", section="ant", title="Ant with PPO (paper Figure 3)", sources=SOURCES,
    default_tags=tuple(SOURCES), make_config=make_config,
    grids={"figure3": Grid("figure3", NAME, "Figure 3: PPO with a QNN features extractor against the MLP "
                           "policy", _figure3, seeds=2)}))
