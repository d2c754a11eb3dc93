"""One continual-learning loop for every supervised experiment (permuted MNIST, split CIFAR-100, XXZ eigenstates).

For each task ``t`` of a stream (:mod:`qcl_helpers.data`) the loop

1. optionally applies Shrink & Perturb (``theta <- shrink * theta + sigma * N(0, 1)``) at the task
   boundary, and starts a fresh Adam if the optimizer is reset per task;
2. measures, **before training**, the weight norm and the gradient norm of the new task (the
   paper's Figure 1 d-e, on the samples the released code uses: a random batch for an MLP, the
   task's first batch for a QNN), and the fraction of dead ReLU units on the first 512 training
   inputs (beyond the paper);
3. trains ``epochs`` passes of minibatch Adam (or ``updates_per_task`` minibatch updates over
   reshuffled passes, to keep the released code's number of updates on a smaller training set) (with L2 regularization as Adam weight decay, or
   continual backprop (:mod:`qcl_helpers.remedies`) after every step, if asked);
4. measures test accuracy and, if asked, the empirical Fisher trace on a fixed probe set
   (``fim_probe_samples`` training samples of task 0 drawn at random with the run's seed, as the
   released code does; the paper's Figure 2c) and, with ``diagnostics``, the effective rank and
   dormant units of an MLP's hidden layers (on the task's first 512 training inputs) or the top
   eigenvalues of a QNN's empirical Fisher matrix (on the probe);
5. appends a row to ``metrics.jsonl`` and saves a checkpoint (model, optimizer, RNG), atomically.

The engine knows no experiment by name: the configuration's experiment (:mod:`qcl_helpers.experiments`)
supplies the task stream and the model. Rerunning the same configuration in the same folder resumes after the last finished task; a
folder made with another configuration is refused. Shuffling and noise come from a generator
seeded by ``(seed, task)``, so a resumed run equals an uninterrupted one.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from . import configs, experiments, metrics, profiles, remedies, results
from .configs import ConfigError, RunConfig  # noqa: F401  (part of this module's interface)

#: Per-task fields that depend on the machine, not on the run (left out of equality checks).
TIMING_KEYS = ("seconds", "ms_per_step")
#: Salts of the engine's random streams (with the run's seed): per-task shuffling and noise, and
#: the Fisher probe. Changing one changes every stored result.
TASK_SALT, PROBE_SALT, CBP_SALT = 11, 13, 19
#: Training inputs of a task on which dead units are counted (beyond the paper).
DEAD_UNIT_SAMPLES = 512


def make_config(experiment: str, model: str, **options) -> RunConfig:
    """A checked :class:`~qcl_helpers.configs.RunConfig` for a continual ``experiment``, with the
    profile's values for everything not given (see :func:`qcl_helpers.experiments.base.continual_config`
    for the options: ``profile``, ``depth``/``width``, ``seed``, ``tasks``, ``fair``, ``l2``,
    ``shrink_perturb``, ``data_source``, ``fim``, ``epochs``, ``reset_optimizer``, ...).

    Introduced in: 04 · Permuted MNIST
    """
    exp = _continual(experiment)
    return exp.make_config(model, **options)


def _continual(name: str):
    try:
        exp = experiments.get(name)
    except experiments.UnknownName as exc:
        raise ConfigError(str(exc)) from None
    if exp.kind != "continual":
        raise ConfigError(f"{name} is not a continual experiment (it is run by the {exp.kind} engine)")
    return exp


def stream(config: RunConfig):
    """The task stream of ``config`` (from its experiment). Introduced in: 04 · Permuted MNIST"""
    return _continual(config.experiment).stream(config)


def build_model(config: RunConfig) -> torch.nn.Module:
    """The model of ``config`` (from its experiment), seeded by ``config.seed``. Introduced in: 04 · Permuted MNIST"""
    return _continual(config.experiment).build_model(config)


def _task_generator(seed: int, t: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, t, TASK_SALT]).generate_state(1)[0]))


def probe_indices(seed: int, n_train: int, n_probe: int) -> np.ndarray:
    """The Fisher probe: ``n_probe`` distinct training indices of task 0, drawn with the run's seed
    (the released code draws them at random; task 0's training set lists one class first, so its
    first samples would all carry one label). Introduced in: 05 · Split CIFAR-100"""
    n = min(int(n_probe), int(n_train))
    rng = np.random.default_rng([int(seed), PROBE_SALT])
    return np.sort(rng.choice(int(n_train), size=n, replace=False))


def runs_root(profile_name: str | None = None) -> Path:
    """Where live runs go (see :func:`qcl_helpers.results.runs_root`); default: the active profile's.

    Introduced in: 04 · Permuted MNIST
    """
    return results.runs_root(profile_name or profiles.current().name)


def _to_device(task, device):
    return [t.to(device) for t in (task.x_train, task.y_train, task.x_test, task.y_test)]


def _norm_batch(config: RunConfig, x_tr, y_tr, order):
    """Where the released code measures the gradient norm: the task's first batch (QNN), a random batch (MLP)."""
    idx = order[: config.batch_size] if config.model == "mlp" else slice(0, config.batch_size)
    return x_tr[idx], y_tr[idx]


def run(config: RunConfig, out=None, *, progress: bool = True, device=None) -> results.Run:
    """Run (or resume) ``config`` in folder ``out`` and return the finished :class:`~qcl_helpers.results.Run`.

    ``out`` defaults to :func:`qcl_helpers.results.default_folder`. A folder that already holds this configuration
    resumes after its last finished task (asking for more tasks extends it); one that holds
    another configuration raises :class:`~qcl_helpers.results.RunError`.

    Introduced in: 04 · Permuted MNIST
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"continual.run expects a RunConfig (see make_config), got {type(config).__name__}")
    folder = results.RunFolder(Path(out) if out is not None else results.default_folder(config))
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    task_stream = stream(config)
    want = dict(config.as_dict(), data_description=task_stream.describe())
    rows, state = folder.open(want, str(device))
    if len(rows) >= config.tasks:
        return results.load_run(folder.path, require_complete=False)

    model = build_model(config).to(device)

    def make_opt():
        return torch.optim.Adam(model.parameters(), lr=config.lr, eps=config.adam_eps, weight_decay=config.l2)

    opt = make_opt()
    cbp = None
    if config.continual_backprop:
        rate, maturity = config.continual_backprop
        cbp_seed = int(np.random.SeedSequence([config.seed, CBP_SALT]).generate_state(1)[0])
        cbp = remedies.ContinualBackprop(model, rate, int(maturity), seed=cbp_seed)
    if state is not None:
        ckpt = torch.load(io.BytesIO(state), map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        if ckpt.get("optimizer") is not None:
            opt.load_state_dict(ckpt["optimizer"])
        if cbp is not None:
            cbp.load_state_dict(ckpt["cbp"])
        torch.set_rng_state(ckpt["torch_rng"])
    probe = None
    if config.fim or config.diagnostics:
        t0 = task_stream.task(0, config.family)
        idx = torch.from_numpy(probe_indices(config.seed, len(t0.x_train), config.fim_probe_samples))
        probe = (t0.x_train[idx].to(device), t0.y_train[idx].to(device))

    from tqdm.auto import tqdm

    bar = tqdm(total=config.tasks, initial=len(rows), desc=config.label, unit="task", disable=not progress,
               leave=True, dynamic_ncols=True)
    try:
        for t in range(len(rows), config.tasks):
            start = time.perf_counter()
            x_tr, y_tr, x_te, y_te = _to_device(task_stream.task(t, config.family), device)
            gen = _task_generator(config.seed, t)
            if t > 0 and config.shrink_perturb:
                shrink, sigma = config.shrink_perturb
                with torch.no_grad():
                    for p in model.parameters():
                        noise = torch.randn(p.shape, generator=gen, dtype=p.dtype).to(device)
                        p.mul_(shrink).add_(sigma * noise)
            if t > 0 and config.reset_optimizer:
                opt = make_opt()
            order = torch.randperm(len(x_tr), generator=gen).to(device)
            row = {"task": t, "weight_norm": metrics.weight_norm(model),
                   "grad_norm": metrics.grad_norm(model, *_norm_batch(config, x_tr, y_tr, order)),
                   "dead_fraction": (metrics.dead_unit_fraction(model, x_tr[:DEAD_UNIT_SAMPLES])
                                     if config.model == "mlp" else None)}
            model.train()
            steps, tic = 0, time.perf_counter()
            budget = configs.updates_per_task(config, len(x_tr))
            epoch = 0
            while steps < budget:  # whole epochs, or a fixed number of updates (the last epoch partial)
                if epoch > 0:
                    order = torch.randperm(len(x_tr), generator=gen).to(device)
                epoch += 1
                total, count = 0.0, 0
                for i in range(0, len(order), config.batch_size):
                    if steps >= budget:
                        break
                    idx = order[i:i + config.batch_size]
                    opt.zero_grad(set_to_none=True)
                    loss = metrics.loss(model(x_tr[idx]), y_tr[idx])
                    (loss * len(idx) if config.loss_reduction == "sum" else loss).backward()
                    opt.step()
                    if cbp is not None:
                        cbp.after_step(opt)
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                    steps += 1
            row["ms_per_step"] = 1000 * (time.perf_counter() - tic) / max(steps, 1)
            row["train_loss"] = total / max(count, 1)
            row["test_accuracy"] = metrics.accuracy(model, x_te, y_te)
            if config.fim:
                row["fim_trace"] = metrics.fisher_trace(model, *probe)
            if config.diagnostics:  # an MLP's units on the task's own inputs; a QNN's Fisher on the probe
                on = (x_tr[:DEAD_UNIT_SAMPLES], y_tr[:DEAD_UNIT_SAMPLES]) if config.model == "mlp" else probe
                for key, value in metrics.diagnostics(model, *on).items():  # lists -> key_1, key_2, ...
                    if isinstance(value, (list, tuple)):
                        row.update({f"{key}_{i + 1}": float(v) for i, v in enumerate(value)})
                    else:
                        row[key] = value
            if cbp is not None:
                row["units_replaced"] = int(sum(cbp.replaced))
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            folder.save(rows, _state(model, opt, cbp))
            bar.set_postfix(acc=f"{row['test_accuracy']:.3f}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    return results.load_run(folder.path)


def _state(model, opt, cbp=None) -> bytes:
    state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
             "cbp": cbp.state_dict() if cbp is not None else None}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def run_grid(configs, *, root=None, progress: bool = False) -> dict:
    """Run (or resume, or just load) several configurations; ``{label: Run}``, one printed line each.

    Folders are :func:`qcl_helpers.results.default_folder` under ``root`` (default: :func:`runs_root`).

    Introduced in: 04 · Permuted MNIST
    """
    out = {}
    for cfg in configs:
        tic = time.perf_counter()
        r = run(cfg, results.default_folder(cfg, root), progress=progress)
        acc = r["test_accuracy"]
        print(f"{r.label:<22} {len(r)} tasks · acc first {acc[0]:.3f} last {acc[-1]:.3f} · "
              f"{time.perf_counter() - tic:5.1f} s this call")
        out[r.label] = r
    return out


def same_results(a, b) -> bool:
    """Whether two runs' metric rows agree exactly, ignoring timing fields. Introduced in: 04 · Permuted MNIST"""
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]  # noqa: E731
    return strip(a.rows if hasattr(a, "rows") else a) == strip(b.rows if hasattr(b, "rows") else b)
