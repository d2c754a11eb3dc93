"""Run folders and stored results: one folder format for every kind of run, and how chapters read it back.

A **run folder** holds

* ``config.json`` -- the run's settings (experiment, model, depth/width, profile, seed, ...), its
  label and data description, and its provenance (git commit, package versions, device, date);
* ``metrics.jsonl`` -- one JSON object per finished step of the run: per task for a continual run
  (``task``, ``test_accuracy``, ``weight_norm``, ...), per evaluation for a PPO run (``steps``,
  ``mean_reward``, ...);
* ``checkpoint.bin`` -- the rows so far and the engine's state after the last finished step (model,
  optimizer, RNG), in one file, so that rows and state can never disagree; not part of stored results.

Every file is written atomically (a temporary file, then ``os.replace``), so killing a run never
leaves a half-written file. :class:`RunFolder` is what every engine uses to open (or resume) a
folder: it refuses a folder made by another configuration and records where a run was resumed.
The default folder name of a configuration ends in :func:`config_hash`, a short hash of every
setting that changes results, so two configurations never share a default folder.
**Stored results** (``results/<experiment>/<run>/``) are run folders without the checkpoint;
:func:`load_run` reads them and checks their provenance.

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import pickle
import platform
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CONFIG, METRICS, CHECKPOINT = "config.json", "metrics.jsonl", "checkpoint.bin"
#: Provenance fields every stored result must carry.
PROVENANCE_FIELDS = ("git_commit", "profile", "seed", "versions", "date", "device")
#: Settings a run may change when it is resumed: its budget (tasks, or environment steps).
EXTENDABLE = ("tasks", "total_steps")
#: Config keys that describe where, when and how a run was made, or are derived from its
#: settings: they are not part of its identity (see :func:`identity`).
DESCRIPTIVE = ("git_commit", "versions", "date", "device", "platform", "resumed", "data_description",
               "label", "data_label", "kind")


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


def default_folder(config, root=None) -> Path:
    """``<root>/<slug>_<hash>`` for a run configuration (any engine's): a readable name plus
    :func:`config_hash`, so two configurations never share a default folder. ``root`` defaults to
    :func:`runs_root` of the configuration's profile.

    Introduced in: 04 · Permuted MNIST
    """
    return Path(root or runs_root(config.profile)) / f"{config.slug()}_{config_hash(config.as_dict())}"


def identity(config: dict) -> dict:
    """The settings of ``config`` that change a run's results: everything but its budget
    (:data:`EXTENDABLE`) and its description and provenance (:data:`DESCRIPTIVE`).

    Introduced in: 04 · Permuted MNIST
    """
    return {k: v for k, v in config.items() if k not in EXTENDABLE + DESCRIPTIVE}


def config_hash(config: dict, length: int = 8) -> str:
    """A short hash of :func:`identity` (JSON with sorted keys): the end of a default folder name.

    Introduced in: 04 · Permuted MNIST
    """
    blob = json.dumps(identity(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def kind_of(config: dict) -> str:
    """``"continual"`` (one row per task) or ``"rl"`` (one row per evaluation) for a run's config.

    Introduced in: 04 · Permuted MNIST
    """
    return config.get("kind") or ("rl" if "total_steps" in config else "continual")


#: Per kind: the key that numbers a run's rows, and the config key of its budget.
_PROGRESS = {"continual": ("task", "tasks"), "rl": ("steps", "total_steps")}


class RunFolder:
    """The one folder type every engine writes (see the module docstring).

    ``open(config, device)`` makes or resumes the folder: it refuses a folder that holds another
    configuration (:func:`identity` differs) with :class:`RunError`, writes ``config.json`` with
    provenance (a resumed run that goes further gets a ``resumed`` entry), and returns the rows and
    the engine's saved state (``None`` for a fresh run). ``save(rows, state)`` writes the checkpoint
    first, then ``metrics.jsonl``, each atomically: a run killed at any moment resumes after its last
    finished step and loses at most the step in progress.

    Introduced in: 04 · Permuted MNIST
    """

    def __init__(self, path):
        self.path = Path(path)

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    def open(self, config: dict, device: str = "cpu", *, provenance_extra: dict | None = None) -> tuple:
        """``(rows, state)`` of this folder for ``config`` (``([], None)`` when it starts afresh)."""
        existing = read_config(self.path)
        if existing is not None:
            mine, theirs = identity(config), identity(existing)
            diff = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            if diff:
                k = diff[0]
                more = f" and {len(diff) - 1} more" if len(diff) > 1 else ""
                raise RunError(f"{self.path} holds a different run ({k}={theirs.get(k)!r}, asked {mine.get(k)!r}"
                               f"{more}); use another --out folder or delete it")
        rows, state = [], None
        if existing is not None and self.checkpoint.exists():
            saved = pickle.loads(self.checkpoint.read_bytes())
            rows, state = list(saved["rows"]), saved["state"]
        elif existing is not None and read_metrics(self.path):
            # a stored run (its checkpoint pruned): complete runs are read as they are, never restarted
            stored = Run(self.path, existing, read_metrics(self.path))
            if stored.complete and self._done(stored.rows, config) >= config[_PROGRESS[kind_of(config)][1]]:
                return stored.rows, None
            raise RunError(f"{self.path} holds {len(stored.rows)} rows but no checkpoint to continue from; "
                           "use another --out folder (or delete this one to start again)")
        prov = dict(provenance(device), **(provenance_extra or {}))
        if existing is None or state is None:
            meta = dict(config, **prov)
        else:
            meta = dict(existing)
            key, budget = _PROGRESS[kind_of(config)]
            done = self._done(rows, config)
            if done < config[budget]:  # the run goes on: say where, when and on what
                meta.setdefault("resumed", []).append(dict(prov, **{f"from_{key}": done}))
            for k in EXTENDABLE + ("label", "data_label", "data_description"):
                if k in config:
                    meta[k] = config[k]
        write_config(self.path, meta)
        write_metrics(self.path, rows)  # consistent with the checkpoint, whatever was there
        return rows, state

    @staticmethod
    def _done(rows: list, config: dict) -> int:
        key = _PROGRESS[kind_of(config)][0]
        return (rows[-1][key] + (1 if key == "task" else 0)) if rows else 0

    def prune(self) -> bool:
        """Delete the checkpoint of a complete run (stored results keep none); ``True`` if one was deleted."""
        config = read_config(self.path)
        if config is None or not self.checkpoint.exists():
            return False
        if not Run(self.path, config, read_metrics(self.path)).complete:
            return False
        self.checkpoint.unlink()
        return True

    def save(self, rows: list, state: bytes) -> None:
        """Checkpoint ``state`` (bytes) with ``rows``, then rewrite ``metrics.jsonl``, atomically."""
        atomic_write(self.checkpoint, pickle.dumps({"rows": list(rows), "state": state}), mode="wb")
        write_metrics(self.path, rows)


@dataclass
class Run:
    """A finished (or partial) run read back from its folder: ``config``, ``rows`` and array access.

    ``run["test_accuracy"]`` is the per-row series as a numpy array (NaN where a row lacks it); a
    row is a task of a continual run, an evaluation of a PPO run (``run.steps``).

    Introduced in: 04 · Permuted MNIST
    """

    path: Path
    config: dict
    rows: list = field(default_factory=list)
    agent: object = None  # the trained agent, when an RL engine has just made the run

    def __getitem__(self, key: str) -> np.ndarray:
        return np.array([r.get(key, np.nan) if r.get(key) is not None else np.nan for r in self.rows], dtype=float)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def kind(self) -> str:
        """``"continual"`` or ``"rl"`` (see :func:`kind_of`)."""
        return kind_of(self.config)

    @property
    def steps(self) -> np.ndarray:
        """Environment steps of each evaluation (PPO runs). Introduced in: 06 · Reinforcement learning on Ant"""
        return self["steps"]

    @property
    def complete(self) -> bool:
        """Whether the run reached its budget (tasks, or environment steps)."""
        key, budget = _PROGRESS[self.kind]
        if not self.rows:
            return False
        done = len(self.rows) if key == "task" else self.rows[-1][key]
        return done >= int(self.config.get(budget, 0))

    @property
    def label(self) -> str:
        """``"QNN DP4"`` or ``"MLP NW16"`` plus any remedy or budget tag (the experiment's own label,
        stored in ``config.json`` when the run was made). Introduced in: 04 · Permuted MNIST"""
        c = self.config
        if c.get("label"):
            return c["label"]
        if c["model"] == "qnn":
            return f"QNN DP{c['depth']}"
        return f"MLP NW{c['width']}" if c.get("width") else f"MLP {c.get('net_arch', {}).get('pi', '')}".strip()

    @property
    def data_label(self) -> str:
        """What the data is, in the words every caption must use (stand-ins say so). Introduced in: 04 · Permuted MNIST"""
        return self.config.get("data_label") or str(self.config.get("data_source", self.config.get("env_id")))

    @property
    def scale(self) -> str:
        """``"60 tasks x 1,000 train / 500 test per task"`` (or environment steps). Introduced in: 04 · Permuted MNIST"""
        c = self.config
        if self.kind == "rl":
            last = int(self.rows[-1]["steps"]) if self.rows else 0
            return f"{last:,} environment steps, {len(self.rows)} evaluations"
        return f"{len(self.rows)} tasks × {c['train_per_task']:,} train / {c['test_per_task']:,} test per task"

    def provenance_line(self) -> str:
        """One line: label, scale, profile, seed, data, commit, date, device. Introduced in: 04 · Permuted MNIST"""
        c = self.config
        return (f"{self.label} ({self.path.name}): {self.scale} · profile {c.get('profile')} · seed {c.get('seed')} · "
                f"data: {c.get('data_description', self.data_label)} · commit {str(c.get('git_commit'))[:12]} · "
                f"{c.get('date')} · {c.get('device')}")


def is_clean_commit(commit) -> bool:
    """Whether a provenance commit names a clean checkout (a 40-hex commit, not ``+dirty`` or unknown).

    Introduced in: 04 · Permuted MNIST
    """
    c = str(commit or "")
    return len(c) == 40 and all(ch in "0123456789abcdef" for ch in c)


def load_run(folder, *, expect: dict | None = None, require_complete: bool = True, clean: bool = False) -> Run:
    """Read a run folder (live or stored, any kind) and check its provenance.

    Raises :class:`RunError` when a provenance field (:data:`PROVENANCE_FIELDS`) is missing, when a
    key of ``expect`` has another value in the config, when rows are not numbered in order (tasks
    ``0..n-1``; increasing environment steps), (with ``require_complete``) when the run stopped
    before its budget, or (with ``clean``) when it or a resumption of it was made from a modified
    or unknown checkout. Needs no git: the commit is only read.

    Introduced in: 04 · Permuted MNIST
    """
    folder = Path(folder)
    config = read_config(folder)
    if config is None:
        raise RunError(f"{folder} has no {CONFIG}: not a run folder")
    missing = [k for k in PROVENANCE_FIELDS if k not in config]
    if missing:
        raise RunError(f"{folder}: provenance incomplete, missing {', '.join(missing)}")
    if clean:
        bad = [str(c) for c in [config.get("git_commit")] + [r.get("git_commit") for r in config.get("resumed", [])]
               if not is_clean_commit(c)]
        if bad:
            raise RunError(f"{folder}: made from a modified or unknown checkout ({bad[0]}); stored results must "
                           "come from a clean commit")
    for key, want in (expect or {}).items():
        if config.get(key) != want:
            raise RunError(f"{folder}: {key} is {config.get(key)!r}, expected {want!r}")
    rows = read_metrics(folder)
    run = Run(folder, config, rows)
    if run.kind == "rl":
        steps = [r.get("steps") for r in rows]
        if any(not isinstance(s, int) or s < 0 for s in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
            raise RunError(f"{folder}: {METRICS} steps {steps[:6]} are not increasing step counts")
    elif [r.get("task") for r in rows] != list(range(len(rows))):
        raise RunError(f"{folder}: {METRICS} does not hold tasks 0..{len(rows) - 1} in order")
    if require_complete and not run.complete:
        key, budget = _PROGRESS[run.kind]
        done = len(rows) if key == "task" else (rows[-1]["steps"] if rows else 0)
        raise RunError(f"{folder}: only {done:,} of {int(config[budget]):,} {budget.replace('total_', '')} finished")
    return run


def load_runs(root, *, expect: dict | None = None, require_complete: bool = True) -> list:
    """Every run folder directly under ``root`` that passes :func:`load_run`, sorted by name.

    Introduced in: 04 · Permuted MNIST
    """
    root = Path(root)
    if not root.is_dir():
        return []
    return [load_run(p, expect=expect, require_complete=require_complete)
            for p in sorted(root.iterdir()) if (p / CONFIG).exists()]


def store(run_folder, dest, *, require_complete: bool = True) -> Path:
    """Copy a run's ``config.json`` and ``metrics.jsonl`` (not its checkpoint) to ``dest``.

    Introduced in: 04 · Permuted MNIST
    """
    run = load_run(run_folder, require_complete=require_complete)
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


#: Title prefixes for data that stands in for the paper's (a figure must never pass it off as such).
SUBSTITUTE_TITLES = {
    "standin": "STAND-IN DATA (generated, not CIFAR-100)",
    "mnist-pairs": "OFFLINE PROXY (MNIST digit pairs, not CIFAR-100)",
}


def titled(title: str, data_source: str) -> str:
    """A figure title that says so when the data stands in for the paper's (never called CIFAR-100).

    Introduced in: 05 · Split CIFAR-100
    """
    prefix = SUBSTITUTE_TITLES.get(data_source)
    return f"{prefix}: {title}" if prefix else title


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
