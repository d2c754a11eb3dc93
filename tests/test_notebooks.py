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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_configured_repository(path):
    """Each chapter starts with the Colab setup cell: clone the repository named in _config.yml,
    install the package (GPU extra on a GPU runtime), then report profile and devices."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    nb = json.loads(path.read_text())
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    src = "".join(first_code["source"])
    assert 'if "google.colab" in sys.modules:' in src
    assert f"git clone -q --depth 1 {url} " in src, f"{path.name}: setup cell does not clone {url} (_config.yml)"
    assert '%pip install -q "/content/qcl-book{extra}"' in src and 'torch.cuda.is_available()' in src
    assert "devices.describe()" in src and "profiles.current()" in src


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    toc = _toc_files()
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in toc, f"{nb.name} is not listed in _toc.yml"
    for f in toc:
        assert list(ROOT.glob(f + ".*")), f"_toc.yml lists {f}, which does not exist"


def test_chapter_file_names_use_hyphens():
    for nb in NOTEBOOKS:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+|appendix-[a-z0-9-]+", nb.stem), nb.name
