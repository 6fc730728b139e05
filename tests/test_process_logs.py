"""The suite's check of what its gateway/worker processes logged (tests/process_logs.py)."""

from __future__ import annotations

import json
from pathlib import Path

from process_logs import LogWatch, offence


def record(level: str, event: str) -> str:
    return json.dumps({"ts": "2026-11-24T10:00:00+00:00", "level": level, "event": event})


def test_errors_crashes_and_tracebacks_offend_unless_allowed() -> None:
    assert offence(record("error", "hub_bad_entry"), frozenset())
    assert offence(record("critical", "anything"), frozenset())
    assert offence(record("info", "worker_job_crashed"), frozenset())
    assert offence("Traceback (most recent call last):", frozenset())
    assert not offence(record("warning", "webhook_forged"), frozenset())
    assert not offence(record("info", "reply_status"), frozenset())
    assert not offence("embedded redis-server on redis://127.0.0.1:1", frozenset())
    assert not offence(record("error", "hub_bad_entry"), frozenset({"hub_bad_entry"}))
    assert offence(record("error", "socket_failed"), frozenset({"hub_bad_entry"}))


def test_each_line_is_read_once_and_only_when_complete(tmp_path: Path) -> None:
    log = tmp_path / "worker-1.log"
    log.write_text(record("info", "worker_started") + "\n" + record("error", "worker_bad"))
    watch = LogWatch(tmp_path)
    assert watch.offences() == []  # the error line is not finished yet
    with log.open("a") as f:
        f.write("\n")
    (found,) = watch.offences()
    assert found.startswith("worker-1.log: ") and '"worker_bad"' in found
    assert watch.offences() == []
