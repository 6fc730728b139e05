"""Large batches are tagged in a process of their own (gateway/tagging_process.py): the
same tags as in the gateway, nothing for a small batch or before the process is ready,
and a killed process costs no batch its tags (the caller tags them itself) and is
replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import pytest

from gateway.tagging_process import TaggingProcess
from inbox.sentiment import analyse

TEXTS = [
    "Il pacco non è mai arrivato, sono furioso",
    "Grazie mille, gentilissimi!",
    "Where is my parcel?",
    "This is the worst service ever :(",
    "ok",
    "Vorrei cambiare la taglia, grazie",
    "Great, another delay...",
    "👍",
    "Buongiorno, avete la maglia in blu?",
    "   ",
]


async def _started() -> TaggingProcess:
    tagging = TaggingProcess(min_batch=4)
    tagging.start()
    deadline = time.monotonic() + 60
    while not tagging.ready:
        assert time.monotonic() < deadline, "the tagging process did not get ready"
        await asyncio.sleep(0.05)
    return tagging


@pytest.fixture
async def tagging() -> AsyncIterator[TaggingProcess]:
    made = await _started()
    yield made
    made.stop()


async def test_a_large_batch_gets_the_tags_the_gateway_would_give(tagging: TaggingProcess) -> None:
    found = await tagging.tags(TEXTS)
    assert found is not None
    assert set(found) == {t for t in TEXTS if t.strip()}
    for text, got in found.items():
        assert got == analyse(text)


async def test_a_small_batch_is_left_to_the_transaction(tagging: TaggingProcess) -> None:
    assert await tagging.tags(TEXTS[:3]) is None
    assert await tagging.tags(["uguale"] * 10) is None  # one distinct text


async def test_nothing_before_the_process_is_ready() -> None:
    tagging = TaggingProcess(min_batch=1)
    try:
        assert await tagging.tags(TEXTS) is None  # not started
        tagging.start()
        assert await tagging.tags(TEXTS) is None  # still loading its models
    finally:
        tagging.stop()


async def test_a_killed_process_costs_one_batch_its_tags_and_is_replaced(
    tagging: TaggingProcess,
) -> None:
    assert tagging._pool is not None
    (pid,) = [p.pid for p in tagging._pool._processes.values()]  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.5)
    assert await tagging.tags(TEXTS) is None  # the caller tags this batch itself
    deadline = time.monotonic() + 60
    while not tagging.ready:
        assert time.monotonic() < deadline, "no new tagging process"
        await asyncio.sleep(0.05)
    found = await tagging.tags(TEXTS)
    assert found is not None and found[TEXTS[0]] == analyse(TEXTS[0])


PARENT = """
import asyncio, sys, time
from gateway.tagging_process import TaggingProcess

async def main():
    tagging = TaggingProcess()
    tagging.start()
    while not tagging.ready:
        await asyncio.sleep(0.05)
    print([p.pid for p in tagging._pool._processes.values()][0], flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_the_process_ends_with_a_gateway_killed_without_warning() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    line = await asyncio.wait_for(parent.stdout.readline(), timeout=60)
    child = int(line)
    assert _alive(child)
    parent.kill()  # SIGKILL: the gateway runs no shutdown
    await parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the tagging process outlived its gateway"
        await asyncio.sleep(0.1)
