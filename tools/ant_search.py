"""Search for a PPO configuration in which the paper's MLP agent learns to walk on Ant (issue #13).

A frozen record: this is the script that made ``results/ant-search/`` (chapter 06's appendix plots
it), kept so that record can be rerun as it was made. Each trial is the paper's MLP policy ([1024,
256] policy, [256, 256] value, lr 1e-4, gamma 0.99, lambda 0.95, clip 0.2, batch 128, 10 epochs)
with the choices the paper leaves open varied: the rollout (n_envs x n_steps), observation/reward
normalization (SB3's VecNormalize) and the initial log sigma. It evaluates 10 deterministic
episodes every ``--eval-every`` steps (with the training normalization statistics, frozen) and
writes one JSON line per evaluation, after a header line with the trial's settings, to
``results/ant-search/<trial>_seed<seed>.jsonl``. A rerun starts the trial afresh and overwrites
its log (the trials are minutes to an hour long; nothing here resumes).

    python tools/ant_search.py TRIAL --steps 1500000

The two trials below are the two that ran; the search stopped when the second walked. Today the
same training is ``rl.run_ppo`` on ``dataclasses.replace(ant.make_config("mlp", profile="paper"),
...)``, which resumes and evaluates on its own seeds.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

TRIALS = {
    # rollout 16 x 128 = 2,048 steps per PPO update; VecNormalize on observations and rewards
    "norm-r2048-ls0": dict(n_envs=16, n_steps=128, normalize=True, log_std_init=0.0),
    "norm-r2048-ls-1": dict(n_envs=16, n_steps=128, normalize=True, log_std_init=-1.0),
}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trial", choices=sorted(TRIALS))
    p.add_argument("--steps", type=int, default=1_500_000)
    p.add_argument("--eval-every", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/ant-search")
    a = p.parse_args(argv)

    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from qcl_helpers.experiments import ant

    torch.set_num_threads(1)
    t = TRIALS[a.trial]
    kw = dict(ant.ENV_KWARGS)
    env = make_vec_env(ant.ENV_ID, n_envs=t["n_envs"], seed=a.seed, vec_env_cls=DummyVecEnv, env_kwargs=kw)
    if t["normalize"]:
        env = VecNormalize(env, gamma=ant.PPO_CONSTANTS["gamma"])
    agent = PPO("MlpPolicy", env, learning_rate=1e-4, n_steps=t["n_steps"], batch_size=128, n_epochs=10,
                **ant.PPO_CONSTANTS, seed=a.seed, verbose=0,
                policy_kwargs={"net_arch": ant.NET_ARCH["mlp"], "log_std_init": t["log_std_init"]})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"{a.trial}_seed{a.seed}.jsonl"
    log.write_text(json.dumps({"trial": a.trial, "seed": a.seed, **t, "lr": 1e-4, "batch_size": 128,
                               "n_epochs": 10, **ant.PPO_CONSTANTS}) + "\n")
    tic, k = time.perf_counter(), 0
    while agent.num_timesteps < a.steps:
        agent.learn(total_timesteps=a.eval_every, reset_num_timesteps=False)
        k += 1
        ev = make_vec_env(ant.ENV_ID, n_envs=10, seed=10_000 + k, vec_env_cls=DummyVecEnv, env_kwargs=kw)
        if t["normalize"]:
            ev = VecNormalize(ev, training=False, norm_reward=False, gamma=ant.PPO_CONSTANTS["gamma"])
            ev.obs_rms = env.obs_rms
        rets, lens = evaluate_policy(agent, ev, n_eval_episodes=10, deterministic=True, return_episode_rewards=True)
        ev.close()
        row = {"steps": int(agent.num_timesteps), "mean_reward": float(np.mean(rets)),
               "std_reward": float(np.std(rets)), "mean_length": float(np.mean(lens)),
               "seconds": round(time.perf_counter() - tic, 1)}
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(a.trial, row, flush=True)


if __name__ == "__main__":
    main()
