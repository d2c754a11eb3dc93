"""Sweeps on a local Ray: a tiny grid, fault tolerance, rerun, status, summary, bad input."""
import json

import numpy as np
import pytest

pytest.importorskip("ray")

from qcl_helpers import results, sweep  # noqa: E402
from qcl_helpers.__main__ import main  # noqa: E402

# figure4 in the ci profile: QNN DP2 and MLP NW64 on a 6-site chain -> 2 configurations x 2 seeds x 3 tasks.
TINY = ["sweep", "figure4", "--profile", "ci", "--seeds", "2", "--tasks", "3"]
STRIP = ("seconds", "ms_per_step")


def _rows(folder):
    return [{k: v for k, v in r.items() if k not in STRIP} for r in results.read_metrics(folder)]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    assert main(TINY + ["--out", str(out)]) == 0
    return out


def test_tiny_sweep_runs_every_configuration_and_seed(plain, capsys):
    _, _, runs = sweep.plan("figure4", profile="ci", seeds=2, tasks=3, out=plain)
    assert len(runs) == 4 and {r.key for r in runs} == {"qnn-dp2", "mlp-nw64"}
    for r in runs:
        run = results.load_run(r.folder)  # complete, with provenance
        assert len(run) == 3 and run.config["seed"] == r.seed and run.config["profile"] == "ci"
    # the summary holds, per configuration, the mean and standard error over the seeds
    summary = json.loads((plain / "figure4" / sweep.SUMMARY).read_text())
    entry = summary["configurations"]["mlp-nw64"]
    accs = np.array([results.load_run(r.folder)["test_accuracy"] for r in runs if r.key == "mlp-nw64"])
    assert entry["seeds"] == [0, 1] and entry["rows"] == 3 and entry["complete"]
    assert np.allclose(entry["mean"]["test_accuracy"], accs.mean(0))
    assert np.allclose(entry["sem"]["test_accuracy"], accs.std(0, ddof=1) / np.sqrt(2))
    # status from the folders alone
    capsys.readouterr()
    assert main(TINY + ["--out", str(plain), "--status"]) == 0
    out = capsys.readouterr().out
    assert "runs: 4 finished · 0 started · 0 waiting (of 4)" in out and "qnn-dp2" in out


def test_a_half_finished_configuration_is_summarized_by_its_finished_seeds(plain, tmp_path):
    import shutil

    _, _, runs = sweep.plan("figure4", profile="ci", seeds=2, tasks=3, out=plain)
    copies = []
    for r in runs:  # the same runs, seed 1 of the MLP cut back to one task (still running)
        dest = tmp_path / "figure4" / r.folder.name
        shutil.copytree(r.folder, dest)
        copies.append(sweep.PlannedRun(r.key, r.seed, r.spec, dest, r.config))
        if (r.key, r.seed) == ("mlp-nw64", 1):
            results.write_metrics(dest, results.read_metrics(dest)[:1])
    summary = sweep.aggregate("figure4", copies, 2)
    mlp, qnn = summary["configurations"]["mlp-nw64"], summary["configurations"]["qnn-dp2"]
    seed0 = next(results.load_run(r.folder) for r in runs if (r.key, r.seed) == ("mlp-nw64", 0))
    assert mlp["seeds"] == [0] and mlp["unfinished_seeds"] == [1] and mlp["rows"] == 3 and not mlp["complete"]
    assert np.allclose(mlp["mean"]["test_accuracy"], seed0["test_accuracy"])
    assert qnn["seeds"] == [0, 1] and qnn["unfinished_seeds"] == [] and qnn["complete"]


def test_a_finished_sweep_does_nothing_and_says_so(plain, capsys):
    before = {p: p.stat().st_mtime_ns for p in plain.rglob(results.METRICS)}
    assert main(TINY + ["--out", str(plain)]) == 0
    assert "nothing to do: all 4 runs of figure4 are finished" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in plain.rglob(results.METRICS)} == before


def test_a_dead_worker_is_retried_and_its_run_resumes(plain, tmp_path, monkeypatch):
    # every run's worker dies (os._exit) right after finishing task 0; Ray retries the task
    monkeypatch.setenv(sweep.FAULT_VAR, "0")
    assert main(TINY + ["--out", str(tmp_path)]) == 0
    _, _, faulty = sweep.plan("figure4", profile="ci", seeds=2, tasks=3, out=tmp_path)
    _, _, clean = sweep.plan("figure4", profile="ci", seeds=2, tasks=3, out=plain)
    for f, c in zip(faulty, clean):
        assert (f.folder / ".fault-injected").exists()  # the first attempt really died
        assert _rows(f.folder) == _rows(c.folder)  # same results as the uninterrupted sweep
        resumed = results.read_config(f.folder)["resumed"]
        assert [r["from_task"] for r in resumed] == [1]  # the retry started after task 0: none repeated


@pytest.mark.parametrize("args, msg", [
    (["sweep", "figure9"], "unknown grid 'figure9'; choose one of"),
    (["sweep", "figure4", "--profile", "ci", "--only", "qnn-dp99"], "unknown configuration 'qnn-dp99' in --only"),
    (["sweep", "figure4", "--profile", "ci", "--address", "127.0.0.1:9"], "no Ray cluster at 127.0.0.1:9"),
    (["sweep", "figure4", "--profile", "ci", "--total-steps", "10"], "--total-steps applies to PPO grids"),
    (["sweep", "figure4", "--profile", "ci", "--seeds", "0"], "--seeds must be a positive integer"),
])
def test_bad_input_gives_one_line(args, msg, tmp_path, capsys):
    assert main(args + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_only_narrows_and_keys_are_readable():
    _, _, runs = sweep.plan("remedies", profile="ci", only="mlp-nw16-l2-0.01")
    assert [r.key for r in runs] == ["mlp-nw16-l2-0.01"] and runs[0].config.l2 == 0.01
    assert sweep.config_key({"model": "mlp", "width": 16, "shrink_perturb": (0.99, 1e-3)}) == \
        "mlp-nw16-shrink-perturb-0.99-0.001"


def test_finished_runs_keep_no_checkpoint_and_are_never_restarted(plain, tmp_path):
    from qcl_helpers import continual, runner

    _, _, runs = sweep.plan("figure4", profile="ci", seeds=2, tasks=3, out=plain)
    assert not any((r.folder / results.CHECKPOINT).exists() for r in runs)
    rows = results.read_metrics(runs[0].folder)
    again = continual.run(runs[0].config, runs[0].folder, progress=False)  # reads, trains nothing
    assert again.rows == rows and results.read_metrics(runs[0].folder) == rows
    longer = runner.make_config(**dict(runs[0].spec, tasks=4))
    with pytest.raises(results.RunError, match="no checkpoint to continue from"):
        continual.run(longer, runs[0].folder, progress=False)
