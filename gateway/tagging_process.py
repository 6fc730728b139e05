"""Language and sentiment tagging of large batches in a process of its own.

The intake tags every inbound message (inbox/sentiment.py, 50-100 µs of pure Python a
message) inside its transaction, and on SQLite that transaction runs in a writer thread
that shares the gateway's GIL with the event loop: a saturated gateway is bound by that
one lock, and tagging was a quarter of the writer's samples (py-spy). A batch of at
least `MIN_BATCH` messages is tagged here instead, on the other core, before its
transaction starts; a small one (light load) is tagged in the transaction as before,
where it costs less than the round trip to another process.

The process is spawned at start and loads the models in the background; until it is
ready, and whenever it fails (killed, out of memory), batches are tagged in the
transaction: a message is never held up or lost for want of its tags, and a dead
process is replaced for the next batch. The process ends with the gateway, even one
killed without a chance to stop it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from inbox.sentiment import Analysis, analyse, warm_up

log = logging.getLogger("crocevia.tagging")

MIN_BATCH = 8
PARENT_CHECK_S = 1.0


def _analyse_many(texts: Sequence[str]) -> list[Analysis]:
    return [analyse(text) for text in texts]


def _follow_parent(parent: int) -> None:
    """In the tagging process: exit when the gateway is gone, however it ended (a
    SIGKILL leaves no time to stop us)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


class TaggingProcess:
    def __init__(self, min_batch: int = MIN_BATCH) -> None:
        self.min_batch = min_batch
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[None] | None = None

    def start(self) -> None:
        """Spawn the process (a fresh interpreter: no copy of this one's threads and
        sockets) and let it load the models; returns at once."""
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_follow_parent,
            initargs=(os.getpid(),),
        )
        self._ready = self._pool.submit(warm_up)

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready.done() and self._ready.exception() is None

    async def tags(self, texts: Sequence[str]) -> dict[str, Analysis] | None:
        """The analysis of each distinct text, or None: too few to be worth the trip,
        the process not ready yet, or failed (then a new one is started)."""
        wanted = list(dict.fromkeys(t for t in texts if t.strip()))
        if len(wanted) < self.min_batch or not self.ready or self._pool is None:
            return None
        try:
            found = await asyncio.wrap_future(self._pool.submit(_analyse_many, wanted))
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("tagging_process_failed", extra={"error": repr(exc)})
            self.stop(wait=False)
            self.start()
            return None
        return dict(zip(wanted, found, strict=True))

    def stop(self, wait: bool = True) -> None:
        """End the process; with `wait`, return once it has exited (a batch it is
        tagging takes milliseconds)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
            self._ready = None
