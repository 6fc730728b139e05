"""Keys unique to one use, made without a system call: a random prefix drawn once per
process and a counter.

`uuid.uuid4()` reads the kernel's random source each time (about 2.5 µs, and a system
call: on the gateway's event loop thread that lets the intake's writer thread take the
GIL). The hot path needs several per message (each insert's sentinel, each rate-limit
window's entry) and only uniqueness, not unpredictability: never use these as secrets.
A forked child draws a prefix of its own.
"""

from __future__ import annotations

import itertools
import os

_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


_reseed()
os.register_at_fork(after_in_child=_reseed)


def unique_key() -> str:
    """At most 32 characters (16 of prefix, the counter in hex), unique across
    processes with overwhelming probability."""
    return f"{_prefix}{next(_counter):x}"
