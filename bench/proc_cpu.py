"""CPU time of the processes a benchmark started, from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (the gateway's tagging process)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def tree_seconds(pid: int) -> float:
    """CPU time of the descendants of `pid` that are alive now (not of `pid` itself)."""
    total = 0.0
    for child in descendants(pid):
        try:
            total += cpu_seconds(child)
        except FileNotFoundError:  # ended meanwhile
            pass
    return total
