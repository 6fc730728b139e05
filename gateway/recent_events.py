"""The events a gateway read lately, all of them from `floor` on, oldest first: a socket
that resumes from an id at or after `floor` is replayed from here, at once and without
reading the stream, which is what a reconnect storm (thousands of sockets resuming from
nearly the same id after a network blip) needs.

Two readers fill it: the hub's stream reader while it runs (gateway/hub.py), and each
resume's read of the stream's newest events (`add_newest`), so that a gateway that
holds only visitors, and so reads no stream, still replays a storm from memory.
"""

from __future__ import annotations

import bisect
import os

from gateway.stream_event import StreamEvent

RECENT_LIMIT = int(os.environ.get("CROCEVIA_HUB_RECENT", "5000"))


class RecentEvents:
    def __init__(self, limit: int = RECENT_LIMIT) -> None:
        self.limit = limit
        self.events: list[StreamEvent] = []
        self.ids: list[tuple[int, int]] = []
        # Every event after `floor` up to `end` is held; None: nothing is (not started).
        self.floor: tuple[int, int] | None = None
        # Bumped each time what was held is let go as a whole: a read begun before that
        # may carry what must not be held any more (an erased contact's events).
        self.generation = 0

    @property
    def end(self) -> tuple[int, int] | None:
        return self.ids[-1] if self.ids else self.floor

    def reset(self, floor: tuple[int, int] | None) -> None:
        """Let everything go: from now on, what comes after `floor`."""
        self.events.clear()
        self.ids.clear()
        self.floor = floor
        self.generation += 1

    def keep(self, ev: StreamEvent) -> None:
        """The next event read after `end` (one held already is skipped)."""
        end = self.end
        if end is None or ev.sid <= end:
            return
        self.events.append(ev)
        self.ids.append(ev.sid)
        if len(self.events) >= 2 * self.limit:  # let the older half go, at once
            cut = len(self.events) - self.limit
            self.floor = self.ids[cut - 1]
            del self.events[:cut], self.ids[:cut]

    def add_newest(self, newest_first: list[StreamEvent], complete: bool, generation: int) -> None:
        """The stream's newest events, read after `end` as it was at `generation`
        (XREVRANGE + (end). Not `complete` (the read hit its count): something between
        `end` and the oldest of them was not read, so what was held is let go."""
        if generation != self.generation or not newest_first:
            return
        oldest = newest_first[-1]
        end = self.end
        if not complete and (end is None or oldest.sid > end):
            self.reset(oldest.sid)
        for ev in reversed(newest_first):
            self.keep(ev)

    def covers(self, last: tuple[int, int]) -> bool:
        return self.floor is not None and last >= self.floor

    def after(self, last: tuple[int, int]) -> list[StreamEvent]:
        return self.events[bisect.bisect_right(self.ids, last) :]
