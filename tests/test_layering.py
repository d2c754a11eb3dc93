"""Imports point down the layers (../shared/STYLE.md): a module imports only modules of lower layers.

Every module of the package must be placed here; a new module fails this test until it is, so its
place in the layering is a decision, not an accident. Imports inside functions count too.
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "qcl_helpers"

#: module -> layer. Lower layers know nothing of higher ones.
LAYERS = {
    "__init__": 0,
    # 1: settings, circuit definitions, run folders, run configurations
    "profiles": 1, "circuits": 1, "results": 1, "configs": 1, "readouts": 1, "colab": 1,
    # 2: simulation, data, devices, plotting
    "sim": 2, "reference": 2, "data": 2, "devices": 2, "plotting": 2, "selfcheck": 2,
    # 3: models and widgets
    "models": 3, "widgets": 3,
    # 4: measurements and training remedies
    "metrics": 4, "remedies": 4,
    # 5: physics data, theory checks, PPO glue (an engine that knows no experiment by name)
    "xxz": 5, "haar": 5, "theory": 5, "rl": 5,
    # 6: analyses built on them
    "scaling": 6,
    # 7-9: the experiment registry: its record type, the experiments, the package that registers them
    "experiments.base": 7,
    "experiments.ant": 8, "experiments.permuted_mnist": 8, "experiments.split_cifar100": 8,
    "experiments.xxz_eigenstates": 8,
    "experiments": 9,
    # 10+: the continual engine, the runner shared by the command line and sweeps, sweeps, the CLI
    "continual": 10, "runner": 11, "sweep": 12, "claims": 13, "__main__": 14,
}


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PKG).parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str) -> set:
    """Package modules imported by the file (relative or absolute, at any depth of the code)."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    if name == "__init__":
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                if node.module:
                    found.add(".".join(base + node.module.split(".")))
                else:
                    found.update(".".join(base + [a.name]) for a in node.names)
            elif node.module and node.module.startswith("qcl_helpers"):
                found.add(node.module[len("qcl_helpers."):] or "__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name[len("qcl_helpers."):] for a in node.names if a.name.startswith("qcl_helpers."))
    resolved = set()
    for f in found:
        while f and f not in LAYERS and "." in f:  # "experiments.base.Grid" -> "experiments.base"
            f = f.rsplit(".", 1)[0]
        resolved.add(f if f in LAYERS else ("__init__" if f in ("", "__version__") else f))
    return resolved - {name}


MODULES = sorted((_module_name(p), p) for p in PKG.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [n for n, _ in MODULES if n not in LAYERS]
    assert not missing, f"place these modules in tests/test_layering.py LAYERS: {missing}"


@pytest.mark.parametrize("name, path", MODULES, ids=[n for n, _ in MODULES])
def test_imports_point_down(name, path):
    if name not in LAYERS:
        pytest.skip("not placed (see test_every_module_has_a_layer)")
    up = sorted(d for d in _imports(path, name) if LAYERS.get(d, -1) >= LAYERS[name])
    assert not up, f"{name} (layer {LAYERS[name]}) imports {up} from the same or a higher layer"


def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch):
    """A negative control: a low module importing the CLI is reported."""
    fake = PKG / "profiles.py"
    src = fake.read_text() + "\n\ndef _bad():\n    from . import sweep\n"
    p = tmp_path / "profiles.py"
    p.write_text(src)
    monkeypatch.setattr(Path, "relative_to", lambda self, other: Path("profiles.py"))
    assert "sweep" in _imports(p, "profiles") and LAYERS["sweep"] > LAYERS["profiles"]
