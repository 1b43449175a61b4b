"""Every package the code imports by name is declared in pyproject.toml (runtime code: in the runtime
dependencies; tests and benchmarks: there or in the test group), so the lock holds what the code needs and an
install without the test group still has everything `faultline` imports."""
import ast
import importlib.metadata
import re
import sys
import tomllib

from server.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
OUR_PACKAGES = {"server", "sync", "maps", "tests", "bench"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            for requirement in requirements}


def _imported_modules(*folders: str) -> dict[str, str]:
    """Top-level modules imported anywhere under the folders (also inside functions) → one file that does."""
    found = {}
    for folder in folders:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    found.setdefault(module.split(".")[0], str(path.relative_to(PROJECT_ROOT)))
    return {module: where for module, where in found.items()
            if module not in sys.stdlib_module_names and module not in OUR_PACKAGES}


def _undeclared(modules: dict[str, str], declared: set[str]) -> list[str]:
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module, where in sorted(modules.items()):
        names = {name.lower().replace("_", "-") for name in distributions.get(module, [module])}
        if not names & declared:
            missing.append(f"{module} (imported in {where}; distribution {', '.join(sorted(names))})")
    return missing


def test_runtime_code_imports_only_runtime_dependencies():
    declared = _names(PYPROJECT["project"]["dependencies"])
    assert _undeclared(_imported_modules("server", "sync", "maps"), declared) == []


def test_tests_and_benchmarks_import_only_declared_packages():
    declared = _names(PYPROJECT["project"]["dependencies"]) | _names(PYPROJECT["dependency-groups"]["test"])
    assert _undeclared(_imported_modules("tests", "bench"), declared) == []


def test_sqlalchemy_is_declared_with_its_asyncio_extra():
    # SQLAlchemy 2.1 no longer brings greenlet by itself; without it every async session fails at import.
    assert any(re.match(r"sqlalchemy\[asyncio\]", requirement) for requirement in PYPROJECT["project"]["dependencies"])


def test_every_install_reads_the_lock():
    """run.sh and test.sh (through bootstrap.sh) and the Dockerfile install with one function, which syncs
    from uv.lock and refuses a lock that no longer matches pyproject.toml; nothing installs by resolving."""
    lib = (PROJECT_ROOT / "scripts" / "lib.sh").read_text()
    assert re.search(r'"\$UV" sync --locked', lib)
    assert "--require-hashes" in lib  # uv itself, from scripts/uv-requirements.txt
    for script in ("scripts/bootstrap.sh", "Dockerfile"):
        text = (PROJECT_ROOT / script).read_text()
        assert "python_env " in text, script
        assert not re.search(r"pip install (-e )?\.|pip install [^-]", text), script
    assert "bootstrap.sh" in (PROJECT_ROOT / "run.sh").read_text()
    assert "bootstrap.sh" in (PROJECT_ROOT / "test.sh").read_text()
    assert "exec bash ./test.sh" in (PROJECT_ROOT / ".ci" / "run").read_text()
    assert (PROJECT_ROOT / "uv.lock").read_text().count('hash = "sha256:') > 100


def test_uv_itself_is_pinned_by_hash_to_a_version_the_project_admits():
    pins = (PROJECT_ROOT / "scripts" / "uv-requirements.txt").read_text()
    version = re.search(r"^uv==([0-9.]+)", pins, re.M).group(1)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 2
    required = PYPROJECT["tool"]["uv"]["required-version"]
    low, high = re.match(r">=([0-9.]+),<([0-9.]+)", required).groups()
    as_tuple = lambda text: tuple(int(part) for part in text.split("."))  # noqa: E731
    assert as_tuple(low) <= as_tuple(version) < as_tuple(high)
