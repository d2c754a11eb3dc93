"""The continual engine: resume after interruption, config checks, CLI errors, fair budget."""
import json

import numpy as np

import pytest

from qcl_helpers import configs, continual, metrics, results
from qcl_helpers.__main__ import main


def _cfg(model="mlp", **kw):
    base = dict(profile="ci", data_source="standin", tasks=3)
    base.update(kw)
    return continual.make_config("split-cifar100", model, **base)


def test_resume_after_interruption_equals_uninterrupted(tmp_path, monkeypatch):
    full = continual.run(_cfg(), tmp_path / "full", progress=False)
    assert [r["task"] for r in full.rows] == [0, 1, 2]
    assert all(0 <= r["test_accuracy"] <= 1 and r["fim_trace"] > 0 for r in full.rows)

    part = tmp_path / "part"
    continual.run(_cfg(tasks=2), part, progress=False)
    before = results.read_metrics(part)
    assert len(before) == 2
    # kill the extension in the middle of task 3: nothing of it may be kept
    real = metrics.accuracy
    monkeypatch.setattr(metrics, "accuracy", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        continual.run(_cfg(), part, progress=False)
    assert results.read_metrics(part) == before
    monkeypatch.setattr(metrics, "accuracy", real)
    resumed = continual.run(_cfg(), part, progress=False)
    assert resumed.rows[:2] == before  # the finished tasks are untouched; only task 3 is added
    assert len(resumed) == 3 and continual.same_results(resumed, full)
    cfg = results.read_config(part)
    assert cfg["tasks"] == 3 and cfg["resumed"][0]["from_task"] == 2
    assert not list(part.glob("*.tmp"))
    # rerunning a finished run trains nothing and changes nothing
    again = continual.run(_cfg(), part, progress=False)
    assert again.rows == resumed.rows


def test_resume_qnn_with_shrink_perturb_and_reset(tmp_path):
    kw = dict(model="qnn", depth=1, shrink_perturb=(0.9, 0.01), reset_optimizer=True)
    full = continual.run(_cfg(**kw), tmp_path / "a", progress=False)
    continual.run(_cfg(tasks=1, **kw), tmp_path / "b", progress=False)
    assert continual.same_results(continual.run(_cfg(**kw), tmp_path / "b", progress=False), full)
    assert full.rows[0]["dead_fraction"] is None and full.label == "QNN DP1 (S&P)"


def test_config_mismatch_is_refused(tmp_path):
    continual.run(_cfg(tasks=1), tmp_path, progress=False)
    with pytest.raises(results.RunError, match=r"holds a different run \(width=16, asked 64"):
        continual.run(_cfg(tasks=1, width=64), tmp_path, progress=False)


@pytest.mark.parametrize("args, msg", [
    (["run", "imagenet"], "unknown experiment 'imagenet'"),
    (["run", "split-cifar100", "--model", "qnn", "--depth", "0"], "depth must be a positive integer, got 0"),
    (["run", "split-cifar100", "--model", "mlp", "--depth", "3"], "--depth applies to --model qnn"),
    (["run", "split-cifar100", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "split-cifar100", "--data-source", "web"], "unknown data source 'web'"),
    (["run", "permuted-mnist", "--profile", "ci", "--train-per-task", "0"],
     "train_per_task must be a positive integer, got 0"),
    (["run", "split-cifar100", "--model", "qnn", "--continual-backprop", "0.001", "100"],
     "continual backprop replaces hidden units: it applies to --model mlp only"),
])
def test_cli_bad_inputs_give_one_line_errors(args, msg, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_cli_run_and_mismatch(tmp_path, capsys):
    out = str(tmp_path / "r")
    base = ["run", "split-cifar100", "--model", "mlp", "--width", "16", "--profile", "ci", "--tasks", "1",
            "--data-source", "standin", "--out", out, "--no-progress"]
    assert main(base) == 0
    rows = [json.loads(line) for line in open(tmp_path / "r" / "metrics.jsonl")]
    assert {"task", "test_accuracy", "weight_norm", "grad_norm", "fim_trace"} <= set(rows[0])
    conf = json.load(open(tmp_path / "r" / "config.json"))
    assert all(k in conf for k in results.PROVENANCE_FIELDS) and conf["data_source"] == "standin"
    capsys.readouterr()
    assert main(base[:-3] + ["--seed", "1", "--out", out]) == 2
    assert "holds a different run (seed=0, asked 1)" in capsys.readouterr().err


def test_fair_budget_equalizes_epochs_and_optimizer_policy():
    mk = lambda m, **k: continual.make_config("permuted-mnist", m, profile="paper", data_source="test-split", **k)
    q, m = mk("qnn"), mk("mlp")
    assert (q.epochs, q.reset_optimizer, m.epochs, m.reset_optimizer) == (5, True, 1, False)  # released code
    qf, mf = mk("qnn", fair=True), mk("mlp", fair=True)
    assert (qf.epochs, qf.reset_optimizer) == (mf.epochs, mf.reset_optimizer) == (5, False)
    assert qf.slug().endswith("test-split_fair") and q.lr == 0.03 and m.lr == 1e-3


def test_updates_per_task_counts_the_last_partial_batch():
    mk = lambda m, src, **k: continual.make_config("permuted-mnist", m, profile="paper", data_source=src, **k)
    # the paper: 5 epochs of ceil(60000 / 128) = 469 batches for the QNN, one epoch for the MLP
    assert configs.updates_per_task(mk("qnn", "official")) == 2345
    assert configs.updates_per_task(mk("mlp", "official")) == 469
    # offline (8,000 images per task): the QNN keeps its epochs, the figure1 MLP the paper's updates
    mk8k = lambda m, **k: mk(m, "test-split", train_per_task=8000, test_per_task=2000, **k)
    offline = mk8k("qnn")
    assert configs.updates_per_task(offline) == 5 * 63 != 5 * (8000 // 128)  # floor would drop a batch
    assert configs.updates_per_task(mk8k("mlp", updates_per_task=469)) == 469
    assert configs.updates_per_task(mk8k("mlp", fair=True).as_dict()) == 315
    assert configs.updates_per_task(offline, n_train=128) == 5


def test_stored_result_provenance_check(tmp_path):
    r = continual.run(_cfg(tasks=1), tmp_path / "run", progress=False)
    dest = results.store(r.path, tmp_path / "stored")
    assert not (dest / "checkpoint.pt").exists()
    assert results.load_run(dest, expect={"experiment": "split-cifar100"}).rows == r.rows
    with pytest.raises(results.RunError, match="profile is 'ci', expected 'quick'"):
        results.load_run(dest, expect={"profile": "quick"})
    conf = results.read_config(dest)
    del conf["git_commit"]
    results.write_config(dest, conf)
    with pytest.raises(results.RunError, match="missing git_commit"):
        results.load_run(dest)


def test_relative_and_drop():
    import numpy as np
    assert np.allclose(results.relative_to_start([2, 2, 4], n_ref=2), [1, 1, 2])
    init, drop = results.accuracy_drop([0.9, 0.9, 0.5, 0.5], window=2)
    assert init == pytest.approx(0.9) and drop == pytest.approx(0.4)


def test_stored_path_finds_repository_results():
    from qcl_helpers import results

    assert results.stored_path("bench_qnn_cpu.json").is_file()
    assert not results.stored_path("no-such-result").exists()


def test_fisher_probe_is_a_seeded_random_draw_with_both_labels():
    """The released code draws the 64 probe samples at random from task 0; its training set lists one
    class first, so the first 64 samples (the old probe) would all carry label 0."""
    cfg = continual.make_config("split-cifar100", "qnn", profile="paper", data_source="standin", tasks=1)
    t0 = continual.stream(cfg).task(0, "qnn")
    idx = continual.probe_indices(cfg.seed, len(t0.x_train), cfg.fim_probe_samples)
    assert len(set(idx.tolist())) == cfg.fim_probe_samples == 64
    assert set(t0.y_train[idx].tolist()) == {0, 1}
    assert len(set(t0.y_train[:64].tolist())) == 1  # what the old probe (x_train[:64]) saw
    assert not np.array_equal(idx, continual.probe_indices(cfg.seed + 1, len(t0.x_train), 64))  # seeded
