"""PPO glue for the Ant chapter: QNN features extractor, policy, run folders, resume."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("stable_baselines3")
pytest.importorskip("mujoco")

from gymnasium.spaces import Box  # noqa: E402

from qcl_helpers import circuits, configs, metrics, profiles, results, rl  # noqa: E402
from qcl_helpers.experiments import ant  # noqa: E402

OBS = Box(-np.inf, np.inf, (27,), np.float64)

# A tiny profile: two evaluations of one short episode budget each, depth-1 QNN.
TINY = profiles.CI.replace(ant=dataclasses.replace(
    profiles.CI.ant, total_steps=512, eval_every=256, eval_episodes=1, n_envs=1, n_steps=256,
    batch_size=64, n_epochs=1, qnn_depth=1))


def test_features_shape_range_and_gradient():
    fe = rl.QNNFeatures(OBS, n_qubits=9, depth=2, seed=0)
    assert fe.features_dim == 512
    out = fe(torch.randn(5, 27))
    assert out.shape == (5, 512) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= np.tanh(5.0)
    out.pow(2).sum().backward()
    g = fe.qnn.theta.grad
    assert g is not None and g.shape == (2 * 9, 15) and torch.isfinite(g).all() and g.abs().sum() > 0


def test_gradient_free_path_equals_simulation_and_tracks_updates():
    fe = rl.QNNFeatures(OBS, n_qubits=9, depth=2, seed=1)
    x = torch.randn(4, 27)
    with torch.no_grad():
        cached = fe(x)
    assert torch.allclose(cached, fe(x).detach(), atol=1e-5)
    with torch.no_grad():
        fe.qnn.theta.add_(0.3)  # an optimizer step: the cached matrix must be rebuilt
        after = fe(x)
    assert not torch.allclose(after, cached, atol=1e-3)
    assert torch.allclose(after, fe(x).detach(), atol=1e-5)


def test_all_zero_observation_is_encoded_as_basis_state():
    x = torch.zeros(2, 27)
    x[1, 3] = 2.0
    states = rl.encode_observations(x, 9)
    assert states.shape == (2, 512)
    assert states[0, 0] == 1 and states[0, 1:].abs().sum() == 0
    assert torch.allclose(states[1], circuits.amplitude_encode(x[1], 9))
    assert torch.isfinite(rl.QNNFeatures(OBS, depth=1, seed=0)(x)).all()


def test_qnn_policy_equals_direct_computation():
    cfg = ant.make_config("qnn", profile=TINY, seed=3)
    agent = rl.build_agent(cfg, env=rl.make_env(ant.make_config("mlp", profile=TINY), 1, 0))
    obs = agent.env.reset()
    # Direct: pad + normalize, circuit with the same seed, tanh(5 p), the linear heads.
    qnn = rl.paper_qnn("ant", depth=cfg.depth, seed=cfg.seed)
    assert torch.equal(qnn.theta, agent.policy.features_extractor.qnn.theta)
    x = torch.as_tensor(obs, dtype=torch.float32)
    padded = torch.cat([x, torch.zeros(1, 512 - 27)], dim=1).to(torch.complex64)
    probs = qnn.probabilities(padded / torch.linalg.vector_norm(padded)).detach()
    feats = torch.tanh(5 * probs)
    pol = agent.policy
    assert isinstance(pol.action_net, torch.nn.Linear) and pol.action_net.in_features == 512
    with torch.no_grad():
        mean = feats @ pol.action_net.weight.T + pol.action_net.bias
        value = feats @ pol.value_net.weight.T + pol.value_net.bias
    with torch.no_grad():
        dist = pol.get_distribution(x)
        assert torch.allclose(dist.distribution.mean, mean, atol=1e-5)
        assert torch.allclose(pol.predict_values(x), value, atol=1e-5)
    action, _ = agent.predict(obs, deterministic=True)
    assert np.allclose(action, np.clip(mean.numpy(), -1, 1), atol=1e-5)


def test_mlp_policy_has_the_papers_sizes():
    agent = rl.build_agent(ant.make_config("mlp", profile=TINY), env=rl.make_env(ant.make_config("mlp", profile=TINY), 1, 0))
    pi = [m.out_features for m in agent.policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    vf = [m.out_features for m in agent.policy.mlp_extractor.value_net if isinstance(m, torch.nn.Linear)]
    assert pi == [1024, 256] and vf == [256, 256]
    assert agent.learning_rate == pytest.approx(1e-4)


def test_interrupt_and_resume_keeps_history(tmp_path):
    cfg = ant.make_config("qnn", profile=TINY, seed=0)
    first = rl.run_ppo(cfg, tmp_path, progress=False, stop_after=256)
    assert [r["steps"] for r in first.rows] == [0, 256]
    assert (tmp_path / results.CHECKPOINT).exists() and not first.complete
    with pytest.raises(results.RunError, match="only 256 of 512"):
        results.load_run(tmp_path)
    # A row written after the last checkpoint is dropped (rows and state are checkpointed together).
    with open(tmp_path / results.METRICS, "a") as f:
        f.write(json.dumps({"steps": 9999, "mean_reward": 0.0, "std_reward": 0.0, "time": 0.0}) + "\n")
    done = rl.run_ppo(cfg, tmp_path, progress=False)
    assert [r["steps"] for r in done.rows] == [0, 256, 512]
    assert done.rows[:2] == first.rows  # the history before the interruption is kept as it was
    assert done.rows[2]["time"] > first.rows[1]["time"]
    assert done.agent.num_timesteps == 512 and done.complete
    assert done.config["resumed"][0]["from_steps"] == 256
    loaded = results.load_run(tmp_path, expect={"model": "qnn", "profile": "ci", "seed": 0})
    assert np.array_equal(loaded.steps, [0, 256, 512])
    assert {"stable_baselines3", "gymnasium", "mujoco", "torch"} <= set(loaded.config["versions"])
    # Another configuration in the same folder is refused.
    with pytest.raises(results.RunError, match="different run"):
        rl.run_ppo(ant.make_config("qnn", profile=TINY, seed=1), tmp_path, progress=False)


def test_normalized_run_keeps_its_statistics_through_resume_evaluation_and_replay(tmp_path):
    cfg = ant.make_config("mlp", profile=TINY, seed=0)
    assert cfg.normalize and cfg.log_std_init == -1.0  # every profile's choice (AntSizes)
    first = rl.run_ppo(cfg, tmp_path, progress=False, stop_after=256)
    vn = first.agent.get_vec_normalize_env()
    assert vn is not None and vn.obs_rms.count > 256  # updated by the 256 training steps
    assert torch.allclose(first.agent.policy.log_std, torch.full((8,), -1.0), atol=0.05)  # started at -1, one update
    before = vn.obs_rms.mean.copy()
    rl.evaluate(first.agent, cfg, 5)  # evaluation reads the statistics, never updates them
    assert np.array_equal(vn.obs_rms.mean, before)
    done = rl.run_ppo(cfg, tmp_path, progress=False)  # resumed: the statistics come from the checkpoint
    resumed = done.agent.get_vec_normalize_env()
    assert resumed.obs_rms.count > vn.obs_rms.count and done.complete
    # The finished run stores its policy with the statistics; the replayed agent acts as the trained one.
    player = rl.load_policy(tmp_path)
    obs = rl.make_env(cfg, 1, seed=4, training=False).venv.reset()  # a raw observation
    want, _ = done.agent.predict(resumed.normalize_obs(obs), deterministic=True)
    got, _ = player.predict(player.get_vec_normalize_env().normalize_obs(obs), deterministic=True)
    raw, _ = player.predict(obs, deterministic=True)  # control: without the statistics it acts otherwise
    assert np.allclose(got, want, atol=1e-6) and not np.allclose(raw, want, atol=1e-2)
    ep = rl.play_episode(player, cfg, seed=0, max_steps=20)
    assert ep["length"] == 20 and np.isfinite(ep["return"])


def test_a_run_on_raw_observations_stores_and_replays_without_statistics(tmp_path):
    # normalize=False: PPOConfig's default, what a config from before VecNormalize loads as
    P = TINY.replace(ant=dataclasses.replace(TINY.ant, normalize=False))
    cfg = ant.make_config("mlp", profile=P, seed=0)
    first = rl.run_ppo(cfg, tmp_path, progress=False, stop_after=256)
    assert first.agent.get_vec_normalize_env() is None
    done = rl.run_ppo(cfg, tmp_path, progress=False)  # resumed from a checkpoint without statistics
    assert done.complete and done.agent.get_vec_normalize_env() is None
    player = rl.load_policy(tmp_path)
    assert player.get_vec_normalize_env() is None
    obs = rl.make_env(cfg, 1, seed=4).reset()
    want, _ = done.agent.predict(obs, deterministic=True)
    got, _ = player.predict(obs, deterministic=True)
    assert np.allclose(got, want, atol=1e-6)
    ep = rl.play_episode(player, cfg, seed=0, max_steps=20)
    assert ep["length"] == 20 and np.isfinite(ep["return"])


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(configs.ConfigError, match="unknown model 'cnn'.*qnn, mlp"):
        ant.make_config("cnn", profile=TINY)
    with pytest.raises(configs.ConfigError, match="--depth applies to --model qnn"):
        ant.make_config("mlp", profile=TINY, depth=3)
    with pytest.raises(configs.ConfigError, match="unknown profile"):
        ant.make_config("qnn", profile="huge")
    with pytest.raises(configs.ConfigError, match="total_steps must be a positive integer"):
        ant.make_config("qnn", profile=TINY, total_steps=0)
    with pytest.raises(configs.ConfigError, match="depth must be a positive integer"):
        ant.make_config("qnn", profile=TINY, depth=0)
    with pytest.raises(configs.ConfigError, match="does not fit 4 qubits"):
        rl.QNNFeatures(OBS, n_qubits=4, depth=1)
    with pytest.raises(configs.ConfigError, match="expects a PPOConfig"):
        rl.run_ppo({"model": "qnn"}, tmp_path)
    with pytest.raises(results.RunError, match="not a run folder"):
        results.load_run(tmp_path)
    results.write_config(tmp_path, {"experiment": "ant"})
    with pytest.raises(results.RunError, match="provenance incomplete"):
        results.load_run(tmp_path)


FIGURE3 = Path(__file__).resolve().parent.parent / "results" / "figure3"
#: Tolerances for a rerun of a stored PPO run's first evaluations (relative). The evaluation before
#: any update depends only on the initialization, the environment and its seeds: 1 %. After the
#: first interval, training is deterministic on one machine but not across CPUs: rounding in another
#: BLAS kernel path changes the updates (as in test_stored_results.py) and MuJoCo's contacts amplify
#: it over an episode. Measured: the stored first evaluations after 100,352 steps (987 and 942, made
#: on one machine) came out 934 and 992 on another, 5.3 % both; the spread of the 10 episodes' returns
#: moved by 40-60 %, so it is not compared after training. Hence 15 % on the mean return and episode
#: length. What the check sees after 100k steps: the exploration noise (the control, SB3's default
#: sigma = 1, falls: return 10, episodes of 30 steps), not yet the learning rate (lr / 10 gave 968).
RL_TOL_BEFORE, RL_TOL_AFTER = 0.01, 0.15


def _figure3_configurations():
    from qcl_helpers import sweep

    summary = sweep.stored_summary("figure3", FIGURE3.parent) if FIGURE3.is_dir() else None
    return [pytest.param(FIGURE3 / e["folders"][0], id=key) for key, e in (summary or {"configurations": {}})
            ["configurations"].items()]


def _rl_mismatches(stored: list, fresh: list) -> list:
    bad = []
    for s, f in zip(stored, fresh):
        before = s["steps"] == 0
        keys = ("steps", "mean_reward", "std_reward", "mean_length") if before else ("steps", "mean_reward",
                                                                                   "mean_length")
        for key in keys:
            tol = RL_TOL_BEFORE if before or key == "steps" else RL_TOL_AFTER
            if abs(f[key] - s[key]) > tol * max(abs(s[key]), 1.0):
                bad.append(f"steps {s['steps']}: {key} stored {s[key]!r}, now {f[key]!r}")
    return bad


@pytest.mark.parametrize("folder", _figure3_configurations())
def test_stored_figure3_runs_reproduce_their_first_evaluations(folder, tmp_path):
    """Every stored Figure 3 configuration: today's code, trained for the first ``eval_every`` steps
    from the stored config, gives the stored evaluations at step 0 and after the first interval.
    Control: the same run with SB3's default initial sigma (the setting the search rejected) does not."""
    run = results.load_run(folder, require_complete=False, clean=True)
    stored = run.rows[:2]
    if len(stored) < 2:
        pytest.skip("the stored run has no evaluation after training yet")
    cfg = configs.PPOConfig.from_dict(run.config)
    first = dataclasses.replace(cfg, total_steps=cfg.eval_every)
    fresh = rl.run_ppo(first, tmp_path / "rerun", progress=False)
    assert not _rl_mismatches(stored, fresh.rows), _rl_mismatches(stored, fresh.rows)
    if cfg.model == "mlp":
        other = rl.run_ppo(dataclasses.replace(first, log_std_init=0.0), tmp_path / "control", progress=False)
        assert _rl_mismatches(stored, other.rows)
    if run.complete:  # a finished run stores its policy with the statistics it was trained under
        assert rl.load_policy(folder).get_vec_normalize_env() is not None


def test_command_line_runs_and_rejects_bad_input(tmp_path, capsys):
    from qcl_helpers.__main__ import main

    assert main(["run", "ant", "--model", "cnn", "--profile", "ci", "--out", str(tmp_path)]) == 2
    assert "unknown model 'cnn'" in capsys.readouterr().err
    assert main(["run", "ant", "--model", "mlp", "--width", "64", "--profile", "ci"]) == 2
    assert "--width does not apply to the ant experiment" in capsys.readouterr().err
    assert main(["run", "permuted-mnist", "--total-steps", "100", "--profile", "ci"]) == 2
    assert "--total-steps does not apply to the permuted-mnist experiment" in capsys.readouterr().err
    args = ["run", "ant", "--model", "mlp", "--profile", "ci", "--seed", "2", "--out", str(tmp_path / "mlp"),
            "--no-progress", "--stop-after", "512"]
    assert main(args) == 0
    run = results.load_run(tmp_path / "mlp", require_complete=False)
    assert run.config["model"] == "mlp" and run.config["seed"] == 2
    assert [r["steps"] for r in run.rows] == [0, 1024]  # the first evaluation boundary after 512 steps
