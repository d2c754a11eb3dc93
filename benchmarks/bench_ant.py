#!/usr/bin/env python
"""Cost per environment step of PPO on Ant: the QNN agent against the MLP agent, one core.

    OMP_NUM_THREADS=1 python benchmarks/bench_ant.py                 # paper profile, ratio printed
    python benchmarks/bench_ant.py --json results/bench_ant_cpu.json  # also write the numbers

Agents, built by :func:`qcl_helpers.rl.build_agent` from one profile's settings
(:func:`qcl_helpers.experiments.ant.make_config`: ``n_envs``, batch 128, 10 epochs, the paper's
learning rates; only ``n_steps`` is shortened, see below):

* ``qnn``        -- the paper's RL QNN (9 qubits, 12 ring layers of SU(4), ``tanh(5 p)`` over all
  512 probabilities, linear policy and value heads) through :class:`qcl_helpers.rl.QNNFeatures`;
* ``mlp``        -- SB3's MLP policy with the paper's sizes (policy [1024, 256], value [256, 256]);
* ``qnn-before`` -- the same QNN with the features extractor as it was before the speed work
  (commit ed93930): every PPO minibatch simulates its 128 encoded observations through the
  circuit, gradient-free calls multiply by the full 512 x 512 matrix. Same parameters, same
  numbers (checked at start-up); kept here so "before" and "after" are measured in one run;
* ``qnn-sim-columns`` (not run by default) -- the intermediate step, to show each lever's share:
  the 27 columns simulated by :func:`qcl_helpers.sim.evolve` instead of the rotating-order ring.

Timing: one process, ``torch.set_num_threads(1)`` (and ``OMP/MKL_NUM_THREADS=1``), optionally
pinned to one core (``--pin``). After one untimed ``learn`` per agent (environment start-up,
caches), ``--rounds`` rounds follow in which every agent does one ``learn`` of one rollout
(``n_envs * n_steps`` environment steps, then ``n_epochs`` passes of minibatches) in turn, in a
rotating order, so load changes on a shared machine hit all agents alike. Each round's wall time is
split into **rollout** (``collect_rollouts``: policy calls + MuJoCo), **update**
(``train``: PPO epochs) and **other**; the report gives the median over rounds in ms per
environment step, the ratio to the MLP, and the update cost per minibatch.

``n_steps`` defaults to 128 (16 x 128 = 2,048 steps per round with the paper profile's 16
environments; 6 rounds: 12,288 timed steps per agent) instead of 2,048: a PPO update costs
``n_epochs * rollout / batch_size`` minibatches, so its cost *per environment step* does not depend
on the rollout length; only the per-update constant (GAE, buffer reset) is amortized over fewer
steps. Short rounds pair the agents closely in time: the headline ratio is the median over rounds
of the ratio within a round, in wall-clock and in CPU time.

**Evaluation** is timed apart (it is not part of a training step): ``--eval-steps`` steps of the
deterministic policy on ``eval_episodes`` parallel environments, as :func:`qcl_helpers.rl.evaluate`
runs them; the report adds its amortized cost per training step at the profile's evaluation
frequency, assuming full 1,000-step episodes (an upper bound).

Introduced in: 06 · Reinforcement learning on Ant
"""
from __future__ import annotations

import argparse
import os
import sys

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import dataclasses  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qcl_helpers import results, rl, sim  # noqa: E402
from qcl_helpers.experiments import ant  # noqa: E402

AGENTS = ("qnn", "mlp", "qnn-before", "qnn-sim-columns")
DEFAULT_AGENTS = ("qnn", "mlp", "qnn-before")
EPISODE_STEPS = 1000  # Ant's time limit: an evaluation episode lasts at most this long


class BatchSimulatedFeatures(rl.QNNFeatures):
    """The QNN features extractor before the speed work (for the "before" column only).

    With gradients, the encoded batch itself is simulated through the circuit; without them, the
    full ``2**n x 2**n`` matrix ``U^T`` is built once per parameter version. Same numbers as
    :class:`qcl_helpers.rl.QNNFeatures` (both are tested against the reference simulation).
    """

    def _unitary_t(self) -> torch.Tensor:
        theta = self.qnn.theta
        key = ("full", theta.data_ptr(), theta._version, theta.device, theta.dtype)
        if self._cache is None or self._cache[0] != key:
            with torch.no_grad():
                eye = torch.eye(self.features_dim, dtype=self._cdtype, device=theta.device)
                self._cache = (key, sim.evolve(eye, theta, self.qnn.layout))
        return self._cache[1]

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        states = rl.encode_observations(observations, self.n_qubits, self._cdtype)
        if torch.is_grad_enabled():
            feats = self.qnn(states)
        else:
            psi = states @ self._unitary_t()
            feats = self.qnn.readout(psi.real**2 + psi.imag**2)
        return feats.to(observations.dtype)


def build(name: str, profile: str, n_steps: int | None, seed: int):
    """One SB3 PPO agent ``name`` with the profile's settings (``n_steps`` overridden if given)."""
    cfg = ant.make_config("mlp" if name == "mlp" else "qnn", profile=profile, seed=seed)
    if n_steps is not None:
        cfg = dataclasses.replace(cfg, n_steps=int(n_steps))
    agent = rl.build_agent(cfg)
    if name == "qnn-before":
        fe = agent.policy.features_extractor
        assert fe is agent.policy.pi_features_extractor is agent.policy.vf_features_extractor
        fe.__class__ = BatchSimulatedFeatures  # same module, same parameters, the old forward
    elif name == "qnn-sim-columns":
        agent.policy.features_extractor._ring = None  # columns from sim.evolve
    timers = {"rollout": 0.0, "update": 0.0, "cpu_rollout": 0.0, "cpu_update": 0.0}
    for method, key in (("collect_rollouts", "rollout"), ("train", "update")):
        inner = getattr(agent, method)

        def timed(*a, _inner=inner, _key=key, **k):
            tic, cpu = time.perf_counter(), time.process_time()
            try:
                return _inner(*a, **k)
            finally:
                timers[_key] += time.perf_counter() - tic
                timers["cpu_" + _key] += time.process_time() - cpu

        setattr(agent, method, timed)
    return cfg, agent, timers


def check_same_features(fast, before, batch: int = 128, seed: int = 0) -> float:
    """Largest feature difference between two extractors holding the same angles (PPO's minibatch
    path with gradients, and the gradient-free rollout path); raises if above 1e-5 (complex64)."""
    x = torch.randn(batch, fast.obs_dim, generator=torch.Generator().manual_seed(seed))
    before.load_state_dict(fast.state_dict())
    diff = float((fast(x) - before(x)).detach().abs().max())
    with torch.no_grad():
        diff = max(diff, float((fast(x) - before(x)).abs().max()))
    if diff > 1e-5:
        raise RuntimeError(f"qnn and qnn-before features differ by {diff:.2e}: the comparison would be unfair")
    return diff


def one_round(cfg, agent, timers) -> dict:
    """One ``learn`` of one rollout; wall and CPU ms per environment step, split by phase."""
    for k in timers:
        timers[k] = 0.0
    steps = cfg.n_envs * cfg.n_steps
    tic, cpu = time.perf_counter(), time.process_time()
    agent.learn(total_timesteps=steps, reset_num_timesteps=False)
    wall, cpu = time.perf_counter() - tic, time.process_time() - cpu
    minibatches = cfg.n_epochs * -(-steps // cfg.batch_size)
    return {"total": 1e3 * wall / steps, "rollout": 1e3 * timers["rollout"] / steps,
            "update": 1e3 * timers["update"] / steps,
            "other": 1e3 * (wall - timers["rollout"] - timers["update"]) / steps,
            "cpu_total": 1e3 * cpu / steps, "cpu_rollout": 1e3 * timers["cpu_rollout"] / steps,
            "cpu_update": 1e3 * timers["cpu_update"] / steps,
            "update_per_minibatch": 1e3 * timers["update"] / minibatches,
            "cpu_update_per_minibatch": 1e3 * timers["cpu_update"] / minibatches}


def eval_cost(cfg, agent, vec_steps: int, seed: int) -> float:
    """ms per environment step of deterministic evaluation on ``eval_episodes`` parallel envs."""
    env = rl.make_env(cfg, cfg.eval_episodes, seed)
    try:
        obs = env.reset()
        agent.predict(obs, deterministic=True)  # warm the policy's caches
        tic = time.perf_counter()
        for _ in range(vec_steps):
            action, _ = agent.predict(obs, deterministic=True)
            obs, *_ = env.step(action)
        return 1e3 * (time.perf_counter() - tic) / (vec_steps * cfg.eval_episodes)
    finally:
        env.close()


def _rl_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("gymnasium", "stable_baselines3", "mujoco"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def main(argv=None) -> dict:
    """Command-line entry point; returns the results it prints (and writes with ``--json``).

    Introduced in: 06 · Reinforcement learning on Ant
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="paper", help="profile whose Ant settings to use (default: paper)")
    ap.add_argument("--n-steps", type=int, default=128,
                    help="rollout length per environment (default 128; 0 = the profile's)")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved timed rounds per agent (default 6)")
    ap.add_argument("--agents", default=",".join(DEFAULT_AGENTS),
                    help="comma-separated subset of " + ",".join(AGENTS) + " (default: the first three)")
    ap.add_argument("--eval-steps", type=int, default=100,
                    help="vectorized evaluation steps to time per agent (0 to skip; default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pin", action="store_true", help="pin the process to one CPU core")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    names = [a.strip() for a in args.agents.split(",") if a.strip()]
    bad = [a for a in names if a not in AGENTS]
    if bad or not names:
        ap.error(f"unknown agent(s) {bad}; choose from {', '.join(AGENTS)}")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    pinned = None
    if args.pin and hasattr(os, "sched_setaffinity"):
        pinned = [sorted(os.sched_getaffinity(0))[0]]
        os.sched_setaffinity(0, pinned)
    torch.set_num_threads(1)
    sim.tune_cpu_allocator()  # process-wide, so every agent runs with the same allocator settings

    agents = {n: build(n, args.profile, args.n_steps or None, args.seed) for n in names}
    cfg0 = next(iter(agents.values()))[0]
    for other in ("qnn-before", "qnn-sim-columns"):  # same seed, same angles: the same numbers
        if "qnn" in agents and other in agents:
            diff = check_same_features(agents["qnn"][1].policy.features_extractor,
                                       agents[other][1].policy.features_extractor)
            print(f"qnn vs {other} features (same angles, batch 128): max difference {diff:.1e}")
    print(f"profile {cfg0.profile}: n_envs {cfg0.n_envs}, n_steps {cfg0.n_steps} "
          f"({cfg0.n_envs * cfg0.n_steps} env steps per round), batch {cfg0.batch_size}, "
          f"{cfg0.n_epochs} epochs; torch threads {torch.get_num_threads()}, pinned {pinned}")
    load0 = list(os.getloadavg())
    for name, (cfg, agent, timers) in agents.items():  # untimed warm-up round
        tic = time.perf_counter()
        one_round(cfg, agent, timers)
        print(f"  warm-up {name}: {time.perf_counter() - tic:.1f} s", flush=True)
    rounds = {n: [] for n in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            rounds[name].append(one_round(*agents[name]))
        print(f"  round {r + 1}: " + ", ".join(f"{n} {rounds[n][-1]['total']:.2f}" for n in names)
              + " ms/step", flush=True)
    evals = {}
    if args.eval_steps > 0:
        for name, (cfg, agent, _) in agents.items():
            evals[name] = eval_cost(cfg, agent, args.eval_steps, args.seed + 1)

    summary = {}
    for name in names:
        cfg = agents[name][0]
        med = {k: statistics.median(row[k] for row in rounds[name]) for k in rounds[name][0]}
        if name in evals:
            med["eval_per_eval_step"] = evals[name]
            med["eval_amortized"] = evals[name] * cfg.eval_episodes * EPISODE_STEPS / cfg.eval_every
        summary[name] = med
    ratios = {}
    if "mlp" in summary:
        for name in names:
            if name != "mlp":
                # headline: the median over rounds of the ratio within a round (the two agents ran
                # back to back there, so a change of load on a shared machine cancels)
                ratios[f"{name}/mlp"] = statistics.median(
                    a["total"] / b["total"] for a, b in zip(rounds[name], rounds["mlp"]))
                ratios[f"{name}/mlp (CPU time)"] = statistics.median(
                    a["cpu_total"] / b["cpu_total"] for a, b in zip(rounds[name], rounds["mlp"]))
                ratios[f"{name}/mlp (ratio of the medians)"] = summary[name]["total"] / summary["mlp"]["total"]
                if "eval_amortized" in summary[name] and "eval_amortized" in summary["mlp"]:
                    ratios[f"{name}/mlp (with evaluation amortized)"] = \
                        (summary[name]["total"] + summary[name]["eval_amortized"]) / \
                        (summary["mlp"]["total"] + summary["mlp"]["eval_amortized"])
    for other in ("qnn-before", "qnn-sim-columns"):
        if "qnn" in summary and other in summary:
            ratios[f"{other}/qnn (speed-up)"] = statistics.median(
                a["total"] / b["total"] for a, b in zip(rounds[other], rounds["qnn"]))
            ratios[f"{other}/qnn (speed-up, CPU time)"] = statistics.median(
                a["cpu_total"] / b["cpu_total"] for a, b in zip(rounds[other], rounds["qnn"]))

    print(f"\nms per environment step, median of {args.rounds} rounds (wall clock | CPU time of this "
          "process; on a shared machine CPU time is the steadier measure)")
    print(f"{'agent':<15} {'total':>7} {'rollout':>8} {'update':>7} {'other':>6} | {'total':>6} {'rollout':>8}"
          f" {'update':>7} | {'update ms/minibatch':>19} | {'eval/step':>9} {'eval amort.':>11}")
    for name, m in summary.items():
        ev = (f"{m['eval_per_eval_step']:>9.3f} {m['eval_amortized']:>11.3f}" if "eval_per_eval_step" in m
              else f"{'-':>9} {'-':>11}")
        mb = f"{m['update_per_minibatch']:.2f} | {m['cpu_update_per_minibatch']:.2f}"
        print(f"{name:<15} {m['total']:>7.3f} {m['rollout']:>8.3f} {m['update']:>7.3f} {m['other']:>6.3f} |"
              f" {m['cpu_total']:>6.3f} {m['cpu_rollout']:>8.3f} {m['cpu_update']:>7.3f} | {mb:>19} | {ev}")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    out = {"settings": {"profile": cfg0.profile, "n_envs": cfg0.n_envs, "n_steps": cfg0.n_steps,
                        "batch_size": cfg0.batch_size, "n_epochs": cfg0.n_epochs, "rounds": args.rounds,
                        "eval_steps": args.eval_steps, "eval_every": cfg0.eval_every,
                        "eval_episodes": cfg0.eval_episodes, "seed": args.seed},
           "ms_per_env_step": summary, "rounds": rounds, "ratios": ratios,
           "provenance": dict(results.provenance("cpu"), rl_versions=_rl_versions(),
                              command=" ".join(["python"] + sys.argv),
                              pinned_cpus=pinned, load_average=[load0, list(os.getloadavg())],
                              torch_threads=torch.get_num_threads())}
    if args.json:
        results.atomic_write(args.json, json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")
    return out


if __name__ == "__main__":
    main()
