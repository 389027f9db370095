"""The house rules that a grep or an import can check (issue 13).

- Every module imports alone: starting from nothing of ``service`` loaded, importing any one module works,
  so no import-time cycle hides behind the order in which the app happens to import things.
- No SQL outside repositories: SQLAlchemy statement builders and row locks appear only in ``repository.py``
  modules (plus the database plumbing and migrations).
- No transaction is opened outside the edges: the request dependency, the CLI, the demo loader, task
  modules (the task wrapper is their edge) and the app's start-up.
- The console reaches the rules through services, never through endpoint functions (no ``call_api``).

Where a module is a known, named exception, it is listed with its reason; the lists must stay exact, so a
module that is fixed has to leave the list (the test fails otherwise) and a new offender fails at once.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"
MODULES = sorted(
    ".".join(p.relative_to(SERVICE.parent).with_suffix("").parts)
    for p in SERVICE.rglob("*.py")
    if "migrations" not in p.parts and p.name != "__init__.py"
)

BUILDERS = {"select", "update", "delete", "insert", "text", "func", "exists", "union", "union_all"}
SQL = re.compile(r"with_for_update|populate_existing|\b(session|s)\.get\(\s*[A-Z]")


def _builds_sql(source: str) -> bool:
    """Whether a module builds statements itself: a statement builder imported from any sqlalchemy module (in
    any import form, parenthesised lists included), or reached through an imported sqlalchemy module
    (``sa.select``), or a row lock / identity-map read written out."""
    tree = ast.parse(source)
    modules: set[str] = set()  # local names bound to a sqlalchemy module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            if any(a.name in BUILDERS for a in node.names):
                return True
            modules |= {a.asname or a.name for a in node.names if a.name in ("sql", "dialects", "postgresql", "sqlite")}
        elif isinstance(node, ast.Import):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in BUILDERS:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in modules:
                return True
    return bool(SQL.search(source))
SQL_ALLOWED = {
    "service/app.py": "/readyz runs SELECT 1 to say whether the database answers",
    "service/db.py": "the database plumbing: one advisory_xact_lock for the repositories' cross-process locks",
}
TRANSACTION = re.compile(r"\btransaction\(")
TRANSACTION_ALLOWED_NAMES = {"deps.py", "cli.py", "demo.py", "tasks.py", "app.py", "db.py"}
TRANSACTION_ALLOWED = {
    "service/retention/sweep.py": "the sweep is a batched, crash-safe job: one transaction per batch",
    "service/retention/objectlock.py": "the roll job's batches, and the post-commit storage sync's failure alert",
    "service/ingest/service.py": "a part and the completion keep short transactions around the streaming",
    "service/ingest/assembly.py": "assembling parts commits its progress between storage calls",
    "service/imports/importer.py": "`bwv import` is an edge like a dock's requests: each row's upload commits in "
                                   "short transactions around the streaming, and the run is audited on its own",
    "service/disclosure/endpoints.py": "a share download gives back its unsent reserved bytes after the response has "
                                       "streamed, when the request's transaction has long committed",
}


def _source(rel: str) -> str:
    return (SERVICE.parent / rel).read_text()


def _files() -> list[str]:
    return sorted(str(p.relative_to(SERVICE.parent)) for p in SERVICE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports_alone(module: str) -> None:
    # service.metrics registers Prometheus collectors once per process; importing it again would clash.
    saved = {k: v for k, v in sys.modules.items()
             if (k == "service" or k.startswith("service.")) and k != "service.metrics"}
    for k in saved:
        del sys.modules[k]
    try:
        importlib.import_module(module)
    finally:
        for k in [k for k in sys.modules if (k == "service" or k.startswith("service.")) and k != "service.metrics"]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_sql_lives_in_repositories() -> None:
    offenders = {f for f in _files() if not f.endswith("repository.py") and _builds_sql(_source(f))}
    assert offenders == set(SQL_ALLOWED), sorted(offenders ^ set(SQL_ALLOWED))


@pytest.mark.parametrize("snippet,builds", [
    ("from sqlalchemy import select\n", True),
    ("from sqlalchemy import (\n    Integer,\n    select,\n)\n", True),
    ("import sqlalchemy as sa\nq = sa.select(1)\n", True),
    ("import sqlalchemy\nq = sqlalchemy.func.count()\n", True),
    ("from sqlalchemy.dialects.postgresql import insert\n", True),
    ("from sqlalchemy.dialects import postgresql\nq = postgresql.insert(t)\n", True),
    ("rec = await session.get(Recording, rid)\n", True),
    ("q = q.with_for_update()\n", True),
    ("from sqlalchemy.ext.asyncio import AsyncSession\nfrom sqlalchemy import Integer\n", False),
    ("import sqlalchemy as sa\nx: sa.Integer\n", False),
    ("value = settings.get('select')\n", False),
])
def test_the_sql_check_sees_every_way_of_writing_a_statement(snippet: str, builds: bool) -> None:
    assert _builds_sql(snippet) is builds


def test_transactions_open_only_at_the_edges() -> None:
    offenders = {f for f in _files()
                 if Path(f).name not in TRANSACTION_ALLOWED_NAMES and TRANSACTION.search(_source(f))}
    assert offenders == set(TRANSACTION_ALLOWED), sorted(offenders ^ set(TRANSACTION_ALLOWED))


def test_the_console_calls_services_not_endpoints() -> None:
    assert [f for f in _files() if "call_api" in _source(f)] == []
