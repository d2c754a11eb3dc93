"""The claims page's verdict rules on synthetic sweeps whose answer is known by construction."""
import numpy as np
import pytest

from qcl_helpers import claims, plotting, results, sweep


def _store(root, grid, key, model, seed, acc, wn, fim=None, depth=None, width=None, **settings):
    folder = root / grid / f"{key}_s{seed}"
    cfg = dict(experiment="permuted-mnist", model=model, depth=depth, width=width, seed=seed, tasks=len(acc),
               profile="paper", kind="continual", train_per_task=8000, test_per_task=2000,
               label=f"QNN DP{depth}" if model == "qnn" else f"MLP NW{width}", data_label="MNIST",
               git_commit="0" * 40, versions={}, date="d", device="cpu", **settings)
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
    # where the MLP ends up: 0.9 - 0.3 t averaged over the last tenth of t in [0, 1] is ~0.615;
    # the first tenth (a plausible slip) would give ~0.885
    mlp = claims.load_grid(tmp_path, "figure1")[1]["mlp-nw16"]
    assert claims.level(mlp).mean == pytest.approx(0.9 - 0.3 * 0.955, abs=0.005)


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


def _store_rl(root, key, model, seed, rewards, lengths=None, step=200_000):
    folder = root / "figure3" / f"{key}_s{seed}"
    cfg = dict(experiment="ant", model=model, depth=12 if model == "qnn" else None, seed=seed, kind="rl",
               total_steps=step * (len(rewards) - 1), profile="paper", label=key, data_label="Ant",
               git_commit="0" * 40, versions={}, date="d", device="cpu", net_arch={"pi": [1024, 256]})
    results.write_config(folder, cfg)
    lengths = np.full(len(rewards), 1000.0) if lengths is None else lengths
    results.write_metrics(folder, [dict(steps=step * i, mean_reward=float(r), mean_length=float(n))
                                   for i, (r, n) in enumerate(zip(rewards, lengths))])
    return sweep.PlannedRun(key, seed, {}, folder, None)


def _load(planned):
    return results.load_run(planned.folder)


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


def test_rl_family_numbers_and_words(tmp_path):
    rise_fall = np.concatenate([np.linspace(1000, 4000, 60), np.linspace(4000, 800, 90)])
    steady = np.linspace(1000, 2500, 150)
    runs = [_store_rl(tmp_path, "mlp", "mlp", s, rise_fall + 10 * s) for s in (0, 1)]
    runs += [_store_rl(tmp_path, "qnn", "qnn", s, steady + 10 * s) for s in (0, 1)]
    runs += [_store_rl(tmp_path, "mlp-short", "mlp", 0, [1000.0])]  # no evaluation after training
    sweep.write_summary("figure3", runs, 5, tmp_path)
    fams = {k: claims.rl_family(v) for k, v in claims.load_grid(tmp_path, "figure3")[1].items()}
    mlp, qnn = fams["mlp"], fams["qnn"]
    assert fams["mlp-short"] is None
    assert mlp.walked == 2 and mlp.peak.mean > 3900 and mlp.fall.mean == pytest.approx(0.735, abs=0.005)  # last 15 average ~1,050
    assert mlp.collapsed and not mlp.stable and mlp.fall_words().startswith("it collapses")
    assert mlp.trend_words() == "falling"
    assert qnn.walked == 2 and qnn.stable and not qnn.collapsed and qnn.trend_words() == "still improving"
    assert qnn.fall_words().startswith("no collapse")
    # a mean fall of a quarter with a wide spread over seeds is neither collapse nor stability
    wide = claims.RLFamily("x", claims.Stat([3000.0, 3000.0]), claims.Stat([0.05, 0.45]), claims.Stat([0.0, 0.0]), 2)
    assert not wide.collapsed and not wide.stable and wide.fall_words().startswith("undecided")


def test_a_two_family_claim_on_one_family_waits_instead_of_failing(tmp_path):
    # figure4 stored half-way with only its MLPs: the QNN-vs-MLP claim is not judged (it used to raise)
    rng = np.random.default_rng(0)
    runs = [_store(tmp_path, "figure4", "mlp-nw64", "mlp", s, 0.6 + 0.01 * rng.normal(size=50), np.ones(50),
                   width=64) for s in (0, 1)]
    sweep.write_summary("figure4", runs, 5, tmp_path)
    assert claims.quantum_data_claims(tmp_path)[0].verdict == "not run yet (no QNN run stored)"
    assert claims.norm_claims(tmp_path, "figure4", "Fig. 4")[0].verdict == "not run yet (no QNN run stored)"


def test_variants_figure_pairs_each_changed_run_with_its_released_model(tmp_path):
    _grid(tmp_path, "figure1", mlp_drop=0.3, qnn_drop=0.0, seeds=2)
    n = 200
    extra = [_store(tmp_path, "figure1", "mlp-nw64", "mlp", 0, np.full(n, 0.9), np.ones(n), width=64)]
    fair = [_store(tmp_path, "fair-budget", "mlp-nw16-fair", "mlp", 0, np.full(n, 0.95), np.ones(n), width=16,
                   fair=True)]
    assert extra
    (tmp_path / "figure1" / sweep.SUMMARY).unlink()
    s1, _ = claims.load_grid(tmp_path, "figure1")  # aggregated from the folders: NW16, NW64, DP4
    sweep.write_summary("fair-budget", fair, 10, tmp_path)
    sf, _ = claims.load_grid(tmp_path, "fair-budget")
    fig = plotting.variants_figure(sf, s1, "test")
    lines = {l.get_label(): l for l in fig.axes[0].get_lines()}
    assert set(lines) == {"MLP NW16 (1 seed)", "MLP NW16 (2 seeds)"}  # not NW64, not the QNN
    assert lines["MLP NW16 (1 seed)"].get_linestyle() == "--" and lines["MLP NW16 (2 seeds)"].get_linestyle() == "-"
    assert lines["MLP NW16 (1 seed)"].get_color() == lines["MLP NW16 (2 seeds)"].get_color()
    assert "1/2 seeds per configuration" in fig._qcl_caption
    # three remedies of one model, in its colour: each its own line style, apart from the solid one
    rem = [_store(tmp_path, "remedies", f"mlp-nw16-{k}", "mlp", 0, np.full(n, 0.9), np.ones(n), width=16,
                  **{k: v}) for k, v in (("l2", 1e-2), ("shrink_perturb", [0.99, 1e-3]),
                                         ("continual_backprop", [1e-4, 100]))]
    sweep.write_summary("remedies", rem, 10, tmp_path)
    fig = plotting.variants_figure(claims.load_grid(tmp_path, "remedies")[0], s1, "test")
    styles = [l.get_linestyle() for l in fig.axes[0].get_lines()]
    assert len(styles) == 4 and len(set(styles)) == 4 and "-" in styles


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


def test_eval_stats_peak_fall_slope_and_length(tmp_path):
    # 21 evaluations: rises 1000 -> 3000 over the first 11, then falls linearly to 1000; episodes shorten.
    y = np.concatenate([np.linspace(1000, 3000, 11), np.linspace(2800, 1000, 10)])
    n = np.concatenate([np.full(11, 1000.0), np.linspace(900, 100, 10)])
    st = claims.eval_stats(_load(_store_rl(tmp_path, "mlp", "mlp", 0, y, n, step=100_000)), window=3, tail=0.1)
    assert st["peak"] == pytest.approx((2800 + 3000 + 2800) / 3)  # best 3-point average, centred on the top
    assert st["peak_steps"] == 1_100_000  # the window's last evaluation
    assert st["last"] == pytest.approx((1200 + 1000) / 2)  # the last 10 % of 21 evaluations: 2
    assert st["last_length"] == pytest.approx(np.mean(n[-2:]))
    assert st["fall"] == pytest.approx((st["peak"] - 1100) / st["peak"])
    # second half = evaluations 10..20: falling 200 per 100k steps except the first point
    assert st["slope"] == pytest.approx(np.polyfit(np.arange(10, 21) / 10, y[10:], 1)[0])
    assert st["slope"] < -1000
    # control: a slope over the whole run (the plausible slip) says "no trend", far from the second half's
    assert abs(np.polyfit(np.arange(21) / 10, y, 1)[0] - st["slope"]) > 1000
    with pytest.raises(ValueError, match="at least two evaluations"):
        claims.eval_stats(_load(_store_rl(tmp_path / "one", "mlp", "mlp", 0, [1000.0])))


def test_figure3_summary_draws_bands_per_run_lines_and_caption(tmp_path):
    rng = np.random.default_rng(0)
    planned = []
    for model in ("qnn", "mlp"):
        for seed in (0, 1):
            planned.append(_store_rl(tmp_path, model, model, seed, 1000 + 100 * rng.normal(size=12),
                                     np.full(12, 1000.0), step=100_000))
    sweep.write_summary("figure3", planned, 3, tmp_path)
    summary, runs = claims.load_grid(tmp_path, "figure3")
    fig = plotting.figure3_summary(summary, runs, "test")
    ax = fig.axes[0]
    assert len(fig.axes) == 2 and ax.get_xlabel() == "environment steps (millions)"
    dotted = [l for l in ax.get_lines() if l.get_linestyle() == ":"]
    assert len(dotted) == 4  # one per run
    assert max(l.get_xdata().max() for l in dotted) == pytest.approx(1.1)
    assert "12 evaluations up to 1,100,000 steps, 2 seeds per configuration" in fig._qcl_caption
