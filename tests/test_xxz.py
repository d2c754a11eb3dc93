"""XXZ chain data (chapter 07): Hamiltonian, diagonalization, cache, phases, task stream."""
import numpy as np
import pytest
import torch

from qcl_helpers import xxz


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("QCL_DATA_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("sites", [2, 3, 4, 5])
@pytest.mark.parametrize("delta", [-1.3, 0.0, 0.7])
def test_sparse_hamiltonian_matches_pennylane(sites, delta):
    import pennylane as qml

    ours = xxz.hamiltonian(sites, delta, dense=True)
    op = xxz.pennylane_hamiltonian(sites, delta)
    dense = qml.matrix(op, wire_order=range(sites))
    sparse = op.sparse_matrix(wire_order=range(sites)).toarray()
    assert np.allclose(ours, dense, atol=1e-12)
    assert np.allclose(ours, sparse, atol=1e-12)
    assert np.allclose(ours, ours.T)  # real symmetric


def test_wire_order_matches_circuits():
    # One bond flip: |1000> <-> |0100> on 4 sites; qubit 0 is the most significant bit.
    h = xxz.hamiltonian(4, 0.0, dense=True)
    assert h[0b1000, 0b0100] == 2.0
    assert h[0b1000, 0b0010] == 0.0
    assert h[0b1000, 0b0001] == 2.0  # periodic bond (3, 0)
    z = xxz.magnetization(4)
    assert z[0] == 4 and z[0b1111] == -4 and z[0b1000] == 2


@pytest.mark.parametrize("method", ["full", "sectors"])
@pytest.mark.parametrize("sites", [4, 5, 6])
def test_eigenpairs(sites, method):
    grid = xxz.delta_grid(-2, 2, 0.5)
    spec = xxz.diagonalize(sites, grid, method=method)
    dim = 2**sites
    assert spec.states.shape == (len(grid), dim, dim) and spec.energies.shape == (len(grid), dim)
    for k, delta in enumerate(grid):
        h = xxz.hamiltonian(sites, delta, dense=True)
        v, e = spec.states[k], spec.energies[k]
        residual = np.linalg.norm(v @ h - e[:, None] * v, axis=1).max()  # rows are eigenvectors
        assert residual < 1e-8
        assert np.abs(v @ v.T - np.eye(dim)).max() < 1e-10
        assert np.all(np.diff(e) >= -1e-12)


def test_methods_agree_on_energies():
    grid = [-1.5, 0.3, 1.8]
    a, b = xxz.diagonalize(6, grid, method="full"), xxz.diagonalize(6, grid, method="sectors")
    assert np.abs(a.energies - b.energies).max() < 1e-10


def test_known_energies():
    # Δ < -1: ferromagnet, E0 = L Δ, two-fold (all up, all down).
    spec = xxz.diagonalize(6, [-2.0])
    assert abs(spec.energies[0, 0] + 12) < 1e-10 and abs(spec.energies[0, 1] + 12) < 1e-10
    assert spec.energies[0, 2] > -12 + 1e-6
    assert xxz.degeneracies(spec.energies)[0, 0] == 2


@pytest.mark.parametrize("bad", [1, 0, -3, 4.0, 4.5, "4", True, None, xxz.MAX_SITES + 1])
def test_bad_sites(bad):
    with pytest.raises(ValueError, match="fix:") as err:
        xxz.diagonalize(bad, [0.0])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [[], np.array([]), [[0.0, 1.0]], [0.0, np.nan], "abc"])
def test_bad_grid(bad):
    with pytest.raises(ValueError, match="fix:") as err:
        xxz.diagonalize(4, bad)
    assert "\n" not in str(err.value)


def test_delta_grid():
    g = xxz.delta_grid()
    assert len(g) == 201 and g[0] == -2.0 and g[-1] == 2.0 and g[100] == 0.0 and g[101] == 0.02
    assert len(xxz.delta_grid(-2, 2, 0.2)) == 21
    with pytest.raises(ValueError, match="fix:"):
        xxz.delta_grid(-2, 2, 0.0)
    with pytest.raises(ValueError, match="fix:"):
        xxz.delta_grid(2, -2, 0.1)


def test_cache_round_trip(data_dir):
    grid = xxz.delta_grid(-1, 1, 0.5)
    first = xxz.spectrum(4, grid)
    assert not first.loaded and first.path.exists() and first.path.parent == data_dir / "xxz"
    assert "L4" in first.path.name and "n5" in first.path.name
    assert xxz.spectrum(4, grid) is first  # kept in memory while the file is unchanged
    xxz._MEMO.clear()  # a new process: read the file
    second = xxz.spectrum(4, grid)
    assert second.loaded and second.path == first.path
    assert np.array_equal(first.energies, second.energies) and np.array_equal(first.states, second.states)
    assert second.states.dtype == np.float32
    assert not list((data_dir / "xxz").glob("*.part"))  # nothing half-written left behind
    # another grid or size gets another file
    assert xxz.cache_path(4, [-1.0, 0.0]) != first.path and xxz.cache_path(5, grid) != first.path
    # a corrupt cache file is recomputed, not trusted
    first.path.write_bytes(b"not an npz")
    third = xxz.spectrum(4, grid)
    assert not third.loaded and np.array_equal(third.energies, first.energies)


def test_fix_phase_and_random_phase():
    rng = np.random.default_rng(0)
    psi = rng.normal(size=(5, 16)) + 1j * rng.normal(size=(5, 16))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    fixed = xxz.fix_phase(psi)
    again = xxz.fix_phase(xxz.random_phase(psi, seed=3))
    assert np.allclose(fixed, again, atol=1e-6)  # the fix undoes any global phase
    k = np.argmax(np.abs(psi), axis=1)
    assert np.all(fixed[np.arange(5), k].real > 0) and np.allclose(fixed[np.arange(5), k].imag, 0)
    real = xxz.fix_phase(-np.abs(psi))  # real input stays real: a sign fix
    assert np.isrealobj(real) and np.allclose(real, np.abs(psi))


def test_degeneracies_and_overlaps():
    mult = xxz.degeneracies([[0.0, 1.0, 1.0, 1.0 + 1e-12, 2.0]])
    assert mult.tolist() == [[1, 3, 3, 3, 1]]
    s = xxz.degeneracy_summary([[0.0, 1.0, 1.0, 2.0]])
    assert s["levels"].tolist() == [3] and s["degenerate_levels"].tolist() == [1]
    spec = xxz.diagonalize(4, [0.1, 0.2])
    ov = xxz.neighbour_overlaps(spec.states)
    assert ov.shape == (1, 16) and np.all(np.abs(ov) <= 1 + 1e-12)


@pytest.mark.parametrize("source", xxz.SOURCES)
def test_task_stream(source, data_dir):
    grid = xxz.delta_grid(-2, 2, 0.2)  # 21 values -> 42 states, 9 test (rounded up), 33 train
    stream = xxz.XXZTasks(source, seed=1, sites=4, deltas=grid)
    assert (stream.train_per_task, stream.test_per_task) == (33, 9)
    assert "L=4" in stream.describe()
    q, m = stream.task(0, "qnn"), stream.task(0, "mlp")
    assert q.x_train.shape == (33, 16) and q.x_train.dtype == torch.complex64
    assert m.x_train.shape == (33, 32) and m.x_train.dtype == torch.float32
    assert torch.equal(q.y_train, m.y_train) and set(q.y_test.tolist()) <= {0, 1}
    assert torch.allclose(torch.linalg.vector_norm(q.x_train, dim=1), torch.ones(33), atol=1e-5)
    assert torch.allclose(torch.cat([q.x_train.real, q.x_train.imag], 1), m.x_train)
    i, j = stream.pair(0)
    assert i != j and f"eigenstate {i}" in q.info
    # reproducible, and task t does not depend on what came before
    again = xxz.XXZTasks(source, seed=1, sites=4, deltas=grid).task(0, "qnn")
    assert torch.equal(q.x_train, again.x_train) and torch.equal(q.y_test, again.y_test)
    assert [stream.pair(t) for t in range(5)] != [xxz.XXZTasks(source, seed=2, sites=4, deltas=grid).pair(t)
                                                   for t in range(5)]
    if source == "raw":
        assert not q.x_train.imag.any()  # H is real: eigh's eigenvectors are real
    if source == "released":  # its own eigenvectors (degenerate levels: another basis); check H psi = E psi
        psi, _ = stream.states(0)
        i, j = stream.pair(0)
        e = np.concatenate([stream.spec.energies[:, i], stream.spec.energies[:, j]])
        h = [xxz.hamiltonian(4, d, dense=True) for d in np.concatenate([grid, grid])]
        res = max(np.linalg.norm(hk @ p - ek * p) for hk, p, ek in zip(h, psi, e))
        assert res < 1e-4
        return
    # every phase convention of the float64 eigenvectors gives the same physical states
    raw = xxz.XXZTasks("raw", seed=1, sites=4, deltas=grid).task(0, "qnn")
    assert torch.allclose((raw.x_train.conj() * q.x_train).sum(1).abs(), torch.ones(33), atol=1e-5)


def test_qnn_blind_to_phases_mlp_not(data_dir):
    from qcl_helpers import models

    grid = xxz.delta_grid(-2, 2, 0.4)
    streams = [xxz.XXZTasks(s, seed=0, sites=4, deltas=grid) for s in ("raw", "phase-fixed")]
    raw, fixed = (torch.cat([s.task(t, "qnn").x_train for t in range(5)]) for s in streams)
    qnn = models.paper_qnn("xxz", depth=2, n_qubits=4, seed=0)
    mlp = models.MLP([32, 8, 8, 1])
    flips = (raw.real * fixed.real).sum(1) < 0
    assert flips.any()  # eigh's signs do differ from the fixed convention
    with torch.no_grad():
        assert torch.allclose(qnn(raw), qnn(fixed), atol=1e-6)
        as_mlp = [xxz.XXZTasks.inputs(x.numpy(), "mlp") for x in (raw, fixed)]
        assert not torch.allclose(mlp(as_mlp[0]), mlp(as_mlp[1]))


def test_task_stream_rejects_bad_input(data_dir):
    with pytest.raises(ValueError, match="unknown XXZ source"):
        xxz.XXZTasks("official", sites=4, deltas=[0.0, 1.0])
    with pytest.raises(ValueError, match="fix:"):
        xxz.XXZTasks("raw", sites=1, deltas=[0.0, 1.0])
    with pytest.raises(ValueError, match="fix:"):
        xxz.XXZTasks("raw", sites=4, deltas=[])


def test_self_checks(capsys):
    assert xxz.check_ferromagnet(-8.0, 2, sites=4, delta=-2.0)
    assert not xxz.check_ferromagnet(-8.0, 1, sites=4, delta=-2.0)
    assert xxz.check_sector_dimension(6, sites=4)
    assert "correct" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# The released generator's eigenvectors and split
# --------------------------------------------------------------------------------------------

def _tensorcircuit_reference():
    """Small matrices made by TensorCircuit-NG (tensorflow backend, complex64) exactly as the released
    qdata.py makes them, stored with their provenance by the comparison in chapter 07."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "results" / "xxz" / "released-vs-tensorflow.json"
    stored = json.loads(path.read_text())
    out = []
    for m in stored["tensorcircuit_small"].values():
        h = np.zeros((2**m["sites"],) * 2, dtype=np.complex64)
        h[m["rows"], m["cols"]] = np.array(m["re"], dtype=np.float32) + 1j * np.array(m["im"], dtype=np.float32)
        out.append((m["sites"], m["delta"], h))
    return stored, out


def test_released_hamiltonian_is_tensorcircuits_bit_for_bit():
    stored, ref = _tensorcircuit_reference()
    assert len(ref) >= 4 and stored["hamiltonian_bit_exact_L10"]["equal"] == stored["hamiltonian_bit_exact_L10"]["of"]
    for sites, delta, h in ref:
        ours = xxz.released_hamiltonian(sites, delta)
        assert ours.dtype == np.complex64 and np.array_equal(ours, h)
        # a plausible wrong construction -- the exact real matrix in complex64 -- is not it
        naive = xxz.hamiltonian(sites, delta, dense=True).astype(np.complex64)
        assert not np.array_equal(naive, h)
        assert np.abs(naive - h).max() < 1e-6  # ... although the two differ only by single-precision dust
    # the released matrix is complex symmetric (not Hermitian): what an eigh reads is its lower triangle
    h = xxz.released_hamiltonian(4, 0.3)
    assert np.array_equal(h, h.T) and np.abs(h.imag).max() > 0


def test_phase_statistics_by_hand():
    real = np.array([[0.6, -0.8], [1.0, 0.0]])
    st = xxz.phase_statistics(real * np.exp(0.3j))  # one global phase: still "real"
    assert st["real_share"] == 1.0 and abs(st["pivot_R2"] - 1.0) < 1e-12
    assert abs(st["imag_weight"] - np.sin(0.3) ** 2) < 1e-12
    mixed = np.array([[1, 1j], [1, -1]]) / np.sqrt(2)  # relative phase i: not real up to a phase
    st = xxz.phase_statistics(mixed)
    assert st["real_share"] == 0.5 and abs(st["imag_weight"] - 0.25) < 1e-12
    # pivot phases 0 and π/2: e^{2iφ} = 1 and -1 average to 0 (a wrong 1-fold statistic would give 0.71)
    st = xxz.phase_statistics(np.array([[1.0, 0.1], [0.1j, 1j]]))
    assert st["pivot_R2"] < 1e-12 and abs(abs(np.mean(np.exp(1j * st["pivot_phase"]))) - 0.5**0.5) < 1e-12


def test_stored_tensorflow_comparison():
    c = xxz.tensorflow_comparison()
    s = c["summary"]
    assert {"tf", "released", "raw", "random-phase"} <= set(s) and c["provenance"]["tensorflow"]
    # the claim chapter 07 makes from it: released is far closer to TensorFlow than float64 raw is
    for key in ("real_up_to_global_phase", "pivot_phase_R2", "mlp_imag_weight"):
        assert abs(s["released"][key] - s["tf"][key]) < abs(s["raw"][key] - s["tf"][key])
    with pytest.raises(FileNotFoundError, match="fix:"):
        xxz.tensorflow_comparison("xxz/nonexistent.json")


def test_linear_trend():
    assert abs(xxz.linear_trend(0.5 + 0.001 * np.arange(300)) - 0.1) < 1e-9
    assert abs(xxz.linear_trend([0.7] * 10)) < 1e-12 and np.isnan(xxz.linear_trend([0.5]))
    noisy = 0.8 - 0.002 * np.arange(200) + np.random.default_rng(0).normal(0, 0.01, 200)
    assert abs(xxz.linear_trend(noisy, per=1) + 0.002) < 2e-4  # the slope, not the mean change


def test_released_deltas():
    g = xxz.delta_grid()
    assert np.array_equal(xxz.released_deltas(g), np.arange(-2.0, 2.02, 0.02))
    assert xxz.released_deltas(g)[100] != 0.0 and g[100] == 0.0  # np.arange does not land on 0
    uneven = [-1.5, 0.3, 1.8, 2.0]
    assert np.array_equal(xxz.released_deltas(uneven), uneven)


def test_released_eigenvectors_are_complex_single_precision(data_dir):
    grid = xxz.delta_grid(-2, 2, 0.5)
    rel = xxz.diagonalize(6, grid, method="released")
    full = xxz.diagonalize(6, grid, method="full")
    assert rel.states.dtype == np.complex64
    assert np.abs(rel.energies - full.energies).max() < 1e-4  # same spectrum, single precision
    for k, delta in enumerate(xxz.released_deltas(grid)):
        v = rel.states[k].astype(np.complex128)
        h = xxz.hamiltonian(6, delta, dense=True)
        assert np.linalg.norm(v @ h.T - rel.energies[k][:, None] * v, axis=1).max() < 1e-4
        assert np.abs(v.conj() @ v.T - np.eye(64)).max() < 1e-5
    # complex phases: few vectors are real up to a global phase (float64 eigh: all of them)
    def real_share(s):
        s = np.asarray(s).reshape(-1, 64)
        piv = s[np.arange(len(s)), np.argmax(np.abs(s), 1)]
        return np.mean(np.abs((s * np.conj(piv / np.abs(piv))[:, None]).imag).max(1) < 1e-4)
    assert real_share(rel.states) < 0.5 and real_share(full.states) == 1.0


def test_released_cache_is_separate(data_dir):
    grid = xxz.delta_grid(-1, 1, 0.5)
    full = xxz.spectrum(4, grid)
    rel = xxz.spectrum(4, grid, method="released")
    assert rel.path != full.path and "released" in rel.path.name and rel.states.dtype == np.complex64
    assert full.states.dtype == np.float32
    assert xxz.spectrum(4, grid) is full and xxz.spectrum(4, grid, method="released") is rel  # one each in memory
    xxz._MEMO.clear()
    again = xxz.spectrum(4, grid, method="released")
    assert again.loaded and np.array_equal(again.states, rel.states)
    with pytest.raises(ValueError, match="unknown diagonalization method"):
        xxz.spectrum(4, grid, method="complex")


def test_released_stream_and_mismatch(data_dir):
    grid = xxz.delta_grid(-2, 2, 0.4)
    stream = xxz.XXZTasks("released", sites=4, deltas=grid)
    assert stream.spec.method == "released" and "released" in stream.describe()
    q, m = stream.task(0, "qnn"), stream.task(0, "mlp")
    assert q.x_train.imag.abs().max() > 1e-3  # complex inputs; the MLP sees both halves
    assert torch.equal(torch.cat([q.x_train.real, q.x_train.imag], 1), m.x_train)
    full = xxz.spectrum(4, grid)
    with pytest.raises(ValueError, match="fix:"):
        xxz.XXZTasks("released", sites=4, deltas=grid, spec=full)
    with pytest.raises(ValueError, match="fix:"):
        xxz.XXZTasks("raw", sites=4, deltas=grid, method="released")
    assert xxz.method_for("released") == "released" and xxz.method_for("phase-fixed") == "full"


def test_split_fixed_is_reused_per_task_is_not(data_dir):
    grid = xxz.delta_grid(-2, 2, 0.2)  # 42 states per task
    fixed = xxz.XXZTasks("raw", seed=3, sites=4, deltas=grid, split="fixed")
    per = xxz.XXZTasks("raw", seed=3, sites=4, deltas=grid, split="per-task")
    f = [fixed.split_indices(t) for t in range(4)]
    p = [per.split_indices(t) for t in range(4)]
    assert all(np.array_equal(a[1], f[0][1]) for a in f)  # the same test positions in every task
    assert len({tuple(b[1]) for b in p}) == 4  # a new split for each task
    for tr, te in f + p:
        assert len(tr) == 33 and len(te) == 9 and not set(tr) & set(te)
    # the released script: sklearn.utils.shuffle(x, y, random_state=42), first 80% for training
    order = np.random.RandomState(42).permutation(42)
    assert np.array_equal(f[0][0], np.sort(order[:33]))
    assert not np.array_equal(f[0][0], np.sort(np.random.RandomState(0).permutation(42)[:33]))
    # the fixed split is applied to each task's own states: same positions, other pairs
    a, b = fixed.task(0, "qnn"), fixed.task(1, "qnn")
    assert torch.equal(a.y_test, b.y_test) and not torch.equal(a.x_test, b.x_test)
    assert "one split for all tasks" in fixed.describe()
    import inspect  # the default stays the old behaviour, so callers that do not pass split= are unchanged

    assert inspect.signature(xxz.XXZTasks).parameters["split"].default == "per-task"
    with pytest.raises(ValueError, match="unknown XXZ split"):
        xxz.XXZTasks("raw", sites=4, deltas=grid, split="random")


def test_released_pairs_replay_the_released_sequence(data_dir):
    grid = xxz.delta_grid(-2, 2, 0.4)
    stream = xxz.XXZTasks("raw", sites=4, deltas=grid, pairs="released")
    np.random.seed(42)  # the released script: global seed, then one choice per task, in order
    expected = [tuple(int(k) for k in np.random.choice(range(16), 2, replace=False)) for _ in range(30)]
    assert [stream.pair(t) for t in (29, 3)] == [expected[29], expected[3]]  # any order of asking
    assert [stream.pair(t) for t in range(30)] == expected
    seeded = xxz.XXZTasks("raw", sites=4, deltas=grid)
    assert [seeded.pair(t) for t in range(30)] != expected  # the book's own draw is another sequence
    other_seed = xxz.XXZTasks("raw", seed=5, sites=4, deltas=grid, pairs="released")
    assert [other_seed.pair(t) for t in range(30)] == expected
    assert "released task sequence" in stream.describe() and "sequence" not in seeded.describe()
    with pytest.raises(ValueError, match="unknown XXZ pairs"):
        xxz.XXZTasks("raw", sites=4, deltas=grid, pairs="paper")


def test_sklearn_shuffle_is_randomstate_permutation():
    sk = pytest.importorskip("sklearn.utils")
    x = np.arange(402)
    assert np.array_equal(sk.shuffle(x, random_state=42), np.random.RandomState(42).permutation(402))


def test_paper_profile_uses_released_data_and_split():
    from qcl_helpers import profiles

    paper = profiles.PAPER.xxz
    assert (paper.data_source, paper.split, paper.pairs) == ("released", "fixed", "released")
    for p in (profiles.QUICK, profiles.CI):
        assert p.xxz.data_source in xxz.SOURCES and p.xxz.split in xxz.SPLITS
        assert p.xxz.pairs in xxz.PAIRS


# --------------------------------------------------------------------------------------------
# The shared continual engine and the command line
# --------------------------------------------------------------------------------------------

def test_engine_runs_xxz(data_dir, tmp_path):
    from qcl_helpers import continual, results

    cfg = continual.make_config("xxz", "qnn", profile="ci", depth=1, tasks=2)
    assert (cfg.sites, cfg.loss_reduction) == (6, "sum") and cfg.data_source in xxz.SOURCES
    assert (cfg.train_per_task, cfg.test_per_task) == (33, 9)  # ci grid: 21 values of Δ
    r = continual.run(cfg, tmp_path / "qnn", progress=False)
    assert len(r) == 2 and r.config["experiment"] == "xxz" and r.label == "QNN DP1"
    assert all(0 <= a <= 1 for a in r["test_accuracy"])
    assert results.load_run(tmp_path / "qnn", expect={"experiment": "xxz", "sites": 6}).config["delta_grid"] == [-2.0, 2.0, 0.2]
    # resume: asking for one more task trains only that one and keeps the first two rows
    more = continual.run(continual.make_config("xxz", "qnn", profile="ci", depth=1, tasks=3), tmp_path / "qnn",
                         progress=False)
    assert len(more) == 3 and continual.same_results(more.rows[:2], r.rows)
    fair = continual.make_config("xxz", "qnn", profile="ci", depth=1, tasks=2, fair=True)
    assert fair.loss_reduction == "mean"
    with pytest.raises(results.RunError):
        continual.run(fair, tmp_path / "qnn", progress=False)  # another configuration: refused
    mlp = continual.make_config("xxz", "mlp", profile="ci", width=8, tasks=2, data_source="phase-fixed")
    assert mlp.loss_reduction == "mean" and "phase-fixed" in mlp.slug()
    m = continual.run(mlp, tmp_path / "mlp", progress=False)
    assert len(m) == 2 and m.label == "MLP NW8 (phase-fixed)"
    with pytest.raises(continual.ConfigError, match="xxz tasks"):
        continual.make_config("xxz", "mlp", profile="ci", train_per_task=10)
    with pytest.raises(continual.ConfigError, match="unknown data source"):
        continual.make_config("xxz", "mlp", profile="ci", data_source="official")


def test_cli_runs_xxz(data_dir, tmp_path, capsys):
    from qcl_helpers.__main__ import main

    args = ["run", "xxz", "--model", "mlp", "--width", "8", "--profile", "ci", "--tasks", "2",
            "--out", str(tmp_path / "cli"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "XXZ chain eigenstates (L=6" in out and "done: 2 tasks" in out
    assert (tmp_path / "cli" / "config.json").exists() and (tmp_path / "cli" / "metrics.jsonl").exists()
    assert main(args) == 0  # rerun: resumes, nothing left to train
    assert main(["run", "xxz", "--profile", "ci", "--data-source", "nonsense", "--out", str(tmp_path / "x")]) == 2
