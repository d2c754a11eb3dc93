"""Data for the image experiments: MNIST and CIFAR-100 from their official files, and the task streams.

Where files live: :func:`data_dir` -- ``$QCL_DATA_DIR`` if set, else a per-user cache folder.

* **MNIST** -- the four official idx files (gzip), in ``<data_dir>/MNIST/raw/``.
* **CIFAR-100** -- the official python pickle tarball ``<data_dir>/cifar-100-python.tar.gz``.

A missing file is downloaded on first use when the network is reachable (``urllib``; set
``QCL_OFFLINE=1`` to never try). Every file's MD5 is checked against the official sum. When a
file is missing and cannot be downloaded, one :class:`DataUnavailable` error names the file and
the fix. No torchvision.

Preprocessing follows the paper's released code exactly:

* permuted MNIST -- pixels/255; **QNN**: zero-pad 784 -> 1024, L2-normalize, then permute the
  1024-vector with the task's permutation; **MLP**: permute the 784 pixels;
* split CIFAR-100 -- RGB -> grayscale 32x32 = 1024 values, /255, L2-normalize (both models).

Task permutations, subsets and class pairs are drawn from ``numpy`` generators seeded by
``(seed, task)``, so task ``t`` is the same whatever happened before it (runs can resume).

Introduced in: 04 · Permuted MNIST
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ENV_VAR = "QCL_DATA_DIR"
OFFLINE_VAR = "QCL_OFFLINE"

#: Official MNIST files and their MD5 sums.
MNIST_FILES = {
    "train-images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test-images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test-labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
MNIST_SUBDIR = Path("MNIST") / "raw"

#: The official CIFAR-100 python tarball and its MD5 sum.
CIFAR100_FILE = ("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e288e2e1f2e0d")
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
#: ITU-R BT.601 luma weights (what ``tf.image.rgb_to_grayscale`` and PIL use).
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)

#: Images of the official MNIST test split held out for testing when tasks are drawn from it.
TEST_SPLIT_HOLDOUT = 2000
#: Salts of the task streams' random draws (with the run's seed and the task index): which samples a
#: task uses, and which two classes a split task pairs. Changing one changes every stored result.
SAMPLE_SALT, PAIR_SALT = 7, 100


class DataUnavailable(FileNotFoundError):
    """A data file is missing and could not be downloaded. Introduced in: 04 · Permuted MNIST"""


class ChecksumError(ValueError):
    """A data file's MD5 differs from the official one. Introduced in: 04 · Permuted MNIST"""


def data_dir() -> Path:
    """The data folder: ``$QCL_DATA_DIR``, else ``$XDG_CACHE_HOME/qcl_helpers`` (``~/.cache/qcl_helpers``).

    Introduced in: 04 · Permuted MNIST
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "qcl_helpers"


# --------------------------------------------------------------------------------------------
# Files: find, download, verify
# --------------------------------------------------------------------------------------------

def md5sum(path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file. Introduced in: 04 · Permuted MNIST"""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _offline() -> bool:
    return os.environ.get(OFFLINE_VAR, "").strip().lower() not in ("", "0", "false", "no")


def _download(urls, dest: Path, timeout: float = 30.0) -> str | None:
    """Download the first URL that works to ``dest`` (atomically); ``None`` or the last error."""
    last = "no URL given"
    for url in urls:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(resp, out)
            os.replace(tmp, dest)
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = f"{url}: {getattr(exc, 'reason', exc)}"
    return last


def ensure_file(relpath, md5: str | None, urls=(), *, root=None, download: bool | None = None) -> Path:
    """Path of ``root/relpath`` after checking its MD5; download it first if missing and allowed.

    ``root`` defaults to :func:`data_dir`; ``download`` defaults to "yes unless ``QCL_OFFLINE``".
    Raises :class:`DataUnavailable` (missing, no download) or :class:`ChecksumError`.

    Introduced in: 04 · Permuted MNIST
    """
    root = Path(root) if root is not None else data_dir()
    path = root / relpath
    if not path.exists():
        allowed = (not _offline()) if download is None else bool(download)
        why = "downloading is switched off" + (f" ({OFFLINE_VAR} is set)" if _offline() else "")
        if allowed and urls:
            problem = _download(urls, path)
            why = f"the download failed ({problem})" if problem else ""
        if not path.exists():
            raise DataUnavailable(
                f"{path} is missing and {why}; fix: download {urls[0] if urls else Path(relpath).name} "
                f"into {path.parent} (or set {ENV_VAR} to a folder that holds {relpath})")
    if md5 is not None:
        got = md5sum(path)
        if got != md5:
            raise ChecksumError(f"{path} has MD5 {got}, expected the official {md5}: the file is "
                                f"corrupt or not the official one; delete it and download it again")
    return path


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------

def read_idx(path) -> np.ndarray:
    """Read a (gzipped) idx file -- MNIST's format -- into a ``uint8`` array.

    Introduced in: 04 · Permuted MNIST
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {dims} but holds {data.size} values")
    return data.reshape(dims)


def load_mnist(split: str = "test", *, root=None, download: bool | None = None,
               checksums: dict | None = None):
    """Official MNIST ``split`` ("train" or "test") as ``(images uint8 (N, 28, 28), labels int64 (N,))``.

    Files are looked up in ``<root>/MNIST/raw`` (``root`` defaults to :func:`data_dir`), downloaded
    when missing (see :func:`ensure_file`) and checked against ``checksums`` (name -> MD5;
    default the official sums).

    Introduced in: 04 · Permuted MNIST
    """
    if split not in ("train", "test"):
        raise ValueError(f"MNIST split must be 'train' or 'test', got {split!r}")
    sums = {k: v[1] for k, v in MNIST_FILES.items()}
    sums.update(checksums or {})
    arrays = []
    for kind in ("images", "labels"):
        key = f"{split}-{kind}"
        name = MNIST_FILES[key][0]
        path = ensure_file(MNIST_SUBDIR / name, sums[key], [m + name for m in MNIST_MIRRORS],
                           root=root, download=download)
        arrays.append(_read_idx_cached(str(path), path.stat().st_mtime_ns))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
    return images, labels.astype(np.int64)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, _mtime: int) -> np.ndarray:
    arr = read_idx(path)
    arr.setflags(write=False)
    return arr


def mnist_inputs(images, family: str, permutation=None) -> torch.Tensor:
    """Model inputs for MNIST images, exactly as the paper's code prepares them.

    ``family="mlp"``: pixels/255 flattened to 784 values, then ``x[:, permutation]`` (784 indices).
    ``family="qnn"``: pixels/255, zero-pad to 1024, L2-normalize, then permute the 1024-vector
    (1024 indices); returned amplitude-encoded as ``complex64`` states of shape ``(N, 1024)``.

    Introduced in: 04 · Permuted MNIST
    """
    x = np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0
    if family == "mlp":
        out = torch.from_numpy(x)
    elif family == "qnn":
        from .circuits import amplitude_encode

        out = amplitude_encode(torch.from_numpy(x), 10)
    else:
        raise ValueError(f"model family must be 'qnn' or 'mlp', got {family!r}")
    if permutation is not None:
        permutation = torch.as_tensor(np.asarray(permutation), dtype=torch.long)
        if permutation.numel() != out.shape[1]:
            raise ValueError(f"a {family} permutation needs {out.shape[1]} indices, got {permutation.numel()}")
        out = out[:, permutation]
    return out.contiguous()


# --------------------------------------------------------------------------------------------
# CIFAR-100
# --------------------------------------------------------------------------------------------

def read_cifar_tarball(path, split: str = "train"):
    """``(data uint8 (N, 3072), fine_labels int64 (N,))`` from the official CIFAR-100 python tarball.

    Rows are RGB channel-major (1024 red, 1024 green, 1024 blue values), as in the pickle.

    Introduced in: 05 · Split CIFAR-100
    """
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-100 split must be 'train' or 'test', got {split!r}")
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(f"cifar-100-python/{split}")
        if member is None:
            raise ValueError(f"{path} has no cifar-100-python/{split} member")
        entry = pickle.load(member, encoding="bytes")
    data = np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3072)
    labels = np.asarray(entry[b"fine_labels"], dtype=np.int64)
    if len(data) != len(labels):
        raise ValueError(f"{path} ({split}): {len(data)} images but {len(labels)} labels")
    return data, labels


def load_cifar100(split: str = "train", *, root=None, download: bool | None = None, md5: str | None = None):
    """Official CIFAR-100 ``split`` as ``(data uint8 (N, 3072), fine_labels (N,))``.

    The tarball is ``<root>/cifar-100-python.tar.gz`` (``root`` defaults to :func:`data_dir`),
    downloaded when missing and checked against ``md5`` (default: the official sum).

    Introduced in: 05 · Split CIFAR-100
    """
    name, official = CIFAR100_FILE
    path = ensure_file(name, md5 or official, [CIFAR100_URL], root=root, download=download)
    return _cifar_cached(str(path), path.stat().st_mtime_ns, split)


@functools.lru_cache(maxsize=4)
def _cifar_cached(path: str, _mtime: int, split: str):
    data, labels = read_cifar_tarball(path, split)
    data.setflags(write=False)
    return data, labels


def cifar_inputs(data, family: str) -> torch.Tensor:
    """Model inputs for CIFAR rows ``(N, 3072)`` uint8: grayscale 32x32 -> 1024, /255, L2-normalize.

    Both families get the same normalized 1024-vector; the QNN gets it as ``complex64`` states.

    Introduced in: 05 · Split CIFAR-100
    """
    rgb = np.asarray(data, dtype=np.float32).reshape(len(data), 3, 1024) / 255.0
    gray = np.tensordot(np.asarray(GRAY_WEIGHTS, dtype=np.float32), rgb, axes=([0], [1]))  # (N, 1024)
    x = torch.from_numpy(np.ascontiguousarray(gray))
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
    x = x / norm
    if family == "mlp":
        return x.contiguous()
    if family == "qnn":
        from .circuits import amplitude_encode

        return amplitude_encode(x, 10)
    raise ValueError(f"model family must be 'qnn' or 'mlp', got {family!r}")


def mnist_as_cifar_rows(images) -> np.ndarray:
    """MNIST digits ``(N, 28, 28)`` uint8 as CIFAR rows ``(N, 3072)``: centred on a 32x32 black canvas,
    the same value in the R, G and B planes (so the grayscale of :func:`cifar_inputs` is the digit;
    the luma weights sum to 0.9999).

    Introduced in: 05 · Split CIFAR-100
    """
    images = np.asarray(images, dtype=np.uint8)
    canvas = np.zeros((len(images), 32, 32), dtype=np.uint8)
    canvas[:, 2:30, 2:30] = images
    return np.repeat(canvas.reshape(len(images), 1, 1024), 3, axis=1).reshape(len(images), 3072)


def standin_class_images(c: int, split: str = "train", n: int | None = None, seed: int = 0) -> np.ndarray:
    """Images of class ``c`` of a generated stand-in for CIFAR-100, as ``uint8`` RGB rows ``(n, 3072)``.

    Each of the 100 classes has a smooth random colour prototype (a few low-frequency waves);
    its images are randomly shifted, contrast- and brightness-jittered, noisy copies of it, so the
    classes are learnable but not trivially separable. ``n`` defaults to CIFAR-100's 500 train /
    100 test images per class. It is **not** CIFAR-100: results on it only show the pipeline runs.

    Introduced in: 05 · Split CIFAR-100
    """
    if not 0 <= int(c) < 100 or split not in ("train", "test"):
        raise ValueError(f"stand-in classes are 0..99 and splits 'train'/'test', got {c!r}, {split!r}")
    n = (500 if split == "train" else 100) if n is None else int(n)
    rng = np.random.default_rng([seed, int(c), 100])  # the stand-in's own prototype stream
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    proto = np.zeros((3, 32, 32))
    for _ in range(4):
        fx, fy = rng.integers(0, 4, size=2)
        proto += rng.normal(size=(3, 1, 1)) * np.cos(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 2 * np.pi))
    proto = 45 * proto / max(np.abs(proto).max(), 1e-9)
    rng = np.random.default_rng([seed, int(c), 0 if split == "train" else 1])
    shifts = rng.integers(-3, 4, size=(n, 2))
    imgs = np.stack([np.roll(proto, (int(a), int(b)), axis=(1, 2)) for a, b in shifts])
    imgs = 128 + imgs * rng.uniform(0.6, 1.4, size=(n, 1, 1, 1)) + rng.uniform(-30, 30, size=(n, 1, 1, 1))
    imgs += rng.normal(0, 40, size=imgs.shape)
    return np.clip(imgs, 0, 255).astype(np.uint8).reshape(n, 3072)


# --------------------------------------------------------------------------------------------
# Task streams
# --------------------------------------------------------------------------------------------

@dataclass
class Task:
    """One task's tensors (``x_train, y_train, x_test, y_test``) and a one-line description.

    Introduced in: 04 · Permuted MNIST
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    info: str = ""


def _pick(rng, pool, n, what):
    if n > len(pool):
        raise ValueError(f"{what}: asked for {n} samples per task but only {len(pool)} are available")
    return pool if n == len(pool) else np.sort(rng.choice(pool, size=n, replace=False))


class PermutedMnist:
    """Permuted-MNIST task stream: task ``t`` = a seeded random pixel permutation of MNIST.

    ``source="official"`` trains on the official 60k training split and tests on the 10k test
    split. ``source="test-split"`` uses only the official 10k **test** split (the only MNIST
    file available offline here): a fixed shuffle holds out :data:`TEST_SPLIT_HOLDOUT` images for
    testing and tasks train on subsets of the other 8,000 -- disjoint train and test sets, but
    not MNIST's training images. Each task draws ``train_per_task`` / ``test_per_task`` samples
    (all of them when equal to the pool size) and its own permutation, seeded by ``(seed, t)``.

    Introduced in: 04 · Permuted MNIST
    """

    SOURCES = ("official", "test-split")

    def __init__(self, source: str = "official", *, seed: int = 0, train_per_task: int = 60_000,
                 test_per_task: int = 10_000, root=None, download: bool | None = None):
        if source not in self.SOURCES:
            raise ValueError(f"unknown MNIST source {source!r}; choose one of {', '.join(self.SOURCES)}")
        self.source, self.seed = source, int(seed)
        self.train_per_task, self.test_per_task = int(train_per_task), int(test_per_task)
        test_images, test_labels = load_mnist("test", root=root, download=download)
        if source == "official":
            self.train_images, self.train_labels = load_mnist("train", root=root, download=download)
            self.test_images, self.test_labels = test_images, test_labels
            self.train_pool = np.arange(len(self.train_images))
            self.test_pool = np.arange(len(self.test_images))
        else:
            order = np.random.default_rng(0).permutation(len(test_images))  # fixed for every run
            self.train_images = self.test_images = test_images
            self.train_labels = self.test_labels = test_labels
            self.test_pool = np.sort(order[:TEST_SPLIT_HOLDOUT])
            self.train_pool = np.sort(order[TEST_SPLIT_HOLDOUT:])
        for n, pool, what in ((self.train_per_task, self.train_pool, "train"),
                              (self.test_per_task, self.test_pool, "test")):
            if not 1 <= n <= len(pool):
                raise ValueError(f"permuted MNIST ({self.describe()}): {what}_per_task must be in "
                                 f"1..{len(pool)}, got {n}")

    def describe(self) -> str:
        """Where the images come from, in words. Introduced in: 04 · Permuted MNIST"""
        if self.source == "official":
            return "MNIST (official train split for training, official test split for testing)"
        return (f"MNIST official 10k test split only: disjoint subsets for training "
                f"({len(self.train_pool):,} images) and testing ({len(self.test_pool):,} images)")

    def permutation(self, t: int, size: int) -> np.ndarray:
        """Task ``t``'s permutation of ``size`` (784 for the MLP, 1024 for the QNN) indices.

        Introduced in: 04 · Permuted MNIST
        """
        return np.random.default_rng([self.seed, int(t), size]).permutation(size)

    def task(self, t: int, family: str) -> Task:
        """Task ``t`` prepared for ``family`` ("qnn" or "mlp"). Introduced in: 04 · Permuted MNIST"""
        rng = np.random.default_rng([self.seed, int(t), SAMPLE_SALT])
        tr = _pick(rng, self.train_pool, self.train_per_task, "permuted MNIST train")
        te = _pick(rng, self.test_pool, self.test_per_task, "permuted MNIST test")
        perm = self.permutation(t, 1024 if family == "qnn" else 784)
        return Task(mnist_inputs(self.train_images[tr], family, perm), torch.from_numpy(self.train_labels[tr]),
                    mnist_inputs(self.test_images[te], family, perm), torch.from_numpy(self.test_labels[te]),
                    info=f"task {t}: permutation #{t}")


class SplitCifar100:
    """Split CIFAR-100 task stream: task ``t`` = two seeded random fine classes, labelled 0 and 1.

    ``source="cifar100"`` uses the official files (500 train / 100 test images per class, so
    1,000 / 200 per task as in the paper). Two offline substitutes, never to be reported as CIFAR-100:

    * ``"mnist-pairs"`` -- **real** images: two random MNIST digits per task (of 10, so the 45 pairs
      recur, each in a random label order), from the official 10k test split with the same fixed
      holdout as permuted MNIST's ``test-split`` (train and test images disjoint), put through the
      CIFAR pipeline unchanged: each 28x28 digit is centred on a 32x32 canvas and repeated in the
      three colour channels (:func:`mnist_as_cifar_rows`), so :func:`cifar_inputs` turns it into the
      same grayscale, L2-normalized 1024-vector;
    * ``"standin"`` -- :func:`standin_class_images`, generated images.

    Introduced in: 05 · Split CIFAR-100
    """

    SOURCES = ("cifar100", "mnist-pairs", "standin")

    def __init__(self, source: str = "cifar100", *, seed: int = 0, train_per_task: int = 1000,
                 test_per_task: int = 200, root=None, download: bool | None = None):
        if source not in self.SOURCES:
            raise ValueError(f"unknown CIFAR source {source!r}; choose one of {', '.join(self.SOURCES)}")
        self.source, self.seed = source, int(seed)
        self.train_per_task, self.test_per_task = int(train_per_task), int(test_per_task)
        self._splits = None
        self.n_classes = 10 if source == "mnist-pairs" else 100
        if source == "cifar100":
            self._splits = {s: load_cifar100(s, root=root, download=download) for s in ("train", "test")}
        elif source == "mnist-pairs":
            images, labels = load_mnist("test", root=root, download=download)
            order = np.random.default_rng(0).permutation(len(images))  # permuted MNIST's test-split holdout
            pools = {"test": np.sort(order[:TEST_SPLIT_HOLDOUT]), "train": np.sort(order[TEST_SPLIT_HOLDOUT:])}
            self._splits = {s: (mnist_as_cifar_rows(images[ix]), labels[ix]) for s, ix in pools.items()}
        if self._splits is not None:
            self._index = {s: [np.flatnonzero(lab == c) for c in range(self.n_classes)]
                           for s, (_, lab) in self._splits.items()}
        for n, s in ((self.train_per_task, "train"), (self.test_per_task, "test")):
            avail = 2 * (min(len(ix) for ix in self._index[s]) if self._splits else (500 if s == "train" else 100))
            if not 1 <= n <= avail:
                raise ValueError(f"split CIFAR ({self.describe()}): {s}_per_task must be in 1..{avail}, got {n}")

    def describe(self) -> str:
        """Where the images come from, in words. Introduced in: 05 · Split CIFAR-100"""
        if self.source == "cifar100":
            return "CIFAR-100 (official train/test splits, 2 fine classes per task)"
        if self.source == "mnist-pairs":
            return ("MNIST digit pairs through the CIFAR pipeline (NOT CIFAR-100; real images of the official "
                    "10k test split, disjoint train/test subsets, 2 of 10 digits per task)")
        return "generated STAND-IN for CIFAR-100 (not real images; CIFAR-100 unavailable)"

    def class_images(self, c: int, split: str) -> np.ndarray:
        """All ``uint8`` rows of fine class ``c`` in ``split``. Introduced in: 05 · Split CIFAR-100"""
        if self._splits is None:
            return _standin_cached(int(c), split)
        data, _ = self._splits[split]
        return data[self._index[split][c]]

    def classes(self, t: int) -> tuple:
        """The two fine classes of task ``t``. Introduced in: 05 · Split CIFAR-100"""
        a, b = np.random.default_rng([self.seed, int(t), PAIR_SALT]).choice(self.n_classes, size=2, replace=False)
        return int(a), int(b)

    def task(self, t: int, family: str) -> Task:
        """Task ``t`` prepared for ``family`` ("qnn" or "mlp"). Introduced in: 05 · Split CIFAR-100"""
        pair = self.classes(t)
        rng = np.random.default_rng([self.seed, int(t), SAMPLE_SALT])
        parts = []
        for split, n in (("train", self.train_per_task), ("test", self.test_per_task)):
            rows = [self.class_images(c, split) for c in pair]
            data = np.concatenate(rows)
            lab = np.concatenate([np.full(len(r), k, dtype=np.int64) for k, r in enumerate(rows)])
            keep = _pick(rng, np.arange(len(data)), n, f"split CIFAR {split}")
            parts += [cifar_inputs(data[keep], family), torch.from_numpy(lab[keep])]
        return Task(*parts, info=f"task {t}: classes {pair}")


@functools.lru_cache(maxsize=256)
def _standin_cached(c: int, split: str) -> np.ndarray:
    arr = standin_class_images(c, split)
    arr.setflags(write=False)
    return arr
