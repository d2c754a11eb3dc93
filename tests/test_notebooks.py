"""Checks on the stored notebooks themselves (nbval executes them separately)."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").glob("*.ipynb"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs; clear them before committing"
    missing = [i for i, c in enumerate(nb["cells"]) if "id" not in c]
    assert not missing, f"{path.name}: cells {missing} have no id; run nbformat's normalize() on the notebook"


def _setup_cell_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("setup_cell", ROOT / "tools" / "setup_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_is_the_one_in_tools_setup_cell(path):
    """Each chapter starts with the same Setup cell (tools/setup_cell.py writes it): on Colab it
    clones the repository named in _config.yml and installs the package non-editable."""
    setup = _setup_cell_module()
    nb = json.loads(path.read_text())
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(first_code["source"])
    assert src == setup.setup_source(path.stem), (
        f"{path.name}: the Setup cell differs from tools/setup_cell.py; run python tools/setup_cell.py")


def test_setup_cell_template_says_what_colab_needs():
    setup = _setup_cell_module()
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    src = setup.setup_source("06-ant-ppo")
    assert 'if "google.colab" in sys.modules:' in src
    assert f'repository = "{url}"' in src and 'os.environ.get("QCL_REPO_URL", repository)' in src
    assert "!git clone -q --depth 1 {url} {home}" in src
    assert '%pip install -q "{package}"' in src and "-e " not in src  # non-editable, as on Colab
    assert 'extras = ["rl"]' in src and 'extras = []' in setup.setup_source("01-loss-of-plasticity")
    assert "colab.check_restart()" in src and "%matplotlib inline" in src
    assert "devices.describe()" in src and "profiles.current()" in src
    assert "import torch" not in src  # importing torch first would make any torch upgrade stale


def test_setup_cell_extras_exist_in_pyproject():
    import tomllib

    setup = _setup_cell_module()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for stem, wanted in setup.EXTRAS.items():
        assert set(wanted) <= set(extras), f"{stem} needs extras {wanted}; pyproject has {list(extras)}"
    assert "gpu" in extras


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    toc = _toc_files()
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in toc, f"{nb.name} is not listed in _toc.yml"
    for f in toc:
        assert list(ROOT.glob(f + ".*")), f"_toc.yml lists {f}, which does not exist"


def test_chapter_file_names_use_hyphens():
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+|appendix-[a-z0-9-]+", nb.stem), nb.name


def test_setup_cell_shows_figures_even_with_mplbackend_agg(monkeypatch):
    """Headless servers often set MPLBACKEND=Agg; the chapters' figures must still reach the
    page. Runs the real Setup cell, then a captioned figure, in a kernel with MPLBACKEND=Agg;
    the same figure without the setup cell's %matplotlib inline is lost (the negative control)."""
    import nbclient
    import nbformat

    setup = _setup_cell_module().setup_source("01-loss-of-plasticity")
    plot = ("import matplotlib.pyplot as plt\nfrom qcl_helpers import plotting\n"
            "fig, ax = plt.subplots()\nax.plot([0, 1])\n"
            "plotting.caption(fig, data='d', profile='ci', scale='s')\nplt.show()")
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def figures(cells):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=300).execute()
        return [o for o in nb.cells[-1].outputs if "image/png" in o.get("data", {})]

    shown = figures([setup, plot])
    assert len(shown) == 1, "the Setup cell did not bring figures back under MPLBACKEND=Agg"
    assert "Data: d · profile: ci · scale: s</figcaption>" in shown[0]["data"]["text/html"]
    assert figures([plot]) == []  # without it, Agg swallows the figure


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_column(path):
    """Readers never scroll sideways: code lines are at most 88 characters (the book's CSS
    fits 88 in the column; tools/check_book.py checks the rendered pages too)."""
    nb = json.loads(path.read_text())
    long = [f"cell {c.get('id')} line {i + 1} ({len(line)} chars)"
            for c in nb["cells"] if c["cell_type"] == "code"
            for i, line in enumerate("".join(c["source"]).split("\n")) if len(line) > 88]
    assert not long, f"{path.name}: code lines over 88 characters: {'; '.join(long)}"
