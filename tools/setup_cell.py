"""The chapters' Setup cell, held once: `python tools/setup_cell.py` writes it into every
notebook under book/ (the first code cell; its id is kept), `--check` only compares.

The cell, on Colab only (``"google.colab" in sys.modules``): clones the repository named in
_config.yml (``QCL_REPO_URL`` overrides it, ``QCL_COLAB_DIR`` the folder; a test points both at
a local clone), installs the helper package from the clone *non-editable*, with the ``gpu``
extra when the runtime has an NVIDIA GPU and the ``rl`` extra where a chapter needs it, and
stops with a clear line if pip upgraded a module the session had already loaded. It installs
against Colab's own torch, numpy and ipywidgets (pyproject.toml admits them), so nothing is
replaced unless a requirement forces it. Everywhere: ``%matplotlib inline`` (figures show
even with ``MPLBACKEND=Agg`` in the environment), then the profile and the devices.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Chapters whose helpers need an optional extra on Colab.
EXTRAS = {"06-ant-ppo": ["rl"]}

TEMPLATE = """\
# Setup. On Colab: fetch the book's repository (chapters read its stored results) and
# install its helper package, keeping Colab's own torch, numpy and ipywidgets.
# Everywhere: figures inline (whatever MPLBACKEND says); report the profile and devices.
%matplotlib inline
import os, sys
if "google.colab" in sys.modules:
    import shutil
    repository = "{url}"  # _config.yml
    url = os.environ.get("QCL_REPO_URL", repository)
    home = os.environ.get("QCL_COLAB_DIR", "/content/qcl-book")
    if not os.path.isdir(home):
        !git clone -q --depth 1 {{url}} {{home}}
    extras = {extras}
    if shutil.which("nvidia-smi"):  # a GPU runtime
        extras.append("gpu")
    package = home + (f"[{{','.join(extras)}}]" if extras else "")
    %pip install -q "{{package}}"
    from qcl_helpers import colab
    colab.check_restart()  # stops, saying why, if pip upgraded a module already loaded
    os.chdir(os.path.join(home, "book"))
from qcl_helpers import profiles, devices, plotting
plotting.book_style()  # fonts legible at the book's column width
P = profiles.current()
print(f"profile: {{P.name}} ({{P.description}})")
print(devices.describe())"""


def repository_url() -> str:
    """The repository URL, set once in _config.yml."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def setup_source(stem: str) -> str:
    """The Setup cell's source for the notebook ``book/<stem>.ipynb``."""
    return TEMPLATE.format(url=repository_url(), extras=json.dumps(EXTRAS.get(stem, [])))


def notebooks() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb"))


def first_code_cell(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def write(path: Path) -> bool:
    """Put the Setup cell into ``path`` (atomically); True when it changed."""
    nb = json.loads(path.read_text())
    cell = first_code_cell(nb)
    new = setup_source(path.stem)
    if "".join(cell["source"]) == new:
        return False
    # keep the notebook's own storage form (one string or a list of lines)
    cell["source"] = new if isinstance(cell["source"], str) else new.splitlines(keepends=True)
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return True


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bad = []
    for path in notebooks():
        if "--check" in argv:
            if "".join(first_code_cell(json.loads(path.read_text()))["source"]) != setup_source(path.stem):
                bad.append(path.name)
        elif write(path):
            print(f"updated {path.name}")
    if bad:
        print(f"setup cell differs from tools/setup_cell.py in: {', '.join(bad)}; "
              "run python tools/setup_cell.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
