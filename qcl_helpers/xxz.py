"""Quantum-native data: eigenstates of the periodic XXZ chain, and continual tasks built from them.

The Hamiltonian on ``L`` sites with periodic boundary conditions (site ``L`` is site ``0``) is

    H(Δ) = Σ_i (X_i X_{i+1} + Y_i Y_{i+1} + Δ Z_i Z_{i+1}),

the paper's quantum-data model (Figure 4). It is real, so ``eigh`` returns real eigenvectors and
the "arbitrary phase" of an eigenvector is a sign (a complex Hermitian ``eigh`` of the same matrix
returns the same real vectors). Site ``i`` is qubit ``i`` of :mod:`qcl_helpers.circuits`: qubit 0
is the **most significant** bit of a basis index, as in PennyLane and TensorCircuit.

The released generator does not diagonalize that real matrix. It builds ``H`` with TensorCircuit in
complex64, whose ``Y Y`` terms carry ``(-i)**2 = -1 + 8.7e-8 i`` (single-precision ``exp(2 log(-i))``),
and diagonalizes it with TensorFlow's complex64 ``eigh``: the matrix has tiny imaginary entries, and
the eigenvectors come out complex, with phases that look random. :func:`released_hamiltonian`
rebuilds that complex64 matrix bit for bit, and ``method="released"`` diagonalizes it in single
precision (LAPACK ``heevd`` through SciPy), the ``"released"`` data source of :class:`XXZTasks`.

* :func:`hamiltonian` builds ``H`` as a ``scipy.sparse`` matrix; :func:`pennylane_hamiltonian`
  builds the same operator from ``qml.X/Y/Z`` (the tests check one against the other).
* :func:`diagonalize` diagonalizes ``H(Δ)`` for every Δ of a grid (dense ``eigh``, eigenstates
  sorted by energy); :func:`spectrum` does the same with an on-disk cache under
  ``data_dir()/"xxz"`` so a second call loads in seconds.
* :func:`phase_statistics` and :func:`tensorflow_comparison` measure how complex the eigenvectors
  are, ours and (stored) TensorFlow's.
* :func:`fix_phase`, :func:`random_phase` and :func:`degeneracies` expose the phase problem: the
  "i-th eigenstate across Δ" depends on ``eigh``'s arbitrary signs and, inside degenerate levels,
  on its arbitrary choice of basis.
* :class:`XXZTasks` is the task stream: task ``t`` classifies the ``i``-th against the ``j``-th
  eigenstate over all Δ, with the same interface as :class:`qcl_helpers.data.PermutedMnist`; its
  train/test split is drawn once and reused (``split="fixed"``, the released code) or per task.

Introduced in: 07 · Quantum-native data
"""
from __future__ import annotations

import hashlib
import math
import numbers
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import PAIR_SALT, SAMPLE_SALT

#: The paper's grid: Δ from -2 to 2 in steps of 0.02 (201 values).
PAPER_GRID = (-2.0, 2.0, 0.02)
#: How the eigenvectors are obtained: one dense float64 ``eigh`` of the full real matrix, one
#: ``eigh`` per magnetization sector (H conserves total Z; ~30x cheaper at L = 10, and every
#: eigenvector then has a definite magnetization), or the released generator's way: a complex64
#: ``eigh`` of TensorCircuit's complex64 matrix (:func:`released_hamiltonian`).
METHODS = ("full", "sectors", "released")
#: Phase conventions a task stream can use (see :class:`XXZTasks`). "released" is the paper's data.
SOURCES = ("released", "raw", "phase-fixed", "random-phase")
#: Train/test splits of a task stream: one shuffle reused by every task (the released code) or one
#: per task.
SPLITS = ("fixed", "per-task")
#: The released script's shuffle seed (``sklearn.utils.shuffle(..., random_state=42)``).
RELEASED_SPLIT_SEED = 42
#: How task ``t``'s eigenstate pair is drawn: from ``(seed, t)`` (any task on its own), or the
#: released script's sequence (``np.random.seed(42)``, then ``np.random.choice(2**L, 2,
#: replace=False)`` once per task, in order).
PAIRS = ("seeded", "released")
#: The released script's task-sequence seed.
RELEASED_PAIR_SEED = 42
#: LAPACK driver used for ``method="released"``: of the complex64 solvers available without
#: TensorFlow, the one whose phase statistics are closest to ``tf.linalg.eigh`` (chapter 07).
RELEASED_DRIVER = "evd"
#: Largest chain the dense routines accept (2**14 = 16,384 amplitudes per state).
MAX_SITES = 14
#: Relative energy tolerance used to call two levels degenerate.
DEGENERACY_TOL = 1e-8


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def check_sites(sites) -> int:
    """``sites`` as an ``int``, or a one-line ``ValueError`` saying what a valid chain length is.

    Introduced in: 07 · Quantum-native data
    """
    ok = isinstance(sites, numbers.Integral) and not isinstance(sites, bool)
    if not ok or not 2 <= int(sites) <= MAX_SITES:
        raise ValueError(f"the XXZ chain needs an integer number of sites between 2 and {MAX_SITES}, "
                         f"got {sites!r}; fix: pass e.g. sites=10 (the paper) or 4-6 for a quick test")
    return int(sites)


def check_grid(deltas) -> np.ndarray:
    """``deltas`` as a 1-D float64 array, or a one-line ``ValueError`` (empty, not finite, not 1-D).

    Introduced in: 07 · Quantum-native data
    """
    try:
        arr = np.asarray(deltas, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"the Δ grid must be a list of numbers, got {deltas!r}; "
                         "fix: use xxz.delta_grid(-2, 2, 0.02)") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"the Δ grid must be a non-empty 1-D list of finite numbers, got shape "
                         f"{arr.shape}; fix: use xxz.delta_grid(-2, 2, 0.02) (the paper's 201 values)")
    return arr


def delta_grid(delta_min: float = PAPER_GRID[0], delta_max: float = PAPER_GRID[1],
               step: float = PAPER_GRID[2]) -> np.ndarray:
    """Δ values from ``delta_min`` to ``delta_max`` (both included) in steps of ``step``.

    The default is the paper's grid, ``-2, -1.98, ..., 2`` (201 values). Values are rounded to 12
    decimals so ``0.02 * k`` lands exactly on the printed numbers.

    Introduced in: 07 · Quantum-native data
    """
    if not (math.isfinite(step) and step > 0):
        raise ValueError(f"the Δ step must be a positive number, got {step!r}; fix: e.g. step=0.02")
    span = float(delta_max) - float(delta_min)
    if not (math.isfinite(span) and span >= 0):
        raise ValueError(f"the Δ grid needs delta_min <= delta_max, got {delta_min!r} > {delta_max!r}; "
                         "fix: swap them")
    n = int(math.floor(span / step + 1e-9)) + 1
    return np.round(float(delta_min) + step * np.arange(n), 12)


# --------------------------------------------------------------------------------------------
# The Hamiltonian
# --------------------------------------------------------------------------------------------

def bonds(sites: int) -> tuple:
    """The periodic bonds ``(i, i+1 mod L)``, ``i = 0..L-1`` (for ``L = 2`` the bond appears twice).

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    return tuple((i, (i + 1) % L) for i in range(L))


def hamiltonian_parts(sites: int):
    """``(H_xy, H_zz)`` as real ``scipy.sparse`` CSR matrices, with ``H(Δ) = H_xy + Δ H_zz``.

    Built directly in the computational basis: on a bond whose two spins differ, ``XX + YY``
    swaps them with amplitude 2 (and gives 0 otherwise); ``ZZ`` is ``+1`` for equal spins and
    ``-1`` for different ones. Site ``i`` is bit ``L-1-i`` of the basis index (qubit 0 = MSB).

    Introduced in: 07 · Quantum-native data
    """
    import scipy.sparse as sp

    L = check_sites(sites)
    dim = 2**L
    idx = np.arange(dim)
    diag = np.zeros(dim)
    rows, cols = [], []
    for a, b in bonds(L):
        ba = (idx >> (L - 1 - a)) & 1
        bb = (idx >> (L - 1 - b)) & 1
        differ = ba != bb
        diag += np.where(differ, -1.0, 1.0)
        flip = (1 << (L - 1 - a)) | (1 << (L - 1 - b))
        rows.append(idx[differ])
        cols.append(idx[differ] ^ flip)
    r, c = np.concatenate(rows), np.concatenate(cols)
    h_xy = sp.coo_matrix((np.full(r.size, 2.0), (r, c)), shape=(dim, dim)).tocsr()  # duplicates add up
    h_zz = sp.diags(diag).tocsr()
    return h_xy, h_zz


def hamiltonian(sites: int, delta: float, *, dense: bool = False):
    """``H(Δ)`` for ``sites`` sites as a real ``scipy.sparse`` CSR matrix (or a dense array).

    Introduced in: 07 · Quantum-native data
    """
    h_xy, h_zz = hamiltonian_parts(sites)
    h = (h_xy + float(delta) * h_zz).tocsr()
    return h.toarray() if dense else h


def pennylane_hamiltonian(sites: int, delta: float):
    """``H(Δ)`` as a PennyLane operator built from ``qml.X``, ``qml.Y``, ``qml.Z`` on wires ``0..L-1``.

    ``qml.matrix(op, wire_order=range(L))`` (or ``op.sparse_matrix(wire_order=...)``) gives the
    matrix in the same basis order as :func:`hamiltonian` (wire 0 = most significant bit).

    Introduced in: 07 · Quantum-native data
    """
    import pennylane as qml

    terms = []
    for a, b in bonds(sites):
        terms += [qml.X(a) @ qml.X(b), qml.Y(a) @ qml.Y(b), float(delta) * (qml.Z(a) @ qml.Z(b))]
    return qml.sum(*terms)


def released_bonds(sites: int) -> tuple:
    """The bonds in the order TensorCircuit's ``Line1D(L, pbc=True)`` lists them.

    networkx walks node 0 first, so the periodic bond comes second: ``(0, 1), (0, L-1), (1, 2), ...,
    (L-2, L-1)``; for ``L = 2`` there is a single bond (our :func:`bonds` counts it twice). The order
    matters only for float32 rounding of the diagonal.

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    if L == 2:
        return ((0, 1),)
    return ((0, 1), (0, L - 1)) + tuple((i, i + 1) for i in range(1, L - 1))


def released_hamiltonian(sites: int, delta: float) -> np.ndarray:
    """``H(Δ)`` as the released generator builds it: a dense complex64 matrix, bit for bit.

    TensorCircuit's ``heisenberg_hamiltonian`` makes one sparse term per Pauli string (``ZZ``, ``XX``,
    ``YY`` per bond, in :func:`released_bonds` order), with value ``(1 - 2e) (-i)**n_Y w``, and adds
    the terms pairwise (divide and conquer) in complex64. In single precision ``(-i)**2`` is
    ``-1 + δ i`` with ``δ = 8.74e-8``, so each bond's ``XX + YY`` is ``2 - δ i`` where the two spins
    differ and ``δ i`` (not 0) where they agree; the diagonal is the float32 sum of ``±Δ``. The matrix
    is complex symmetric, not exactly Hermitian; an ``eigh`` reads its lower triangle.

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    dim = 2**L
    idx = np.arange(dim)
    minus_i_squared = np.exp(np.complex64(2) * np.log(np.complex64(-1j)))  # what tf.pow computes
    yy = np.complex64(minus_i_squared)
    h = np.zeros((dim, dim), dtype=np.complex64)
    terms = []
    d32 = np.float32(delta)
    for a, b in released_bonds(L):
        ba = (idx >> (L - 1 - a)) & 1
        bb = (idx >> (L - 1 - b)) & 1
        differ = ba != bb
        terms.append(np.where(differ, -d32, d32).astype(np.float32))
        terms += [None, None]  # XX and YY add nothing to the diagonal
        flip = (1 << (L - 1 - a)) | (1 << (L - 1 - b))
        # XX: +1; YY: (1 - 2 parity) (-i)**2, i.e. -yy where the spins differ, +yy where they agree
        h[idx, idx ^ flip] += np.where(differ, np.complex64(1) - yy, np.complex64(1) + yy)

    def pairwise(parts):
        if len(parts) > 2:
            return pairwise(parts[:len(parts) // 2]) + pairwise(parts[len(parts) // 2:])
        total = np.zeros(dim, dtype=np.float32)
        for part in parts:
            if part is not None:
                total = total + part
        return total

    h[idx, idx] = pairwise(terms)
    return h


def released_deltas(deltas) -> np.ndarray:
    """The Δ values the released script would use for the grid ``deltas``.

    It writes ``np.arange(-2.0, 2.02, 0.02)``, whose values are not rounded (``1.78e-15`` instead of
    ``0``); for an evenly spaced grid this returns the matching ``np.arange`` values when they round
    to ``deltas``, and ``deltas`` itself otherwise.

    Introduced in: 07 · Quantum-native data
    """
    grid = check_grid(deltas)
    if grid.size < 2:
        return grid
    step = float(np.round(grid[1] - grid[0], 12))
    cand = np.arange(grid[0], grid[-1] + step, step)
    if cand.size == grid.size and np.allclose(np.round(cand, 12), grid, rtol=0, atol=1e-12):
        return cand
    return grid


def magnetization(sites: int) -> np.ndarray:
    """Total ``Σ_i Z_i`` of every basis state (``L`` minus twice the number of 1-bits).

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    ones = np.array([bin(s).count("1") for s in range(2**L)])
    return L - 2 * ones


# --------------------------------------------------------------------------------------------
# Diagonalization and the cache
# --------------------------------------------------------------------------------------------

@dataclass
class Spectrum:
    """All eigenpairs of ``H(Δ)`` on a Δ grid.

    ``energies[k, n]`` is the ``n``-th lowest energy at ``deltas[k]``; ``states[k, n]`` the
    matching eigenvector (a row of ``2**sites`` amplitudes: real for ``method="full"`` and
    ``"sectors"``, complex64 for ``"released"``). ``seconds`` is how long the diagonalization took
    (``loaded=True``: read from the cache at ``path`` instead).

    Introduced in: 07 · Quantum-native data
    """

    sites: int
    deltas: np.ndarray
    energies: np.ndarray
    states: np.ndarray
    method: str = "full"
    seconds: float = 0.0
    loaded: bool = False
    path: Path | None = None
    load_seconds: float = 0.0

    @property
    def dim(self) -> int:
        """Hilbert-space dimension ``2**sites``. Introduced in: 07 · Quantum-native data"""
        return 2**self.sites

    def level(self, n: int) -> np.ndarray:
        """The ``n``-th eigenstate at every Δ, shape ``(len(deltas), 2**sites)``.

        Introduced in: 07 · Quantum-native data
        """
        if not 0 <= int(n) < self.dim:
            raise ValueError(f"eigenstate index must be in 0..{self.dim - 1} for {self.sites} sites, got {n!r}")
        return self.states[:, int(n)]

    def __str__(self) -> str:
        how = f"loaded from {self.path}" if self.loaded else f"diagonalized in {self.seconds:.1f} s"
        return (f"XXZ spectrum: L={self.sites}, {len(self.deltas)} values of Δ in "
                f"[{self.deltas[0]:g}, {self.deltas[-1]:g}], {self.dim} eigenstates each "
                f"({self.method} eigh, {self.states.dtype}); {how}")


def _eigh_sectors(h, sites: int):
    """Eigenpairs of a real symmetric ``h`` (dense) block by block in magnetization sectors."""
    m = magnetization(sites)
    dim = 2**sites
    energies, vectors = np.empty(dim), np.zeros((dim, dim))
    col = 0
    for mag in sorted(set(m.tolist())):
        sel = np.flatnonzero(m == mag)
        w, v = np.linalg.eigh(h[np.ix_(sel, sel)])
        energies[col:col + sel.size] = w
        vectors[sel, col:col + sel.size] = v
        col += sel.size
    order = np.argsort(energies, kind="stable")
    return energies[order], vectors[:, order]


def _eigh_released(sites: int, delta: float):
    """Eigenpairs of :func:`released_hamiltonian` in single precision (complex64 vectors)."""
    import scipy.linalg

    h = released_hamiltonian(sites, delta)
    w, v = scipy.linalg.eigh(h, lower=True, driver=RELEASED_DRIVER, check_finite=False)
    return w, v


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else a one-line ``ValueError``.

    Introduced in: 07 · Quantum-native data
    """
    if method not in METHODS:
        raise ValueError(f"unknown diagonalization method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def diagonalize(sites: int, deltas=None, *, method: str = "full", progress: bool = False) -> Spectrum:
    """Diagonalize ``H(Δ)`` for every Δ of ``deltas`` (default: the paper's grid), no cache.

    ``method="full"``: float64 dense ``eigh`` of the whole real ``2**L x 2**L`` matrix; ``"sectors"``:
    each magnetization block separately, merged by energy (stable sort); ``"released"``: the
    released generator's complex64 matrix (:func:`released_hamiltonian`, at the unrounded Δ of
    :func:`released_deltas`) with a single-precision complex ``eigh`` -- complex64 eigenvectors with
    solver-chosen phases, float32 energies (stored as float64).

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    grid = check_grid(delta_grid() if deltas is None else deltas)
    check_method(method)
    dim = 2**L
    energies = np.empty((grid.size, dim))
    states = np.empty((grid.size, dim, dim), dtype=np.complex64 if method == "released" else np.float64)
    if method == "released":
        exact = released_deltas(grid)
    else:
        h_xy, h_zz = (m.toarray() for m in hamiltonian_parts(L))
    tic = time.perf_counter()
    it = grid
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(grid, desc=f"eigh, L={L}", unit="Δ")
    for k, delta in enumerate(it):
        if method == "released":
            w, v = _eigh_released(L, exact[k])
        elif method == "full":
            w, v = np.linalg.eigh(h_xy + delta * h_zz)
        else:
            w, v = _eigh_sectors(h_xy + delta * h_zz, L)
        energies[k] = w
        states[k] = v.T
    return Spectrum(L, grid, energies, states, method, time.perf_counter() - tic)


def cache_path(sites: int, deltas=None, *, method: str = "full") -> Path:
    """Where :func:`spectrum` keeps the eigenpairs for ``(sites, deltas, method)``.

    ``data_dir()/xxz/xxz_L{L}_{method}_d{min}_{max}_n{count}_{hash}.npz``; the hash covers the exact
    Δ values, so two grids never share a file.

    Introduced in: 07 · Quantum-native data
    """
    from .data import data_dir

    L = check_sites(sites)
    grid = check_grid(delta_grid() if deltas is None else deltas)
    digest = hashlib.sha1(np.round(grid, 12).tobytes()).hexdigest()[:10]
    name = f"xxz_L{L}_{method}_d{grid[0]:+.3f}_{grid[-1]:+.3f}_n{grid.size}_{digest}.npz"
    return data_dir() / "xxz" / name


def _save_atomic(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def spectrum(sites: int = 10, deltas=None, *, method: str = "full", cache: bool = True,
             dtype=np.float32, progress: bool = False) -> Spectrum:
    """The eigenpairs of :func:`diagonalize`, cached on disk (see :func:`cache_path`).

    The first call diagonalizes and writes the cache atomically (temporary file, then
    ``os.replace``); later calls load it. Eigenvectors are stored as ``dtype`` (default float32:
    the paper trains in complex64, and at L = 10 the 201 x 1024 x 1024 array is 0.8 GB in float32);
    energies stay float64. ``method="released"`` always stores its complex64 vectors as they are
    (``dtype`` is ignored; 1.7 GB at L = 10) in its own file: the method is part of the file name.
    A cache file that does not match the request is recomputed.

    Introduced in: 07 · Quantum-native data
    """
    L = check_sites(sites)
    grid = check_grid(delta_grid() if deltas is None else deltas)
    check_method(method)
    dtype = np.dtype(np.complex64 if method == "released" else dtype)
    path = cache_path(L, grid, method=method)
    memo = _MEMO.get(method)  # one spectrum kept in memory per method
    if cache and memo is not None and memo[0] == _stamp(path) and memo[1].states.dtype == dtype:
        return memo[1]  # already in memory, file unchanged (0.8 GB in float32 at L = 10)
    if cache and path.exists():
        tic = time.perf_counter()
        try:
            with np.load(path) as f:
                ok = (int(f["sites"]) == L and str(f["method"]) == method and np.array_equal(f["deltas"], grid)
                      and f["states"].dtype == dtype)
                if ok:
                    spec = Spectrum(L, grid, f["energies"], f["states"], method, float(f["seconds"]),
                                    loaded=True, path=path, load_seconds=time.perf_counter() - tic)
                    _MEMO[method] = (_stamp(path), spec)
                    return spec
        except (OSError, KeyError, ValueError):
            pass  # unreadable or foreign file: recompute and overwrite it below
    spec = diagonalize(L, grid, method=method, progress=progress)
    spec.states = spec.states.astype(dtype, copy=False)
    if cache:
        _save_atomic(path, sites=np.int64(L), deltas=grid, energies=spec.energies, states=spec.states,
                     method=np.str_(method), seconds=np.float64(spec.seconds))
        spec.path = path
        _MEMO[method] = (_stamp(path), spec)
    return spec


_MEMO: dict = {}


def _stamp(path: Path):
    try:
        st = path.stat()
        return (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return None


# --------------------------------------------------------------------------------------------
# The phase problem
# --------------------------------------------------------------------------------------------

def fix_phase(states, tol: float = 1e-4) -> np.ndarray:
    """Make each state's largest-magnitude amplitude real and positive (last axis = amplitudes).

    Several amplitudes often share the largest magnitude (translation symmetry makes whole orbits
    of basis states equally large); the **first** index within relative ``tol`` of the maximum is
    used, so the choice does not depend on rounding. Real input stays real (a sign fix).

    Introduced in: 07 · Quantum-native data
    """
    psi = np.asarray(states)
    mag = np.abs(psi)
    ref = np.argmax(mag >= (1 - tol) * mag.max(axis=-1, keepdims=True), axis=-1)
    pivot = np.take_along_axis(psi, ref[..., None], axis=-1)
    phase = np.conj(pivot) / np.abs(pivot)
    return psi * (phase.real.astype(psi.dtype) if np.isrealobj(psi) else phase)


def random_phase(states, seed: int = 0) -> np.ndarray:
    """Multiply each state by a random global phase ``e^{iφ}``, ``φ ~ U(0, 2π)`` (complex output).

    What a complex ``eigh`` *may* legitimately return; physically the same states.

    Introduced in: 07 · Quantum-native data
    """
    psi = np.asarray(states)
    phi = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=psi.shape[:-1] + (1,))
    ctype = np.complex64 if psi.dtype in (np.float32, np.complex64) else np.complex128
    return psi.astype(ctype) * np.exp(1j * phi).astype(ctype)


def phase_statistics(states, tol: float = 1e-4) -> dict:
    """How complex a set of eigenvectors is (last axis = amplitudes), as the MLP would see it.

    Returns ``real_share`` (share of states whose amplitudes share one phase: real up to a global
    phase), ``pivot_R2`` (``|mean e^{2iφ}|`` of the phase ``φ`` of each state's largest amplitude:
    1 for real vectors, about ``1/sqrt(n)`` for uniform phases), ``imag_weight`` (mean ``‖Im ψ‖²``,
    the share of the MLP input's squared norm in its ``Im`` half: 0 for real vectors, 0.5 for
    uniform phases) and ``pivot_phase`` (the ``φ`` themselves, flattened).

    Introduced in: 07 · Quantum-native data
    """
    psi = np.asarray(states)
    psi = psi.reshape(-1, psi.shape[-1])
    piv = psi[np.arange(len(psi)), np.argmax(np.abs(psi), axis=1)]
    unit = piv / np.abs(piv)
    aligned = psi * np.conj(unit)[:, None]
    phi = np.angle(piv)
    return {"real_share": float(np.mean(np.abs(aligned.imag).max(axis=1) < tol)),
            "pivot_R2": float(abs(np.mean(np.exp(2j * phi)))),
            "imag_weight": float(np.mean(np.sum(np.abs(psi.imag) ** 2, axis=1))),
            "pivot_phase": phi}


def tensorflow_comparison(name: str = "xxz/released-vs-tensorflow.json") -> dict:
    """The stored comparison of the book's XXZ eigenvectors with TensorFlow's (``results/<name>``).

    Made once in a throwaway environment with TensorFlow and TensorCircuit-NG (which the book does not
    install): the released generator's ``tf.linalg.eigh`` at L = 10 for a few Δ, and the statistics of
    :func:`phase_statistics` (plus overlaps with TensorFlow's vectors) for each candidate. The file
    carries its provenance (versions, date, the script itself).

    Introduced in: 07 · Quantum-native data
    """
    import json

    from .results import stored_path

    path = stored_path(name)
    if not path.exists():
        raise FileNotFoundError(f"no stored comparison at {path}; fix: run from the book's repository "
                                "(it ships results/xxz/released-vs-tensorflow.json)")
    return json.loads(path.read_text())


def degeneracies(energies, tol: float = DEGENERACY_TOL) -> np.ndarray:
    """Multiplicity of the level each eigenstate belongs to: ``mult[k, n]`` for ``energies[k, n]``.

    Two sorted neighbouring energies are one level when they differ by less than
    ``tol * max(1, |E|)``. ``mult == 1`` means a non-degenerate level.

    Introduced in: 07 · Quantum-native data
    """
    e = np.atleast_2d(np.asarray(energies, dtype=np.float64))
    same = np.abs(np.diff(e, axis=1)) < tol * np.maximum(1.0, np.abs(e[:, 1:]))
    mult = np.empty(e.shape, dtype=np.int64)
    for k in range(e.shape[0]):
        group = np.concatenate([[0], np.cumsum(~same[k])])
        counts = np.bincount(group)
        mult[k] = counts[group]
    return mult


def degeneracy_summary(energies, tol: float = DEGENERACY_TOL) -> dict:
    """Counts of degenerate levels on a grid: per-Δ arrays and grid-wide totals.

    Returns ``levels`` (distinct levels per Δ), ``degenerate_levels`` (levels with multiplicity > 1
    per Δ), ``states_in_degenerate`` (fraction of eigenstates in such levels, per Δ), and
    ``always_nondegenerate`` (indices ``n`` whose level is non-degenerate at every Δ).

    Introduced in: 07 · Quantum-native data
    """
    mult = degeneracies(energies, tol)
    levels = (1.0 / mult).sum(axis=1).round().astype(int)
    degenerate_levels = np.array([(1.0 / m[m > 1]).sum().round().astype(int) for m in mult])
    return {"levels": levels, "degenerate_levels": degenerate_levels,
            "states_in_degenerate": (mult > 1).mean(axis=1),
            "always_nondegenerate": np.flatnonzero((mult == 1).all(axis=0))}


def neighbour_overlaps(states) -> np.ndarray:
    """``<ψ_n(Δ_k)|ψ_n(Δ_{k+1})>`` for every level ``n`` and neighbouring grid points, shape ``(K-1, N)``.

    Near ``+1``: the ``n``-th state changes smoothly; near ``-1``: the same state with a flipped
    sign; small: a level crossing or a re-mixed degenerate level.

    Introduced in: 07 · Quantum-native data
    """
    s = np.asarray(states)
    return np.einsum("knd,knd->kn", np.conj(s[:-1]), s[1:])


# --------------------------------------------------------------------------------------------
# The task stream
# --------------------------------------------------------------------------------------------

def method_for(source: str) -> str:
    """The diagonalization method behind a data source: ``"released"`` for ``"released"``, else
    ``"full"`` (the float64 ``eigh`` that ``raw``, ``phase-fixed`` and ``random-phase`` start from).

    Introduced in: 07 · Quantum-native data
    """
    if source not in SOURCES:
        raise ValueError(f"unknown XXZ source {source!r}; choose one of {', '.join(SOURCES)}")
    return "released" if source == "released" else "full"


def split_sizes(n_deltas: int, test_fraction: float = 0.2) -> tuple:
    """``(train, test)`` states per task for a grid of ``n_deltas`` values: ``2 * n_deltas`` states,
    the test share rounded up (``(321, 81)`` on the paper's grid).

    Introduced in: 07 · Quantum-native data
    """
    if not 0 < float(test_fraction) < 1:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}; fix: e.g. 0.2")
    n = 2 * int(n_deltas)
    test = max(1, math.ceil(float(test_fraction) * n - 1e-9))
    if n - test < 1:
        raise ValueError(f"a grid of {n_deltas} Δ values leaves no training states; fix: use a finer grid")
    return n - test, test


class XXZTasks:
    """Continual binary classification of XXZ eigenstates (paper Figure 4).

    Task ``t`` draws a seeded pair ``(i, j)`` of eigenstate indices (``i != j``); its data are the
    ``i``-th eigenstates at every Δ of the grid (label 0) and the ``j``-th (label 1) -- ``2 x 201 =
    402`` states on the paper's grid -- split at random into train and test (``test_fraction``,
    rounded up: 321 / 81 on the paper's grid). ``source`` picks the eigenvectors and their phases:

    * ``"released"`` -- the released generator's: complex64 ``eigh`` of TensorCircuit's complex64
      matrix (``method="released"``), complex vectors with solver-chosen phases (the paper's data);
    * ``"raw"`` -- a float64 real ``eigh`` (``method``), real vectors with arbitrary signs;
    * ``"phase-fixed"`` -- ``"raw"`` with :func:`fix_phase` (largest amplitude real and positive);
    * ``"random-phase"`` -- ``"raw"`` with :func:`random_phase` (a complex global phase per state).

    ``split`` picks the train/test split: ``"fixed"`` shuffles the ``2K`` positions once with
    ``split_seed`` and reuses that split for every task, as the released script does
    (``shuffle(x, y, random_state=42)`` on the same-length array in every task: position ``p`` is the
    ``p``-th Δ of state ``i`` for ``p < K``, of state ``j`` otherwise); ``"per-task"`` draws a new
    split for every task from ``seed``. The ``"fixed"`` permutation is ``RandomState(42).permutation``,
    which is what ``sklearn.utils.shuffle(random_state=42)`` applies.

    ``pairs`` picks the eigenstate pairs: ``"seeded"`` draws task ``t``'s pair from ``(seed, t)``;
    ``"released"`` replays the released script's sequence (legacy ``RandomState(42)``, one
    ``choice(2**L, 2, replace=False)`` per task), so task ``t`` asks the same question as the paper's
    task ``t`` (``seed`` then only affects the per-task split and the random phases).

    Model inputs: the QNN gets the complex64 state (``2**L`` amplitudes); the MLP gets
    ``[Re ψ, Im ψ]`` as a float32 vector of ``2 * 2**L`` values. Same interface as
    :class:`qcl_helpers.data.PermutedMnist`: :meth:`task`, :meth:`describe`.

    Introduced in: 07 · Quantum-native data
    """

    SOURCES = SOURCES

    SPLITS = SPLITS

    def __init__(self, source: str = "raw", *, seed: int = 0, sites: int = 10, deltas=None,
                 test_fraction: float = 0.2, method: str | None = None, spec: Spectrum | None = None,
                 progress: bool = False, split: str = "per-task",
                 split_seed: int = RELEASED_SPLIT_SEED, pairs: str = "seeded"):
        if source not in self.SOURCES:
            raise ValueError(f"unknown XXZ source {source!r}; choose one of {', '.join(self.SOURCES)}")
        if split not in self.SPLITS:
            raise ValueError(f"unknown XXZ split {split!r}; choose one of {', '.join(self.SPLITS)} "
                             "(fixed: one shuffle for every task, as the released code)")
        self.source, self.seed, self.test_fraction = source, int(seed), float(test_fraction)
        if pairs not in PAIRS:
            raise ValueError(f"unknown XXZ pairs {pairs!r}; choose one of {', '.join(PAIRS)} "
                             "(released: the released script's task sequence)")
        self.split, self.split_seed, self.pairs = split, int(split_seed), pairs
        self._released_pairs: list = []
        method = method_for(source) if method is None else check_method(method)
        if (source == "released") != (method == "released"):
            raise ValueError(f"source {source!r} cannot use method {method!r}; fix: omit method= "
                             f"(source 'released' needs method 'released', the others a float64 one)")
        if spec is None:
            spec = spectrum(sites, deltas, method=method, progress=progress)
        elif spec.sites != check_sites(sites) or (deltas is not None and not np.array_equal(spec.deltas, check_grid(deltas))):
            raise ValueError("the given spectrum does not match sites/deltas; fix: omit spec= or pass matching values")
        elif (spec.method == "released") != (source == "released"):
            raise ValueError(f"source {source!r} does not fit a spectrum made with method {spec.method!r}; "
                             f"fix: pass spec=xxz.spectrum(..., method=xxz.method_for({source!r}))")
        self.spec = spec
        self.sites, self.deltas, self.dim = spec.sites, spec.deltas, spec.dim
        self.train_per_task, self.test_per_task = split_sizes(len(self.deltas), self.test_fraction)

    def describe(self) -> str:
        """Where the states come from, in words. Introduced in: 07 · Quantum-native data"""
        phase = {"released": "complex phases as the released generator's complex64 eigh returns them",
                 "raw": "signs as returned by eigh", "phase-fixed": "largest amplitude made real positive",
                 "random-phase": "a random global phase per state"}[self.source]
        g = self.deltas
        step = f" step {g[1] - g[0]:.3g}" if len(g) > 1 else ""
        split = "one split for all tasks" if self.split == "fixed" else "a new split per task"
        if self.pairs == "released":
            split += ", the released task sequence"
        return (f"XXZ chain eigenstates (L={self.sites}, periodic; Δ in [{g[0]:g}, {g[-1]:g}]{step}, "
                f"{len(g)} values; {self.spec.method} eigh; {phase}; {split})")

    def pair(self, t: int) -> tuple:
        """The eigenstate indices ``(i, j)`` of task ``t``. Introduced in: 07 · Quantum-native data"""
        t = int(t)
        if t < 0:
            raise ValueError(f"task index must be >= 0, got {t}")
        if self.pairs == "released":
            if not self._released_pairs:
                self._released_rng = np.random.RandomState(RELEASED_PAIR_SEED)
            while len(self._released_pairs) <= t:
                i, j = self._released_rng.choice(self.dim, 2, replace=False)
                self._released_pairs.append((int(i), int(j)))
            return self._released_pairs[t]
        i, j = np.random.default_rng([self.seed, t, PAIR_SALT]).choice(self.dim, size=2, replace=False)
        return int(i), int(j)

    def states(self, t: int):
        """``(states (2K, 2**L), labels (2K,))`` of task ``t`` before the split, phase convention applied.

        Introduced in: 07 · Quantum-native data
        """
        i, j = self.pair(t)
        psi = np.concatenate([self.spec.level(i), self.spec.level(j)])
        if self.source == "phase-fixed":
            psi = fix_phase(psi)
        elif self.source == "random-phase":
            psi = random_phase(psi, seed=int(np.random.SeedSequence([self.seed, int(t), 5]).generate_state(1)[0]))
        labels = np.repeat(np.array([0, 1], dtype=np.int64), len(self.deltas))
        return psi, labels

    @staticmethod
    def inputs(psi, family: str):
        """Model inputs: complex64 states (``"qnn"``) or float32 ``[Re ψ, Im ψ]`` (``"mlp"``).

        Introduced in: 07 · Quantum-native data
        """
        import torch

        psi = np.asarray(psi)
        if family == "qnn":
            return torch.from_numpy(np.ascontiguousarray(psi.astype(np.complex64)))
        if family == "mlp":
            return torch.from_numpy(np.concatenate([psi.real, psi.imag], axis=-1).astype(np.float32))
        raise ValueError(f"model family must be 'qnn' or 'mlp', got {family!r}")

    def split_indices(self, t: int) -> tuple:
        """``(train, test)`` positions of task ``t`` in the arrays of :meth:`states` (sorted).

        Under ``split="fixed"`` they are the same for every task.

        Introduced in: 07 · Quantum-native data
        """
        n = 2 * len(self.deltas)
        if self.split == "fixed":
            order = np.random.RandomState(self.split_seed).permutation(n)
        else:
            order = np.random.default_rng([self.seed, int(t), SAMPLE_SALT]).permutation(n)
        return np.sort(order[:self.train_per_task]), np.sort(order[self.train_per_task:])

    def task(self, t: int, family: str):
        """Task ``t`` prepared for ``family`` ("qnn" or "mlp"). Introduced in: 07 · Quantum-native data"""
        import torch

        from .data import Task

        psi, labels = self.states(t)
        tr, te = self.split_indices(t)
        i, j = self.pair(t)
        return Task(self.inputs(psi[tr], family), torch.from_numpy(labels[tr]),
                    self.inputs(psi[te], family), torch.from_numpy(labels[te]),
                    info=f"task {t}: eigenstate {i} (label 0) vs {j} (label 1)")


# --------------------------------------------------------------------------------------------
# Self-checks for the chapter's exercises
# --------------------------------------------------------------------------------------------

def check_ferromagnet(energy: float, degeneracy: int, *, sites: int = 10, delta: float = -2.0) -> bool:
    """Self-check: ground-state energy and degeneracy of ``H(Δ)`` for ``Δ < -1``, by hand.

    Compares the reader's answer with an exact diagonalization and prints what is right or wrong.

    Introduced in: 07 · Quantum-native data
    """
    if not float(delta) < -1:
        raise ValueError(f"this exercise is about the ferromagnetic phase, Δ < -1; got Δ = {delta}")
    spec = diagonalize(sites, [delta], method="sectors")
    e = spec.energies[0]
    g = int(degeneracies(e)[0, 0])
    ok_e, ok_g = abs(float(energy) - e[0]) < 1e-8 * max(1.0, abs(e[0])), int(degeneracy) == g
    print(f"energy {energy}: {'correct' if ok_e else 'not quite (hint: evaluate H on |00...0>)'}; "
          f"degeneracy {degeneracy}: {'correct' if ok_g else 'not quite (hint: spin flip)'}")
    return ok_e and ok_g


def check_sector_dimension(answer: int, *, sites: int = 10, magnetization_value: int = 0) -> bool:
    """Self-check: how many basis states have total ``Σ Z_i`` equal to ``magnetization_value``.

    Introduced in: 07 · Quantum-native data
    """
    truth = int((magnetization(sites) == int(magnetization_value)).sum())
    ok = int(answer) == truth
    print(f"{answer}: {'correct' if ok else 'not quite (hint: choose which sites are 1)'}")
    return ok


# --------------------------------------------------------------------------------------------
# Summing versus averaging the loss over a batch, and reading the results
# --------------------------------------------------------------------------------------------

def compare_reductions(task, *, depth: int = 2, batch_size: int = 64, epochs: int = 5, lr: float = 2e-3,
                       drop_last: bool = False, seed: int = 0) -> float:
    """Train the paper's XXZ QNN on one task twice, loss summed vs averaged over each batch.

    Both runs see the same batches (Adam, ``lr``); returns ``‖Δθ_sum − Δθ_mean‖ / ‖Δθ_mean‖``, the
    relative difference of the parameter changes. Adam divides by the gradient's running RMS, so a
    constant factor (the batch size) cancels except through Adam's ``eps``; a smaller last batch
    (``drop_last=False``) is weighted less under ``"sum"``, which does change the trajectory.

    Introduced in: 07 · Quantum-native data
    """
    import torch

    from . import metrics, models

    n_qubits = int(task.x_train.shape[1]).bit_length() - 1
    deltas = []
    for reduction in ("mean", "sum"):
        qnn = models.paper_qnn("xxz", depth=depth, n_qubits=n_qubits, seed=seed)
        start = qnn.theta.detach().clone()
        opt = torch.optim.Adam(qnn.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(len(task.x_train), generator=gen)
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                if drop_last and len(idx) < batch_size:
                    continue
                opt.zero_grad(set_to_none=True)
                loss = metrics.loss(qnn(task.x_train[idx]), task.y_train[idx])
                (loss * len(idx) if reduction == "sum" else loss).backward()
                opt.step()
        deltas.append(qnn.theta.detach() - start)
    return float((deltas[1] - deltas[0]).norm() / deltas[0].norm())


def window_means(acc, window: int) -> tuple:
    """``(first, last, all)``: mean accuracy over the first and the last ``window`` tasks, and overall.

    Introduced in: 07 · Quantum-native data
    """
    a = np.asarray(acc, dtype=float)
    w = max(1, min(int(window), len(a)))
    return float(np.nanmean(a[:w])), float(np.nanmean(a[-w:])), float(np.nanmean(a))


def linear_trend(values, per: int = 100) -> float:
    """Slope of a least-squares line through ``values`` (one per task), per ``per`` tasks.

    NaN for fewer than two finite values. A curve that keeps learning has a slope near zero; a loss
    of plasticity shows as a negative one.

    Introduced in: 07 · Quantum-native data
    """
    y = np.asarray(values, dtype=float)
    x = np.arange(y.size, dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0] * per)


def deficit_explained(qnn: float, mlp_raw: float, mlp_fixed: float) -> float:
    """Fraction of the MLP's accuracy deficit to the QNN that phase fixing removes.

    ``(mlp_fixed - mlp_raw) / (qnn - mlp_raw)``; NaN when the MLP has no deficit (``qnn <= mlp_raw``).

    Introduced in: 07 · Quantum-native data
    """
    gap = float(qnn) - float(mlp_raw)
    return float("nan") if gap <= 0 else (float(mlp_fixed) - float(mlp_raw)) / gap


def paired_difference(a, b) -> tuple:
    """``(mean, standard error)`` of the per-task difference ``a - b`` of two runs on the same tasks.

    Runs with the same seed see the same eigenstate pairs, so the paired difference is much less
    noisy than the difference of two means.

    Introduced in: 07 · Quantum-native data
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float(d.mean()) if d.size else float("nan"), float("nan")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))
