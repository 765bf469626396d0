"""The package's import graph follows the pipeline (ARCHITECTURE.md).

Every module of ``conslaw_algebra`` is read with ``ast`` (every ``import`` and
``from ... import`` statement, those inside functions included, so a lazy import is
checked like any other) and mapped to its stage by its folder. A module may import only
from its own or an earlier stage; ``exact/`` only from itself, ``errors`` and
``progress``; and the module graph has no cycle. The checker is tested on synthetic
graphs with a bad edge, so a passing run on the package means something.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = "conslaw_algebra"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# Stages in pipeline order; a module belongs to the first entry that is its name or the
# name of a package containing it. views, bridges and tools share the last stage but
# one; the package itself (the public API, which re-exports bridges) comes last.
STAGES = [
    ("base", (f"{PACKAGE}.errors", f"{PACKAGE}.progress")),
    ("exact", (f"{PACKAGE}.exact",)),
    ("language", (f"{PACKAGE}.language",)),
    ("flows", (f"{PACKAGE}.flows",)),
    ("analyses", (f"{PACKAGE}.analyses",)),
    ("api", (f"{PACKAGE}.api",)),
    ("interfaces", (f"{PACKAGE}.views", f"{PACKAGE}.bridges", f"{PACKAGE}.tools")),
    ("public", (PACKAGE,)),
]


def stage_of(module: str) -> int | None:
    """Index in ``STAGES`` of a dotted module name; None when no stage claims it.

    >>> [STAGES[stage_of(m)][0] for m in ("conslaw_algebra.exact.modp", "conslaw_algebra")]
    ['exact', 'public']
    >>> stage_of("conslaw_algebra.stray") is None
    True
    """
    for index, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if module == prefix or (prefix != PACKAGE and module.startswith(prefix + ".")):
                return index
    return None


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module and package under ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules that ``source`` (module ``module``) imports, at any depth.

    ``from X import name`` counts as importing ``X.name`` when that is a module, else X.

    >>> known = {"p", "p.a", "p.b", "p.sub", "p.sub.c"}
    >>> text = "import os\\nfrom .. import a\\ndef f():\\n    from .c import g\\n"
    >>> sorted(imports_of(text, "p.sub.d", False, known))
    ['p.a', 'p.sub.c']
    >>> sorted(imports_of("from .sub import c, x\\nimport p.b", "p", True, known))
    ['p.b', 'p.sub', 'p.sub.c']
    """
    top = module.split(".")[0]
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1] + (node.module.split(".")
                                                            if node.module else [])
            else:
                base = node.module.split(".")
            if base[0] != top:
                continue
            origin = ".".join(base)
            for alias in node.names:
                name = f"{origin}.{alias.name}"
                found.add(name if name in known else origin)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package modules it imports, read from the files under ``root``."""
    modules = package_modules(root)
    known = set(modules)
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py", known)
            for name, path in modules.items()}


def layout_violations(graph: dict[str, set[str]]) -> list[str]:
    """What breaks the layout: a module without a stage, an import of an unknown module,
    of a later stage, of the pipeline from ``exact/``, and every cycle.

    >>> layout_violations({"conslaw_algebra.exact.modp": {"conslaw_algebra.errors"},
    ...                    "conslaw_algebra.errors": set()})
    []
    """
    problems = []
    exact = [name for name, _ in STAGES].index("exact")
    for module in sorted(graph):
        if stage_of(module) is None:
            problems.append(f"{module}: belongs to no stage")
    for module in sorted(graph):
        mine = stage_of(module)
        for target in sorted(graph[module]):
            theirs = stage_of(target)
            if target not in graph:
                problems.append(f"{module} imports {target}, which is not a module of the package")
            elif mine is None or theirs is None:
                continue
            elif mine == exact and theirs > exact:
                problems.append(f"{module} (exact) imports the pipeline module {target} "
                                f"({STAGES[theirs][0]}): exact/ may import only errors and "
                                "progress")
            elif theirs > mine:
                problems.append(f"{module} ({STAGES[mine][0]}) imports {target} from a later "
                                f"stage ({STAGES[theirs][0]})")
    digraph = nx.DiGraph()
    digraph.add_nodes_from(graph)
    digraph.add_edges_from((m, t) for m, targets in graph.items() for t in targets)
    cycles = []
    for cycle in nx.simple_cycles(digraph):
        start = cycle.index(min(cycle))
        cycles.append(cycle[start:] + cycle[:start] + [min(cycle)])
    problems += ["import cycle: " + " -> ".join(c) for c in sorted(cycles)]
    return problems


# ------------------------------------------------------------------ the package itself
def test_every_module_has_a_stage():
    modules = package_modules()
    assert f"{PACKAGE}.api" in modules and f"{PACKAGE}.exact.modp" in modules
    assert [m for m in modules if stage_of(m) is None] == []


def test_imports_follow_the_pipeline():
    assert layout_violations(import_graph()) == []


def test_grammar_ships_beside_the_parser():
    # an installed package has no grammar/ folder: language/net.lark must resolve to the file
    grammar = ROOT / "language" / "net.lark"
    assert grammar.is_file()
    assert grammar.read_text() == (ROOT.parent / "grammar" / "net.lark").read_text()


def test_lazy_imports_are_read():
    # api.py imports blocks inside Model.block_laws; the graph must see it.
    assert f"{PACKAGE}.analyses.blocks" in import_graph()[f"{PACKAGE}.api"]


# ------------------------------------------------------------------ the checker itself
def test_backward_edge_is_reported():
    graph = {"conslaw_algebra.flows.system": {"conslaw_algebra.analyses.laws"},
             "conslaw_algebra.analyses.laws": {"conslaw_algebra.errors"},
             "conslaw_algebra.errors": set()}
    assert layout_violations(graph) == [
        "conslaw_algebra.flows.system (flows) imports conslaw_algebra.analyses.laws from a "
        "later stage (analyses)"]


def test_api_importing_a_view_is_reported():
    graph = {"conslaw_algebra.api": {"conslaw_algebra.views.cli"},
             "conslaw_algebra.views.cli": set()}
    assert len(layout_violations(graph)) == 1


def test_exact_importing_the_pipeline_is_reported():
    graph = {"conslaw_algebra.exact.modp": {"conslaw_algebra.language.program"},
             "conslaw_algebra.language.program": set()}
    (problem,) = layout_violations(graph)
    assert "exact/ may import only errors and progress" in problem


def test_cycle_is_reported():
    graph = {"conslaw_algebra.views.cli": {"conslaw_algebra.tools.sweep"},
             "conslaw_algebra.tools.sweep": {"conslaw_algebra.views.cli"}}
    assert layout_violations(graph) == [
        "import cycle: conslaw_algebra.tools.sweep -> conslaw_algebra.views.cli -> "
        "conslaw_algebra.tools.sweep"]


def test_stray_and_unknown_modules_are_reported():
    graph = {"conslaw_algebra.stray": {"conslaw_algebra.nowhere"}}
    assert layout_violations(graph) == [
        "conslaw_algebra.stray: belongs to no stage",
        "conslaw_algebra.stray imports conslaw_algebra.nowhere, which is not a module of the "
        "package"]


def test_lazy_backward_import_in_source_is_reported(tmp_path):
    package = tmp_path / PACKAGE
    for folder in ("exact", "analyses"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "exact" / "modp.py").write_text("def rank():\n    from ..analyses import laws\n")
    (package / "analyses" / "laws.py").write_text("from ..exact.modp import rank\n")
    problems = layout_violations(import_graph(package))
    assert any("exact.modp (exact) imports the pipeline module conslaw_algebra.analyses.laws"
               in p for p in problems)
    assert ("import cycle: conslaw_algebra.analyses.laws -> conslaw_algebra.exact.modp -> "
            "conslaw_algebra.analyses.laws") in problems
