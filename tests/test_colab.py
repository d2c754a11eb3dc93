"""The Colab reader's path, simulated: every chapter run as Colab runs it.

A fresh virtual environment gets Colab's versions of numpy, ipywidgets, matplotlib, IPython,
ipykernel, scipy, gymnasium (tests/fixtures/colab/constraints-2026-08.txt, copied from
Colab's published pip freeze; torch stays the pinned CPU build, never a CUDA one). Its kernel
starts with a stand-in ``google.colab`` module loaded (tests/fixtures/colab/google), in an
empty folder standing for /content, with ``MPLBACKEND=Agg`` set as on headless servers. The
repository URL the setup cell clones (``QCL_REPO_URL``) points at a local git repository made
from this working tree, so the setup cell clones it, installs the package from the clone
*non-editable* exactly as on Colab, and the chapter then runs in the ``ci`` profile.

One venv is shared by all chapters (module fixture) and pip's cache is reused, so the first
chapter pays for the installs. Deselect locally with ``-m "not colab"``; CI runs it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "colab"
CONSTRAINTS = FIXTURES / "constraints-2026-08.txt"
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
TORCH = "torch==2.13.0"  # the pinned CPU build (requirements.txt); its wheel lies on disk
PRELOADED = ["numpy", "ipywidgets", "matplotlib", "ipython", "ipykernel", "jupyter_client",
             "scipy", "tqdm", "gymnasium", "widgetsnbextension", "jupyterlab_widgets",
             "matplotlib-inline"]
TIMES: dict[str, float] = {}

# the simulation itself (slow): marked so that it can be deselected locally
simulation = [pytest.mark.colab,
              pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to clone the book")]


def _mark(fn):
    for m in simulation:
        fn = m(fn)
    return fn


def _colab_versions() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _working_tree_repo(dest: Path) -> Path:
    """A git repository holding this working tree's files (tracked and new, not ignored),
    so the test checks what is on disk, committed or not."""
    files = _run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout.split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                ["git", "commit", "-q", "-m", "working tree for the Colab simulation"]):
        _run(cmd, cwd=dest, env=env)
    return dest


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """Build the Colab-like environment once: venv, kernelspec, stand-in, local repository."""
    start = time.time()
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    # pip must never fetch a CUDA torch: every install here (the setup cell's %pip included)
    # is pinned to the on-disk CPU build.
    # Colab's versions constrain only the preinstall; the setup cell's own %pip runs free
    # (as on Colab), so the test sees whether it would replace them.
    pins = base / "pins.txt"
    pins.write_text(f"{TORCH}\n")
    colab_pins = base / "colab-pins.txt"
    colab_pins.write_text(CONSTRAINTS.read_text() + f"\n{TORCH}\n")
    env = {**os.environ, "PIP_CONSTRAINT": str(colab_pins), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    _run([str(py), "-m", "pip", "install", "-q", TORCH, *PRELOADED], env=env, timeout=1800)
    _run([str(py), "-m", "ipykernel", "install", "--prefix", str(base / "jupyter"), "--name", "colab-sim"])
    ipython_dir = base / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("import google.colab  # the stand-in, as Colab's kernel does\n")
    repo = _working_tree_repo(base / "origin")
    content = base / "content"
    content.mkdir()
    env_vars = {
        "JUPYTER_PATH": str(base / "jupyter" / "share" / "jupyter"),
        "IPYTHONDIR": str(ipython_dir),
        "PYTHONPATH": str(FIXTURES),  # only the stand-in google.colab
        "PIP_CONSTRAINT": str(pins),
        "QCL_REPO_URL": repo.as_uri(),
        "QCL_COLAB_DIR": str(content / "qcl-book"),
        "QCL_PROFILE": "ci",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",  # figures must show all the same
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    TIMES["environment"] = time.time() - start
    yield {"venv": venv, "content": content, "env": env_vars, "repo": repo}
    # how long the simulation took, for the README and CI logs (pytest -rA shows it too)
    lines = [f"{k:28s} {v:7.1f} s" for k, v in TIMES.items()]
    lines.append(f"{'total':28s} {sum(TIMES.values()):7.1f} s")
    out = ROOT / "_build" / "colab-times.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\nColab simulation times:\n" + "\n".join(lines))


def _execute(colab, monkeypatch, nb, timeout=1200):
    import nbclient

    for k, v in colab["env"].items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    client = nbclient.NotebookClient(nb, kernel_name="colab-sim", timeout=timeout,
                                     resources={"metadata": {"path": str(colab["content"])}})
    client.execute()
    return nb


def _report_cell():
    import nbformat

    return nbformat.v4.new_code_cell(
        "import json, os, sys, numpy, ipywidgets, matplotlib, torch, qcl_helpers\n"
        "print('REPORT ' + json.dumps({'package': qcl_helpers.__file__, 'cwd': os.getcwd(),\n"
        "    'numpy': numpy.__version__, 'ipywidgets': ipywidgets.__version__,\n"
        "    'matplotlib': matplotlib.__version__, 'torch': torch.__version__,\n"
        "    'prefix': sys.prefix}))")


def _report(nb) -> dict:
    for out in nb.cells[-1].outputs:
        for line in out.get("text", "").splitlines():
            if line.startswith("REPORT "):
                return json.loads(line[len("REPORT "):])
    raise AssertionError(f"no report printed: {nb.cells[-1].outputs}")


def _figures(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "image/png" in o.get("data", {}) or "<img" in str(o.get("data", {}).get("text/html", "")))


@_mark
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_as_on_colab(colab, monkeypatch, path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(_report_cell())
    start = time.time()
    _execute(colab, monkeypatch, nb)
    TIMES[path.stem] = time.time() - start
    report = _report(nb)
    # installed non-editable into the Colab environment, not imported from a checkout
    assert report["package"].startswith(report["prefix"]) and "site-packages" in report["package"], report
    assert report["cwd"] == str(colab["content"] / "qcl-book" / "book"), report
    # Colab's own packages are kept, and torch is the pinned CPU build
    pins = _colab_versions()
    for name in ("numpy", "ipywidgets", "matplotlib"):
        assert report[name] == pins[name], f"the setup cell replaced Colab's {name}: {report}"
    assert report["torch"].startswith("2.13.0"), report
    # MPLBACKEND=Agg is set, yet the chapter's figures are in its outputs
    code = [c for c in nb.cells if c.cell_type == "code"][1:-1]  # after the setup cell
    uses_plt = any("plt." in c.source or "plotting." in c.source for c in code)
    if uses_plt:
        assert _figures(nb) > 0, f"{path.name}: no figure output under MPLBACKEND=Agg"


@_mark
def test_explorer_works_with_colab_ipywidgets(colab, monkeypatch):
    """The depth/width explorer under ipywidgets 7.7.1: static figure first, then a slider
    change recomputes with the new value (the unit tests cover 8.x in the main venv)."""
    import nbformat

    cells = [
        "import sys; assert 'google.colab' in sys.modules",
        "import ipywidgets\nfrom qcl_helpers import widgets\nimport matplotlib.pyplot as plt\n"
        "calls = []\n"
        "def draw(depth, layout):\n"
        "    calls.append((depth, layout))\n"
        "    fig, ax = plt.subplots(); ax.plot(range(depth)); return fig\n"
        "box = widgets.explorer(draw, depth=(1, 5, 1, 2), layout=['brickwall', 'ring'])\n"
        "depth, layout = box.children[0].children\n"
        "depth.value = 4\nlayout.value = 'ring'\n"
        "print('VERSION', ipywidgets.__version__, 'CALLS', calls)\n"
        "assert calls == [(2, 'brickwall'), (4, 'brickwall'), (4, 'ring')], calls",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    # the package is installed by the chapters' setup cell; install it here if run alone
    setup = nbformat.read(NOTEBOOKS[0], as_version=4)
    first = next(c for c in setup.cells if c.cell_type == "code")
    nb.cells.insert(1, nbformat.v4.new_code_cell(first.source))
    _execute(colab, monkeypatch, nb, timeout=600)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "VERSION 7.7.1" in text, text
    assert _figures(nb) >= 1, "the explorer drew no static figure"


@_mark
def test_setup_cell_stops_when_pip_replaced_a_loaded_module(colab, monkeypatch):
    """A preloaded module that pip replaces: the check after %pip names it and the fix, and
    stops the notebook there. (tqdm stands in: loaded first, then pip installs another
    version, as a dependency would; the Colab version is put back afterwards.)"""
    import nbclient
    import nbformat

    colab_tqdm = _colab_versions()["tqdm"]
    other = "4.67.1" if colab_tqdm != "4.67.1" else "4.67.0"
    cells = ["import tqdm  # loaded, as Colab preloads modules",
             f"%pip install -q tqdm=={other}\n"
             "from qcl_helpers import colab\ncolab.check_restart()",
             "print('not reached')"]
    setup = nbformat.read(NOTEBOOKS[0], as_version=4)
    cells.insert(0, next(c for c in setup.cells if c.cell_type == "code").source)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    try:
        with pytest.raises(nbclient.exceptions.CellExecutionError) as err:
            _execute(colab, monkeypatch, nb, timeout=600)
    finally:
        py = colab["venv"] / "bin" / "python"
        _run([str(py), "-m", "pip", "install", "-q", f"tqdm=={colab_tqdm}"],
             env={**os.environ, "PIP_CONSTRAINT": ""})
    message = str(err.value)
    assert f"tqdm {colab_tqdm} -> {other}" in message and "Restart session" in message, message
    assert not nb.cells[3].get("outputs"), "the notebook went on after the restart message"


# ---- the setup cell's restart check, without the simulation --------------------------------

class _Loaded:
    def __init__(self, version):
        self.__version__ = version


def test_check_restart_names_an_upgraded_module_and_the_fix():
    from importlib import metadata

    from qcl_helpers import colab

    installed = metadata.version("numpy")
    assert colab.stale_modules({"numpy": _Loaded(installed)}) == []
    assert colab.stale_modules({"numpy": _Loaded(installed + "+cpu")}) == []  # local tags match
    stale = colab.stale_modules({"numpy": _Loaded("1.0.0"), "sys": sys})
    assert stale == [("numpy", "1.0.0", installed)]
    with pytest.raises(SystemExit, match=r"numpy 1\.0\.0 -> .*restart the session"):
        colab.check_restart({"numpy": _Loaded("1.0.0")})
    colab.check_restart({"numpy": _Loaded(installed)})  # nothing stale: returns quietly
