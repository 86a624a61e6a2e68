"""Dependencies point one way (ARCHITECTURE): no two modules of the project import each other,
directly or round a circle, counting imports inside functions too (a lazy import still ties the
two modules together; it only hides the knot until run time)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {".venv", "node_modules", "tests", "migrations", "bench", "staticfiles", "var"}

# None: the queue's rules (call order, check-in window) live on the Booking model, below both
# the checkpoints' reads and the booking services.
KNOWN_CYCLES: list[set[str]] = []

# Apps the queue stands on, bottom up: a module of one never imports a module of an app above
# it (no circle between apps either, even one that no two modules close), except the booking's
# pages, API and admin, which show a booking's place in the queue and act on it.
LAYERS = ["checkpoints", "bookings", "checkpoint_queue"]
MAY_IMPORT_ABOVE = {"bookings.views", "bookings.api", "bookings.admin"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if SKIPPED & set(parts):
            continue
        name = ".".join(parts)[: -len(".py")].removesuffix(".__init__")
        modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in candidates if name in modules}
    return found


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_the_projects_modules():
    modules = project_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert sorted(map(sorted, cycles(graph))) == sorted(map(sorted, KNOWN_CYCLES))


def imports_above(
    graph: dict[str, set[str]], layers: list[str], allowed: set[str]
) -> list[tuple[str, str]]:
    """(module, what it imports) where an app of `layers` imports one above it."""
    rank = {app: index for index, app in enumerate(layers)}
    found = []
    for module, imported in graph.items():
        app = module.split(".")[0]
        if app not in rank or module in allowed:
            continue
        for other in imported:
            above = other.split(".")[0]
            if above in rank and rank[above] > rank[app]:
                found.append((module, other))
    return sorted(found)


def test_the_queue_stands_above_bookings_and_checkpoints_and_nothing_below_reaches_up():
    modules = project_modules()
    assert all(app in modules for app in LAYERS)
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert imports_above(graph, LAYERS, MAY_IMPORT_ABOVE) == []


def test_the_layer_check_sees_an_import_reaching_up_even_inside_a_function(tmp_path):
    graph = {
        "checkpoints.admin": {"bookings.services"},
        "bookings.services": {"checkpoints.models"},
        "bookings.views": {"checkpoint_queue.selectors"},
        "bookings.selectors": {"checkpoint_queue.predictions"},
        "checkpoint_queue.services": {"bookings.services", "checkpoints.selectors"},
    }
    assert imports_above(graph, LAYERS, MAY_IMPORT_ABOVE) == [
        ("bookings.selectors", "checkpoint_queue.predictions"),
        ("checkpoints.admin", "bookings.services"),
    ]
    lazy = tmp_path / "admin.py"
    lazy.write_text("def save():\n    from bookings.services import closure_apply\n")
    modules = {"checkpoints.admin": lazy, "bookings.services": lazy}
    assert imports_of(lazy, modules) == {"bookings.services"}


def test_the_cycle_finder_sees_a_circle_and_an_import_inside_a_function(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    lazy = tmp_path / "lazy.py"
    lazy.write_text("import core.clock\n\ndef later():\n    from core import errors\n")
    modules = {"core": lazy, "core.clock": lazy, "core.errors": lazy}
    assert imports_of(lazy, modules) == {"core", "core.clock", "core.errors"}
