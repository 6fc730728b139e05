"""Connectors are platform adapters: they import, of our own code, only inbox/types.py
and each other; never the database, the file store, the gateway or the receivers
(connectors/base.py). What they need from storage the inbox hands them (an
OutboundMessage carries the bytes of a reply's files; inbox/preparation.py stores
what they download)."""

from __future__ import annotations

import ast
from pathlib import Path

import connectors
import inbox

ALLOWED_OURS = {"inbox.types"}
FORBIDDEN_LIBRARIES = ("sqlalchemy", "redis", "alembic", "starlette")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module in ("inbox", "gateway", "receivers"):
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_every_connector_imports_only_inbox_types_of_the_inbox() -> None:
    modules = sorted(Path(connectors.__file__).parent.glob("*.py"))
    assert len(modules) >= 10
    wrong = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imports(path)
        if (name.split(".")[0] in ("inbox", "gateway", "receivers") and name != "inbox"
            and name not in ALLOWED_OURS)
        or name.split(".")[0] in FORBIDDEN_LIBRARIES
    }  # fmt: skip
    assert not wrong, sorted(wrong)


def test_the_inbox_imports_no_connector_gateway_or_receiver() -> None:
    """The other way round (../shared/DESIGN.md): the domain knows no transport; what it
    asks of connectors is declared in inbox/types.py."""
    root = Path(inbox.__file__).parent
    modules = sorted(p for p in root.rglob("*.py") if "migrations" not in p.parts)
    assert len(modules) >= 30
    wrong = {
        f"{path.relative_to(root)}: {name}"
        for path in modules
        for name in _imports(path)
        if name.split(".")[0] in ("connectors", "gateway", "receivers")
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from inbox.model import Message\nfrom inbox import files\nimport sqlalchemy\n"
    )
    assert {"inbox.model", "inbox.files", "sqlalchemy"} <= _imports(sample)
