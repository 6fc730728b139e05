"""The garbage collector, set for a server that holds thousands of long-lived objects.

CPython's cyclic collector runs a young-generation pass every 700 net allocations and
walks older generations every 10 of those. A gateway holds every socket's protocol,
subscriber and task for hours, and all of the modules and models loaded at start: each
full pass walks them all, for nothing. After start-up the gateway moves what is loaded
to the permanent generation (`gc.freeze`, never walked again) and collects less often.

Measured on one machine (docs/benchmarks.md): bench/idle_sockets.py with 5 000 sockets,
394 -> 472 connects/s and the 2 000-socket resume storm 7.64 -> 6.47 s; bench/e2e.py
saturated 1540 -> 1720 msg/s, p99 at 500 msg/s 120 -> 94 ms.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 100)  # the default is (700, 10, 10)


def tune_for_serving() -> None:
    """Call once, after everything that stays for the process's life is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
