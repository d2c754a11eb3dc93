#!/usr/bin/env python
"""A five-minute check for the day a GPU is lent: devices, correctness, speed, scaling, projections.

    python benchmarks/gpu_check.py --json gpu_check.json          # default budget: 280 s

1. **Devices** -- which PennyLane and torch devices :mod:`qcl_helpers.devices` chooses, and why.
2. **Correctness** -- the torch fast path (:mod:`qcl_helpers.sim` through ``models.QNN``) on CUDA
   against the CPU on the benchmark workloads W1-W3 (``benchmarks/bench_qnn.py``): loss and
   gradient, complex128 to 1e-10 relative, complex64 against the CPU's complex128 to the CPU
   tests' tolerances (loss 1e-5 relative, gradient 1e-4 relative L2; ``tests/test_sim_fast.py``).
3. **Speed** -- one training step (forward, gradient, Adam) of W1-W3 on the GPU and on the CPU
   in the same run: median milliseconds and the ratio.
4. **Scaling on lightning.gpu** -- :func:`qcl_helpers.scaling.measure` (deep brickwall, ``2n+8``
   layers, middle-gate gradient) for growing ``n`` while the projected time fits the budget; the
   measured ``E ||grad_g <Z_0>||^2`` beside the Haar closed form.
5. **Projections** -- GPU step times times the number of training steps of the ``paper`` profile
   (permuted MNIST, split CIFAR-100, XXZ QNNs): hours per run.

Without a GPU every step that needs one is reported as skipped, with the reason, and the script
exits 0 (``tests/test_gpu_check.py`` runs it that way). It exits 1 only when a correctness check
fails on a GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from qcl_helpers import devices, profiles, results, scaling  # noqa: E402
from qcl_helpers.models import paper_qnn  # noqa: E402

WORKLOADS = ("W1", "W2", "W3")
TOL = {"double": (1e-10, 1e-10), "single": (1e-5, 1e-4)}  # (loss relative, gradient relative L2)


class Budget:
    """Seconds left of the run's budget."""

    def __init__(self, seconds: float):
        self.t0, self.seconds = time.perf_counter(), float(seconds)

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)


def say(report: dict, step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)
    report.setdefault("log", []).append(f"[{step}] {text}")


def _problem(wid: str):
    from bench_qnn import make_problem

    return make_problem(wid)


def _loss_and_grad(p, precision: str, device: str):
    """Loss and gradient of one workload's first batch with ``models.QNN`` on ``device``."""
    from bench_qnn import torch_loss

    spec = p["spec"]
    model = paper_qnn(spec["experiment"], depth=spec["depth"], precision=precision).to(device)
    with torch.no_grad():
        model.theta.copy_(p["theta0"].to(model.theta.dtype))
    real = torch.float64 if precision == "double" else torch.float32
    cplx = torch.complex128 if precision == "double" else torch.complex64
    x = torch.as_tensor(p["x"]).to(cplx if spec["complex_input"] else real).to(device)
    y = torch.as_tensor(p["y"]).to(device)
    loss = torch_loss(model(x), y, spec["loss"])
    (grad,) = torch.autograd.grad(loss, model.theta)
    return float(loss), grad.detach().cpu().double()


def check_correctness(report: dict, cuda: bool) -> bool:
    """Step 2. Returns ``False`` when a check fails."""
    if not cuda:
        say(report, "2 skipped", "torch fast path on CUDA vs CPU: no CUDA device visible to torch")
        return True
    ok = True
    rows = {}
    for wid in WORKLOADS:
        p = _problem(wid)
        ref_loss, ref_grad = _loss_and_grad(p, "double", "cpu")
        row = {}
        for precision in ("double", "single"):
            loss, grad = _loss_and_grad(p, precision, "cuda")
            dl = abs(loss - ref_loss) / abs(ref_loss)
            dg = float((grad - ref_grad).norm() / ref_grad.norm())
            tl, tg = TOL[precision]
            passed = dl <= tl and dg <= tg
            ok &= passed
            row[precision] = {"loss_rel": dl, "grad_rel_l2": dg, "tol": [tl, tg], "passed": passed}
            say(report, "2", f"{wid} cuda {precision:6s} vs cpu complex128: loss {dl:.1e} (tol {tl:.0e}), "
                f"gradient {dg:.1e} (tol {tg:.0e}) {'ok' if passed else 'FAILED'}")
        rows[wid] = row
    report["correctness"] = rows
    return ok


def time_steps(report: dict, cuda: bool, repeats: int) -> dict:
    """Step 3: median ms per training step of W1-W3 on each device (complex64, as the paper)."""
    from bench_qnn import Ours

    if not cuda:
        say(report, "3 skipped", "GPU vs CPU step times: no CUDA device visible to torch")
        return {}
    out = {}
    for wid in WORKLOADS:
        p = _problem(wid)
        row = {}
        for device in ("cpu", "cuda"):
            r = Ours()
            r.setup(p)
            r.model.to(device)
            r.x, r.y = r.x.to(device), r.y.to(device)
            r.opt = torch.optim.Adam(r.model.parameters(), lr=p["spec"]["lr"])
            for _ in range(3):
                r.step()
            ts = []
            for _ in range(repeats):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                r.step()
                if device == "cuda":
                    torch.cuda.synchronize()
                ts.append(1e3 * (time.perf_counter() - t0))
            row[device] = statistics.median(ts)
        row["speedup"] = row["cpu"] / row["cuda"]
        out[wid] = row
        say(report, "3", f"{wid}: cpu {row['cpu']:.2f} ms/step, cuda {row['cuda']:.2f} ms/step, "
            f"speedup {row['speedup']:.2f}x (batch {p['spec']['batch']})")
    report["step_ms"] = out
    return out


def lightning_gpu_scaling(report: dict, budget: Budget, draws: int, start: int) -> None:
    """Step 4: deep-brickwall gradient variance on lightning.gpu for growing n."""
    probe = devices._try_qml_device("lightning.gpu")
    if probe is not None:
        say(report, "4 skipped", f"scaling on lightning.gpu: lightning.gpu not usable: {probe}")
        return
    rows, n, per_draw = [], start, None
    while True:
        if per_draw is not None:  # cost grows ~2x per qubit and ~linearly with the gate count
            growth = 4.0 * (scaling.deep_depth(n) * n) / (scaling.deep_depth(n - 2) * (n - 2))
            if per_draw * growth * draws > budget.left() - 20:
                say(report, "4", f"stopping before n={n}: projected {per_draw * growth * draws:.0f} s "
                    f"> {budget.left() - 20:.0f} s left")
                break
        try:
            d = scaling.measure("brickwall", n, scaling.deep_depth(n), draws, seed=n, device="lightning.gpu")
        except Exception as exc:  # out of GPU memory at the largest n
            say(report, "4", f"n={n} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            break
        per_draw = d.seconds / d.draws
        z = (d.mean - d.prediction) / d.stderr
        rows.append({"n": n, "depth": d.depth, "draws": d.draws, "mean": d.mean, "stderr": d.stderr,
                     "closed_form": d.prediction, "seconds_per_draw": per_draw})
        say(report, "4", f"lightning.gpu n={n} depth {d.depth}: E||grad_g z||^2 {d.mean:.3e} ± {d.stderr:.1e}, "
            f"closed form {d.prediction:.3e} (z = {z:+.1f}); {per_draw:.2f} s per draw")
        n += 2
    report["lightning_gpu"] = rows


def steps_of(profile) -> dict:
    """Training steps of one QNN run per experiment of ``profile`` (tasks x epochs x batches)."""
    pm, sc, xx = profile.permuted_mnist, profile.split_cifar, profile.xxz
    n_xxz = int(round((xx.delta_max - xx.delta_min) / xx.delta_step)) + 1
    train_xxz = 2 * n_xxz - math.ceil(2 * n_xxz * xx.test_fraction)
    return {"W1": pm.tasks * pm.qnn_epochs * math.ceil(pm.train_per_task / pm.batch_size),
            "W2": sc.tasks * sc.qnn_epochs * math.ceil(sc.train_per_task / sc.batch_size),
            "W3": xx.tasks * xx.epochs * math.ceil(train_xxz / xx.batch_size)}


def project(report: dict, step_ms: dict) -> None:
    """Step 5: paper-profile run times from the measured step times."""
    if not step_ms:
        say(report, "5 skipped", "paper-scale projections: no GPU step times were measured")
        return
    steps = steps_of(profiles.get("paper"))
    out = {}
    for wid, n_steps in steps.items():
        hours = {dev: n_steps * step_ms[wid][dev] / 3.6e6 for dev in ("cpu", "cuda")}
        out[wid] = {"steps": n_steps, "hours": hours}
        say(report, "5", f"{wid}: {n_steps:,} steps per paper run -> {hours['cuda']:.1f} h on this GPU, "
            f"{hours['cpu']:.1f} h on this CPU (one depth, one seed, training steps only)")
    report["projection"] = out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-s", type=float, default=280.0, help="stop starting new work after this")
    ap.add_argument("--repeats", type=int, default=10, help="timed steps per workload and device")
    ap.add_argument("--draws", type=int, default=30, help="random circuits per n on lightning.gpu")
    ap.add_argument("--start-qubits", type=int, default=16, help="first n of the lightning.gpu scan")
    ap.add_argument("--json", default=None, help="write the report here")
    args = ap.parse_args(argv)
    budget = Budget(args.budget_s)
    report = {"provenance": results.provenance(), "argv": sys.argv[1:]}

    devices.choose.cache_clear()
    choice = devices.choose()
    say(report, "1", f"PennyLane device: {choice.qml_name}; torch device: {choice.torch_device}")
    for reason in choice.reasons:
        say(report, "1", f"  {reason}")
    report["devices"] = {"qml": choice.qml_name, "torch": choice.torch_device, "reasons": list(choice.reasons)}
    cuda = torch.cuda.is_available()

    ok = check_correctness(report, cuda)
    step_ms = time_steps(report, cuda, args.repeats) if budget.left() > 60 else {}
    if budget.left() > 60:
        lightning_gpu_scaling(report, budget, args.draws, args.start_qubits)
    else:
        say(report, "4 skipped", "scaling on lightning.gpu: the time budget is spent")
    project(report, step_ms)
    report["seconds"] = args.budget_s - budget.left()
    report["passed"] = ok
    say(report, "done", f"{report['seconds']:.0f} s; correctness {'passed' if ok else 'FAILED'}"
        + ("" if cuda else " (nothing to check without a GPU)"))
    if args.json:
        results.atomic_write(args.json, json.dumps(report, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
