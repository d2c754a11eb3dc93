"""The claims page's verdict rules on synthetic sweeps whose answer is known by construction."""
import numpy as np
import pytest

from qcl_helpers import claims, results, sweep


def _store(root, grid, key, model, seed, acc, wn, fim=None, depth=None, width=None):
    folder = root / grid / f"{key}_s{seed}"
    cfg = dict(experiment="permuted-mnist", model=model, depth=depth, width=width, seed=seed, tasks=len(acc),
               profile="paper", kind="continual", train_per_task=8000, test_per_task=2000,
               label=f"QNN DP{depth}" if model == "qnn" else f"MLP NW{width}", data_label="MNIST",
               git_commit="0" * 40, versions={}, date="d", device="cpu")
    results.write_config(folder, cfg)
    rows = [dict(task=t, test_accuracy=float(a), weight_norm=float(w),
                 **({"fim_trace": float(fim[t])} if fim is not None else {}))
            for t, (a, w) in enumerate(zip(acc, wn))]
    results.write_metrics(folder, rows)
    return sweep.PlannedRun(key, seed, {}, folder, None)


def _grid(root, grid, mlp_drop, qnn_drop, seeds=3, n=200, noise=0.005):
    rng = np.random.default_rng(0)
    runs = []
    t = np.linspace(0, 1, n)
    for seed in range(seeds):
        runs.append(_store(root, grid, "mlp-nw16", "mlp", seed, 0.9 - mlp_drop * t + noise * rng.normal(size=n),
                           1 + 3 * t, fim=10 * (1 - 0.9 * t), width=16))
        runs.append(_store(root, grid, "qnn-dp4", "qnn", seed, 0.7 - qnn_drop * t + noise * rng.normal(size=n),
                           np.full(n, 20.0), fim=np.full(n, 1.0), depth=4))
    sweep.write_summary(grid, runs, 10, root)


def test_the_paper_s_pattern_is_held(tmp_path):
    _grid(tmp_path, "figure1", mlp_drop=0.3, qnn_drop=0.0)
    v = {r.claim: r for r in claims.plasticity_claims(tmp_path, "figure1", "Fig. 1b")}
    assert [r.verdict for r in v.values()] == ["held", "held"]
    assert "decline 0.2" in v["classical MLPs lose plasticity (new-task accuracy declines)"].numbers
    assert claims.norm_claims(tmp_path, "figure1", "Fig. 1d-e")[0].verdict == "held"


def test_no_decline_is_not_seen_and_a_declining_qnn_fails(tmp_path):
    _grid(tmp_path, "figure1", mlp_drop=0.0, qnn_drop=0.2)
    mlp, qnn = claims.plasticity_claims(tmp_path, "figure1", "Fig. 1b")
    assert (mlp.verdict, qnn.verdict) == ("not seen", "not seen")


def test_a_decline_within_the_noise_is_not_called_a_loss(tmp_path):
    # a 1.5-point drop with noise 5x larger per task and 2 seeds: not significant beyond MIN_EFFECT
    _grid(tmp_path, "figure1", mlp_drop=0.015, qnn_drop=0.0, seeds=2, noise=0.2)
    mlp, _ = claims.plasticity_claims(tmp_path, "figure1", "Fig. 1b")
    assert mlp.verdict == "not seen"


def test_missing_grids_say_so(tmp_path):
    rows = claims.table(tmp_path)
    assert rows and all(r.verdict == "not run yet" for r in rows)


def test_stat_standard_error():
    s = claims.Stat([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.sem == pytest.approx(1 / np.sqrt(3))
    assert claims.Stat([0.5]).sem == 0.0 and "1 seed" in str(claims.Stat([0.5]))


def _store_rl(root, key, model, seed, rewards):
    folder = root / "figure3" / f"{key}_s{seed}"
    cfg = dict(experiment="ant", model=model, depth=12 if model == "qnn" else None, seed=seed, kind="rl",
               total_steps=200_000 * (len(rewards) - 1), profile="paper", label=key, data_label="Ant",
               git_commit="0" * 40, versions={}, date="d", device="cpu", net_arch={"pi": [1024, 256]})
    results.write_config(folder, cfg)
    results.write_metrics(folder, [dict(steps=200_000 * i, mean_reward=float(r)) for i, r in enumerate(rewards)])
    return sweep.PlannedRun(key, seed, {}, folder, None)


def test_an_mlp_that_collapses_and_a_qnn_that_holds(tmp_path):
    rng = np.random.default_rng(1)
    rise_fall = np.concatenate([np.linspace(1000, 4000, 60), np.linspace(4000, 800, 90)])
    steady = np.linspace(1000, 2500, 150)
    runs = [_store_rl(tmp_path, "mlp", "mlp", s, rise_fall + 50 * rng.normal(size=150)) for s in (0, 1)]
    runs += [_store_rl(tmp_path, "qnn", "qnn", s, steady + 50 * rng.normal(size=150)) for s in (0, 1)]
    sweep.write_summary("figure3", runs, 5, tmp_path)
    row = claims.rl_claims(tmp_path)[0]
    assert row.verdict == "held" and "150 evaluations up to 29,800,000 steps, 2 seeds" in row.evidence
    # swap the roles: neither family does what the paper says
    runs = [_store_rl(tmp_path / "b", "mlp", "mlp", s, steady) for s in (0, 1)]
    runs += [_store_rl(tmp_path / "b", "qnn", "qnn", s, rise_fall) for s in (0, 1)]
    sweep.write_summary("figure3", runs, 5, tmp_path / "b")
    assert claims.rl_claims(tmp_path / "b")[0].verdict == "not seen"
    # an MLP that falls without ever walking (peak at the stand-still return) has not "collapsed after learning"
    runs = [_store_rl(tmp_path / "c", "mlp", "mlp", s, np.linspace(1000, 20, 150)) for s in (0, 1)]
    runs += [_store_rl(tmp_path / "c", "qnn", "qnn", s, steady) for s in (0, 1)]
    sweep.write_summary("figure3", runs, 5, tmp_path / "c")
    assert claims.rl_claims(tmp_path / "c")[0].verdict == "partly"
    # a claim about both families is not judged on one of them (a sweep stored half-way, QNNs first)
    runs = [_store_rl(tmp_path / "d", "qnn", "qnn", s, steady) for s in (0, 1)]
    sweep.write_summary("figure3", runs, 5, tmp_path / "d")
    assert claims.rl_claims(tmp_path / "d")[0].verdict == "not run yet (no MLP run stored)"


def test_an_unfinished_sweep_gives_pending_verdicts(tmp_path):
    _grid(tmp_path, "figure1", mlp_drop=0.3, qnn_drop=0.0)
    # make one run look unfinished: its config asks for more tasks than it has
    folder = next((tmp_path / "figure1").glob("mlp-nw16_s0"))
    cfg = results.read_config(folder)
    results.write_config(folder, dict(cfg, tasks=cfg["tasks"] + 50))
    (tmp_path / "figure1" / sweep.SUMMARY).unlink()  # as a sweep committed half-way
    rows = {r.paper + r.claim: r for r in claims.table(tmp_path)}
    mlp = rows["Fig. 1bclassical MLPs lose plasticity (new-task accuracy declines)"]
    assert mlp.verdict == "pending (provisional: held)" and "PARTIAL" in mlp.evidence
