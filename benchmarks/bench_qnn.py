#!/usr/bin/env python
"""Time one QNN training step (forward + gradient of all angles + Adam update) per backend.

    python benchmarks/bench_qnn.py --workloads W1,W2,W3 --json out.json

Workloads (the paper's three supervised QNNs, 10 qubits, SU(4) gates):

* ``W1`` permuted MNIST: real 1024-vector input, brickwall depth 4, 10-class readout from
  the first 10 basis probabilities (logits log(p/(1-p))), softmax CE, batch 128.
* ``W2`` split CIFAR-100: real input, brickwall depth 10, e = <Z_9>, logits (e, -e),
  softmax CE, batch 128.
* ``W3`` XXZ: complex input state, ladder depth 6, <Z_0> as logit, sigmoid BCE, batch 64
  (mean loss; the paper's code sums per-sample gradients, which costs the same).

Backends, timed *interleaved* (one step of each in turn, ``--repeats`` rounds) in one process
pinned to one CPU core with one thread (``--no-pin`` to allow more):

* ``ours``            -- :mod:`qcl_helpers.sim` through ``models.QNN`` (complex64);
* ``torch-pergate``   -- the plain gate-by-gate torch path (``sim.reference_outputs``);
* ``pennylane``       -- PennyLane ``default.qubit`` + torch backprop, broadcasting over the batch;
* ``tensorcircuit``   -- TensorCircuit-NG + JAX, complex64, ``c.su4`` gates,
  ``jit(value_and_grad)`` over ``vmap`` of the per-sample circuit (the paper's approach).
  Optional: skipped with a message when ``tensorcircuit``/``jax`` are not installed;
* ``lightning``       -- ``lightning.qubit`` with adjoint differentiation, one sample at a
  time (it cannot broadcast); timed for ONE step only (``--lightning-samples k`` times k
  samples and extrapolates linearly to the batch, flagged in the output).

All backends start from the same angles and data; their first losses are compared
(TensorCircuit's ``su4(theta)`` is ``exp(-i sum theta P)``, the package's own convention, so
every backend gets the same ``theta``).
The JSON holds, per workload and backend, the median ms/step, samples/s and the ratio to
TensorCircuit-NG, plus ``speedup_vs_tensorcircuit`` (TC median / ours median), and the
provenance: git commit, versions, machine, date, command line.
"""
from __future__ import annotations

import argparse
import os
import sys

# Thread settings must precede the numerical imports.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qcl_helpers import circuits, sim  # noqa: E402
from qcl_helpers.models import paper_qnn  # noqa: E402

WORKLOADS = {
    "W1": dict(title="permuted MNIST", experiment="permuted-mnist", depth=4, batch=128, complex_input=False,
               lr=0.03, loss="ce"),
    "W2": dict(title="split CIFAR-100", experiment="split-cifar100", depth=10, batch=128, complex_input=False,
               lr=1e-3, loss="ce"),
    "W3": dict(title="XXZ quantum data", experiment="xxz", depth=6, batch=64, complex_input=True,
               lr=2e-3, loss="bce"),
}

BACKENDS = ("ours", "torch-pergate", "pennylane", "tensorcircuit", "lightning")


# ---------------------------------------------------------------------------------------------
# Shared problem instance
# ---------------------------------------------------------------------------------------------

def make_problem(wid: str, seed: int = 0) -> dict:
    """The shared instance of a workload: layout, readout, initial angles, data and labels.

    Introduced in: 10 · Simulation backends
    """
    spec = WORKLOADS[wid]
    model = paper_qnn(spec["experiment"], depth=spec["depth"], precision="single", seed=seed)
    layout, readout = model.layout, model.readout
    rng = np.random.default_rng(seed)
    b = spec["batch"]
    x = rng.random((b, layout.dim))
    if spec["complex_input"]:
        x = x - 0.5 + 1j * (rng.random((b, layout.dim)) - 0.5)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    n_classes = 10 if wid == "W1" else 2
    y = rng.integers(0, n_classes, size=b)
    return dict(wid=wid, spec=spec, layout=layout, readout=readout, theta0=model.theta.detach().clone(),
                x=x, y=y, n_classes=n_classes)


def torch_loss(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean softmax cross-entropy (``"ce"``) or sigmoid BCE with logits (``"bce"``).

    Introduced in: 10 · Simulation backends
    """
    if kind == "ce":
        return torch.nn.functional.cross_entropy(out, y)
    return torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.to(out.dtype))


# ---------------------------------------------------------------------------------------------
# Backends: each has setup(problem) and step() -> loss (float)
# ---------------------------------------------------------------------------------------------

class Ours:
    """This book's simulator through ``models.QNN``. Introduced in: 10 · Simulation backends"""

    name = "ours"
    description = "qcl_helpers.sim (fused batch-last torch, readout shortcuts), complex64"

    def setup(self, p):
        self.model = paper_qnn(p["spec"]["experiment"], depth=p["spec"]["depth"], precision="single")
        with torch.no_grad():
            self.model.theta.copy_(p["theta0"])
        dtype = torch.complex64 if p["spec"]["complex_input"] else torch.float32
        self.x = torch.as_tensor(p["x"]).to(dtype)
        self.y = torch.as_tensor(p["y"])
        self.kind = p["spec"]["loss"]
        self.opt = torch.optim.Adam(self.model.parameters(), lr=p["spec"]["lr"])

    def forward(self):
        return self.model(self.x)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = torch_loss(self.forward(), self.y, self.kind)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


class TorchPerGate(Ours):
    """The plain per-gate torch path. Introduced in: 10 · Simulation backends"""

    name = "torch-pergate"
    description = "plain batch-first torch, one matmul per gate, autograd (sim.reference_outputs)"

    def forward(self):
        return sim.reference_outputs(self.x, self.model.theta, self.model.layout, self.model.readout)


class PennyLaneDefault:
    """PennyLane default.qubit with torch backprop. Introduced in: 10 · Simulation backends"""

    name = "pennylane"
    description = "PennyLane default.qubit, torch interface, backprop, broadcast over the batch"

    def setup(self, p):
        import pennylane as qml  # noqa: F401
        from qcl_helpers.reference import reference_qnode

        layout, readout = p["layout"], p["readout"]
        self.readout = readout
        self.is_z = type(readout).__name__ == "PauliZ"
        measure = ("z", readout.wire) if self.is_z else "probs"
        self.qnode = reference_qnode(layout, measure, device="default.qubit", interface="torch",
                                     diff_method="backprop")
        self.theta = torch.nn.Parameter(p["theta0"].clone())
        dtype = torch.complex64 if p["spec"]["complex_input"] else torch.float32
        self.x = torch.as_tensor(p["x"]).to(dtype)
        self.y = torch.as_tensor(p["y"])
        self.kind = p["spec"]["loss"]
        self.opt = torch.optim.Adam([self.theta], lr=p["spec"]["lr"])

    def outputs(self):
        res = self.qnode(self.x, self.theta)
        if self.is_z:
            e = res.real.to(torch.float32) if torch.is_complex(res) else res.to(torch.float32)
            return torch.stack([e, -e], -1) if self.readout.pair else e.unsqueeze(-1)
        return self.readout(res.to(torch.float32))

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = torch_loss(self.outputs(), self.y, self.kind)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


class Lightning:
    """lightning.qubit with adjoint differentiation, per sample. Introduced in: 10 · Simulation backends"""

    name = "lightning"
    description = "lightning.qubit, adjoint differentiation, per-sample loop (no broadcasting), float64"

    def __init__(self, samples: int | None = None):
        self.samples = samples

    def setup(self, p):
        import pennylane as qml

        layout, readout = p["layout"], p["readout"]
        wires = list(range(layout.n_qubits))
        dev = qml.device("lightning.qubit", wires=layout.n_qubits)
        self.readout = readout
        self.is_z = type(readout).__name__ == "PauliZ"
        n_basis = getattr(readout, "n_classes", 0)

        @qml.qnode(dev, interface="torch", diff_method="adjoint")
        def circuit(state, theta):
            qml.StatePrep(state, wires=wires, normalize=True)
            circuits.pennylane_ops(theta, layout)
            if self.is_z:
                return qml.expval(qml.PauliZ(readout.wire))
            # adjoint differentiation needs expectation values: projectors on |k>, k < 10
            return [qml.expval(qml.Projector(np.array([int(c) for c in format(k, f"0{layout.n_qubits}b")]),
                                             wires=wires)) for k in range(n_basis)]

        self.circuit = circuit
        self.theta = torch.nn.Parameter(p["theta0"].clone().double())
        self.x = torch.as_tensor(p["x"]).to(torch.complex128 if p["spec"]["complex_input"] else torch.float64)
        self.y = torch.as_tensor(p["y"])
        self.kind = p["spec"]["loss"]
        self.batch = p["spec"]["batch"]
        self.opt = torch.optim.Adam([self.theta], lr=p["spec"]["lr"])

    def step(self):
        """One step; with ``samples`` set, only that many samples (the caller extrapolates).

        Introduced in: 10 · Simulation backends
        """
        m = self.batch if self.samples is None else min(self.samples, self.batch)
        self.opt.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(m):  # one QNode call per sample: gradients accumulate in theta.grad
            res = self.circuit(self.x[i], self.theta)
            if self.is_z:
                e = res.reshape(())
                out = (torch.stack([e, -e]) if self.readout.pair else e.reshape(1)).unsqueeze(0)
            else:
                out = self.readout(torch.stack(list(res)).reshape(1, -1))
            loss = torch_loss(out, self.y[i:i + 1], self.kind) / self.batch
            loss.backward()
            total += float(loss.detach())
        self.opt.step()
        return total * self.batch / m


class TensorCircuitJax:
    """The paper's engine: TensorCircuit-NG on JAX, jit(value_and_grad(mean of vmap(per-sample loss))).

    Introduced in: 10 · Simulation backends
    """

    name = "tensorcircuit"
    description = "TensorCircuit-NG + JAX, complex64, c.su4, jit(value_and_grad) over vmap, Adam in jit"

    def setup(self, p):
        import jax
        import jax.numpy as jnp
        import tensorcircuit as tc

        tc.set_backend("jax")
        tc.set_dtype("complex64")
        self.jax = jax
        layout, readout = p["layout"], p["readout"]
        n, gates = layout.n_qubits, layout.gates
        kind = p["spec"]["loss"]
        is_z = type(readout).__name__ == "PauliZ"
        wire = getattr(readout, "wire", 0)
        pair = getattr(readout, "pair", False)
        n_basis = getattr(readout, "n_classes", 0)
        eps = 1e-7

        def per_sample(theta, x, y):
            c = tc.Circuit(n, inputs=x)
            for g, (a, b) in enumerate(gates):
                c.su4(a, b, theta=theta[g])
            if is_z:
                e = jnp.real(c.expectation_ps(z=[wire]))
                if pair:
                    logits = jnp.stack([e, -e])
                    return -jax.nn.log_softmax(logits)[y]
                return jnp.logaddexp(0.0, e) - y * e  # BCE with logits
            pr = jnp.real(c.probability())[:n_basis]
            pr = jnp.clip(pr, eps, 1 - eps)
            logits = jnp.log(pr) - jnp.log1p(-pr)
            return -jax.nn.log_softmax(logits)[y]

        def mean_loss(theta, xs, ys):
            return jnp.mean(jax.vmap(per_sample, in_axes=(None, 0, 0))(theta, xs, ys))

        vg = jax.value_and_grad(mean_loss)
        lr, b1, b2, eps_adam = p["spec"]["lr"], 0.9, 0.999, 1e-8

        @jax.jit
        def train_step(theta, m, v, t, xs, ys):
            loss, g = vg(theta, xs, ys)
            t = t + 1
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            mhat = m / (1 - b1**t)
            vhat = v / (1 - b2**t)
            return loss, theta - lr * mhat / (jnp.sqrt(vhat) + eps_adam), m, v, t

        self.train_step = train_step
        # TC's su4(theta) = exp(-i theta.P) = our gate (qcl_helpers.circuits convention)
        self.theta = jnp.asarray(p["theta0"].numpy(), dtype=jnp.float32)
        self.m = jnp.zeros_like(self.theta)
        self.v = jnp.zeros_like(self.theta)
        self.t = jnp.asarray(0.0, dtype=jnp.float32)
        self.xs = jnp.asarray(p["x"], dtype=jnp.complex64)
        self.ys = jnp.asarray(p["y"], dtype=jnp.int32 if kind == "ce" else jnp.float32)

    def step(self):
        loss, self.theta, self.m, self.v, self.t = self.train_step(self.theta, self.m, self.v, self.t,
                                                                    self.xs, self.ys)
        loss.block_until_ready()
        self.theta.block_until_ready()
        return float(loss)


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------

def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def provenance(pinned) -> dict:
    """Date, git commit, command line, versions, machine and load average of this run.

    Introduced in: 10 · Simulation backends
    """

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain")),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {k: _version(k) for k in ("torch", "pennylane", "pennylane_lightning", "tensorcircuit-ng",
                                              "jax", "jaxlib", "numpy")} | {"python": platform.python_version()},
        "machine": {"cpu": cpu or platform.processor(), "logical_cpus": os.cpu_count(),
                    "platform": platform.platform(), "pinned_cpus": pinned,
                    "torch_threads": torch.get_num_threads(),
                    "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "XLA_FLAGS")}},
    }


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def main(argv=None):
    """Command-line entry point; returns the results dictionary it writes as JSON.

    Introduced in: 10 · Simulation backends
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", default="W1,W2,W3", help="comma-separated subset of W1,W2,W3")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated subset of " + ",".join(BACKENDS))
    ap.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds (steps per backend)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps per backend (JIT, caches)")
    ap.add_argument("--lightning-samples", type=int, default=None,
                    help="time lightning on this many samples and extrapolate to the batch (default: full step)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats, 1 warmup, lightning on 2 samples")
    ap.add_argument("--json", default=None, help="write results to this JSON file")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU core")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup = 3, 1
        args.lightning_samples = args.lightning_samples or 2

    pinned = None
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        pinned = [cpu]
    torch.set_num_threads(1)

    wids = [w.strip() for w in args.workloads.split(",") if w.strip()]
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    for w in wids:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for b in names:
        if b not in BACKENDS:
            ap.error(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    if "tensorcircuit" in names:
        try:
            import jax  # noqa: F401
            import tensorcircuit  # noqa: F401
        except Exception as exc:  # optional anchor
            print(f"[skip] tensorcircuit: TensorCircuit-NG + JAX not installed ({type(exc).__name__}: {exc}); "
                  "install them in a separate venv to measure the anchor (see benchmarks/README.md)")
            names.remove("tensorcircuit")

    meta = provenance(pinned)
    print(f"# {meta['date_utc']}  commit {meta['git_commit']}{' (dirty)' if meta['git_dirty'] else ''}")
    print(f"# cpu: {meta['machine']['cpu']}, pinned to {pinned}, torch threads {torch.get_num_threads()}")
    print(f"# versions: {meta['versions']}")

    results = {"meta": meta, "settings": {"repeats": args.repeats, "warmup": args.warmup,
                                          "lightning_samples": args.lightning_samples, "quick": args.quick},
               "backends": {}, "workloads": {}}
    for wid in wids:
        p = make_problem(wid)
        spec = p["spec"]
        print(f"\n== {wid}: {spec['title']} -- {p['layout']}, readout {p['readout']!r}, batch {spec['batch']}")
        runners = {}
        for name in names:
            if name == "lightning":
                continue
            r = {"ours": Ours, "torch-pergate": TorchPerGate, "pennylane": PennyLaneDefault,
                 "tensorcircuit": TensorCircuitJax}[name]()
            r.setup(p)
            runners[name] = r
            results["backends"][name] = r.description
        first_loss, times, cpu_times = {}, {name: [] for name in runners}, {name: [] for name in runners}
        for name, r in runners.items():
            t0 = time.perf_counter()
            first_loss[name] = r.step()
            print(f"  {name:14s} first step {1e3 * (time.perf_counter() - t0):9.1f} ms (incl. compile), "
                  f"loss {first_loss[name]:.7f}")
            for _ in range(max(args.warmup - 1, 0)):
                r.step()
        for _ in range(args.repeats):  # interleaved rounds
            for name, r in runners.items():
                c0, t0 = time.process_time(), time.perf_counter()
                r.step()
                times[name].append(time.perf_counter() - t0)
                cpu_times[name].append(time.process_time() - c0)
        rows = {}
        for name, ts in times.items():
            ms = [1e3 * t for t in ts]
            rows[name] = {"ms_per_step_median": statistics.median(ms), "ms_per_step_min": min(ms),
                          "ms_per_step_all": [round(t, 3) for t in ms], "steps_timed": len(ms),
                          "cpu_ms_per_step_median": 1e3 * statistics.median(cpu_times[name])}
        if "lightning" in names:
            r = Lightning(args.lightning_samples)
            r.setup(p)
            results["backends"]["lightning"] = r.description
            m = spec["batch"] if args.lightning_samples is None else min(args.lightning_samples, spec["batch"])
            c0, t0 = time.process_time(), time.perf_counter()
            first_loss["lightning"] = r.step()
            dt = 1e3 * (time.perf_counter() - t0) * spec["batch"] / m
            cpu_dt = 1e3 * (time.process_time() - c0) * spec["batch"] / m
            rows["lightning"] = {"ms_per_step_median": dt, "ms_per_step_min": dt, "ms_per_step_all": [round(dt, 3)],
                                 "steps_timed": 1, "samples_timed": m, "extrapolated": m < spec["batch"],
                                 "cpu_ms_per_step_median": cpu_dt}
        for name, row in rows.items():
            row["samples_per_s"] = spec["batch"] / (row["ms_per_step_median"] / 1e3)
            row["first_loss"] = first_loss.get(name)
        tc_ms = rows.get("tensorcircuit", {}).get("ms_per_step_median")
        for row in rows.values():
            row["ratio_to_tensorcircuit"] = (row["ms_per_step_median"] / tc_ms) if tc_ms else None
        ours_ms = rows.get("ours", {}).get("ms_per_step_median")
        speedup = (tc_ms / ours_ms) if (tc_ms and ours_ms) else None
        ref = first_loss.get("ours")
        loss_dev = {k: abs(v - ref) for k, v in first_loss.items()  # (a partial lightning step: other samples)
                    if ref is not None and k != "ours" and not rows.get(k, {}).get("extrapolated")}
        results["workloads"][wid] = {
            "title": spec["title"], "layout": str(p["layout"]), "readout": repr(p["readout"]),
            "batch": spec["batch"], "loss": spec["loss"], "backends": rows,
            "speedup_vs_tensorcircuit": speedup, "first_loss_abs_diff_vs_ours": loss_dev,
        }
        print(f"  {'backend':14s} {'ms/step':>11s} {'samples/s':>10s} {'x TC time':>10s}")
        for name, row in rows.items():
            ratio = row["ratio_to_tensorcircuit"]
            flag = " (extrapolated)" if row.get("extrapolated") else ""
            print(f"  {name:14s} {row['ms_per_step_median']:11.2f} {row['samples_per_s']:10.1f} "
                  f"{(f'{ratio:.3f}' if ratio else '-'):>10s}{flag}")
        print(f"  speedup of ours vs TensorCircuit-NG: {f'{speedup:.2f}x' if speedup else 'n/a (TC not run)'}; "
              f"first-loss |diff| vs ours: " + ", ".join(f"{k} {v:.1e}" for k, v in loss_dev.items()))
    results["meta"]["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if args.json:
        from qcl_helpers.results import atomic_write

        atomic_write(args.json, json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
