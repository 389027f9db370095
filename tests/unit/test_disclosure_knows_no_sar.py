"""The disclosure package builds and shares bundles for anyone; the SAR package uses it. Disclosure never
imports the SAR package, not even inside a function (that is how the old bundles <-> sar.disclose cycle
hid), so each imports alone and the dependency runs one way."""

from __future__ import annotations

import ast
from pathlib import Path

DISCLOSURE = Path(__file__).resolve().parents[2] / "service" / "disclosure"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_disclosure_module_imports_the_sar_package() -> None:
    modules = sorted(DISCLOSURE.glob("*.py"))
    assert len(modules) > 5
    offenders = {p.name: sorted(n for n in _imports(p) if n == "service.sar" or n.startswith("service.sar."))
                 for p in modules}
    assert {k: v for k, v in offenders.items() if v} == {}
