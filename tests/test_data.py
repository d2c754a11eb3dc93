"""Loaders on small fixtures in the real file formats (MNIST idx gz, CIFAR-100 pickle tarball)."""
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.error

import numpy as np
import pytest
import torch

from qcl_helpers import data

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return gzip.compress(header + arr.tobytes())


def _md5(b):
    return hashlib.md5(b).hexdigest()


@pytest.fixture
def mnist_root(tmp_path):
    """A tiny MNIST in the official layout and format: 40 test and 60 train images."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sums = {}
    for split, n in (("train", 60), ("test", 40)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images", imgs), ("labels", labels)):
            blob = _idx_bytes(arr)
            (raw / data.MNIST_FILES[f"{split}-{kind}"][0]).write_bytes(blob)
            sums[f"{split}-{kind}"] = _md5(blob)
    return tmp_path, sums


def _cifar_tarball(path, per_class=(3, 1)):
    """A CIFAR-100 tarball in the real format: pickled dicts with bytes keys, uint8 rows."""
    rng = np.random.default_rng(1)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in zip(("train", "test"), per_class):
            labels = np.repeat(np.arange(100), n)
            entry = {b"filenames": [b"x.png"] * len(labels), b"batch_label": split.encode(),
                     b"fine_labels": labels.tolist(), b"coarse_labels": (labels // 5).tolist(),
                     b"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)}
            blob = pickle.dumps(entry, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{split}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return _md5(path.read_bytes())


def test_read_idx_roundtrip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "a-idx3-ubyte.gz"
    p.write_bytes(_idx_bytes(arr))
    np.testing.assert_array_equal(data.read_idx(p), arr)
    p.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + b"\x00" * 4))
    with pytest.raises(ValueError, match="magic"):
        data.read_idx(p)


def test_load_mnist_fixture(mnist_root):
    root, sums = mnist_root
    x, y = data.load_mnist("train", root=root, download=False, checksums=sums)
    assert x.shape == (60, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    assert list(y[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_checksum_failure(mnist_root):
    root, sums = mnist_root
    bad = dict(sums, **{"test-images": "0" * 32})
    with pytest.raises(data.ChecksumError, match="t10k-images-idx3-ubyte.gz has MD5"):
        data.load_mnist("test", root=root, download=False, checksums=bad)
    # the official sums reject the fixture too
    with pytest.raises(data.ChecksumError):
        data.load_mnist("test", root=root, download=False)


def test_missing_offline_error_names_file_and_fix(tmp_path, monkeypatch):
    def no_network(*a, **k):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    with pytest.raises(data.DataUnavailable) as err:
        data.load_mnist("test", root=tmp_path)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "download failed" in msg and "QCL_DATA_DIR" in msg
    monkeypatch.setenv("QCL_OFFLINE", "1")
    with pytest.raises(data.DataUnavailable, match="cifar-100-python.tar.gz.*switched off"):
        data.load_cifar100(root=tmp_path)


def test_download_then_verify(tmp_path, monkeypatch, mnist_root):
    src, sums = mnist_root
    served = []

    def fake_urlopen(url, timeout=None):
        name = url.rsplit("/", 1)[1]
        served.append(name)
        return io.BytesIO((src / "MNIST" / "raw" / name).read_bytes())

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    x, _ = data.load_mnist("test", root=tmp_path / "cache", checksums=sums)
    assert x.shape == (40, 28, 28) and len(served) == 2
    assert (tmp_path / "cache" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "cache" / "MNIST" / "raw").glob("*.part"))


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("QCL_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path.resolve()


def test_mnist_preprocessing_matches_paper():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    perm784, perm1024 = rng.permutation(784), rng.permutation(1024)
    mlp = data.mnist_inputs(imgs, "mlp", perm784)
    np.testing.assert_allclose(mlp.numpy(), imgs.reshape(5, 784)[:, perm784] / 255.0, rtol=1e-6)
    qnn = data.mnist_inputs(imgs, "qnn", perm1024)
    ref = np.zeros((5, 1024))
    ref[:, :784] = imgs.reshape(5, 784) / 255.0
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)  # pad, normalize, THEN permute
    assert qnn.dtype == torch.complex64 and qnn.shape == (5, 1024)
    np.testing.assert_allclose(qnn.real.numpy(), ref[:, perm1024], atol=1e-6)
    with pytest.raises(ValueError, match="1024 indices"):
        data.mnist_inputs(imgs, "qnn", perm784)


def test_cifar_tarball_loader_and_preprocessing(tmp_path):
    md5 = _cifar_tarball(tmp_path / "cifar-100-python.tar.gz")
    x, y = data.load_cifar100("train", root=tmp_path, download=False, md5=md5)
    assert x.shape == (300, 3072) and x.dtype == np.uint8 and y.max() == 99
    with pytest.raises(data.ChecksumError):
        data.load_cifar100("test", root=tmp_path, download=False)  # official MD5 rejects the fixture
    inp = data.cifar_inputs(x[:4], "mlp")
    rgb = x[:4].reshape(4, 3, 1024).astype(float) / 255
    gray = 0.2989 * rgb[:, 0] + 0.5870 * rgb[:, 1] + 0.1140 * rgb[:, 2]
    np.testing.assert_allclose(inp.numpy(), gray / np.linalg.norm(gray, axis=1, keepdims=True), atol=1e-6)
    q = data.cifar_inputs(x[:4], "qnn")
    assert q.dtype == torch.complex64
    np.testing.assert_allclose(q.real.numpy(), inp.numpy(), atol=1e-6)


def test_split_cifar_stream_on_fixture(tmp_path, monkeypatch):
    md5 = _cifar_tarball(tmp_path / "cifar-100-python.tar.gz", per_class=(4, 2))
    monkeypatch.setitem(data.__dict__, "CIFAR100_FILE", ("cifar-100-python.tar.gz", md5))
    s = data.SplitCifar100("cifar100", seed=3, train_per_task=8, test_per_task=4, root=tmp_path, download=False)
    t = s.task(5, "mlp")
    assert t.x_train.shape == (8, 1024) and set(t.y_train.tolist()) == {0, 1}
    assert s.classes(5) == data.SplitCifar100("cifar100", seed=3, train_per_task=8, test_per_task=4,
                                              root=tmp_path, download=False).classes(5)
    with pytest.raises(ValueError, match="train_per_task must be in 1..8"):
        data.SplitCifar100("cifar100", train_per_task=9, root=tmp_path, download=False)


def test_standin_is_learnable_structure_and_labelled():
    s = data.SplitCifar100("standin", seed=0, train_per_task=64, test_per_task=32)
    assert "STAND-IN" in s.describe()
    t = s.task(0, "mlp")
    # nearest class mean on the training set separates the test set well above chance
    m0, m1 = (t.x_train[t.y_train == k].mean(0) for k in (0, 1))
    pred = ((t.x_test - m1).norm(dim=1) < (t.x_test - m0).norm(dim=1)).long()
    assert (pred == t.y_test).float().mean() > 0.7


def test_permuted_mnist_test_split_is_disjoint(mnist_root):
    root, sums = mnist_root
    # shrink the hold-out so the 40-image fixture can host it
    old = data.TEST_SPLIT_HOLDOUT
    data.TEST_SPLIT_HOLDOUT = 10
    try:
        orig = data.load_mnist
        s = data.PermutedMnist.__new__(data.PermutedMnist)
        data.load_mnist = lambda split, **k: orig(split, root=root, download=False, checksums=sums)
        s.__init__("test-split", seed=1, train_per_task=20, test_per_task=10)
    finally:
        data.load_mnist = orig
        data.TEST_SPLIT_HOLDOUT = old
    assert not set(s.train_pool) & set(s.test_pool) and len(s.test_pool) == 10
    assert "test split only" in s.describe()
    a, b = s.task(2, "qnn"), s.task(2, "qnn")
    assert torch.equal(a.x_train, b.x_train)  # deterministic per (seed, task)
    assert not torch.equal(s.task(3, "qnn").x_test, a.x_test)  # a new permutation per task


@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "MNIST", "raw", "t10k-images-idx3-ubyte.gz")),
                    reason="shared offline MNIST not present")
def test_real_mnist_test_split_checksums():
    x, y = data.load_mnist("test", root=SHARED, download=False)
    assert x.shape == (10_000, 28, 28) and sorted(set(y.tolist())) == list(range(10))
