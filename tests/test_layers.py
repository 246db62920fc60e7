"""Imports point one way: data -> models, metrics -> train -> study -> analysis, with the entry points on top.
Ray is imported only in mgen/study/; the analysis layer reads results without it; analysis/ scripts import
mgen as a package, not by editing sys.path. Read from the source (every import, a function's too)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each module's layer: the longest matching prefix. A module may import its own layer and those below.
LAYERS = {
    "mgen": 0, "mgen.errors": 0, "mgen.files": 0, "mgen._lazy": 0,
    "mgen.data": 1,
    "mgen.models": 2, "mgen.metrics": 2, "mgen.export": 2,
    "mgen.train": 3,
    "mgen.study": 4,
    "mgen.analysis": 5,
    "mgen.studies": 6, "mgen.cli": 6,
}


def layer(module: str) -> int:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out += [(node.lineno, node.module)]
            if node.module == "mgen":  # from mgen import data
                out += [(node.lineno, f"mgen.{a.name}") for a in node.names if f"mgen.{a.name}" in LAYERS]
    return out


SOURCES = sorted((ROOT / "mgen").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_import_points_back_up(path):
    me = module_name(path)
    up = [f"line {line}: {me} (layer {layer(me)}) imports {mod} (layer {layer(mod)})"
          for line, mod in imports(path) if mod.startswith("mgen") and layer(mod) > layer(me)]
    assert not up, "\n".join(up)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_ray_only_in_the_study_layer(path):
    me = module_name(path)
    if layer(me) == LAYERS["mgen.study"]:
        return
    ray = [f"line {line}: {mod}" for line, mod in imports(path) if mod == "ray" or mod.startswith("ray.")]
    assert not ray, f"{me} imports Ray: " + ", ".join(ray)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The check can fail: a data module importing the study layer, in a function, is caught."""
    bad = ROOT / "mgen" / "data" / "_probe_upward.py"
    assert module_name(bad) == "mgen.data._probe_upward" and layer("mgen.data._probe_upward") == 1
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from mgen.study.plan import StudySpec\n")
    found = [mod for _, mod in imports(source)]
    assert found == ["mgen.study.plan"] and layer(found[0]) > layer("mgen.data._probe_upward")


@pytest.mark.parametrize("path", sorted((ROOT / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_analysis_scripts_do_not_edit_sys_path(path):
    assert "sys.path" not in path.read_text(), f"{path.name} edits sys.path; import from mgen.analysis instead"


def test_the_analysis_layer_loads_without_ray():
    """Every analysis module imports, and Ray is not among what it loaded: a laptop reads a cluster's results
    with pandas, pyarrow, matplotlib and Optuna alone."""
    import subprocess
    import sys

    modules = sorted(module_name(p) for p in (ROOT / "mgen" / "analysis").glob("*.py"))
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            "loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
            "print('RAY_MODULES', len(loaded), loaded[:5])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    # Libraries may print at import (pyfluidsynth announces the libfluidsynth it found): read our own line only.
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RAY_MODULES "))
    assert line.startswith("RAY_MODULES 0 "), f"analysis modules loaded Ray: {line}"
