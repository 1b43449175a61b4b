"""Dependencies point one way: a domain imports only the shared pieces below every domain and the domains below
itself, in the order written here, once. A shared piece that two domains need lives below both (server/labels.py,
server/phones.py, server/operator.py, server/db_url.py…), never inside one of them. Imports inside functions
count too; the wiring on top (the app, the CLI, the list of tables, the hourly housekeeping) may import anything.
"""
import ast
from pathlib import Path

import pytest

from server.settings import PROJECT_ROOT

# Below every domain: may import each other, never a domain.
SHARED = {"server.settings", "server.i18n", "server.refusals", "server.db_url", "server.db", "server.provision",
          "server.forms", "server.ratelimit", "server.media", "server.listen", "server.live_events",
          "server.static_files", "server.headers", "server.input_guard", "server.api_docs", "server.secrets",
          "server.phones", "server.labels", "server.operator", "server.migrate"}
# The domains, lowest first: each may import those before it, never one after it.
ORDER = ["server.staff", "server.assets", "server.crews", "server.notify", "server.incidents", "server.reports",
         "server.channels", "sync", "server.dispatch", "server.audit", "server.imports", "server.admin", "maps",
         "server.demo"]
# On top: they wire the rest together.
WIRING = {"server.app", "server.cli", "server.models", "server.housekeeping", "server.migrations"}


def unit_of(module: str) -> str:
    """The package a module belongs to: `server.<domain>` or a shared module, `sync`, `maps`."""
    parts = module.split(".")
    if parts[0] != "server":
        return parts[0]
    return ".".join(parts[:2]) if len(parts) > 1 else "server"


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "server":  # from server import ratelimit: the module, not the package
                found += [(f"server.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((node.module, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] in ("server", "sync", "maps")]


def _modules():
    for folder in ("server", "sync", "maps"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            yield ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__"), path


def allowed(source: str, target: str) -> bool:
    """May the unit `source` import from the unit `target`?"""
    if source == target or source in WIRING or source == "server":
        return True
    if target in SHARED:
        return True
    if source in SHARED:
        return False  # a shared piece that needs a domain is not shared: it belongs above or in that domain
    if target in WIRING:
        return False
    return target in ORDER and ORDER.index(target) < ORDER.index(source)


def violations() -> list[str]:
    found = []
    for module, path in _modules():
        source = unit_of(module)
        for name, line in _imports(path):
            target = unit_of(name)
            if not allowed(source, target):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{line} ({source}) imports {name} ({target})")
    return found


def test_every_package_is_placed():
    units = {unit_of(module) for module, _ in _modules()} - {"server"}
    assert units <= SHARED | set(ORDER) | WIRING, units - (SHARED | set(ORDER) | WIRING)


def test_imports_point_down():
    assert violations() == []


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("server.incidents", "server.crews", True),       # a job is given to a crew
    ("server.crews", "server.incidents", False),      # the cycle there was (actor_of now lives with staff)
    ("server.incidents", "server.notify", True),      # a change queues its notices
    ("server.notify", "server.incidents", False),     # notify reads what it needs of an incident as values
    ("server.reports", "server.incidents", True),     # a report joins an incident
    ("server.incidents", "server.reports", False),    # the categories live in server.labels
    ("server.labels", "server.reports", False),       # a shared piece never needs a domain
    ("sync", "server.incidents", True),
    ("server.dispatch", "sync", True),
    ("server.crews", "sync", False),                  # the app's words for the mutations are in server.labels
    ("server.app", "sync", True),                     # the wiring imports everything
])
def test_the_rule_itself(source, target, expected):
    assert allowed(source, target) is expected
