"""The layout keeps its layers: the installed package never reaches into the tooling."""
import ast
from pathlib import Path

from tests.system import ROOT


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_nothing_under_services_imports_the_tooling_folder():
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "tools")
                 for path in (ROOT / "services").rglob("*.py")}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_installed_package_is_services_alone():
    setup = (ROOT / "setup.cfg").read_text()
    assert "include = services, services.*" in setup
    assert not (ROOT / "services" / "ops").exists()
