"""What the gateway and worker processes of a test run logged, and what must fail the test.

The processes the suite spawns log JSON lines (inbox/logs.py) to `*.log` files in the
session's data folder. Every test is checked afterwards: a record at ERROR or above,
an event named `*_crashed`, or a bare traceback fails it, quoting the line. Expected
bad input is logged at WARNING, so it passes. A test that legitimately produces an
error (a fault test killing a dependency) names the events it allows:

    @pytest.mark.allow_log_errors("hub_bad_entry")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

BAD_LEVELS = frozenset({"error", "critical"})
CRASH_SUFFIX = "_crashed"


def offence(line: str, allowed: frozenset[str]) -> bool:
    """Whether one log line must fail the test that produced it."""
    try:
        doc = json.loads(line)
    except ValueError:
        # Not one of our records: only an unhandled traceback (printed by the
        # interpreter itself, outside logging) is an offence.
        return line.startswith("Traceback (most recent call last)")
    if not isinstance(doc, dict):
        return False
    event = str(doc.get("event", ""))
    if event in allowed:
        return False
    return doc.get("level") in BAD_LEVELS or event.endswith(CRASH_SUFFIX)


@dataclass
class LogWatch:
    """Reads the log files of a folder from where it stopped last time."""

    folder: Path
    offsets: dict[Path, int] = field(default_factory=dict)

    def new_lines(self) -> list[tuple[str, str]]:
        """(file name, line) for every complete line written since the last call."""
        found: list[tuple[str, str]] = []
        for path in sorted(self.folder.glob("*.log")):
            start = self.offsets.get(path, 0)
            with path.open("rb") as f:
                f.seek(start)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
            self.offsets[path] = start + end
            for raw in chunk[:end].splitlines():
                found.append((path.name, raw.decode("utf-8", errors="replace")))
        return found

    def offences(self, allowed: frozenset[str] = frozenset()) -> list[str]:
        return [
            f"{name}: {_cause(line)}{line}"
            for name, line in self.new_lines()
            if offence(line, allowed)
        ]


def _cause(line: str) -> str:
    """The exception a record carries, first, as its traceback's last line names it."""
    try:
        exc = json.loads(line).get("exc") or ""
    except (ValueError, AttributeError):
        return ""
    return f"[{exc.strip().splitlines()[-1]}] " if exc.strip() else ""


def report(offences: list[str], when: str) -> str:
    shown = "\n".join(line[:2000] for line in offences[:20])
    more = f"\n... and {len(offences) - 20} more" if len(offences) > 20 else ""
    return (
        f"the gateway/worker processes logged {len(offences)} error(s) {when}:\n{shown}{more}\n"
        "Expected bad input must log at WARNING; a test that must produce an error "
        "allows it with @pytest.mark.allow_log_errors(<event>, ...)."
    )
