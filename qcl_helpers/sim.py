"""Batched state-vector simulation in torch: a batch of input states through one layout.

This is the training path of the book. It is exact (no sampling), differentiable with
torch's autograd, runs on CPU and CUDA tensors alike, and is checked against
PennyLane's ``default.qubit`` in ``tests/test_sim_fast.py``. It reads the circuit from
the :class:`~qcl_helpers.circuits.Layout` gate list, so circuits stay defined once.

What makes it fast (chapter "Simulation backends" measures each lever):

* **Batch-last layout.** Internally the batch is a ``(2**n, batch)`` tensor, so every
  gate is one ``matmul`` on a ``(2**lo, 2**k, rest * batch)`` view with a long inner
  axis, whichever wires it acts on.
* **Gate fusion.** :func:`fuse` merges neighbouring SU(4) gates into dense blocks on up
  to a few contiguous wires (3-4 on a CPU) when one bigger matrix is cheaper than
  several small ones; blocks with the same shape are built in one batched operation.
* **Readout-aware shortcuts** in :func:`outputs`:

  - ``PauliZ(w)``: gates outside the backward light cone of wire ``w`` cancel in
    ``<psi|U^dag Z_w U|psi>`` and are dropped (:func:`light_cone`);
  - ``BasisLogits(C)`` with fewer classes than samples: only ``C`` amplitudes
    ``<k|U|psi>`` are needed, so the ``C`` basis states are evolved *backwards*
    through ``U^T`` (rows of ``U``) and overlapped with the batch: ``C`` state
    evolutions instead of ``batch``.

* **Hand-written backward.** One autograd node runs the whole circuit; its backward is a
  reverse sweep of explicit GEMMs on the conjugate cotangent (no conjugated operands
  for torch to copy); SU(4) exponentials are taken only for the gates that matter, by
  ``eigh`` with an exact hand-written (Daleckii-Krein) backward.
* **Allocator.** :func:`tune_cpu_allocator` keeps glibc from returning freed memory to
  the OS after every step (which costs page faults on the next one).
* :func:`per_sample_grads` gives per-sample gradients (for the empirical Fisher trace)
  with the adjoint method: one forward and one backward sweep over the batch.

Double backward (gradients of gradients) is not supported by the fast path; use
:func:`reference_outputs` for that.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .circuits import Layout, _generators_torch, su4_matrices
from .readouts import BasisLogits, PauliZ

__all__ = [
    "apply_two_qubit", "evolve", "probabilities", "outputs", "check_states",
    "Block", "light_cone", "fuse", "per_sample_grads", "reference_outputs",
    "tune_cpu_allocator",
]


# --------------------------------------------------------------------------------------
# The simple per-gate path (kept for teaching and as an in-package cross-check)
# --------------------------------------------------------------------------------------

def apply_two_qubit(states: torch.Tensor, gate: torch.Tensor, a: int, b: int, n_qubits: int) -> torch.Tensor:
    """Apply a 4x4 ``gate`` on wires ``(a, b)`` to every state of a ``(batch, 2**n)`` tensor.

    Wire ``a`` is the more significant qubit of the gate's 4x4 basis.

    Introduced in: 03 · QNN ansätze
    """
    batch = states.shape[0]
    if b == a + 1:  # neighbours: one batched matmul on a (batch, left, 4, right) view
        view = states.reshape(batch, 2**a, 4, 2 ** (n_qubits - a - 2))
        return torch.matmul(gate, view).reshape(batch, -1)
    view = states.reshape((batch,) + (2,) * n_qubits)
    out = torch.tensordot(view, gate.reshape(2, 2, 2, 2), dims=([a + 1, b + 1], [2, 3]))
    return out.movedim((-2, -1), (a + 1, b + 1)).reshape(batch, -1)


def reference_outputs(states: torch.Tensor, theta: torch.Tensor, layout: Layout, readout) -> torch.Tensor:
    """Readout outputs with the plain gate-by-gate path (no fusion, no shortcuts).

    Slow but simple: the version the QNN-ansätze chapter explains; the fast
    :func:`outputs` is tested against it and against PennyLane.

    Introduced in: 10 · Simulation backends
    """
    check_states(states, layout)
    gates = su4_matrices(theta)
    psi = states.to(gates.dtype)
    squeeze = psi.ndim == 1
    if squeeze:
        psi = psi.unsqueeze(0)
    for g, (a, b) in enumerate(layout.gates):
        psi = apply_two_qubit(psi, gates[g], a, b, layout.n_qubits)
    out = readout(psi.real**2 + psi.imag**2)
    return out[0] if squeeze else out


# --------------------------------------------------------------------------------------
# Planning: light cones and gate fusion
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A fused block: gates ``gates`` (indices into ``layout.gates``, in order) on wires ``lo..lo+k-1``.

    ``local`` holds each gate's wires relative to ``lo``. ``general=True`` marks a lone gate
    on non-neighbouring wires (e.g. the ring's closing gate), applied by a permuted view.

    Introduced in: 10 · Simulation backends
    """

    lo: int
    k: int
    gates: tuple
    local: tuple
    general: bool = False


def light_cone(layout: Layout, wires) -> tuple:
    """Indices of the gates in the backward light cone of ``wires`` (in circuit order).

    For an observable on ``wires`` every other gate cancels in ``U^dag O U``: walking the
    gate list backwards, a gate is kept when it touches a wire already in the cone.

    Introduced in: 10 · Simulation backends
    """
    cone = set(int(w) for w in wires)
    keep = []
    for g in range(layout.n_gates - 1, -1, -1):
        pair = set(layout.gates[g])
        if pair & cone:
            keep.append(g)
            cone |= pair
    return tuple(reversed(keep))


# Relative cost (ns per amplitude and per matrix row) of a dense k-wire block, measured on
# one CPU core with the batch-last layout; larger blocks use BLAS-3 more efficiently.
_NS_PER_MAC = {2: 0.234, 3: 0.158, 4: 0.119, 5: 0.100, 6: 0.094}
_OP_OVERHEAD_NS = 40_000.0  # per block: dispatch of its forward and backward GEMMs (and reshapes)
_BUILD_NS_PER_GATE = 5_000.0  # per gate merged into a block: embedding it and its share of the product


def _block_cost(k: int, amplitudes: int) -> float:
    return _OP_OVERHEAD_NS + _NS_PER_MAC.get(k, 0.09) * (2**k) * amplitudes


def fuse(layout: Layout, gate_ids=None, *, batch: int = 128, max_qubits: int = 6) -> tuple:
    """Group the gates ``gate_ids`` (default: all) of ``layout`` into dense blocks.

    Greedy and exact: each gate joins the *last* block that shares a wire with it (so it
    only moves past gates it commutes with) when the merged block, on at most
    ``max_qubits`` contiguous wires, is estimated cheaper than a separate block for a
    ``batch`` of states; otherwise it starts a new block. ``max_qubits=2`` disables fusion.

    Introduced in: 10 · Simulation backends
    """
    ids = range(layout.n_gates) if gate_ids is None else gate_ids
    amps = layout.dim * max(int(batch), 1)
    blocks = []  # [lo, hi, [gate ids], set(wires), general]
    for g in ids:
        a, b = layout.gates[g]
        lo_g, hi_g = min(a, b), max(a, b)
        pair = {a, b}
        j = None
        for i in range(len(blocks) - 1, -1, -1):
            if blocks[i][3] & pair:
                j = i
                break
        if j is not None and not blocks[j][4] and b == a + 1:
            lo, hi = min(blocks[j][0], lo_g), max(blocks[j][1], hi_g)
            k_old, k_new = blocks[j][1] - blocks[j][0] + 1, hi - lo + 1
            build = (_BUILD_NS_PER_GATE + 8**k_new) * (2 if len(blocks[j][2]) == 1 else 1)  # ~D^3 products
            if k_new <= max_qubits and \
                    _block_cost(k_new, amps) + build <= _block_cost(k_old, amps) + _block_cost(2, amps):
                blocks[j][0], blocks[j][1] = lo, hi
                blocks[j][2].append(g)
                blocks[j][3] |= pair
                continue
        general = b != a + 1  # distant or reversed wires: applied alone through a permuted view
        blocks.append([lo_g, hi_g, [g], set(pair), general])
    out = []
    for lo, hi, gids, _, general in blocks:
        local = tuple((layout.gates[g][0] - lo, layout.gates[g][1] - lo) for g in gids)
        out.append(Block(lo, hi - lo + 1, tuple(gids), local, general))
    return tuple(out)


_PLAN_CACHE: dict = {}


def _plan(layout: Layout, mode, batch: int) -> tuple:
    """Cached fusion plan. ``mode``: ``None`` (all gates) or ``("z", wire)`` (light cone)."""
    bucket = 1 << max(int(batch) - 1, 0).bit_length()  # plans depend on the batch only roughly
    key = (layout, mode, bucket)
    if key not in _PLAN_CACHE:
        ids = None if mode is None else light_cone(layout, [mode[1]])
        _PLAN_CACHE[key] = fuse(layout, ids, batch=bucket)
    return _PLAN_CACHE[key]


# --------------------------------------------------------------------------------------
# Building block matrices and applying them (batch-last layout: states are (2**n, batch))
# --------------------------------------------------------------------------------------

_INDEX_CACHE: dict = {}


def _index_tensor(ids: tuple, device) -> torch.Tensor:
    key = (ids, str(device))
    if key not in _INDEX_CACHE:
        _INDEX_CACHE[key] = torch.tensor(ids, dtype=torch.long, device=device)
    return _INDEX_CACHE[key]


def _is_bare_gate(blk: Block) -> bool:
    return blk.general or (len(blk.gates) == 1 and blk.local[0] == (0, 1))


class _BuildBlocks(torch.autograd.Function):
    """Every block matrix of a plan from the gate matrices, as ONE autograd node.

    Gates at the same local position of same-size blocks are embedded at once
    (``I (x) G (x) I``, one einsum), then all blocks of a size are multiplied out together
    (``V = E_s ... E_1``, batched). The backward reverses this by hand: suffix products
    give ``dL/dE_j = S_j P_{j-1}^dag`` and a partial trace gives ``dL/dG``.
    """

    @staticmethod
    def forward(ctx, gates, plan, recipe, bare_rows):
        outs = [None] * len(plan)
        saved = []
        if bare_rows[0]:
            bare = gates.index_select(0, _index_tensor(bare_rows[1], gates.device))
            for i, mat in zip(bare_rows[0], bare.unbind(0)):
                outs[i] = mat
        for k, members, steps, pos_groups in recipe:
            dim, m = 2**k, len(members)
            emb = torch.eye(dim, dtype=gates.dtype, device=gates.device).repeat(m * steps, 1, 1)
            for a, slots, rows in pos_groups:
                g = gates.index_select(0, _index_tensor(rows, gates.device))
                eye_l = torch.eye(2**a, dtype=gates.dtype, device=gates.device)
                eye_r = torch.eye(2 ** (k - a - 2), dtype=gates.dtype, device=gates.device)
                e = torch.einsum("ab,xgh,cd->xagcbhd", eye_l, g, eye_r).reshape(-1, dim, dim)
                emb.index_copy_(0, _index_tensor(slots, gates.device), e)
            emb = emb.reshape(m, steps, dim, dim)
            prefix = [emb[:, 0]]
            for j in range(1, steps):
                prefix.append(torch.bmm(emb[:, j], prefix[-1]))
            for i, mat in zip(members, prefix[-1].unbind(0)):
                outs[i] = mat
            saved.append((emb, prefix))
        ctx.plan, ctx.recipe, ctx.bare_rows, ctx.inter = plan, recipe, bare_rows, saved
        ctx.n_rows, ctx.dtype, ctx.device = gates.shape[0], gates.dtype, gates.device
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        out = torch.zeros((ctx.n_rows, 4, 4), dtype=ctx.dtype, device=ctx.device)
        if ctx.bare_rows[0]:
            gb = torch.stack([grads[i] for i in ctx.bare_rows[0]])
            out.index_add_(0, _index_tensor(ctx.bare_rows[1], ctx.device), gb)
        for (k, members, steps, pos_groups), (emb, prefix) in zip(ctx.recipe, ctx.inter):
            dim, m = 2**k, len(members)
            suffix = torch.stack([grads[i] for i in members])  # dL/dV, (m, D, D)
            g_emb = [None] * steps
            for j in range(steps - 1, -1, -1):
                if j > 0:
                    g_emb[j] = torch.bmm(suffix, prefix[j - 1].conj().transpose(1, 2))
                    suffix = torch.bmm(emb[:, j].conj().transpose(1, 2), suffix)
                else:
                    g_emb[0] = suffix
            g_emb = torch.stack(g_emb, 1).reshape(m * steps, dim, dim)
            for a, slots, rows in pos_groups:
                ge = g_emb.index_select(0, _index_tensor(slots, ctx.device))
                ge = ge.reshape(-1, 2**a, 4, 2 ** (k - a - 2), 2**a, 4, 2 ** (k - a - 2))
                out.index_add_(0, _index_tensor(rows, ctx.device), torch.einsum("xagcahc->xgh", ge))
        return out, None, None, None


class _SU4(torch.autograd.Function):
    """``exp(-i sum_k theta_k P_k)`` for a stack of gates via ``eigh``, with an exact hand-written backward.

    With ``K = -sum_k theta_k P_k = V diag(l) V^dag`` the gate is ``U = V diag(e^{il}) V^dag``;
    the derivative is the Daleckii-Krein formula ``dU = V (F o (V^dag dK V)) V^dag`` with the
    divided differences ``F_ij = (e^{il_i} - e^{il_j}) / (l_i - l_j) = i e^{i(l_i+l_j)/2}
    sinc((l_i-l_j)/2)``, which stays exact for (near-)degenerate eigenvalues, and
    ``dK/dtheta_k = -P_k`` (the sign of the released code's convention, see
    :mod:`qcl_helpers.circuits`). Same matrices as :func:`~qcl_helpers.circuits.su4_matrices`
    (tested), ~3x faster forward + backward.
    """

    @staticmethod
    def forward(ctx, theta, gens):
        herm = -torch.einsum("gk,kij->gij", theta.to(gens.dtype), gens)  # K = -sum theta P
        lam, vec = torch.linalg.eigh(herm)
        phase = torch.polar(torch.ones_like(lam), lam)
        ctx.save_for_backward(lam, vec, gens)
        ctx.theta_dtype = theta.dtype
        return (vec * phase.unsqueeze(-2)) @ vec.conj().transpose(-2, -1)

    @staticmethod
    def backward(ctx, grad):
        lam, vec, gens = ctx.saved_tensors
        vec_h = vec.conj().transpose(-2, -1)
        diff = lam.unsqueeze(-1) - lam.unsqueeze(-2)
        mean = 0.5 * (lam.unsqueeze(-1) + lam.unsqueeze(-2))
        divided = 1j * torch.polar(torch.ones_like(mean), mean) * torch.sinc(diff / (2 * torch.pi))
        z = vec @ ((vec_h @ grad @ vec) * divided.conj()) @ vec_h  # dL/dK
        # dL/dtheta_k = Re <dL/dK, dK/dtheta_k> with dK/dtheta_k = -P_k
        return -torch.einsum("gij,kij->gk", z.conj(), gens).real.to(ctx.theta_dtype), None


def su4_gates(theta: torch.Tensor) -> torch.Tensor:
    """The gates ``exp(-i sum_k theta_k P_k)`` for angles ``(..., 15)``, differentiable with the exact
    hand-written backward (an eigendecomposition, no matrix exponential): the fast path's version of
    :func:`qcl_helpers.circuits.su4_matrices`, in complex64 for float32 angles.

    Introduced in: 03 · QNN ansätze
    """
    dtype = torch.complex128 if theta.dtype == torch.float64 else torch.complex64
    return _SU4.apply(theta, _generators_torch(dtype, theta.device))


_USED_CACHE: dict = {}


def _block_matrices(theta: torch.Tensor, plan: tuple) -> list:
    """Block matrices of ``plan``: SU(4) exponentials only for the gates the plan uses."""
    key = id(plan)
    if key not in _USED_CACHE or _USED_CACHE[key][0] is not plan:
        used = tuple(sorted({g for blk in plan for g in blk.gates}))
        row = {g: i for i, g in enumerate(used)}
        bare = [i for i, blk in enumerate(plan) if _is_bare_gate(blk)]
        bare_rows = (tuple(bare), tuple(row[plan[i].gates[0]] for i in bare))
        _USED_CACHE[key] = (plan, used, row, _build_recipe(plan, row), bare_rows)
    _, used, row, recipe, bare_rows = _USED_CACHE[key]
    if len(used) < theta.shape[0]:
        theta = theta.index_select(0, _index_tensor(used, theta.device))
    return list(_BuildBlocks.apply(su4_gates(theta), plan, recipe, bare_rows))


def _build_recipe(plan: tuple, row: dict) -> list:
    """For each block size k: the fused blocks, and their gates grouped by local position."""
    by_k: dict = {}
    for i, blk in enumerate(plan):
        if not _is_bare_gate(blk):
            by_k.setdefault(blk.k, []).append(i)
    recipe = []
    for k, members in sorted(by_k.items()):
        steps = max(len(plan[i].gates) for i in members)
        groups: dict = {}
        for mi, i in enumerate(members):
            for j, (g, (a, _)) in enumerate(zip(plan[i].gates, plan[i].local)):
                slots, rows = groups.setdefault(a, ([], []))
                slots.append(mi * steps + j)
                rows.append(row[g])
        recipe.append((k, tuple(members), steps,
                       tuple((a, tuple(sl), tuple(rw)) for a, (sl, rw) in sorted(groups.items()))))
    return recipe


def _block_view(psi: torch.Tensor, blk: Block, n: int):
    """``(left, 2**k, right)`` view of ``psi`` (2**n, c) for a block, and the map back to (2**n, c).

    A view for contiguous blocks; a permuted copy for a ``general`` gate on distant wires.
    """
    if not blk.general:
        return psi.reshape(2**blk.lo, 2**blk.k, -1), (lambda t: t.reshape(psi.shape))
    a, b = blk.lo + blk.local[0][0], blk.lo + blk.local[0][1]
    view = psi.reshape((2,) * n + (psi.shape[-1],)).movedim((a, b), (0, 1))
    rest = view.shape[2:]

    def back(t):
        return t.reshape((2, 2) + rest).movedim((0, 1), (a, b)).reshape(psi.shape)

    return view.reshape(1, 4, -1), back


_SMALL_RIGHT = 64  # below this many columns per slice, many tiny GEMMs lose to permute + one GEMM


def _apply_block(psi: torch.Tensor, mat: torch.Tensor, blk: Block, n: int) -> torch.Tensor:
    """Apply one block matrix to ``psi`` of shape ``(2**n, batch)``."""
    view, back = _block_view(psi, blk, n)
    left, dim, right = view.shape
    if left == 1:  # one GEMM
        return back(torch.mm(mat, view[0]))
    if right < _SMALL_RIGHT:  # few columns (small batch, right-hand wires): permute, one GEMM, permute back
        flat = view.permute(1, 0, 2).reshape(dim, left * right)
        return back(torch.mm(mat, flat).reshape(dim, left, right).permute(1, 0, 2))
    # explicit bmm on an expanded (stride-0) matrix: contiguous in and out, no hidden copies
    return back(torch.bmm(mat.expand(left, dim, dim), view))


def _block_matrix_grad_conj(hgrad: torch.Tensor, x: torch.Tensor, blk: Block, n: int) -> torch.Tensor:
    """``sum_l h_l x_l^T`` over the block's left and right axes, with ``h = conj(d loss / d psi)``.

    Its complex conjugate is ``sum_l g_l x_l^dag = d loss / d (block matrix)``; working with
    ``h`` keeps every big GEMM free of conjugated operands (which torch would copy).
    """
    hv, _ = _block_view(hgrad, blk, n)
    xv, _ = _block_view(x, blk, n)
    left, dim, right = hv.shape
    if left == 1:
        return torch.mm(hv[0], xv[0].transpose(0, 1))
    if right < _SMALL_RIGHT:
        hf = hv.permute(1, 0, 2).reshape(dim, left * right)
        xf = xv.permute(1, 0, 2).reshape(dim, left * right)
        return torch.mm(hf, xf.transpose(0, 1))
    return torch.bmm(hv, xv.transpose(1, 2)).sum(0)


class _Circuit(torch.autograd.Function):
    """``psi -> B_m ... B_1 psi`` with a hand-written backward.

    Forward keeps each block's input ``x_i``. Backward walks the blocks in reverse with
    explicit GEMMs on the *conjugate* cotangent ``h = conj(g)``: ``h_{i-1} = B_i^T h_i`` and
    ``dL/dB_i = conj(sum h_i x_i^T)`` -- the same result as ``g x^dag`` and ``B^dag g`` but
    without conjugated big operands, which torch materializes (autograd through broadcast
    ``matmul`` was ~2x slower here).
    """

    @staticmethod
    def forward(ctx, psi, plan, n, *mats):
        inputs = []
        for mat, blk in zip(mats, plan):
            inputs.append(psi)
            psi = _apply_block(psi, mat, blk, n)
        ctx.plan, ctx.n = plan, n
        ctx.save_for_backward(*mats, *inputs)
        return psi

    @staticmethod
    def backward(ctx, grad):
        plan, n = ctx.plan, ctx.n
        m = len(plan)
        saved = ctx.saved_tensors
        mats, inputs = saved[:m], saved[m:]
        grads = [None] * m
        need_psi = ctx.needs_input_grad[0]
        h = grad.conj().resolve_conj().contiguous()
        for i in range(m - 1, -1, -1):
            if ctx.needs_input_grad[3 + i]:
                grads[i] = _block_matrix_grad_conj(h, inputs[i], plan[i], n).conj()
            if i > 0 or need_psi:
                h = _apply_block(h, mats[i].transpose(-2, -1), plan[i], n)
        return (h.conj() if need_psi else None, None, None, *grads)


_ALLOCATOR = {"tuned": None}


def tune_cpu_allocator(force: bool = False) -> bool:
    """Stop glibc from handing freed heap memory back to the OS after every step (Linux only).

    A training step allocates a few dozen state-sized tensors (1 MiB each for W2) and frees
    them at the end; with glibc's default thresholds the freed top of the heap is trimmed
    and the next step page-faults it in again, which made a W2 step ~1.4x slower. This
    raises ``M_TRIM_THRESHOLD`` to 512 MiB and fixes ``M_MMAP_THRESHOLD`` at 64 MiB
    (``mallopt``), so the process keeps up to that much freed memory for reuse.
    Process-wide; called once automatically by the fast path on CPU tensors unless the
    environment variable ``QCL_MALLOC_TUNING=0``. Returns whether the settings are active.

    Introduced in: 10 · Simulation backends
    """
    import os
    import platform

    if _ALLOCATOR["tuned"] is not None and not force:
        return _ALLOCATOR["tuned"]
    ok = False
    if os.environ.get("QCL_MALLOC_TUNING", "1") != "0" and platform.system() == "Linux" \
            and platform.libc_ver()[0] == "glibc":
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            ok = bool(libc.mallopt(m_trim_threshold, 512 << 20)) and bool(libc.mallopt(m_mmap_threshold, 64 << 20))
        except (OSError, AttributeError):
            ok = False
    _ALLOCATOR["tuned"] = ok
    return ok


def _run(psi: torch.Tensor, mats: list, plan: tuple, n: int, transpose: bool = False) -> torch.Tensor:
    """Apply all blocks (or, with ``transpose``, the blocks of ``U^T`` in reverse order)."""
    if _ALLOCATOR["tuned"] is None and psi.device.type == "cpu":
        tune_cpu_allocator()
    if transpose:
        mats = [mat.transpose(-2, -1) for mat in reversed(mats)]
        plan = tuple(reversed(plan))
    if torch.is_grad_enabled() and (psi.requires_grad or any(m.requires_grad for m in mats)):
        return _Circuit.apply(psi.contiguous(), plan, n, *mats)
    for mat, blk in zip(mats, plan):
        psi = _apply_block(psi, mat, blk, n)
    return psi


def _prepare(states: torch.Tensor, theta: torch.Tensor, layout: Layout):
    check_states(states, layout)
    if tuple(theta.shape) != (layout.n_gates, 15):
        raise ValueError(f"{layout} needs parameters of shape ({layout.n_gates}, 15), got {tuple(theta.shape)}")
    dtype = torch.complex128 if theta.dtype == torch.float64 else torch.complex64
    psi = states.to(dtype)
    squeeze = psi.ndim == 1
    if squeeze:
        psi = psi.unsqueeze(0)
    return psi, squeeze


def _z_signs(layout: Layout, wire: int, dtype, device) -> torch.Tensor:
    n = layout.n_qubits
    if not 0 <= wire < n:
        raise ValueError(f"readout wire {wire} does not exist on {n} qubits")
    bit = (torch.arange(layout.dim, device=device) >> (n - 1 - wire)) & 1
    return (1 - 2 * bit).to(dtype)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

def evolve(states: torch.Tensor, theta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Final states ``U(theta) |psi>`` for a batch of input states, shape ``(batch, 2**n)``.

    ``states`` may be real or complex; it is cast to the complex dtype matching ``theta``
    (float64 -> complex128, else complex64). Uses the fused batch-last path.

    Introduced in: 03 · QNN ansätze
    """
    psi, squeeze = _prepare(states, theta, layout)
    plan = _plan(layout, None, psi.shape[0])
    out = _run(psi.transpose(0, 1), _block_matrices(theta, plan), plan, layout.n_qubits).transpose(0, 1)
    return out[0] if squeeze else out


def probabilities(states: torch.Tensor, theta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Computational-basis probabilities ``|<k|U(theta)|psi>|^2``, shape ``(batch, 2**n)``.

    Introduced in: 03 · QNN ansätze
    """
    psi = evolve(states, theta, layout)
    return psi.real**2 + psi.imag**2


def _z_expectation(psi_cols: torch.Tensor, theta, layout: Layout, wire: int) -> torch.Tensor:
    """``<Z_wire>`` per column of ``psi_cols`` (2**n, batch), simulating only the light cone."""
    plan = _plan(layout, ("z", wire), psi_cols.shape[1])
    final = _run(psi_cols, _block_matrices(theta, plan), plan, layout.n_qubits)
    probs = final.real**2 + final.imag**2
    return _z_signs(layout, wire, probs.dtype, probs.device) @ probs


def _basis_probs(states: torch.Tensor, theta, layout: Layout, n_classes: int, cdtype) -> torch.Tensor:
    """``|<k|U|psi>|^2`` for k < n_classes, shape (batch, n_classes), via rows of ``U``.

    ``states`` is the (batch, 2**n) input; real inputs stay real (two real GEMMs).
    """
    plan = _plan(layout, None, n_classes)
    eye = torch.eye(layout.dim, n_classes, dtype=cdtype, device=states.device)
    rows_t = _run(eye, _block_matrices(theta, plan), plan, layout.n_qubits, transpose=True)  # U^T e_k
    if states.is_complex():
        amps = states.to(cdtype) @ rows_t  # (batch, n_classes) = <k|U|psi>
        return amps.real**2 + amps.imag**2
    parts = torch.view_as_real(rows_t.contiguous()).reshape(layout.dim, 2 * n_classes)  # [Re, Im] interleaved
    amps = (states.to(parts.dtype) @ parts).reshape(-1, n_classes, 2)  # one real GEMM
    return (amps * amps).sum(-1)


def outputs(states: torch.Tensor, theta: torch.Tensor, layout: Layout, readout) -> torch.Tensor:
    """Readout outputs (logits or features) for a batch; equals ``readout(probabilities(...))``.

    This is the entry point the QNN module trains through. It picks the cheapest exact
    route for the readout: the light cone for :class:`~qcl_helpers.readouts.PauliZ`, the
    backward evolution of the class basis states for
    :class:`~qcl_helpers.readouts.BasisLogits` (when there are fewer classes than
    samples), the full fused state otherwise.

    Introduced in: 03 · QNN ansätze
    """
    check_states(states, layout)
    basis = type(readout) is BasisLogits and readout.n_classes < (states.shape[0] if states.ndim == 2 else 1) \
        and readout.n_classes <= layout.dim
    psi, squeeze = _prepare(states[:1] if basis else states, theta, layout)  # the basis route needs no cast
    cols = psi.transpose(0, 1)
    if type(readout) is PauliZ:
        e = _z_expectation(cols, theta, layout, readout.wire)
        out = torch.stack([e, -e], dim=-1) if readout.pair else e.unsqueeze(-1)
    elif basis:
        out = readout(_basis_probs(states.unsqueeze(0) if squeeze else states, theta, layout,
                                   readout.n_classes, psi.dtype))
    else:
        plan = _plan(layout, None, psi.shape[0])
        final = _run(cols, _block_matrices(theta, plan), plan, layout.n_qubits).transpose(0, 1)
        out = readout(final.real**2 + final.imag**2)
    return out[0] if squeeze else out


def check_states(states: torch.Tensor, layout: Layout) -> None:
    """Raise a clear ``ValueError`` unless ``states`` has ``2**n`` amplitudes on its last axis.

    Introduced in: 03 · QNN ansätze
    """
    if not isinstance(states, torch.Tensor):
        raise TypeError(f"states must be a torch tensor, got {type(states).__name__}")
    if states.ndim not in (1, 2) or states.shape[-1] != layout.dim:
        raise ValueError(
            f"expected states of shape (batch, {layout.dim}) for {layout.n_qubits} qubits, got "
            f"{tuple(states.shape)}; encode raw inputs with qcl_helpers.circuits.amplitude_encode"
        )


# --------------------------------------------------------------------------------------
# Per-sample gradients (adjoint method) and the empirical Fisher trace
# --------------------------------------------------------------------------------------

def _su4_jacobians(theta: torch.Tensor, dtype) -> torch.Tensor:
    """``dU_g / dtheta_{g,k}`` for every gate, shape ``(n_gates, 15, 4, 4)``.

    Uses ``exp([[X, E], [0, X]]) = [[e^X, D e^X[E]], [0, e^X]]`` with ``X = -i H`` and
    ``E = dX/dtheta_k = -i P_k`` (the convention ``U = exp(-i sum theta P)``).
    """
    gens = _generators_torch(dtype, theta.device)  # (15, 4, 4)
    x = -1j * torch.einsum("gk,kij->gij", theta.to(dtype), gens)  # (G, 4, 4)
    G = x.shape[0]
    big = torch.zeros(G, 15, 8, 8, dtype=dtype, device=theta.device)
    big[:, :, :4, :4] = x.unsqueeze(1)
    big[:, :, 4:, 4:] = x.unsqueeze(1)
    big[:, :, :4, 4:] = -1j * gens
    return torch.linalg.matrix_exp(big)[:, :, :4, 4:]


def _gate_view(psi: torch.Tensor, a: int, b: int, n: int):
    """A ``(left, 4, right)`` view of ``psi`` (2**n, c) for wires (a, b), and its inverse map."""
    c = psi.shape[-1]
    if b == a + 1:
        return psi.reshape(2**a, 4, -1), (lambda t: t.reshape(psi.shape))
    view = psi.reshape((2,) * n + (c,)).movedim((a, b), (0, 1))
    rest = view.shape[2:]

    def back(t):
        return t.reshape((2, 2) + rest).movedim((0, 1), (a, b)).reshape(psi.shape)

    return view.reshape(1, 4, -1), back


def per_sample_grads(states: torch.Tensor, theta: torch.Tensor, layout: Layout, readout, loss_fn) -> torch.Tensor:
    """Per-sample gradients ``d loss_fn(outputs)_b / d theta``, shape ``(batch, n_gates, 15)``.

    ``loss_fn`` maps the ``(batch, n_outputs)`` readout outputs to ``(batch,)`` per-sample
    losses, e.g. ``lambda out: -out.log_softmax(-1)[range(B), y]`` for ``-log p(y|x)``.
    Adjoint method: the batch is evolved forward once (light cone for ``PauliZ``), the
    per-sample cotangents are obtained by autograd on the readout alone, then one backward
    sweep un-computes the states (``psi <- G^dag psi``, gates are unitary), accumulates each
    sample's ``dL_b/dG = lambda_b psi_b^dag`` and maps it to the 15 angles of the gate
    with the exact Jacobian of the matrix exponential. Memory: two copies of the batch.

    Introduced in: 10 · Simulation backends
    """
    with torch.no_grad():
        psi, _ = _prepare(states if states.ndim == 2 else states.unsqueeze(0), theta, layout)
        gates = su4_matrices(theta.detach())
        n = layout.n_qubits
        ids = light_cone(layout, [readout.wire]) if type(readout) is PauliZ else tuple(range(layout.n_gates))
        cols = psi.transpose(0, 1).contiguous()
        for g in ids:
            a, b = layout.gates[g]
            view, back = _gate_view(cols, a, b, n)
            cols = back(torch.matmul(gates[g], view))
    final = cols.detach().requires_grad_(True)
    with torch.enable_grad():
        out = readout((final.real**2 + final.imag**2).transpose(0, 1))
        losses = loss_fn(out)
        lam, = torch.autograd.grad(losses.sum(), final)
    with torch.no_grad():
        batch = cols.shape[1]
        grads_u = torch.zeros((batch, layout.n_gates, 4, 4), dtype=gates.dtype, device=gates.device)
        psi_c = cols
        for g in reversed(ids):
            a, b = layout.gates[g]
            gd = gates[g].conj().transpose(0, 1)
            view, back = _gate_view(psi_c, a, b, n)
            psi_in = torch.matmul(gd, view)
            lview, lback = _gate_view(lam, a, b, n)
            lv = lview.reshape(lview.shape[0], 4, -1, batch)
            pv = psi_in.reshape(psi_in.shape[0], 4, -1, batch)
            grads_u[:, g] = torch.einsum("larb,lcrb->bac", lv, pv.conj())
            lam = lback(torch.matmul(gd, lview))
            psi_c = back(psi_in)
        jac = _su4_jacobians(theta.detach(), gates.dtype)  # (G, 15, 4, 4)
        out = torch.einsum("bgac,gkac->bgk", grads_u.conj(), jac).real
    return out.to(theta.dtype)

