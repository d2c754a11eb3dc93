"""PPO with a QNN features extractor or an MLP policy: the engine of the paper's Figure 3 (Ant).

The glue between the book's QNN and stable-baselines3 (SB3), and a PPO engine that knows no
environment by name -- the experiment (:mod:`qcl_helpers.experiments.ant`) says which environment,
network sizes and PPO constants a run uses, in its :class:`~qcl_helpers.configs.PPOConfig`:

* :class:`QNNFeatures` -- an SB3 features extractor: observation -> zero-pad to ``2**n`` and
  L2-normalize (amplitude encoding) -> ring of SU(4) gates -> ``tanh(5 p)`` over all ``2**n``
  basis probabilities. With ``net_arch=dict(pi=[], vf=[])`` the policy and value heads are single
  linear layers on these features, as in the paper. Gradients flow through the simulation.
* :func:`run_ppo` -- train with **standard rollouts** (``n_steps`` per environment per PPO update;
  the released code made the whole budget one rollout), evaluate every ``eval_every`` steps with
  ``eval_episodes`` deterministic episodes, and checkpoint after every evaluation so an interrupted
  run resumes without losing its evaluation history.

A PPO run writes the book's one run-folder format (:class:`qcl_helpers.results.RunFolder`): one
row per evaluation in ``metrics.jsonl`` (``steps``, ``mean_reward``, ``std_reward``,
``mean_length``, ``time``, ...), the SB3 model with its optimizer state (and, with
``normalize``, the ``VecNormalize`` statistics) in the checkpoint, and a finished run's policy
weights with those statistics in ``policy.pt`` (:func:`load_policy` replays it). Read it
back with :func:`qcl_helpers.results.load_run`. ``mean_length`` (mean episode length) matters: an
Ant episode ends early when the robot falls or jumps out of its healthy height range.

Introduced in: 06 · Reinforcement learning on Ant
"""
from __future__ import annotations

import copy
import dataclasses
import io
import math
import pickle
import time
from pathlib import Path

import numpy as np
import torch

from . import results, sim
from .circuits import amplitude_encode
from .configs import ConfigError, PPOConfig
from .models import paper_qnn

#: Invalid settings for a PPO run (the book's one configuration error).
AntConfigError = ConfigError
#: Salts of the engine's random streams (with the run's seed): evaluation environments, and the
#: training environments of a resumed run.
EVAL_SALT, RESUME_SALT = 17, 23


# --------------------------------------------------------------------------------------
# Environment and QNN policy
# --------------------------------------------------------------------------------------

def make_env(config: PPOConfig, n_envs: int = 1, seed: int = 0, *, stats=None, training: bool = True,
             **env_kwargs):
    """``n_envs`` copies of ``config``'s environment in an SB3 ``DummyVecEnv``, seeded.

    Extra keyword arguments go to ``gymnasium.make`` (e.g. ``render_mode="rgb_array"``). Each
    environment is wrapped in SB3's ``Monitor`` so episode returns are recorded. With
    ``config.normalize`` the vector is wrapped in SB3's ``VecNormalize`` (observations and rewards,
    discount ``config.gamma``): ``training=False`` freezes its statistics and leaves rewards raw
    (evaluation), and ``stats`` (another ``VecNormalize``) supplies the statistics to start from.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    env = make_vec_env(config.env_id, n_envs=int(n_envs), seed=int(seed), vec_env_cls=DummyVecEnv,
                       env_kwargs={**dict(config.env_kwargs), **env_kwargs})
    if not config.normalize:
        return env
    env = VecNormalize(env, training=training, norm_obs=True, norm_reward=training, gamma=config.gamma)
    if stats is not None:
        env.obs_rms, env.ret_rms = copy.deepcopy(stats.obs_rms), copy.deepcopy(stats.ret_rms)
        env.clip_obs, env.epsilon = stats.clip_obs, stats.epsilon
    return env


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
    evaluation: many small batches, fixed angles) they are cached per parameter version. The ring
    is simulated in a rotating qubit order so that its closing gate needs no permuted copies (see
    ``_RingColumns``). Same numbers and gradients as simulating the encoded batch, checked against
    the gate-by-gate reference in ``tests/test_rl_qnn_features.py``; a PPO minibatch of 128 costs
    about a third of the batch simulation (``benchmarks/bench_ant.py``).

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
        lay, n = self.qnn.layout, self.n_qubits
        ring = n >= 3 and lay.gates == tuple((i, (i + 1) % n) for i in range(n)) * lay.depth
        self._ring = _ring_steps(n, lay.n_gates) if ring else None  # the fast path's plan

    def columns(self) -> torch.Tensor:
        """``U|k>`` for the basis states ``k < obs_dim`` as columns, shape ``(2**n, obs_dim)``.

        Differentiable in ``theta`` when gradients are enabled. A ring layout is simulated in a
        rotating qubit order (``_RingColumns``, below), any other by :func:`qcl_helpers.sim.evolve`.
        """
        theta, lay = self.qnn.theta, self.qnn.layout
        if self._ring is None:
            eye = torch.eye(self.obs_dim, lay.dim, dtype=self._cdtype, device=theta.device)
            return sim.evolve(eye, theta, lay).transpose(0, 1)
        steps, shift = self._ring
        mats = _ring_blocks(sim.su4_gates(theta).to(self._cdtype), steps)
        eye = torch.eye(lay.dim, self.obs_dim, dtype=self._cdtype, device=theta.device)
        return _RingColumns.apply(eye, steps, self.n_qubits, shift, *mats)

    @staticmethod
    def _parts(cols: torch.Tensor) -> tuple:
        # (2**n, obs_dim) real and imaginary parts, contiguous: fast GEMM operands (and gradients)
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

# The ring circuit on a few input columns: QNNFeatures' fast path (sim.evolve is the general one).
# A ring layer's closing gate (n-1, 0) joins the two ends of the register, which the batch-last
# layout can only reach through a permuted copy of the state (twice per gate, forward and backward).
# Here the qubit order ROTATES instead: after each open chain of n-1 neighbouring gates the last
# qubit moves to the front (one cheap copy), so every gate acts on neighbouring positions and the
# gates fuse into dense blocks on up to four qubits. Tested against the gate-by-gate reference.

def _ring_steps(n: int, n_gates: int, span: int = 3) -> tuple:
    """``(steps, shift)`` for ``n_gates`` ring gates on ``n`` qubits, in a rotating qubit order.

    A step is ``("blk", lo, k, gate_ids)`` -- a dense block on memory positions ``lo..lo+k-1`` of
    gates on consecutive position pairs, at most ``span`` of them -- or ``("rot",)``: the last
    position moves to the front. After the steps wire ``w`` sits at position ``(w + shift) % n``.
    """
    steps, r = [], 0
    for g in range(n_gates):
        p = (g % n + r) % n  # position of gate g's first wire (wire w sits at (w + r) % n)
        if p == n - 1:  # the closing gate (n-1, 0) straddles the ends: rotate, it acts on (0, 1)
            steps.append(("rot",))
            r, p = r + 1, 0
        last = steps[-1] if steps else ("rot",)
        if last[0] == "blk" and p // span == last[1] // span and p == last[1] + last[2] - 1:
            steps[-1] = ("blk", last[1], last[2] + 1, last[3] + (g,))
        else:
            steps.append(("blk", p, 2, (g,)))
    return tuple(steps), r % n


def _ring_blocks(gates: torch.Tensor, steps: tuple) -> list:
    """The dense matrix of every block step: its gates applied in turn to the identity (a register
    of ``k`` qubits with ``2**k`` columns), with autograd, all blocks of one shape at once."""
    blocks = [s for s in steps if s[0] == "blk"]
    groups = {}
    for i, (_, _, k, ids) in enumerate(blocks):
        groups.setdefault((k, len(ids)), []).append(i)
    mats = [None] * len(blocks)
    for (k, m), members in groups.items():
        dim = 2**k
        prod = torch.eye(dim, dtype=gates.dtype, device=gates.device).expand(len(members), dim, dim)
        for j in range(m):  # the j-th gate of each block acts on its local positions (j, j+1)
            rows = torch.tensor([blocks[i][3][j] for i in members], device=gates.device)
            view = prod.reshape(len(members), 2**j, 4, -1)
            prod = torch.matmul(gates.index_select(0, rows).unsqueeze(1), view).reshape(len(members), dim, dim)
        for i, mat in zip(members, prod.unbind(0)):
            mats[i] = mat
    return mats


def _ring_rotate(psi: torch.Tensor, n: int, r: int) -> torch.Tensor:
    """Move the last ``r`` of the ``n`` qubit positions of ``psi`` (``(2**n, C)``) to the front."""
    return psi.reshape(2 ** (n - r), 2**r, psi.shape[-1]).transpose(0, 1).reshape(psi.shape)


def _ring_apply(psi: torch.Tensor, mat: torch.Tensor, lo: int, k: int) -> torch.Tensor:
    """``mat`` on positions ``lo..lo+k-1`` of ``psi`` (``(2**n, C)``): one GEMM or one batched GEMM."""
    view = psi.reshape(2**lo, 2**k, -1)
    if lo == 0:
        return torch.mm(mat, view[0]).reshape(psi.shape)
    return torch.bmm(mat.expand(2**lo, -1, -1), view).reshape(psi.shape)


class _RingColumns(torch.autograd.Function):
    """``psi -> U psi`` for the ring circuit given its block matrices, with a hand-written backward.

    Backward walks the steps in reverse on the *conjugate* cotangent ``h``: ``h <- B^T h`` and
    ``dL/dB = conj(sum h x^T)`` (``x``: the block's input), as :mod:`qcl_helpers.sim` does.
    """

    @staticmethod
    def forward(ctx, psi, steps, n, shift, *mats):
        inputs, i = [], 0
        for step in steps:
            if step[0] == "rot":
                psi = _ring_rotate(psi, n, 1)
            else:
                inputs.append(psi)
                psi = _ring_apply(psi, mats[i], step[1], step[2])
                i += 1
        if shift:  # back to the standard order: wire w at position w
            psi = _ring_rotate(psi, n, n - shift)
        ctx.steps, ctx.n, ctx.shift = steps, n, shift
        ctx.save_for_backward(*mats, *inputs)
        return psi

    @staticmethod
    def backward(ctx, grad):
        steps, n = ctx.steps, ctx.n
        saved = ctx.saved_tensors
        m = len(saved) // 2
        mats, inputs = saved[:m], saved[m:]
        h = grad.conj().resolve_conj().contiguous()
        if ctx.shift:
            h = _ring_rotate(h, n, ctx.shift)
        grads, i = [None] * m, m
        for step in reversed(steps):
            if step[0] == "rot":
                h = _ring_rotate(h, n, n - 1)
                continue
            i -= 1
            lo, k = step[1], step[2]
            hv, xv = h.reshape(2**lo, 2**k, -1), inputs[i].reshape(2**lo, 2**k, -1)
            if lo == 0:
                g = torch.mm(hv[0], xv[0].transpose(0, 1))
            else:
                g = torch.bmm(hv, xv.transpose(1, 2)).sum(0)
            grads[i] = g.conj()
            if i > 0 or ctx.needs_input_grad[0]:
                h = _ring_apply(h, mats[i].transpose(0, 1), lo, k)
        return (h.conj() if ctx.needs_input_grad[0] else None, None, None, None, *grads)



# --------------------------------------------------------------------------------------
# Agents
# --------------------------------------------------------------------------------------

def policy_kwargs(config: PPOConfig) -> dict:
    """SB3 ``policy_kwargs`` for ``config``: linear heads on QNN features, or the MLP's sizes.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    kwargs = {"net_arch": config.arch(), "log_std_init": config.log_std_init}
    if config.model == "qnn":
        kwargs.update(features_extractor_class=QNNFeatures,
                      features_extractor_kwargs={"n_qubits": config.n_qubits, "depth": config.depth,
                                                 "seed": config.seed})
    return kwargs


def build_agent(config: PPOConfig, env=None, device: str = "cpu"):
    """A fresh SB3 ``PPO`` agent for ``config`` (training environments made if ``env`` is None).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3 import PPO

    env = env if env is not None else make_env(config, config.n_envs, config.seed)
    return PPO("MlpPolicy", env, learning_rate=config.lr, n_steps=config.n_steps,
               batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
               gae_lambda=config.gae_lambda, clip_range=config.clip_range,
               policy_kwargs=policy_kwargs(config), seed=config.seed, device=device, verbose=0)


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
        size = run.config["depth"] if fam == "qnn" else run.config["net_arch"]["pi"][0]
        color = plotting.family_colors([size], fam)[0]
        x, y = run.steps / 1e3, run["mean_reward"]
        if points and plotting.has_curve(len(y), window):
            ax.plot(x, y, "o", ms=3, alpha=0.45, color=color)
        plotting.plot_band(ax, y, window, x=x, label=f"{run.label} ({window}-point average)", color=color)
    if baseline is not None:
        ax.axhline(baseline, ls=":", color="0.35", lw=1.2, label="zero action (stands still)")
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("evaluation return\n(deterministic episodes)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    return ax


def save_policy(agent, path) -> None:
    """Save just the policy weights of an SB3 agent (no optimizer) atomically, for replaying it,
    with its observation-normalization statistics when it trains under ``VecNormalize``.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    blob = {k: v.detach().cpu() for k, v in agent.policy.state_dict().items()}
    vn = agent.get_vec_normalize_env()
    if vn is not None:
        blob.update({"_obs_rms.mean": torch.as_tensor(vn.obs_rms.mean), "_obs_rms.var": torch.as_tensor(vn.obs_rms.var),
                     "_obs_rms.count": torch.as_tensor(float(vn.obs_rms.count)),
                     "_clip_obs": torch.as_tensor(float(vn.clip_obs)), "_epsilon": torch.as_tensor(float(vn.epsilon))})
    buf = io.BytesIO()
    torch.save(blob, buf)
    results.atomic_write(path, buf.getvalue(), mode="wb")


def load_policy(folder, device: str = "cpu"):
    """The trained policy stored in ``folder`` (``policy.pt`` + ``config.json``), as an SB3 agent
    whose (frozen) ``VecNormalize`` statistics are the training run's, when it used them.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    folder = Path(folder)
    c = results.read_config(folder)
    if c is None or not (folder / "policy.pt").exists():
        raise results.RunError(f"{folder} holds no stored policy (policy.pt and config.json)")
    cfg = PPOConfig.from_dict(c)
    blob = torch.load(folder / "policy.pt", map_location=device, weights_only=True)
    env = make_env(cfg, 1, cfg.seed, training=False)
    if cfg.normalize:
        if "_obs_rms.mean" not in blob:
            raise results.RunError(f"{folder}/policy.pt lacks the observation statistics its config asks for")
        env.obs_rms.mean = blob["_obs_rms.mean"].numpy()
        env.obs_rms.var = blob["_obs_rms.var"].numpy()
        env.obs_rms.count = float(blob["_obs_rms.count"])
        env.clip_obs, env.epsilon = float(blob["_clip_obs"]), float(blob["_epsilon"])
    agent = build_agent(cfg, env=env, device=device)
    agent.policy.load_state_dict({k: v for k, v in blob.items() if not k.startswith("_")})
    return agent


def play_episode(agent, config: PPOConfig, seed: int = 0, *, max_steps: int = 1000, render_every: int = 0,
                 size: tuple = (320, 240)) -> dict:
    """Run one deterministic episode of ``agent`` in ``config``'s environment and say what happened.

    Returns ``length``, ``return``, ``x_distance`` (torso displacement along x, metres), the mean
    per-step reward terms (``reward_forward``, ``reward_ctrl``, ``reward_survive``), ``terminated``
    (fell or left the healthy height range) and, with ``render_every=k > 0``, every k-th frame as an
    RGB array in ``frames`` (needs an OpenGL backend: set ``MUJOCO_GL=egl`` or ``osmesa`` headless).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    import gymnasium as gym

    kwargs = dict(render_mode="rgb_array", width=size[0], height=size[1]) if render_every else {}
    env = gym.make(config.env_id, **dict(config.env_kwargs), **kwargs)
    try:
        obs, _ = env.reset(seed=int(seed))
        x0 = float(env.unwrapped.data.qpos[0])
        terms = {"reward_forward": 0.0, "reward_ctrl": 0.0, "reward_survive": 0.0}
        total, frames, steps, terminated = 0.0, [], 0, False
        vn = agent.get_vec_normalize_env()  # the policy sees observations as it saw them in training
        for steps in range(1, int(max_steps) + 1):
            action, _ = agent.predict(vn.normalize_obs(obs) if vn is not None else obs, deterministic=True)
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


def _provenance_extra() -> dict:
    """The RL stack's versions, added to :func:`qcl_helpers.results.provenance`."""
    versions = {}
    for name, module in (("gymnasium", "gymnasium"), ("stable_baselines3", "stable_baselines3"),
                         ("mujoco", "mujoco")):
        try:
            versions[name] = __import__(module).__version__
        except Exception:  # pragma: no cover - reported as missing rather than failing a run
            versions[name] = "unavailable"
    return versions


# --------------------------------------------------------------------------------------
# Training with evaluations and checkpoints
# --------------------------------------------------------------------------------------

def evaluate(agent, config: PPOConfig, index: int) -> tuple:
    """``(mean, std, mean_length)``: episode return (mean and std) and mean episode length of
    ``config.eval_episodes`` deterministic episodes.

    The episodes run in parallel (one environment each, batched policy calls) on environments
    seeded by ``(seed, index)``, so evaluation ``index`` is reproducible and independent of training.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    env_seed = int(np.random.SeedSequence([config.seed, index, EVAL_SALT]).generate_state(1)[0] % 2**31)
    env = make_env(config, config.eval_episodes, env_seed, training=False, stats=agent.get_vec_normalize_env())
    try:
        returns, lengths = evaluate_policy(agent, env, n_eval_episodes=config.eval_episodes, deterministic=True,
                                           return_episode_rewards=True)
    finally:
        env.close()
    return float(np.mean(returns)), float(np.std(returns)), float(np.mean(lengths))


def _agent_bytes(agent) -> bytes:
    """The checkpoint state: the SB3 zip (policy, optimizer state, num_timesteps, hyperparameters)
    and, under ``VecNormalize``, its pickled statistics (SB3 pickles them without the environments)."""
    buf = io.BytesIO()
    agent.save(buf)
    vn = agent.get_vec_normalize_env()
    return pickle.dumps({"agent": buf.getvalue(), "vec_normalize": pickle.dumps(vn) if vn is not None else None})


def _restore_agent(state: bytes, config: PPOConfig, device: str):
    """The agent of a checkpoint made by :func:`_agent_bytes`, on fresh training environments
    seeded by ``(seed, steps done, RESUME_SALT)``."""
    from stable_baselines3 import PPO

    blob = pickle.loads(state)
    agent = PPO.load(io.BytesIO(blob["agent"]), env=None, device=device)
    done = int(agent.num_timesteps)
    env_seed = int(np.random.SeedSequence([config.seed, done, RESUME_SALT]).generate_state(1)[0] % 2**31)
    env = make_env(dataclasses.replace(config, normalize=False), config.n_envs, env_seed)
    if blob["vec_normalize"] is not None:
        vn = pickle.loads(blob["vec_normalize"])
        vn.set_venv(env)
        env = vn
    agent.set_env(env)
    agent.set_random_seed(env_seed)
    return agent


def _progress_callback(bar, n_envs):
    from stable_baselines3.common.callbacks import BaseCallback

    class _Bar(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(n_envs)
            return True

    return _Bar()


def run_ppo(config: PPOConfig, out=None, *, progress: bool = True, stop_after: int | None = None,
            device: str = "cpu") -> results.Run:
    """Train (or resume) one PPO agent in folder ``out``; return its :class:`~qcl_helpers.results.Run`
    (with the trained SB3 agent in ``run.agent``).

    Evaluates at step 0 and after every ``eval_every`` environment steps; after each evaluation
    the SB3 model (with optimizer) and the evaluation rows are checkpointed together, atomically.
    Rerunning in the same folder resumes from the checkpoint; a folder holding another
    configuration raises :class:`~qcl_helpers.results.RunError`. ``stop_after`` stops once that
    many steps are done (at an evaluation boundary), e.g. to split a long run into sessions.
    ``out`` defaults to :func:`qcl_helpers.results.default_folder`.

    Resuming restarts the environments' episodes (their physics state is not saved), so a resumed
    run is a valid continuation but not bit-identical to an uninterrupted one.

    Introduced in: 06 · Reinforcement learning on Ant
    """
    if not isinstance(config, PPOConfig):
        raise ConfigError(f"run_ppo expects a PPOConfig (see the experiment's make_config), "
                          f"got {type(config).__name__}")
    folder = results.RunFolder(Path(out) if out is not None else results.default_folder(config))
    prov = results.provenance(device)
    prov["versions"].update(_provenance_extra())
    rows, state = folder.open(config.as_dict(), device, provenance_extra={"versions": prov["versions"]})
    if state is None and rows:  # a complete stored run without its checkpoint: nothing to train
        return results.load_run(folder.path)
    if state is not None:
        agent = _restore_agent(state, config, device)
        done = int(agent.num_timesteps)
    else:
        agent, done = build_agent(config, device=device), 0
    elapsed = float(rows[-1]["time"]) if rows else 0.0

    def record(index):
        nonlocal elapsed
        tic = time.perf_counter()
        mean, std, length = evaluate(agent, config, index)
        elapsed += time.perf_counter() - tic
        rows.append({"steps": int(agent.num_timesteps), "mean_reward": mean, "std_reward": std,
                     "mean_length": length, "time": round(elapsed, 3),
                     "eval_seconds": round(time.perf_counter() - tic, 3)})
        folder.save(rows, _agent_bytes(agent))

    from tqdm.auto import tqdm

    limit = config.total_steps if stop_after is None else min(config.total_steps, int(stop_after))
    bar = tqdm(total=config.total_steps, initial=done, desc=config.label, unit="step", disable=not progress,
               dynamic_ncols=True, leave=True)
    try:
        if not rows:
            record(0)
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
    if agent.num_timesteps >= config.total_steps:  # the finished policy, small enough to store for replays
        save_policy(agent, folder.path / "policy.pt")
    run = results.load_run(folder.path, require_complete=False)
    run.agent = agent
    return run
