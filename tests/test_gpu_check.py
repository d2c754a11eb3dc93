"""benchmarks/gpu_check.py on a machine without a GPU: it reports each skipped step and exits 0."""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402

from qcl_helpers import profiles  # noqa: E402


def test_runs_without_a_gpu_and_reports_every_skip(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", QCL_QML_DEVICE="default.qubit")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    # step 1 names the chosen devices and the reason for each
    assert "[1] PennyLane device: default.qubit; torch device: cpu" in lines
    assert any("forced by QCL_QML_DEVICE" in ln for ln in lines)
    assert any("torch uses the CPU (no CUDA device visible to torch)" in ln for ln in lines)
    # steps 2-5 are skipped, each with its reason
    for step, reason in (("2", "no CUDA device"), ("3", "no CUDA device"), ("4", "lightning.gpu not usable"),
                         ("5", "no GPU step times")):
        assert any(ln.startswith(f"[{step} skipped]") and reason in ln for ln in lines), step
    report = json.loads(out.read_text())
    assert report["passed"] is True and report["devices"]["torch"] == "cpu"
    assert "git_commit" in report["provenance"] and report["seconds"] < 300
    assert "correctness" not in report and "projection" not in report


def test_paper_step_counts_by_hand():
    # W1: 1000 tasks x 5 epochs x ceil(60000/128)=469 batches; W2: 3000 x 5 x ceil(1000/128)=8;
    # W3: 2000 x 5 x ceil(321/64)=6, with 321 = 402 XXZ states minus ceil(0.2 * 402) = 81 for testing
    assert gpu_check.steps_of(profiles.get("paper")) == {"W1": 2_345_000, "W2": 120_000, "W3": 60_000}
    assert gpu_check.steps_of(profiles.get("ci")) != gpu_check.steps_of(profiles.get("paper"))
