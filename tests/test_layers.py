"""Import layering of ``src/bitrobust``, checked by parsing the source with ``ast`` (nothing is imported).

Layers, lowest first (DESIGN.md, "Layout"): a module may import only modules of its
own folder or of lower layers, lazily (inside a function) or not; there are no import
cycles between modules, also within a folder; and nobody hides an import behind
``if TYPE_CHECKING:``. The top-level ``bitrobust/__init__.py`` may import only base
modules. An import of ``bitrobust.x.y`` (or ``from bitrobust.x import y`` where ``y`` is a
submodule) is an edge to that module; ``from bitrobust.x import name`` is an edge to
the package ``bitrobust.x`` (its ``__init__``), so a submodule importing its own
package's ``__init__`` while that ``__init__`` imports the submodule is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "bitrobust"

BASE = 0
#: Layer of each folder (sub-package) of bitrobust; bitrobust/*.py files are base modules (0).
FOLDER_LAYERS = {
    "data": 1,
    "quantization": 2,
    "formats": 2.5,  # above quantization (formats wrap FixedPointQuantizer), below bit_errors
    "bit_errors": 3,
    "nn": 4,
    "models": 5,
    "tasks": 6,
    "injection": 7,
    "metrics": 8,
    "evaluation": 9,
    "training": 10,
    "reports": 11,
    "experiments": 12,
    "cli": 13,
}
#: bitrobust/*.py files that are not base modules: they belong to the cli layer.
CLI_TOP_MODULES = ("__main__",)

# ----------------------------------------------------------------------------- the import graph


def discover(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module under ``src/bitrobust`` (packages by their __init__)."""
    modules = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve_relative(module: str, path: Path, level: int, name: str | None) -> str:
    package = module if is_package(path) else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module (``bitrobust.x.y.Z`` -> ``bitrobust.x.y``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path], tree: ast.AST | None = None) -> set[str]:
    """The bitrobust modules ``module`` imports anywhere in its source (edges of the graph)."""
    tree = tree if tree is not None else ast.parse(path.read_text(), str(path))
    edges = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, path, node.level, node.module) if node.level else (node.module or "")
            # from pkg import sub -> the submodule; from pkg import name -> pkg itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                known = _known(target, modules)
                if known is not None and known != module:
                    edges.add(known)
    return edges


def uses_type_checking(tree: ast.AST) -> list[int]:
    """Line numbers where TYPE_CHECKING is named (imported, tested or referenced)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "TYPE_CHECKING":
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "TYPE_CHECKING":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and any(a.name == "TYPE_CHECKING" for a in node.names):
            lines.append(node.lineno)
    return sorted(set(lines))


def layer_of(module: str) -> tuple[int, str]:
    """(layer, group): modules may import their own group (folder) or lower layers."""
    parts = module.split(".")
    if len(parts) == 1:
        return BASE, "base"  # bitrobust/__init__.py: base modules only
    name = parts[1]
    if len(parts) == 2 and name not in FOLDER_LAYERS:
        return (FOLDER_LAYERS["cli"], "cli") if name in CLI_TOP_MODULES else (BASE, "base")
    return FOLDER_LAYERS[name], name


def allowed(source: str, target: str) -> bool:
    (src_layer, src_group), (dst_layer, dst_group) = layer_of(source), layer_of(target)
    if source == PACKAGE:
        return dst_group == "base"
    return dst_layer < src_layer or dst_group == src_group


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []

    def strongconnect(v: str) -> None:  # recursion depth <= number of modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [_shortest_cycle(graph, comp) for comp in sorted(components)]


def _shortest_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """The shortest cycle through the component's first module (BFS inside the component)."""
    members, start = set(comp), comp[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w in members and w not in parent and w != start:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle in component {comp}")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """One message per import of a higher layer (or per folder without a layer)."""
    folders = sorted({m.split(".")[1] for m in graph if m.count(".") >= 2} - set(FOLDER_LAYERS))
    out = [f"folder bitrobust/{f} has no layer: add it to FOLDER_LAYERS (and DESIGN.md)" for f in folders]
    for module in sorted(graph):
        if module.count(".") >= 2 and module.split(".")[1] in folders:
            continue
        for target in sorted(graph[module]):
            if target.count(".") >= 2 and target.split(".")[1] in folders:
                continue
            if not allowed(module, target):
                out.append(f"{module} (layer {layer_of(module)[0]}) imports {target} (layer {layer_of(target)[0]})")
    return out


MODULES = discover()
TREES = {m: ast.parse(p.read_text(), str(p)) for m, p in MODULES.items()}
GRAPH = {m: imports_of(m, MODULES[m], MODULES, TREES[m]) for m in MODULES}
LAYER_VIOLATIONS = layer_violations(GRAPH)
TYPE_CHECKING_USES = [
    f"{MODULES[m].relative_to(SRC)} lines {lines}" for m in sorted(MODULES) if (lines := uses_type_checking(TREES[m]))
]
CYCLES = [" -> ".join(c) for c in find_cycles(GRAPH)]


def _each(violations: list[str]):
    """One test per violation (its message is the test id); a single passing "none" if there are none."""
    return pytest.mark.parametrize("violation", violations or [None], ids=violations or ["none"])


# ----------------------------------------------------------------------------- the checks


@_each(LAYER_VIOLATIONS)
def test_imports_only_own_folder_or_lower_layers(violation):
    assert violation is None, violation


@_each(TYPE_CHECKING_USES)
def test_no_type_checking(violation):
    assert violation is None, f"{violation} use TYPE_CHECKING: import for real, or use a Protocol"


@_each(CYCLES)
def test_no_import_cycles(violation):
    assert violation is None, f"import cycle: {violation}"


# ----------------------------------------------------------------------------- the checker itself


def test_checker_on_a_made_up_package(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "nn").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "nn" / "__init__.py").write_text("from bitrobust.nn.flip import flip\n")
    (pkg / "nn" / "flip.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import norm\n"
        "from ..errors import BitrobustError\n"
        "if TYPE_CHECKING:\n    from bitrobust.models import base\n"
        "def f():\n    import bitrobust.nn.norm as n\n    from bitrobust.nn import flip\n"
    )
    (pkg / "nn" / "norm.py").write_text("from bitrobust.nn import flip\nimport torch\n")
    modules = discover(tmp_path)
    assert sorted(modules) == ["bitrobust", "bitrobust.errors", "bitrobust.nn", "bitrobust.nn.flip", "bitrobust.nn.norm"]
    graph = {m: imports_of(m, p, modules) for m, p in modules.items()}
    # `from bitrobust.models import base`: bitrobust.models is not in this tree, bitrobust is
    assert graph["bitrobust.nn.flip"] == {"bitrobust.nn.norm", "bitrobust.errors", "bitrobust"}
    assert graph["bitrobust.nn.norm"] == {"bitrobust.nn.flip"}  # `from bitrobust.nn import flip`: a submodule
    assert uses_type_checking(ast.parse(modules["bitrobust.nn.flip"].read_text())) == [1, 4]
    assert find_cycles(graph) == [["bitrobust.nn.flip", "bitrobust.nn.norm", "bitrobust.nn.flip"]]
    assert allowed("bitrobust.nn.flip", "bitrobust.errors") and allowed("bitrobust.nn.flip", "bitrobust.data.loader")
    assert not allowed("bitrobust.nn.flip", "bitrobust.models.base") and not allowed("bitrobust", "bitrobust.nn")
    assert not allowed("bitrobust.errors", "bitrobust.__main__") and allowed("bitrobust.__main__", "bitrobust.cli.common")
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c", "a"]]
    # a base module importing a folder; a folder without a layer
    (pkg / "errors.py").write_text("def f():\n    from bitrobust import nn\n")
    (pkg / "plugins").mkdir()
    (pkg / "plugins" / "fp8.py").write_text("import bitrobust.nn.flip\n")
    modules = discover(tmp_path)
    graph = {m: imports_of(m, p, modules) for m, p in modules.items()}
    assert layer_violations(graph) == [
        "folder bitrobust/plugins has no layer: add it to FOLDER_LAYERS (and DESIGN.md)",
        "bitrobust.errors (layer 0) imports bitrobust.nn (layer 4)",
    ]
