"""PPO on MuJoCo Ant with a QNN policy or an MLP policy (the paper's Figure 3).

The glue between the book's QNN and stable-baselines3 (SB3):

* :class:`QNNFeatures` -- an SB3 features extractor: observation (27) -> zero-pad to ``2**n`` and
  L2-normalize (amplitude encoding) -> ring of SU(4) gates -> ``tanh(5 p)`` over all ``2**n``
  basis probabilities. With ``net_arch=dict(pi=[], vf=[])`` the policy and value heads are single
  linear layers on these features, as in the paper. Gradients flow through the simulation.
* :func:`make_ant_config` / :class:`AntConfig` -- one run's settings, from a profile
  (:class:`qcl_helpers.profiles.AntSizes`) plus the PPO constants of the paper.
* :func:`run_ant` -- train with **standard rollouts** (``n_steps`` per environment per PPO update;
  the released code made the whole budget one rollout), evaluate every ``eval_every`` steps with
  ``eval_episodes`` deterministic episodes, and checkpoint after every evaluation so an interrupted
  run resumes without losing its evaluation history.
* :func:`load_ant_run` -- read a run folder (live or stored under ``results/ant``) and check its
  provenance.

A run folder holds ``config.json`` (settings + provenance), ``evals.jsonl`` (one JSON object per
evaluation: ``steps``, ``mean_reward``, ``std_reward``, ``time``, ...) and ``checkpoint.zip`` (the
SB3 model with its optimizer state; not part of stored results). ``mean_length`` (mean episode length)
is recorded too: an Ant episode ends early when the robot falls or jumps out of its healthy height range.
Every file is written atomically.

Environment: gymnasium's ``Ant-v5`` with ``include_cfrc_ext_in_observation=False`` and
``contact_cost_weight=0``, the v5 spelling of ``Ant-v4(use_contact_forces=False)`` (27-dim
observation, no contact cost); v4 is deprecated in gymnasium 1.x.

Introduced in: 06 · Reinforcement learning on Ant
"""
from __future__ import annotations

import dataclasses
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import profiles, results, sim
from .circuits import amplitude_encode
from .models import paper_qnn

ENV_ID = "Ant-v5"
#: Ant-v5 settings equal to the paper's Ant-v4 without contact forces (27-dim observation).
ENV_KWARGS = {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0}
MODELS = ("qnn", "mlp")
#: PPO constants of the paper's released code (same in every profile).
PPO_CONSTANTS = {"gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2}
#: SB3 ``net_arch`` per model family: the QNN has linear heads only; the MLP the paper's sizes.
NET_ARCH = {"qnn": {"pi": [], "vf": []}, "mlp": {"pi": [1024, 256], "vf": [256, 256]}}
EVALS, CHECKPOINT = "evals.jsonl", "checkpoint.zip"
#: Settings that may differ between a run and its resumption (the budget can be extended).
EXTENDABLE = ("total_steps",)


class AntConfigError(ValueError):
    """Invalid settings for an Ant run. Introduced in: 06 · Reinforcement learning on Ant"""


# --------------------------------------------------------------------------------------
# Environment and QNN policy
# --------------------------------------------------------------------------------------

def make_ant_env(n_envs: int = 1, seed: int = 0, **env_kwargs):
    """``n_envs`` copies of Ant (the paper's 27-dim variant) in an SB3 ``DummyVecEnv``, seeded.

    Extra keyword arguments go to ``gymnasium.make`` (e.g. ``render_mode="rgb_array"``). Each
    environment is wrapped in SB3's ``Monitor`` so episode returns are recorded.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    return make_vec_env(ENV_ID, n_envs=int(n_envs), seed=int(seed), vec_env_cls=DummyVecEnv,
                        env_kwargs={**ENV_KWARGS, **env_kwargs})


def encode_observations(obs: torch.Tensor, n_qubits: int, dtype=torch.complex64) -> torch.Tensor:
    """Amplitude-encode a batch of observations: zero-pad to ``2**n_qubits``, L2-normalize.

    An all-zero observation has no direction; it is mapped to the basis state ``|0...0>`` (as if
    the observation were ``(1, 0, ..., 0)``) instead of raising, so a policy never crashes on it.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    x = obs.reshape(obs.shape[0], -1) if obs.ndim > 1 else obs.reshape(1, -1)
    zero = ~(x != 0).any(dim=-1, keepdim=True)
    if bool(zero.any()):
        e0 = torch.zeros_like(x)
        e0[:, 0] = 1
        x = torch.where(zero, e0, x)
    return amplitude_encode(x, n_qubits, dtype=dtype)


def _base_extractor():
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    return BaseFeaturesExtractor


class QNNFeatures(_base_extractor()):
    """SB3 features extractor: the paper's RL QNN (ring of SU(4), ``tanh(5 p)`` over ``2**n`` probabilities).

    ``depth`` ring layers on ``n_qubits`` qubits (paper: 12 on 9); ``seed`` fixes the initial angles
    (drawn from the paper's distribution, ``models.PAPER_MODELS["ant"]``). ``features_dim`` is
    ``2**n_qubits``. The observation must fit into ``2**n_qubits`` amplitudes.

    Only the first ``obs_dim`` amplitudes of an encoded observation are non-zero (27 of 512 for Ant),
    so ``U|x> = sum_k x_k U|k>`` needs just the ``obs_dim`` columns ``U|k>`` of the circuit
    (:meth:`columns`): one simulation of ``obs_dim`` basis states per parameter version, shared by
    the whole batch, then two real matrix products (real and imaginary parts). With gradients enabled
    (PPO updates) the columns are simulated on every call, differentiably, when the batch has at
    least ``obs_dim`` rows (otherwise the batch itself is simulated); without them (rollouts,
    evaluation: many small batches, fixed angles) they are cached per parameter version. Same
    numbers and gradients as simulating the encoded batch, checked against the gate-by-gate
    reference in ``tests/test_rl_qnn_features.py``; ~3x cheaper for PPO's minibatches of 128.

    Introduced in: 06 · Reinforcement learning on Ant
    """

    def __init__(self, observation_space, n_qubits: int = 9, depth: int = 12, seed: int | None = None,
                 precision: str = "single"):
        dim = 2 ** int(n_qubits)
        obs_dim = int(np.prod(observation_space.shape))
        if obs_dim > dim:
            raise AntConfigError(f"an observation of {obs_dim} numbers does not fit {n_qubits} qubits "
                                 f"({dim} amplitudes)")
        super().__init__(observation_space, features_dim=dim)
        self.n_qubits, self.obs_dim = int(n_qubits), obs_dim
        self.qnn = paper_qnn("ant", depth=int(depth), n_qubits=self.n_qubits, seed=seed, precision=precision)
        self._cdtype = torch.complex128 if precision == "double" else torch.complex64
        self._cache = None  # (key, columns) for gradient-free calls, see forward

    def columns(self) -> torch.Tensor:
        """``U|k>`` for the basis states ``k < obs_dim``, shape ``(obs_dim, 2**n)`` (row ``k``).

        Differentiable in ``theta`` when gradients are enabled.
        """
        theta = self.qnn.theta
        eye = torch.eye(self.obs_dim, self.features_dim, dtype=self._cdtype, device=theta.device)
        return sim.evolve(eye, theta, self.qnn.layout)

    @staticmethod
    def _parts(rows: torch.Tensor) -> tuple:
        # (2**n, obs_dim) real and imaginary parts, contiguous: fast GEMM operands (and gradients)
        cols = rows.transpose(0, 1)
        return cols.real.contiguous(), cols.imag.contiguous()

    def _cached_columns(self) -> tuple:
        theta = self.qnn.theta
        key = (theta.data_ptr(), theta._version, theta.device, theta.dtype)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                self._cache = (key, self._parts(self.columns()))
        return self._cache[1]

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations.reshape(observations.shape[0], -1) if observations.ndim > 1 \
            else observations.reshape(1, -1)
        grad = torch.is_grad_enabled()
        if grad and x.shape[0] < self.obs_dim:  # fewer rows than columns: simulate the batch itself
            return self.qnn(encode_observations(x, self.n_qubits, self._cdtype)).to(observations.dtype)
        re_t, im_t = self._parts(self.columns()) if grad else self._cached_columns()
        x = x.to(re_t.dtype)
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        zero = norm == 0  # encoded as |0...0>, as encode_observations does
        x = torch.where(zero, (torch.arange(x.shape[1], device=x.device) == 0).to(x.dtype), x)
        x = x / torch.where(zero, torch.ones_like(norm), norm)
        re, im = x @ re_t.T, x @ im_t.T  # <j|U|x> = sum_k x_k <j|U|k>
        return self.qnn.readout(re * re + im * im).to(observations.dtype)


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AntConfig:
    """Everything that defines one Ant run (``config.json`` minus provenance).

    Build one with :func:`make_ant_config`.

    Introduced in: 06 · Reinforcement learning on Ant
    """

    model: str
    profile: str
    seed: int
    depth: int | None  # QNN ring layers (None for the MLP)
    n_qubits: int | None
    total_steps: int
    eval_every: int
    eval_episodes: int
    n_envs: int
    n_steps: int
    batch_size: int
    n_epochs: int
    lr: float
    gamma: float = PPO_CONSTANTS["gamma"]
    gae_lambda: float = PPO_CONSTANTS["gae_lambda"]
    clip_range: float = PPO_CONSTANTS["clip_range"]
    env_id: str = ENV_ID
    env_kwargs: tuple = tuple(sorted(ENV_KWARGS.items()))
    net_arch: tuple = ()

    @property
    def label(self) -> str:
        """``"QNN DP12"`` or ``"MLP [1024, 256]"``."""
        return f"QNN DP{self.depth}" if self.model == "qnn" else f"MLP {NET_ARCH['mlp']['pi']}"

    @property
    def rollout(self) -> int:
        """Environment steps per PPO update (``n_envs * n_steps``)."""
        return self.n_envs * self.n_steps

    def slug(self) -> str:
        """A folder name for this configuration (not its step budget)."""
        size = f"qnn-dp{self.depth}" if self.model == "qnn" else "mlp"
        return f"ant_{size}_{self.profile}_s{self.seed}"

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["env_kwargs"] = dict(self.env_kwargs)
        d["net_arch"] = NET_ARCH[self.model]
        d["experiment"] = "ant"
        return d


def _positive_int(name, v) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise AntConfigError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def make_ant_config(model: str, *, profile=None, seed: int = 0, depth: int | None = None,
                    total_steps: int | None = None) -> AntConfig:
    """A checked :class:`AntConfig` with the profile's sizes (``profiles.current()`` by default).

    ``depth`` overrides the QNN depth, ``total_steps`` the step budget. Evaluations and the end of
    training happen between PPO updates: at the first update boundary at or after each multiple of
    ``eval_every`` (and of ``total_steps``), exactly there when they are multiples of the rollout
    size ``n_envs * n_steps`` (as in the ``ci`` and ``quick`` profiles; the paper's 200,000 is not).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    if model not in MODELS:
        raise AntConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    try:
        prof = profiles.resolve(profile)
    except profiles.ProfileError as exc:
        raise AntConfigError(str(exc)) from None
    s = prof.ant
    if model == "mlp" and depth is not None:
        raise AntConfigError("--depth applies to --model qnn; the MLP has the paper's fixed sizes")
    seed = int(seed)
    if seed < 0:
        raise AntConfigError(f"seed must be >= 0, got {seed}")
    n_envs, n_steps = _positive_int("n_envs", s.n_envs), _positive_int("n_steps", s.n_steps)
    total = _positive_int("total_steps", s.total_steps if total_steps is None else total_steps)
    every = _positive_int("eval_every", s.eval_every)
    qnn = model == "qnn"
    return AntConfig(
        model=model, profile=prof.name, seed=seed,
        depth=_positive_int("depth", s.qnn_depth if depth is None else depth) if qnn else None,
        n_qubits=_positive_int("qnn_qubits", s.qnn_qubits) if qnn else None,
        total_steps=total, eval_every=every, eval_episodes=_positive_int("eval_episodes", s.eval_episodes),
        n_envs=n_envs, n_steps=n_steps, batch_size=_positive_int("batch_size", s.batch_size),
        n_epochs=_positive_int("n_epochs", s.n_epochs), lr=float(s.qnn_lr if qnn else s.mlp_lr),
        net_arch=tuple(sorted((k, tuple(v)) for k, v in NET_ARCH[model].items())))


def policy_kwargs(config: AntConfig) -> dict:
    """SB3 ``policy_kwargs`` for ``config``: linear heads on QNN features, or the paper's MLP.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    arch = {k: list(v) for k, v in NET_ARCH[config.model].items()}
    if config.model == "qnn":
        return {"features_extractor_class": QNNFeatures,
                "features_extractor_kwargs": {"n_qubits": config.n_qubits, "depth": config.depth,
                                              "seed": config.seed},
                "net_arch": arch}
    return {"net_arch": arch}


def build_agent(config: AntConfig, env=None, device: str = "cpu"):
    """A fresh SB3 ``PPO`` agent for ``config`` (training environments made if ``env`` is None).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3 import PPO

    env = env if env is not None else make_ant_env(config.n_envs, config.seed)
    return PPO("MlpPolicy", env, learning_rate=config.lr, n_steps=config.n_steps,
               batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
               gae_lambda=config.gae_lambda, clip_range=config.clip_range,
               policy_kwargs=policy_kwargs(config), seed=config.seed, device=device, verbose=0)


# --------------------------------------------------------------------------------------
# Run folders
# --------------------------------------------------------------------------------------

@dataclass
class AntRun:
    """An Ant run read back from its folder: ``config``, ``rows`` (evaluations) and array access.

    ``run["mean_reward"]`` is the per-evaluation series; ``run.steps`` the environment steps.

    Introduced in: 06 · Reinforcement learning on Ant
    """

    path: Path
    config: dict
    rows: list
    agent: object = None  # the trained SB3 agent when the run was just made by run_ant

    def __getitem__(self, key: str) -> np.ndarray:
        return np.array([r.get(key, np.nan) for r in self.rows], dtype=float)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def steps(self) -> np.ndarray:
        return self["steps"]

    @property
    def label(self) -> str:
        c = self.config
        return f"QNN DP{c['depth']}" if c["model"] == "qnn" else f"MLP {c['net_arch']['pi']}"

    @property
    def complete(self) -> bool:
        return bool(self.rows) and self.rows[-1]["steps"] >= self.config["total_steps"]

    def provenance_line(self) -> str:
        """One line: label, steps, profile, seed, commit, date, device."""
        c = self.config
        last = int(self.rows[-1]["steps"]) if self.rows else 0
        return (f"{self.label}: {last:,} steps, {len(self.rows)} evaluations · profile {c.get('profile')} · "
                f"seed {c.get('seed')} · commit {str(c.get('git_commit'))[:12]} · {c.get('date')} · "
                f"{c.get('device')}")


def read_evals(folder) -> list:
    """The rows of ``evals.jsonl`` (one dict per evaluation). Introduced in: 06 · Reinforcement learning on Ant"""
    return results.read_jsonl(Path(folder) / EVALS)


def _write_evals(folder, rows) -> None:
    results.write_jsonl(Path(folder) / EVALS, rows)


def load_ant_run(folder, *, expect: dict | None = None, require_complete: bool = True) -> AntRun:
    """Read an Ant run folder (live or stored) and check its provenance.

    Raises :class:`~qcl_helpers.results.RunError` when a provenance field is missing, when a key of
    ``expect`` has another value in the config, when evaluation steps are not increasing
    step counts, or (with ``require_complete``) when the run
    stopped before ``total_steps``.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    folder = Path(folder)
    config = results.read_config(folder)
    if config is None:
        raise results.RunError(f"{folder} has no {results.CONFIG}: not a run folder")
    missing = [k for k in results.PROVENANCE_FIELDS if k not in config]
    if missing:
        raise results.RunError(f"{folder}: provenance incomplete, missing {', '.join(missing)}")
    if config.get("experiment") != "ant":
        raise results.RunError(f"{folder}: experiment is {config.get('experiment')!r}, not 'ant'")
    for key, want in (expect or {}).items():
        if config.get(key) != want:
            raise results.RunError(f"{folder}: {key} is {config.get(key)!r}, expected {want!r}")
    rows = read_evals(folder)
    steps = [r.get("steps") for r in rows]
    if any(not isinstance(s, int) or s < 0 for s in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
        raise results.RunError(f"{folder}: {EVALS} steps {steps[:6]} are not increasing step counts")
    run = AntRun(folder, config, rows)
    if require_complete and not run.complete:
        last = steps[-1] if steps else 0
        raise results.RunError(f"{folder}: only {last:,} of {config['total_steps']:,} steps finished")
    return run


def load_ant_runs(root, *, expect: dict | None = None) -> list:
    """Every Ant run folder directly under ``root`` that passes :func:`load_ant_run`, sorted by name.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    root = Path(root)
    if not root.is_dir():
        return []
    return [load_ant_run(p, expect=expect) for p in sorted(root.iterdir()) if (p / results.CONFIG).exists()]


def plot_evals(runs, window: int, *, ax=None, baseline: float | None = None, points: bool = True):
    """Evaluation reward against environment steps for each run: raw points and a moving average
    with a shaded ±std band (the paper's Figure 3 style); QNN in blue, MLP in orange.

    ``baseline`` draws a dotted line (e.g. the return of the zero action). Returns the axes.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    import matplotlib.pyplot as plt

    from . import plotting

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    for run in runs:
        fam = run.config["model"]
        size = run.config["depth"] if fam == "qnn" else NET_ARCH["mlp"]["pi"][0]
        color = plotting.family_colors([size], fam)[0]
        x, y = run.steps / 1e3, run["mean_reward"]
        if points:
            ax.plot(x, y, "o", ms=3, alpha=0.45, color=color)
        plotting.plot_band(ax, y, window, x=x, label=f"{run.label} ({window}-point average)", color=color)
    if baseline is not None:
        ax.axhline(baseline, ls=":", color="0.35", lw=1.2, label="zero action (stands still)")
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("evaluation return\n(deterministic episodes)")
    ax.legend(fontsize=8, loc="best")
    return ax


def store_ant_run(run_folder, dest) -> Path:
    """Copy a finished run's ``config.json`` and ``evals.jsonl`` (not its checkpoint) to ``dest``.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    run = load_ant_run(run_folder, require_complete=False)
    dest = Path(dest)
    results.write_config(dest, run.config)
    _write_evals(dest, run.rows)
    return dest


def save_policy(agent, path) -> None:
    """Save just the policy weights of an SB3 agent (no optimizer) atomically, for replaying it.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in agent.policy.state_dict().items()}, buf)
    results.atomic_write(path, buf.getvalue(), mode="wb")


def load_policy(folder, device: str = "cpu"):
    """The trained policy stored in ``folder`` (``policy.pt`` + ``config.json``), as an SB3 agent.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    folder = Path(folder)
    c = results.read_config(folder)
    if c is None or not (folder / "policy.pt").exists():
        raise results.RunError(f"{folder} holds no stored policy (policy.pt and config.json)")
    cfg = _config_from_dict(c)
    agent = build_agent(cfg, env=make_ant_env(1, cfg.seed), device=device)
    agent.policy.load_state_dict(torch.load(folder / "policy.pt", map_location=device, weights_only=True))
    return agent


def play_episode(agent, seed: int = 0, *, max_steps: int = 1000, render_every: int = 0,
                 size: tuple = (320, 240)) -> dict:
    """Run one deterministic episode of ``agent`` on Ant and say what happened.

    Returns ``length``, ``return``, ``x_distance`` (torso displacement along x, metres), the mean
    per-step reward terms (``reward_forward``, ``reward_ctrl``, ``reward_survive``), ``terminated``
    (fell or left the healthy height range) and, with ``render_every=k > 0``, every k-th frame as an
    RGB array in ``frames`` (needs an OpenGL backend: set ``MUJOCO_GL=egl`` or ``osmesa`` headless).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    import gymnasium as gym

    kwargs = dict(render_mode="rgb_array", width=size[0], height=size[1]) if render_every else {}
    env = gym.make(ENV_ID, **ENV_KWARGS, **kwargs)
    try:
        obs, _ = env.reset(seed=int(seed))
        x0 = float(env.unwrapped.data.qpos[0])
        terms = {"reward_forward": 0.0, "reward_ctrl": 0.0, "reward_survive": 0.0}
        total, frames, steps, terminated = 0.0, [], 0, False
        for steps in range(1, int(max_steps) + 1):
            action, _ = agent.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            for k in terms:
                terms[k] += float(info.get(k, 0.0))
            if render_every and (steps - 1) % render_every == 0:
                frames.append(env.render())
            if terminated or truncated:
                break
        out = {"length": steps, "return": total, "x_distance": float(env.unwrapped.data.qpos[0]) - x0,
               "terminated": bool(terminated), **{k: v / steps for k, v in terms.items()}}
        if render_every:
            out["frames"] = frames
        return out
    finally:
        env.close()


def _config_from_dict(c: dict) -> AntConfig:
    names = {f.name for f in dataclasses.fields(AntConfig)}
    d = {k: v for k, v in c.items() if k in names}
    d["env_kwargs"] = tuple(sorted(dict(c["env_kwargs"]).items()))
    d["net_arch"] = tuple(sorted((k, tuple(v)) for k, v in dict(c["net_arch"]).items()))
    return AntConfig(**d)


def _provenance(device: str) -> dict:
    """:func:`qcl_helpers.results.provenance` plus the RL stack's versions."""
    prov = results.provenance(device)
    for name, module in (("gymnasium", "gymnasium"), ("stable_baselines3", "stable_baselines3"),
                         ("mujoco", "mujoco")):
        try:
            prov["versions"][name] = __import__(module).__version__
        except Exception:  # pragma: no cover - reported as missing rather than failing a run
            prov["versions"][name] = "unavailable"
    return prov


def _identity(cfg: dict) -> dict:
    names = {f.name for f in dataclasses.fields(AntConfig)} | {"experiment"}
    return {k: v for k, v in cfg.items() if k in names and k not in EXTENDABLE}


# --------------------------------------------------------------------------------------
# Training with evaluations and checkpoints
# --------------------------------------------------------------------------------------

def evaluate(agent, config: AntConfig, index: int) -> tuple:
    """``(mean, std, mean_length)``: episode return (mean and std) and mean episode length of
    ``config.eval_episodes`` deterministic episodes.

    The episodes run in parallel (one environment each, batched policy calls) on environments
    seeded by ``(seed, index)``, so evaluation ``index`` is reproducible and independent of training.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    env_seed = int(np.random.SeedSequence([config.seed, index, 17]).generate_state(1)[0] % 2**31)
    env = make_ant_env(config.eval_episodes, env_seed)
    try:
        returns, lengths = evaluate_policy(agent, env, n_eval_episodes=config.eval_episodes, deterministic=True,
                                           return_episode_rewards=True)
    finally:
        env.close()
    return float(np.mean(returns)), float(np.std(returns)), float(np.mean(lengths))


def _save_checkpoint(agent, path: Path) -> None:
    buf = io.BytesIO()
    agent.save(buf)  # SB3 zip: policy weights, optimizer state, num_timesteps, hyperparameters
    results.atomic_write(path, buf.getvalue(), mode="wb")


def _progress_callback(bar, n_envs):
    from stable_baselines3.common.callbacks import BaseCallback

    class _Bar(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(n_envs)
            return True

    return _Bar()


def run_ant(config: AntConfig, out=None, *, progress: bool = True, stop_after: int | None = None,
            device: str = "cpu") -> AntRun:
    """Train (or resume) one PPO agent on Ant in folder ``out``; return its :class:`AntRun`.

    Evaluates at step 0 and after every ``eval_every`` environment steps; after each evaluation
    the SB3 model (with optimizer) is checkpointed and ``evals.jsonl`` rewritten, both atomically.
    Rerunning in the same folder resumes from the checkpoint (evaluations after it are dropped,
    a missing one is redone); a folder holding another configuration raises
    :class:`~qcl_helpers.results.RunError`. ``stop_after`` stops once that many steps are done
    (at an evaluation boundary), e.g. to split a long run into sessions.

    Resuming restarts the environments' episodes (their physics state is not saved), so a resumed
    run is a valid continuation but not bit-identical to an uninterrupted one.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    if not isinstance(config, AntConfig):
        raise AntConfigError(f"run_ant expects an AntConfig (see make_ant_config), got {type(config).__name__}")
    from stable_baselines3 import PPO

    folder = Path(out) if out is not None else run_folder(config)
    want = config.as_dict()
    existing = results.read_config(folder)
    ckpt_path = folder / CHECKPOINT
    if existing is not None:
        mine, theirs = _identity(want), _identity(existing)
        diff = [k for k in mine if theirs.get(k) != mine[k]]
        if diff:
            k = diff[0]
            raise results.RunError(f"{folder} holds a different run ({k}={theirs.get(k)!r}, asked {mine[k]!r}); "
                                   "use another --out folder or delete it")
    if existing is not None and ckpt_path.exists():
        agent = PPO.load(ckpt_path, env=None, device=device)
        done = int(agent.num_timesteps)
        rows = [r for r in read_evals(folder) if r["steps"] <= done]
        meta = dict(existing)
        if done < config.total_steps:  # training continues: say where and on what
            meta.setdefault("resumed", []).append(dict(_provenance(device), from_steps=done))
        meta["total_steps"] = config.total_steps
        env_seed = int(np.random.SeedSequence([config.seed, done, 23]).generate_state(1)[0] % 2**31)
        agent.set_env(make_ant_env(config.n_envs, env_seed))
        agent.set_random_seed(env_seed)
    else:
        agent, done, rows = build_agent(config, device=device), 0, []
        meta = dict(want, **_provenance(device))
    results.write_config(folder, meta)
    _write_evals(folder, rows)
    elapsed = float(rows[-1]["time"]) if rows else 0.0

    def record(index):
        nonlocal elapsed
        tic = time.perf_counter()
        mean, std, length = evaluate(agent, config, index)
        elapsed += time.perf_counter() - tic
        rows.append({"steps": int(agent.num_timesteps), "mean_reward": mean, "std_reward": std,
                     "mean_length": length, "time": round(elapsed, 3),
                     "eval_seconds": round(time.perf_counter() - tic, 3)})
        _save_checkpoint(agent, ckpt_path)  # checkpoint first: evals never run ahead of it
        _write_evals(folder, rows)

    from tqdm.auto import tqdm

    limit = config.total_steps if stop_after is None else min(config.total_steps, int(stop_after))
    bar = tqdm(total=config.total_steps, initial=done, desc=config.label, unit="step", disable=not progress,
               dynamic_ncols=True, leave=True)
    try:
        if not rows or rows[-1]["steps"] < done:
            record(done // config.eval_every)
        callback = _progress_callback(bar, config.n_envs)
        while agent.num_timesteps < limit:
            # learn() runs whole rollouts + updates until it has done at least `chunk` more steps
            chunk = min(config.eval_every - agent.num_timesteps % config.eval_every,
                        config.total_steps - agent.num_timesteps)
            tic = time.perf_counter()
            agent.learn(total_timesteps=chunk, reset_num_timesteps=False, callback=callback)
            elapsed += time.perf_counter() - tic
            record(math.ceil(agent.num_timesteps / config.eval_every))
            bar.set_postfix(reward=f"{rows[-1]['mean_reward']:.0f}")
    finally:
        bar.close()
    run = load_ant_run(folder, require_complete=False)
    run.agent = agent
    return run


def run_folder(config: AntConfig) -> Path:
    """Where :func:`run_ant` puts ``config``'s run unless told otherwise: ``<root>/<config.slug()>``.

    The root is ``$QCL_RUNS_DIR``, else ``~/.cache/qcl_helpers/runs``; the ``ci`` profile uses one
    fresh temporary folder per process, so tests always train (the supervised chapters' rule).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    return results.runs_root(config.profile) / config.slug()
