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

* :func:`per_sample_grads` gives per-sample gradients (for the empirical Fisher trace)
  with the adjoint method: one forward and one backward sweep over the batch.

Introduced in: 03 · QNN ansätze
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .circuits import Layout, _generators_torch, su4_matrices
from .readouts import BasisLogits, PauliZ

__all__ = [
    "apply_two_qubit", "evolve", "probabilities", "outputs", "check_states",
    "Block", "light_cone", "fuse", "per_sample_grads", "fisher_trace", "reference_outputs",
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

    @property
    def signature(self) -> tuple:
        return (self.k, self.local, self.general)


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
_OP_OVERHEAD_NS = 20_000.0  # per block: dispatch forward + backward + building


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
        if j is not None and not blocks[j][4]:
            lo, hi = min(blocks[j][0], lo_g), max(blocks[j][1], hi_g)
            k_old, k_new = blocks[j][1] - blocks[j][0] + 1, hi - lo + 1
            if k_new <= max_qubits and _block_cost(k_new, amps) <= _block_cost(k_old, amps) + _block_cost(2, amps):
                blocks[j][0], blocks[j][1] = lo, hi
                blocks[j][2].append(g)
                blocks[j][3] |= pair
                continue
        general = (hi_g - lo_g + 1) > max(max_qubits, 2)
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

def _apply_local(mats: torch.Tensor, gate: torch.Tensor, a: int, b: int, k: int) -> torch.Tensor:
    """``(m, 2**k, c)`` stack of column sets, ``(m, 4, 4)`` gates on local wires ``(a, b)``."""
    m, _, c = mats.shape
    if b == a + 1:
        view = mats.reshape(m, 2**a, 4, 2 ** (k - a - 2) * c)
        return torch.matmul(gate.unsqueeze(1), view).reshape(m, 2**k, c)
    view = mats.reshape((m,) + (2,) * k + (c,)).movedim((a + 1, b + 1), (1, 2))
    rest = view.shape[3:]
    out = torch.matmul(gate, view.reshape(m, 4, -1)).reshape((m, 2, 2) + rest)
    return out.movedim((1, 2), (a + 1, b + 1)).reshape(m, 2**k, c)


def _build_blocks(gates: torch.Tensor, plan: tuple) -> list:
    """Dense matrices of the blocks of ``plan``; blocks with equal shape are built together."""
    groups: dict = {}
    for i, blk in enumerate(plan):
        groups.setdefault(blk.signature, []).append(i)
    mats = [None] * len(plan)
    for (k, local, general), members in groups.items():
        if general or len(local) == 1 and k == 2:
            for i in members:
                mats[i] = gates[plan[i].gates[0]]
            continue
        idx = torch.tensor([plan[i].gates for i in members], device=gates.device)
        gstack = gates[idx]  # (m, n_gates_in_block, 4, 4)
        dim = 2**k
        eye = torch.eye(dim, dtype=gates.dtype, device=gates.device)
        v = eye.expand(len(members), dim, dim)
        for j, (a, b) in enumerate(local):
            v = _apply_local(v, gstack[:, j], a, b, k)
        for i, mat in zip(members, torch.unbind(v, 0)):
            mats[i] = mat
    return mats


def _apply_block(psi: torch.Tensor, mat: torch.Tensor, blk: Block, n: int) -> torch.Tensor:
    """Apply one block matrix to ``psi`` of shape ``(2**n, batch)``."""
    if blk.general:
        (a, b), = ((blk.lo + blk.local[0][0], blk.lo + blk.local[0][1]),)
        c = psi.shape[-1]
        view = psi.reshape((2,) * n + (c,)).movedim((a, b), (0, 1))
        rest = view.shape[2:]
        out = torch.matmul(mat, view.reshape(4, -1)).reshape((2, 2) + rest)
        return out.movedim((0, 1), (a, b)).reshape(psi.shape)
    view = psi.reshape(2**blk.lo, 2**blk.k, -1)
    return torch.matmul(mat, view).reshape(psi.shape)


def _run(psi: torch.Tensor, mats: list, plan: tuple, n: int, transpose: bool = False) -> torch.Tensor:
    """Apply all blocks (or, with ``transpose``, the blocks of ``U^T`` in reverse order)."""
    if transpose:
        for mat, blk in zip(reversed(mats), reversed(plan)):
            psi = _apply_block(psi, mat.transpose(-2, -1), blk, n)
        return psi
    for mat, blk in zip(mats, plan):
        psi = _apply_block(psi, mat, blk, n)
    return psi


def _prepare(states: torch.Tensor, theta: torch.Tensor, layout: Layout):
    check_states(states, layout)
    gates = su4_matrices(theta)
    psi = states.to(gates.dtype)
    squeeze = psi.ndim == 1
    if squeeze:
        psi = psi.unsqueeze(0)
    return gates, psi, squeeze


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
    gates, psi, squeeze = _prepare(states, theta, layout)
    plan = _plan(layout, None, psi.shape[0])
    out = _run(psi.transpose(0, 1), _build_blocks(gates, plan), plan, layout.n_qubits).transpose(0, 1)
    return out[0] if squeeze else out


def probabilities(states: torch.Tensor, theta: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Computational-basis probabilities ``|<k|U(theta)|psi>|^2``, shape ``(batch, 2**n)``.

    Introduced in: 03 · QNN ansätze
    """
    psi = evolve(states, theta, layout)
    return psi.real**2 + psi.imag**2


def _z_expectation(psi_cols: torch.Tensor, gates, layout: Layout, wire: int) -> torch.Tensor:
    """``<Z_wire>`` per column of ``psi_cols`` (2**n, batch), simulating only the light cone."""
    plan = _plan(layout, ("z", wire), psi_cols.shape[1])
    final = _run(psi_cols, _build_blocks(gates, plan), plan, layout.n_qubits)
    probs = final.real**2 + final.imag**2
    return _z_signs(layout, wire, probs.dtype, probs.device) @ probs


def _basis_probs(psi_cols: torch.Tensor, gates, layout: Layout, n_classes: int) -> torch.Tensor:
    """``|<k|U|psi>|^2`` for k < n_classes, shape (batch, n_classes), via rows of ``U``."""
    plan = _plan(layout, None, n_classes)
    eye = torch.eye(layout.dim, n_classes, dtype=gates.dtype, device=gates.device)
    rows_t = _run(eye, _build_blocks(gates, plan), plan, layout.n_qubits, transpose=True)  # U^T e_k
    amps = rows_t.transpose(0, 1) @ psi_cols  # (n_classes, batch) = <k|U|psi>
    return (amps.real**2 + amps.imag**2).transpose(0, 1)


def outputs(states: torch.Tensor, theta: torch.Tensor, layout: Layout, readout) -> torch.Tensor:
    """Readout outputs (logits or features) for a batch; equals ``readout(probabilities(...))``.

    This is the entry point the QNN module trains through. It picks the cheapest exact
    route for the readout: the light cone for :class:`~qcl_helpers.readouts.PauliZ`, the
    backward evolution of the class basis states for
    :class:`~qcl_helpers.readouts.BasisLogits` (when there are fewer classes than
    samples), the full fused state otherwise.

    Introduced in: 03 · QNN ansätze
    """
    gates, psi, squeeze = _prepare(states, theta, layout)
    cols = psi.transpose(0, 1)
    if type(readout) is PauliZ:
        e = _z_expectation(cols, gates, layout, readout.wire)
        out = torch.stack([e, -e], dim=-1) if readout.pair else e.unsqueeze(-1)
    elif type(readout) is BasisLogits and readout.n_classes < psi.shape[0] and readout.n_classes <= layout.dim:
        out = readout(_basis_probs(cols, gates, layout, readout.n_classes))
    else:
        plan = _plan(layout, None, psi.shape[0])
        final = _run(cols, _build_blocks(gates, plan), plan, layout.n_qubits).transpose(0, 1)
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

    Uses ``exp([[X, E], [0, X]]) = [[e^X, D e^X[E]], [0, e^X]]`` with ``X = i H``, ``E = i P_k``.
    """
    gens = _generators_torch(dtype, theta.device)  # (15, 4, 4)
    x = 1j * torch.einsum("gk,kij->gij", theta.to(dtype), gens)  # (G, 4, 4)
    G = x.shape[0]
    big = torch.zeros(G, 15, 8, 8, dtype=dtype, device=theta.device)
    big[:, :, :4, :4] = x.unsqueeze(1)
    big[:, :, 4:, 4:] = x.unsqueeze(1)
    big[:, :, :4, 4:] = 1j * gens
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
        gates, psi, _ = _prepare(states if states.ndim == 2 else states.unsqueeze(0), theta, layout)
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


def fisher_trace(states: torch.Tensor, targets: torch.Tensor, theta: torch.Tensor, layout: Layout, readout,
                 kind: str = "softmax") -> float:
    """Empirical Fisher trace ``mean_b ||d log p(y_b|x_b) / d theta||^2`` (the paper's Tr(FIM)).

    ``kind="softmax"``: ``p = softmax(outputs)`` (10-class and paired-Z readouts);
    ``kind="sigmoid"``: one logit, ``p(1) = sigmoid(output)``. Uses :func:`per_sample_grads`.

    Introduced in: 10 · Simulation backends
    """
    y = torch.as_tensor(targets, device=states.device).long().reshape(-1)
    idx = torch.arange(y.shape[0], device=states.device)
    if kind == "softmax":
        def nll(out):
            return -out.log_softmax(-1)[idx, y]
    elif kind == "sigmoid":
        def nll(out):
            z = out.reshape(-1)
            return torch.nn.functional.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")
    else:
        raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")
    g = per_sample_grads(states, theta, layout, readout, nll)
    return float(g.reshape(g.shape[0], -1).pow(2).sum(-1).mean())


_ = math  # kept for users who extend the cost model
