"""Structured logs (inbox/logs.py): fields never collide with the LogRecord's own."""

from __future__ import annotations

import ast
import asyncio
import io
import json
import logging
from pathlib import Path

import pytest

from inbox.logs import CancelledResetIsExpected, JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "connectors", "inbox")
# logging refuses these in `extra` ("Attempt to overwrite 'message' in LogRecord")
RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _extra_keys(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg == "extra" and isinstance(kw.value, ast.Dict):
                found += [
                    (k.lineno, k.value)
                    for k in kw.value.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
    return found


def test_no_log_call_in_the_code_overwrites_a_logrecord_attribute() -> None:
    sources = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(sources) > 50
    checked = 0
    clashes = []
    for path in sources:
        for line, key in _extra_keys(path):
            checked += 1
            if key in RESERVED:
                clashes.append(f"{path.relative_to(ROOT)}:{line}: extra key {key!r}")
    assert checked > 50  # the scan does find the log calls
    assert clashes == []


def test_a_clashing_field_is_what_raises_and_a_renamed_one_is_logged() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("crocevia.test_logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyError, match="overwrite 'message'"):
            log.info("reply_status", extra={"message": 7})
        log.info("reply_status", extra={"message_id": 7, "status": "sent"})
    finally:
        log.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert doc["event"] == "reply_status" and doc["message_id"] == 7 and doc["status"] == "sent"


def test_a_cancelled_pool_reset_at_shutdown_is_a_warning_and_other_errors_stay_errors() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CancelledResetIsExpected())
    pool = logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool")
    pool.addHandler(handler)
    try:
        for exc in (asyncio.CancelledError(), OSError("connection reset")):
            try:
                raise exc
            except BaseException:
                pool.error("Exception during reset or similar", exc_info=True)
    finally:
        pool.removeHandler(handler)
    levels = [json.loads(line)["level"] for line in stream.getvalue().splitlines()]
    assert levels == ["warning", "error"]
