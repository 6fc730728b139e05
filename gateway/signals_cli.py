"""`crocevia signals export`: every contact's signals (or a segment's) as CSV or NDJSON.

Streams chunk by chunk to a file or stdout, whatever the number of contacts; draws a
progress bar on stderr when stderr is a terminal; writes an audit entry.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from inbox import audit, segments, signals
from inbox.db import create_engine, sessionmaker
from inbox.model import utcnow


class Progress:
    """A one-line progress bar on a terminal: `[#####.....] 52% 52000/100000 1234/s`."""

    WIDTH = 30

    def __init__(self, total: int, out: TextIO, every_s: float = 0.2) -> None:
        self.total = max(total, 1)
        self.out = out
        self.every = every_s
        self.done = 0
        self.written = 0
        self.started = time.monotonic()
        self.shown = 0.0

    def advance(self, scanned: int, written: int) -> None:
        self.done += scanned
        self.written += written
        now = time.monotonic()
        if now - self.shown >= self.every or self.done >= self.total:
            self.shown = now
            self.draw(now)

    def draw(self, now: float) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self.WIDTH)
        rate = self.done / max(now - self.started, 1e-6)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.out.write(
            f"\r[{bar}] {share:4.0%} {self.done}/{self.total} contacts, "
            f"{self.written} written, {rate:,.0f}/s "
        )
        self.out.flush()

    def finish(self) -> None:
        self.draw(time.monotonic())
        self.out.write("\n")
        self.out.flush()


class SegmentNotFound(LookupError):
    pass


async def export(
    database_url: str, fmt: str, out: TextIO, *, segment: str | None = None,
    progress: TextIO | None = None,
) -> int:  # fmt: skip
    """Write the export to `out`; returns the number of contacts written."""
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    now = utcnow()
    written = 0
    try:
        async with sessions() as session, session.begin():
            predicate = None
            seg_id = None
            if segment:
                seg = await segments.by_name(session, segment)
                if seg is None:
                    raise SegmentNotFound(segment)
                predicate, seg_id = segments.compile_rules(seg.rules, now), seg.id
            total = await signals.count_contacts(session)
            audit.record(session, None, "signals.exported", "segment" if segment else "contacts",
                         seg_id, format=fmt, segment=segment, via="cli")  # fmt: skip
        bar = Progress(total, progress) if progress is not None else None

        def on_chunk(scanned: int, chosen: int) -> None:
            nonlocal written
            written += chosen
            if bar is not None:
                bar.advance(scanned, chosen)

        async with sessions() as session:
            async for piece in signals.export(session, fmt, now, predicate, on_chunk):
                out.write(piece)
        if bar is not None:
            bar.finish()
    finally:
        await engine.dispose()
    return written


def run(database_url: str, fmt: str, segment: str | None, output: str | None) -> int:
    """The command: 0 on success, 2 for an unknown segment."""
    progress = sys.stderr if sys.stderr.isatty() else None
    try:
        if output and output != "-":
            with Path(output).open("w", encoding="utf-8", newline="") as fh:
                n = asyncio.run(export(database_url, fmt, fh, segment=segment, progress=progress))
        else:
            n = asyncio.run(
                export(database_url, fmt, sys.stdout, segment=segment, progress=progress)
            )
    except SegmentNotFound:
        print(f"no segment named {segment!r}", file=sys.stderr)
        return 2
    print(f"exported {n} contacts", file=sys.stderr)
    return 0
