"""How many widget sockets one visitor and one IP address may hold open at once.

A visitor has a tab or two; a page that opens sockets in a loop, or one address opening
thousands, would hold memory and a subscriber each. Counted per gateway process (a
load balancer spreading one address over N gateways allows N times the figure), in
memory: a crashed gateway takes its counts with it, so nothing leaks.

| what | default | variable |
|---|---|---|
| open sockets of one visitor | 5 | `CROCEVIA_LIMIT_SOCKETS_PER_VISITOR` |
| open sockets from one IP address | 50 | `CROCEVIA_LIMIT_SOCKETS_PER_IP` |

Over a limit the socket is closed with 1008 (policy violation) and a reason.
"""

from __future__ import annotations

import os
from collections import Counter

PER_VISITOR = int(os.environ.get("CROCEVIA_LIMIT_SOCKETS_PER_VISITOR", "5"))
PER_IP = int(os.environ.get("CROCEVIA_LIMIT_SOCKETS_PER_IP", "50"))
CLOSE_POLICY = 1008


class SocketQuota:
    def __init__(self) -> None:
        self.open_now: Counter[tuple[str, str]] = Counter()

    def take(self, kind: str, subject: str, limit: int) -> bool:
        """One more socket for `subject`, if it stays within `limit`."""
        key = (kind, subject)
        if self.open_now[key] >= limit:
            return False
        self.open_now[key] += 1
        return True

    def give_back(self, kind: str, subject: str) -> None:
        key = (kind, subject)
        self.open_now[key] -= 1
        if self.open_now[key] <= 0:
            del self.open_now[key]


WIDGET_SOCKETS = SocketQuota()
