"""A small AST walk over the project's packages: who imports whom, at load time
(module level, class bodies included) or lazily (inside a function body)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    module: str  # the project module imported (dotted)
    names: tuple[str, ...]  # names taken from it ("from m import a, b"); () for "import m"
    lazy: bool  # inside a function body: runs when called, not when the importer loads
    line: int


def modules_of(root: Path, packages: list[str]) -> dict[str, Path]:
    """{dotted name: file} for every .py file of these top-level packages (migrations
    left out: Django loads them by itself, and they only reference models)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if "migrations" in parts:
                continue
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool):
    """(import node, lazy) for every import under `node`; a function body is lazy."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        elif isinstance(child, ast.If) and _is_type_checking(child):
            continue  # annotations only: never imported at run time
        else:
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _walk(child, inner)


def imports_of(root: Path, packages: list[str]) -> list[Import]:
    modules = modules_of(root, packages)
    result = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node, lazy in _walk(ast.parse(path.read_text(), str(path)), False):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _project_module(alias.name, modules)
                    if target:
                        result.append(Import(name, target, (), lazy, node.lineno))
                continue
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # "from pkg import module" imports the module; else a name of `base`.
                as_module = f"{base}.{alias.name}"
                if as_module in modules:
                    result.append(Import(name, as_module, (), lazy, node.lineno))
                    continue
                target = _project_module(base, modules)
                if target:
                    result.append(Import(name, target, (alias.name,), lazy, node.lineno))
    return result


def _project_module(dotted: str, modules: dict[str, Path]) -> str | None:
    """The project module a dotted import names (its longest known prefix), if any."""
    parts = dotted.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups (more than one module) of the load-time graph:
    each one is an import cycle. Tarjan's algorithm."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.lazy and imp.module != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.module)
            graph.setdefault(imp.module, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def boundary_violations(imports: list[Import], public: dict[str, set[str]]) -> list[str]:
    """Imports from one app into another (`public`: app -> its public module names,
    relative to the app) of a module outside the other's public ones, or of a
    private (underscored) name. Lazy imports count too."""
    problems = []
    for imp in imports:
        source, target = imp.importer.split(".")[0], imp.module.split(".")[0]
        if source == target or target not in public or source not in public:
            continue
        relative = imp.module.removeprefix(target).lstrip(".")
        where = f"{imp.importer}:{imp.line} imports {imp.module}"
        if relative not in public[target]:
            problems.append(f"{where}, which {target} does not declare public")
        for name in imp.names:
            if name.startswith("_"):
                problems.append(f"{where}.{name}, a private name")
    return problems
