"""One continual-learning loop for every supervised experiment (permuted MNIST, split CIFAR-100, XXZ eigenstates).

For each task ``t`` of a stream (:mod:`qcl_helpers.data`) the loop

1. optionally applies Shrink & Perturb (``theta <- shrink * theta + sigma * N(0, 1)``) at the task
   boundary, and starts a fresh Adam if the optimizer is reset per task;
2. measures, **before training**, the weight norm and the gradient norm on one batch of the new
   task (the paper's Figure 1 d-e), and the fraction of dead ReLU units on the first 512 training
   inputs (beyond the paper);
3. trains ``epochs`` passes of minibatch Adam (with L2 regularization as Adam weight decay if asked);
4. measures test accuracy and, if asked, the empirical Fisher trace on a fixed probe set
   (``fim_probe_samples`` training samples of task 0, the paper's Figure 2c);
5. appends a row to ``metrics.jsonl`` and saves a checkpoint (model, optimizer, RNG), atomically.

Rerunning the same configuration in the same folder resumes after the last finished task; a
folder made with another configuration is refused. Shuffling and noise come from a generator
seeded by ``(seed, task)``, so a resumed run equals an uninterrupted one.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import dataclasses
import functools
import io
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import data, metrics, models, profiles, results, xxz

EXPERIMENTS = ("permuted-mnist", "split-cifar100", "xxz")
MODELS = ("qnn", "mlp")
#: Per-task fields that depend on the machine, not on the run (left out of equality checks).
TIMING_KEYS = ("seconds", "ms_per_step")


class ConfigError(ValueError):
    """A run was asked for with invalid settings. Introduced in: 04 · Permuted MNIST"""


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a continual run (what ``config.json`` holds, minus provenance).

    Build one with :func:`make_config`, which fills the profile's values and checks them.

    Introduced in: 04 · Permuted MNIST
    """

    experiment: str
    model: str
    depth: int | None
    width: int | None
    profile: str
    seed: int
    tasks: int
    train_per_task: int
    test_per_task: int
    batch_size: int
    lr: float
    epochs: int
    reset_optimizer: bool
    fair: bool
    l2: float
    shrink_perturb: tuple | None
    data_source: str
    fim: bool
    fim_probe_samples: int
    precision: str = "single"
    # xxz only: chain length, Δ grid (min, max, step), and the QNN's batch loss ("sum": released code)
    sites: int | None = None
    delta_grid: tuple | None = None
    loss_reduction: str = "mean"

    @property
    def family(self) -> str:
        """``"qnn"`` or ``"mlp"`` (the model family). Introduced in: 04 · Permuted MNIST"""
        return self.model

    @property
    def label(self) -> str:
        """``"QNN DP4"`` / ``"MLP NW16"`` with budget and remedy tags. Introduced in: 04 · Permuted MNIST"""
        return results.Run(Path("."), self.as_dict()).label

    def slug(self) -> str:
        """A folder name that identifies the configuration (not the task count). Introduced in: 04 · Permuted MNIST"""
        size = f"dp{self.depth}" if self.model == "qnn" else f"nw{self.width}"
        parts = [self.experiment, f"{self.model}-{size}", self.profile, f"s{self.seed}"]
        if self.fair:
            parts.append("fair")
        if self.l2:
            parts.append(f"l2-{self.l2:g}")
        if self.shrink_perturb:
            parts.append("sp-{:g}-{:g}".format(*self.shrink_perturb))
        if self.data_source not in ("official", "cifar100", "raw"):
            parts.append(self.data_source)
        return "_".join(parts)

    def as_dict(self) -> dict:
        """The fields as a JSON-ready dict (what ``config.json`` holds). Introduced in: 04 · Permuted MNIST"""
        d = asdict(self)
        d["shrink_perturb"] = list(self.shrink_perturb) if self.shrink_perturb else None
        d["delta_grid"] = list(self.delta_grid) if self.delta_grid else None
        return d


def _sizes(profile, experiment):
    return {"permuted-mnist": profile.permuted_mnist, "split-cifar100": profile.split_cifar,
            "xxz": profile.xxz}[experiment]


def _epochs(s, model):
    return getattr(s, f"{model}_epochs", None) or s.epochs  # XXZSizes has one `epochs` for both


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def make_config(experiment: str, model: str, *, profile=None, depth=None, width=None, seed: int = 0,
                tasks=None, fair: bool = False, l2: float = 0.0, shrink_perturb=None, data_source=None,
                fim=None, epochs=None, reset_optimizer=None, train_per_task=None, test_per_task=None,
                precision: str = "single") -> RunConfig:
    """A checked :class:`RunConfig` with the profile's values for everything not given.

    ``fair=True`` gives both model families the **same budget**: the profile's QNN epochs per
    task and a persistent Adam (no per-task reset -- itself a plasticity aid). Without it, the
    released code's asymmetric settings are used (permuted MNIST: QNN 5 epochs + fresh Adam per
    task, MLP 1 epoch + persistent Adam). ``epochs``/``reset_optimizer`` override either.
    ``data_source="auto"`` is resolved here to what is actually available.

    Introduced in: 04 · Permuted MNIST
    """
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    try:
        prof = profiles.resolve(profile)
    except profiles.ProfileError as exc:
        raise ConfigError(str(exc)) from None
    s = _sizes(prof, experiment)
    if model == "qnn":
        if width is not None:
            raise ConfigError("--width applies to --model mlp; a QNN is sized by --depth")
        depth = _positive_int("depth", s.qnn_depths[0] if depth is None else depth)
    else:
        if depth is not None:
            raise ConfigError("--depth applies to --model qnn; an MLP is sized by --width")
        width = _positive_int("width", s.mlp_widths[0] if width is None else width)
    tasks = _positive_int("tasks", s.tasks if tasks is None else tasks)
    seed = int(seed)
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    fam_epochs = _epochs(s, model)
    fam_reset = getattr(s, f"{model}_reset_optimizer")
    if fair:
        fam_epochs, fam_reset = _epochs(s, "qnn"), False
    epochs = _positive_int("epochs", fam_epochs if epochs is None else epochs)
    reset = bool(fam_reset if reset_optimizer is None else reset_optimizer)
    l2 = float(l2 or 0.0)
    if l2 < 0:
        raise ConfigError(f"l2 must be >= 0, got {l2}")
    if shrink_perturb is not None:
        try:
            shrink, sigma = (float(v) for v in shrink_perturb)
        except (TypeError, ValueError):
            raise ConfigError(f"shrink_perturb must be two numbers (shrink, sigma), got {shrink_perturb!r}") from None
        if not (0 < shrink <= 1 and sigma >= 0):
            raise ConfigError(f"shrink_perturb needs 0 < shrink <= 1 and sigma >= 0, got {shrink}, {sigma}")
        shrink_perturb = (shrink, sigma)
    if precision not in ("single", "double"):
        raise ConfigError(f"precision must be 'single' or 'double', got {precision!r}")
    if fim is None:
        fim = experiment == "split-cifar100"
    source = resolve_source(experiment, s.data_source if data_source is None else data_source)
    extra = {}
    if experiment == "xxz":  # a task holds every state of the grid: its size follows from the grid
        if train_per_task or test_per_task:
            raise ConfigError("xxz tasks hold all 2 x len(Δ grid) states; their split is set by the profile's "
                              "grid and test_fraction, not by --train-per-task/--test-per-task")
        grid = (s.delta_min, s.delta_max, s.delta_step)
        try:
            train_per_task, test_per_task = xxz.split_sizes(len(xxz.delta_grid(*grid)), s.test_fraction)
            xxz.check_sites(s.sites)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        extra = dict(sites=s.sites, delta_grid=grid,
                     loss_reduction=s.qnn_loss_reduction if model == "qnn" and not fair else "mean")
    return RunConfig(experiment=experiment, model=model, depth=depth, width=width, profile=prof.name,
                     seed=seed, tasks=tasks,
                     train_per_task=_positive_int("train_per_task", train_per_task or s.train_per_task),
                     test_per_task=_positive_int("test_per_task", test_per_task or s.test_per_task),
                     batch_size=_positive_int("batch_size", s.batch_size), lr=float(getattr(s, f"{model}_lr")),
                     epochs=epochs, reset_optimizer=reset, fair=bool(fair), l2=l2, shrink_perturb=shrink_perturb,
                     data_source=source, fim=bool(fim),
                     fim_probe_samples=_positive_int("fim_probe_samples", getattr(s, "fim_probe_samples", 64)),
                     precision=precision, **extra)


def resolve_source(experiment: str, source: str) -> str:
    """Turn ``"auto"`` into the data source that is actually available (official data first).

    Introduced in: 04 · Permuted MNIST
    """
    choices = {"permuted-mnist": data.PermutedMnist.SOURCES, "split-cifar100": data.SplitCifar100.SOURCES,
               "xxz": xxz.SOURCES}[experiment]
    if source in choices:
        return source
    if source != "auto":
        raise ConfigError(f"unknown data source {source!r} for {experiment}; choose auto, {', '.join(choices)}")
    if experiment == "xxz":
        return "raw"  # computed, never downloaded: auto means the paper's convention
    return _resolve_auto(experiment, str(data.data_dir()))


@functools.lru_cache(maxsize=None)
def _resolve_auto(experiment: str, _where: str) -> str:
    try:
        if experiment == "permuted-mnist":
            data.load_mnist("train")
            return "official"
        data.load_cifar100("train")
        return "cifar100"
    except data.DataUnavailable:
        return "test-split" if experiment == "permuted-mnist" else "standin"


@functools.lru_cache(maxsize=4)
def _stream_cached(experiment, source, seed, train_per_task, test_per_task, _where):
    cls = data.PermutedMnist if experiment == "permuted-mnist" else data.SplitCifar100
    return cls(source, seed=seed, train_per_task=train_per_task, test_per_task=test_per_task)


@functools.lru_cache(maxsize=8)
def _xxz_stream_cached(source, seed, sites, grid, test_fraction, _where):
    return xxz.XXZTasks(source, seed=seed, sites=sites, deltas=xxz.delta_grid(*grid), test_fraction=test_fraction)


def stream(config: RunConfig):
    """The task stream of ``config`` (cached per data settings). Introduced in: 04 · Permuted MNIST"""
    if config.experiment == "xxz":  # the spectrum itself is shared in memory by xxz.spectrum
        n = config.train_per_task + config.test_per_task
        return _xxz_stream_cached(config.data_source, config.seed, config.sites, tuple(config.delta_grid),
                                  config.test_per_task / n, str(data.data_dir()))
    return _stream_cached(config.experiment, config.data_source, config.seed, config.train_per_task,
                          config.test_per_task, str(data.data_dir()))


def build_model(config: RunConfig) -> torch.nn.Module:
    """The paper's QNN (depth ``config.depth``) or MLP (width ``config.width``), seeded by ``config.seed``.

    Introduced in: 04 · Permuted MNIST
    """
    if config.model == "qnn":
        return models.paper_qnn(config.experiment, depth=config.depth, seed=config.seed,
                                precision=config.precision, n_qubits=config.sites)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.experiment == "xxz":  # [Re, Im] of 2**L amplitudes -> w -> w -> 1 (2048 at L = 10)
            return models.MLP([2 * 2**config.sites, config.width, config.width, 1])
        return models.paper_mlp(config.experiment, config.width)


def _task_generator(seed: int, t: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, t, 11]).generate_state(1)[0]))


def runs_root(profile_name: str | None = None) -> Path:
    """Where live runs go (see :func:`qcl_helpers.results.runs_root`); default: the active profile's.

    Introduced in: 04 · Permuted MNIST
    """
    return results.runs_root(profile_name or profiles.current().name)


def _identity(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k in {f.name for f in dataclasses.fields(RunConfig)} and k != "tasks"}


def _to_device(task, device):
    return [t.to(device) for t in (task.x_train, task.y_train, task.x_test, task.y_test)]


def run(config: RunConfig, out=None, *, progress: bool = True, device=None) -> results.Run:
    """Run (or resume) ``config`` in folder ``out`` and return the finished :class:`~qcl_helpers.results.Run`.

    ``out`` defaults to ``runs_root()/config.slug()``. A folder that already holds this
    configuration resumes after its last finished task (asking for more tasks extends it); one
    that holds another configuration raises :class:`~qcl_helpers.results.RunError`.

    Introduced in: 04 · Permuted MNIST
    """
    folder = Path(out) if out is not None else runs_root(config.profile) / config.slug()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    want = config.as_dict()
    existing = results.read_config(folder)
    ckpt_path = folder / results.CHECKPOINT
    ckpt = None
    if existing is not None:
        defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}
        diff = [k for k, v in _identity(want).items() if existing.get(k, defaults.get(k)) != v]
        if diff:
            k = diff[0]
            raise results.RunError(f"{folder} holds a different run ({k}={existing.get(k)!r}, asked {want[k]!r}"
                                   f"{f' and {len(diff) - 1} more' if len(diff) > 1 else ''}); "
                                   "use another --out folder or delete it")
        if ckpt_path.exists():
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    rows = list(ckpt["rows"]) if ckpt else []
    if existing is None or ckpt is None:
        meta = dict(want, **results.provenance(str(device)))
    else:
        meta = dict(existing)
        if meta.get("tasks") != config.tasks:
            meta.setdefault("resumed", []).append(dict(results.provenance(str(device)), from_task=len(rows)))
        meta["tasks"] = config.tasks
    task_stream = stream(config)
    meta["data_description"] = task_stream.describe()
    results.write_config(folder, meta)
    results.write_metrics(folder, rows)  # consistent with the checkpoint, whatever was there
    if len(rows) >= config.tasks:
        return results.load_run(folder, require_complete=False)

    model = build_model(config).to(device)
    make_opt = lambda: torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.l2)  # noqa: E731
    opt = make_opt()
    if ckpt:
        model.load_state_dict(ckpt["model"])
        if ckpt.get("optimizer") is not None:
            opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
    probe = None
    if config.fim:
        t0 = task_stream.task(0, config.family)
        n = min(config.fim_probe_samples, len(t0.x_train))
        probe = (t0.x_train[:n].to(device), t0.y_train[:n].to(device))

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
            first = order[: config.batch_size]
            row = {"task": t, "weight_norm": metrics.weight_norm(model),
                   "grad_norm": metrics.grad_norm(model, x_tr[first], y_tr[first]),
                   "dead_fraction": metrics.dead_unit_fraction(model, x_tr[:512]) if config.model == "mlp" else None}
            model.train()
            steps, tic = 0, time.perf_counter()
            for epoch in range(config.epochs):
                if epoch > 0:
                    order = torch.randperm(len(x_tr), generator=gen).to(device)
                total, count = 0.0, 0
                for i in range(0, len(order), config.batch_size):
                    idx = order[i:i + config.batch_size]
                    opt.zero_grad(set_to_none=True)
                    loss = metrics.loss(model(x_tr[idx]), y_tr[idx])
                    (loss * len(idx) if config.loss_reduction == "sum" else loss).backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                    count += len(idx)
                    steps += 1
            row["ms_per_step"] = 1000 * (time.perf_counter() - tic) / max(steps, 1)
            row["train_loss"] = total / max(count, 1)
            row["test_accuracy"] = metrics.accuracy(model, x_te, y_te)
            if probe is not None:
                row["fim_trace"] = metrics.fisher_trace(model, *probe)
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            _save_checkpoint(ckpt_path, t, rows, model, opt)
            results.write_metrics(folder, rows)
            bar.set_postfix(acc=f"{row['test_accuracy']:.3f}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    return results.load_run(folder)


def _save_checkpoint(path: Path, t, rows, model, opt) -> None:
    state = {"task": t, "rows": rows, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state()}
    buf = io.BytesIO()
    torch.save(state, buf)
    results.atomic_write(path, buf.getvalue(), mode="wb")


def run_grid(configs, *, root=None, progress: bool = False) -> dict:
    """Run (or resume, or just load) several configurations; ``{label: Run}``, one printed line each.

    Folders are ``root/config.slug()`` (``root`` defaults to :func:`runs_root`).

    Introduced in: 04 · Permuted MNIST
    """
    out = {}
    for cfg in configs:
        tic = time.perf_counter()
        folder = Path(root or runs_root(cfg.profile)) / cfg.slug()
        r = run(cfg, folder, progress=progress)
        acc = r["test_accuracy"]
        print(f"{r.label:<22} {len(r)} tasks · acc first {acc[0]:.3f} last {acc[-1]:.3f} · "
              f"{time.perf_counter() - tic:5.1f} s this call")
        out[r.label] = r
    return out


def same_results(a, b) -> bool:
    """Whether two runs' metric rows agree exactly, ignoring timing fields. Introduced in: 04 · Permuted MNIST"""
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]  # noqa: E731
    return strip(a.rows if hasattr(a, "rows") else a) == strip(b.rows if hasattr(b, "rows") else b)
