"""Run folders and stored results: what a continual run writes, and how chapters read it back.

A **run folder** holds

* ``config.json`` -- the run's settings (experiment, model, depth/width, profile, seed, ...) and
  its provenance (git commit, package versions, device, date);
* ``metrics.jsonl`` -- one JSON object per finished task (``task``, ``test_accuracy``,
  ``weight_norm``, ``grad_norm``, ``fim_trace`` when measured, ...);
* ``checkpoint.pt`` -- model, optimizer and RNG state after the last finished task (for resuming;
  not part of stored results).

Every file is written atomically (a temporary file, then ``os.replace``), so killing a run never
leaves a half-written file. **Stored results** (``results/<experiment>/<run>/``) are run folders
without the checkpoint; :func:`load_run` reads them and checks their provenance.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CONFIG, METRICS, CHECKPOINT = "config.json", "metrics.jsonl", "checkpoint.pt"
#: Provenance fields every stored result must carry.
PROVENANCE_FIELDS = ("git_commit", "profile", "seed", "versions", "date", "device")


#: How each data source must be named in captions and titles.
DATA_LABELS = {
    "official": "MNIST (official train/test splits)",
    "test-split": "MNIST, disjoint train/test subsets of the official 10k test split",
    "cifar100": "CIFAR-100 (official)",
    "standin": "generated STAND-IN data, not CIFAR-100",
    "raw": "XXZ chain eigenstates, phases as returned by eigh",
    "phase-fixed": "XXZ chain eigenstates, largest amplitude made real and positive",
    "random-phase": "XXZ chain eigenstates, a random global phase per state",
}


class RunError(ValueError):
    """A run folder is inconsistent or does not match what was asked. Introduced in: 04 · Permuted MNIST"""


def atomic_write(path, data, mode: str = "w") -> None:
    """Write ``data`` (str or bytes) to ``path`` via a temporary file and ``os.replace``.

    Introduced in: 04 · Permuted MNIST
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if not commit:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def provenance(device: str | None = None) -> dict:
    """Where and how a result was made: git commit, package versions, device, UTC date.

    Introduced in: 04 · Permuted MNIST
    """
    import torch

    from . import __version__

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "qcl_helpers": __version__}
    try:  # read the installed version without importing pennylane (slow to import)
        from importlib.metadata import version

        versions["pennylane"] = version("pennylane")
    except Exception:  # pragma: no cover - pennylane is a dependency, but results do not need it
        pass
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_available():
        desc = f"{device} ({torch.cuda.get_device_name(0)})"
    else:
        desc = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
               f"torch threads {torch.get_num_threads()})"
    return {"git_commit": _git_commit(), "versions": versions, "device": desc,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform()}


def read_config(folder) -> dict | None:
    """The folder's ``config.json`` as a dict, or ``None`` if it has none. Introduced in: 04 · Permuted MNIST"""
    p = Path(folder) / CONFIG
    return json.loads(p.read_text()) if p.exists() else None


def write_config(folder, config: dict) -> None:
    """Write ``config.json`` atomically. Introduced in: 04 · Permuted MNIST"""
    atomic_write(Path(folder) / CONFIG, json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_jsonl(path) -> list:
    """The rows of a JSON-lines file (``[]`` if it does not exist). Introduced in: 04 · Permuted MNIST"""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def write_jsonl(path, rows) -> None:
    """Rewrite a JSON-lines file atomically from ``rows``. Introduced in: 04 · Permuted MNIST"""
    atomic_write(Path(path), "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_metrics(folder) -> list:
    """The rows of ``metrics.jsonl`` (one dict per finished task). Introduced in: 04 · Permuted MNIST"""
    return read_jsonl(Path(folder) / METRICS)


def write_metrics(folder, rows) -> None:
    """Rewrite ``metrics.jsonl`` atomically from ``rows``. Introduced in: 04 · Permuted MNIST"""
    write_jsonl(Path(folder) / METRICS, rows)


RUNS_VAR = "QCL_RUNS_DIR"


def runs_root(profile_name: str) -> Path:
    """Where live runs go: ``$QCL_RUNS_DIR``, else ``~/.cache/qcl_helpers/runs`` (``$XDG_CACHE_HOME``).

    The ``ci`` profile uses a fresh temporary folder per process, so tests always train.

    Introduced in: 04 · Permuted MNIST
    """
    env = os.environ.get(RUNS_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    if profile_name == "ci":
        return _tmp_root()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "qcl_helpers" / "runs"


@functools.lru_cache(maxsize=1)
def _tmp_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="qcl-runs-"))


@dataclass
class Run:
    """A finished (or partial) run read back from its folder: ``config``, ``rows`` and array access.

    ``run["test_accuracy"]`` is the per-task series as a numpy array (NaN where a task lacks it).

    Introduced in: 04 · Permuted MNIST
    """

    path: Path
    config: dict
    rows: list = field(default_factory=list)

    def __getitem__(self, key: str) -> np.ndarray:
        return np.array([r.get(key, np.nan) if r.get(key) is not None else np.nan for r in self.rows], dtype=float)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def label(self) -> str:
        """``"QNN DP4"`` or ``"MLP NW16"`` plus any remedy or budget tag. Introduced in: 04 · Permuted MNIST"""
        c = self.config
        base = f"QNN DP{c['depth']}" if c["model"] == "qnn" else f"MLP NW{c['width']}"
        tags = [t for t, on in (("fair", c.get("fair")), (f"L2 {c.get('l2')}", c.get("l2")),
                                ("S&P", c.get("shrink_perturb")),
                                (c.get("data_source"), c.get("data_source") in ("phase-fixed", "random-phase"))) if on]
        return base + (f" ({', '.join(tags)})" if tags else "")

    @property
    def data_label(self) -> str:
        """What the data is, in the words every caption must use (stand-ins say so). Introduced in: 04 · Permuted MNIST"""
        return DATA_LABELS.get(self.config.get("data_source"), str(self.config.get("data_source")))

    @property
    def scale(self) -> str:
        """``"60 tasks x 1,000 train / 500 test per task"``. Introduced in: 04 · Permuted MNIST"""
        c = self.config
        return f"{len(self.rows)} tasks × {c['train_per_task']:,} train / {c['test_per_task']:,} test per task"

    def provenance_line(self) -> str:
        """One line: profile, seed, data, commit, date, device. Introduced in: 04 · Permuted MNIST"""
        c = self.config
        return (f"{self.path.name}: {len(self.rows)} tasks · profile {c.get('profile')} · seed {c.get('seed')} · "
                f"data: {c.get('data_description', c.get('data_source'))} · commit {str(c.get('git_commit'))[:12]} · "
                f"{c.get('date')} · {c.get('device')}")


def load_run(folder, *, expect: dict | None = None, require_complete: bool = True) -> Run:
    """Read a run folder (live or stored) and check its provenance.

    Raises :class:`RunError` when a provenance field (:data:`PROVENANCE_FIELDS`) is missing, when a
    key of ``expect`` has another value in the config, when task numbers are not ``0..n-1``, or
    (with ``require_complete``) when fewer tasks finished than the config asked for.

    Introduced in: 04 · Permuted MNIST
    """
    folder = Path(folder)
    config = read_config(folder)
    if config is None:
        raise RunError(f"{folder} has no {CONFIG}: not a run folder")
    missing = [k for k in PROVENANCE_FIELDS if k not in config]
    if missing:
        raise RunError(f"{folder}: provenance incomplete, missing {', '.join(missing)}")
    for key, want in (expect or {}).items():
        if config.get(key) != want:
            raise RunError(f"{folder}: {key} is {config.get(key)!r}, expected {want!r}")
    rows = read_metrics(folder)
    if [r.get("task") for r in rows] != list(range(len(rows))):
        raise RunError(f"{folder}: {METRICS} does not hold tasks 0..{len(rows) - 1} in order")
    if require_complete and len(rows) < int(config.get("tasks", 0)):
        raise RunError(f"{folder}: only {len(rows)} of {config['tasks']} tasks finished")
    return Run(folder, config, rows)


def load_runs(root, *, expect: dict | None = None) -> list:
    """Every run folder directly under ``root`` that passes :func:`load_run`, sorted by name.

    Introduced in: 04 · Permuted MNIST
    """
    root = Path(root)
    if not root.is_dir():
        return []
    return [load_run(p, expect=expect) for p in sorted(root.iterdir()) if (p / CONFIG).exists()]


def store(run_folder, dest) -> Path:
    """Copy a run's ``config.json`` and ``metrics.jsonl`` (not its checkpoint) to ``dest``.

    Introduced in: 04 · Permuted MNIST
    """
    run = load_run(run_folder)
    dest = Path(dest)
    write_config(dest, run.config)
    write_metrics(dest, run.rows)
    return dest


def stored_path(name: str) -> Path:
    """The repository's ``results/<name>`` (a folder or a file), looked up from the working
    directory, its parent, and this package's checkout; the last candidate if none exists.

    Introduced in: 04 · Permuted MNIST
    """
    here = Path.cwd()
    candidates = [here / "results", here.parent / "results", Path(__file__).resolve().parent.parent / "results"]
    for c in candidates:
        if (c / name).exists():
            return c / name
    return candidates[-1] / name


def stored_dir(experiment: str) -> Path:
    """The repository's ``results/<experiment>`` folder (see :func:`stored_path`).

    Introduced in: 04 · Permuted MNIST
    """
    return stored_path(experiment)


def titled(title: str, data_source: str) -> str:
    """A figure title that says so when the data is a generated stand-in (never called CIFAR-100).

    Introduced in: 05 · Split CIFAR-100
    """
    if data_source == "standin":
        return f"STAND-IN DATA (generated, not CIFAR-100): {title}"
    return title


def relative_to_start(values, n_ref: int = 10) -> np.ndarray:
    """``values`` divided by their mean over the first ``n_ref`` tasks (or fewer if the run is shorter).

    The paper's Figure 1 d-e normalization of gradient and weight norms.

    Introduced in: 04 · Permuted MNIST
    """
    v = np.asarray(values, dtype=float)
    ref = np.nanmean(v[: max(1, min(int(n_ref), len(v)))])
    return v / ref


def accuracy_drop(acc, window: int, horizon: int = 200) -> tuple:
    """``(initial, drop)``: mean accuracy over the first ``window`` tasks, and how far the mean over
    the last ``window`` of the first ``horizon`` tasks fell below it (paper Figure 1c).

    Introduced in: 04 · Permuted MNIST
    """
    a = np.asarray(acc, dtype=float)[: int(horizon)]
    w = max(1, min(int(window), len(a) // 2 or 1))
    initial = float(np.nanmean(a[:w]))
    return initial, initial - float(np.nanmean(a[-w:]))


def summary_table(runs, window: int, *, fim: bool = False, dead: bool = False) -> str:
    """A plain-text table per run: accuracy over the first and last windows, growth of the weight
    (and gradient) norms, and optionally Tr(FIM) and the dead-unit fraction at the end.

    Introduced in: 04 · Permuted MNIST
    """
    runs = list(runs.values()) if isinstance(runs, dict) else list(runs)
    head = f"{'run':<26}{'acc first':>10}{'acc last':>10}"
    head += f"{'TrF first':>11}{'TrF last':>11}" if fim else ""
    head += f"{'|w| last/first':>16}{'|g| last/first':>16}"
    head += f"{'dead last':>11}" if dead else ""
    lines = [head]
    for r in runs:
        w = max(1, min(window, len(r) // 2))
        acc, wn, gn = r["test_accuracy"], r["weight_norm"], r["grad_norm"]
        line = f"{r.label:<26}{acc[:w].mean():>10.3f}{acc[-w:].mean():>10.3f}"
        if fim:
            f = r["fim_trace"]
            line += f"{f[:w].mean():>11.3g}{f[-w:].mean():>11.3g}"
        line += f"{wn[-w:].mean() / wn[:w].mean():>16.2f}{gn[-w:].mean() / gn[:w].mean():>16.2f}"
        if dead:
            d = r["dead_fraction"]
            line += f"{'-' if np.isnan(d).all() else format(np.nanmean(d[-w:]), '.2f'):>11}"
        lines.append(line)
    return "\n".join(lines)
