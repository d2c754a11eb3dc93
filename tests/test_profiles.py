import dataclasses
import subprocess
import sys

import pytest

from qcl_helpers import profiles


def test_names_and_default(monkeypatch):
    assert profiles.NAMES == ("ci", "quick", "paper")
    monkeypatch.delenv("QCL_PROFILE", raising=False)
    assert profiles.current().name == "quick"
    monkeypatch.setenv("QCL_PROFILE", "paper")
    assert profiles.current() is profiles.PAPER


def test_unknown_profile_lists_valid_names(monkeypatch):
    monkeypatch.setenv("QCL_PROFILE", "bogus")
    with pytest.raises(profiles.ProfileError, match="valid profiles: ci, quick, paper"):
        profiles.current()


def test_cli_reports_unknown_profile_without_traceback():
    env = {"QCL_PROFILE": "bogus", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "qcl_helpers", "info"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 2
    assert "valid profiles: ci, quick, paper" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_paper_profile_matches_released_code():
    p = profiles.PAPER
    assert (p.permuted_mnist.tasks, p.permuted_mnist.qnn_lr, p.permuted_mnist.qnn_epochs) == (1000, 0.03, 5)
    assert (p.permuted_mnist.mlp_epochs, p.permuted_mnist.mlp_widths) == (1, (16,))
    assert (p.split_cifar.tasks, p.split_cifar.qnn_depths, p.split_cifar.fim_probe_samples) == (3000, (10,), 64)
    assert (p.ant.qnn_depth, p.ant.total_steps) == (12, 30_000_000)
    assert (p.xxz.tasks, p.xxz.batch_size, p.xxz.delta_step) == (2000, 64, 0.02)


def test_smaller_profiles_are_smaller():
    for field in ("tasks", "train_per_task"):
        assert profiles.CI.permuted_mnist.__getattribute__(field) < profiles.QUICK.permuted_mnist.__getattribute__(field)
        assert profiles.QUICK.permuted_mnist.__getattribute__(field) < profiles.PAPER.permuted_mnist.__getattribute__(field)


def test_compare_and_summary():
    n = profiles.QUICK.permuted_mnist.tasks
    assert profiles.QUICK.compare("permuted_mnist.tasks") == f"tasks: {n:,} (paper: 1,000)"
    assert profiles.PAPER.compare("permuted_mnist.tasks") == "tasks: 1,000 (as in the paper)"
    text = profiles.CI.summary("ansatz")
    assert text.count("\n") == len(dataclasses.fields(profiles.AnsatzSizes))
    with pytest.raises(AttributeError, match="no field"):
        profiles.CI.value("permuted_mnist.nope")


def test_book_only_sizes_are_not_attributed_to_the_paper():
    assert profiles.CI.compare("ansatz.n_qubits") == "n qubits: 4 (paper profile: 6)"
    assert "(paper:" not in profiles.QUICK.summary("theory")


def test_resolve(monkeypatch):
    monkeypatch.setenv("QCL_PROFILE", "ci")
    assert profiles.resolve(None) is profiles.CI
    assert profiles.resolve("paper") is profiles.PAPER
    assert profiles.resolve(profiles.QUICK) is profiles.QUICK
    with pytest.raises(profiles.ProfileError):
        profiles.resolve("nope")
