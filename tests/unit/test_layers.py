"""The layout keeps its layers: the installed package never reaches into the tooling."""
import ast
import re
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


def test_the_gateway_imports_no_module_of_another_service():
    # it reaches the others over RPC, with the models of services.contracts
    others = ("services.query", "services.launcher", "services.filter", "services.statistics", "services.health")
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.startswith(others))
                 for path in (ROOT / "services" / "gateway").rglob("*.py")}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_contracts_import_no_service():
    services = ("services.gateway", "services.query", "services.launcher", "services.filter",
                "services.statistics", "services.health")
    offenders = {str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.startswith(services))
                 for path in (ROOT / "services" / "contracts").rglob("*.py")}
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_each_dependency_of_the_gateway_is_declared_once():
    from nameko.extensions import DependencyProvider

    from services.gateway.service import GatewayService
    declared: dict[str, list[str]] = {}
    for klass in GatewayService.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, DependencyProvider):
                declared.setdefault(name, []).append(klass.__name__)
    assert {name: owners for name, owners in declared.items() if len(owners) > 1} == {}
    assert {"launcher", "statistics", "query", "health"} <= declared.keys()


def test_sql_lives_in_storage_with_one_parameter_style():
    statement = re.compile(r"\b(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b")
    outside = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "services").rglob("*.py")
                     if path.parent.name != "storage" and statement.search(path.read_text()))
    assert outside == []
    for path in (ROOT / "services" / "storage").glob("*.py"):
        source = path.read_text()
        assert "sqlalchemy import text" not in source and not re.search(r"(?<![:\w]):[a-z_]+\b[^:]", "".join(
            re.findall(r'"(?:[^"\\]|\\.)*"', source)).replace("::", "")), f"{path.name}: a :name parameter"


def test_no_test_module_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): lines for path in (ROOT / "tests").rglob("test_*.py")
            if (lines := len(path.read_text().splitlines())) > 400}
    assert long == {}
