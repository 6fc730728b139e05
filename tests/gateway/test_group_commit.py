"""The group-commit loop: batches form while a commit runs, and a stop waits for one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from gateway.group_commit import GroupCommit


class Doubling(GroupCommit[int, int]):
    """A commit that takes as long as the test says, and refuses negative numbers."""

    name = "doubling"

    def __init__(self) -> None:
        super().__init__(max_batch=3)
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()

    async def commit(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(items)
        await self.release.wait()
        if any(i == 99 for i in items):
            raise RuntimeError("the whole batch failed")
        return [ValueError(i) if i < 0 else i * 2 for i in items]


async def test_what_queues_during_a_commit_goes_in_the_next_batches_in_order() -> None:
    loop = Doubling()
    loop.start()
    try:
        first = loop.enqueue(1)
        await asyncio.sleep(0)  # the loop takes 1 alone
        rest = [loop.enqueue(n) for n in (2, -3, 4, 5)]
        loop.release.set()
        assert await first == 2
        got = await asyncio.gather(*rest, return_exceptions=True)
        assert got[0] == 4 and isinstance(got[1], ValueError) and got[2:] == [8, 10]
        assert loop.batches == [[1], [2, -3, 4], [5]]  # max_batch 3, in the order queued
    finally:
        await loop.stop()


async def test_a_batch_that_raises_fails_its_items_and_the_loop_goes_on() -> None:
    loop = Doubling()
    loop.release.set()
    loop.start()
    try:
        failed = loop.enqueue(99)
        with pytest.raises(RuntimeError, match="whole batch"):
            await failed
        assert await loop.submit(7) == 14
    finally:
        await loop.stop()


async def test_stop_lets_the_batch_being_committed_finish_and_fails_what_waits() -> None:
    loop = Doubling()
    loop.start()
    committing = loop.enqueue(1)
    await asyncio.sleep(0)
    waiting = loop.enqueue(2)
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done() and not committing.done()  # not cancelled mid-commit
    loop.release.set()
    await stopping
    assert await committing == 2
    with pytest.raises(RuntimeError, match="stopping"):
        await waiting
    assert loop.batches == [[1]]


async def test_stop_cancels_a_commit_that_outlives_the_grace() -> None:
    loop = Doubling()
    loop.start()
    stuck = loop.enqueue(1)
    await asyncio.sleep(0)
    await asyncio.wait_for(loop.stop(grace_s=0.05), 2)
    with pytest.raises(RuntimeError, match="stopping"):  # its sender hears it
        await stuck


async def test_a_batch_checks_its_items_admissions_at_once_and_leaves_out_the_refused() -> None:
    loop = Doubling()
    loop.release.set()
    checking: list[int] = []  # items whose check has started, not yet ended
    together: list[int] = []  # how many were started together when each ended

    def admit(n: int) -> Callable[[], Awaitable[None]]:
        async def check() -> None:
            checking.append(n)
            await asyncio.sleep(0.01)
            together.append(len(checking))
            if n < 0:
                raise PermissionError(f"{n} refused")

        return check

    loop.start()
    try:
        futures = [loop.enqueue(n, admit(n)) for n in (1, -2, 3)]
        got = await asyncio.gather(*futures, return_exceptions=True)
        assert got[0] == 2 and isinstance(got[1], PermissionError) and got[2] == 6
        assert loop.batches == [[1, 3]]  # the refused item never reached the commit
        assert together == [3, 3, 3]  # the three checks ran side by side
        refused = loop.enqueue(-4, admit(-4))
        with pytest.raises(PermissionError):
            await refused
        assert loop.batches == [[1, 3]]  # a batch left empty commits nothing
        assert await loop.submit(5) == 10  # and the loop goes on
    finally:
        await loop.stop()


class Preparing(Doubling):
    """Doubling that makes its batches ready ahead once two items wait, and records what
    each `prepare` got and which batch was committing meanwhile."""

    ahead_from = 2

    def __init__(self, max_batch: int = 3) -> None:
        super().__init__()
        self.max_batch = max_batch
        self.prepared: list[tuple[list[int], list[int]]] = []  # (items, batch committing)

    async def prepare(self, items: list[int]) -> None:
        self.prepared.append((items, self.batches[-1]))
        if 13 in items:
            raise RuntimeError("prepare failed")


async def test_under_load_the_next_batch_is_admitted_and_prepared_while_one_commits() -> None:
    loop = Preparing(max_batch=4)
    loop.start()
    try:
        first = loop.enqueue(1)
        await asyncio.sleep(0)  # 1 commits alone, and waits for `release`
        lone = loop.enqueue(2)
        await asyncio.sleep(0.01)
        assert loop.prepared == []  # one waiting item: not worth it
        more = [loop.enqueue(n, admit) for n, admit in ((3, None), (-4, refuse))]
        await asyncio.sleep(0.01)  # 2, 3 and -4 taken ahead, -4 refused, 2 and 3 prepared
        assert loop.prepared == [([2, 3], [1])]
        with pytest.raises(PermissionError):
            await more[1]
        late = [loop.enqueue(n) for n in (5, 6, 7)]
        await asyncio.sleep(0.01)  # 5 joins the batch being made (4 in all), prepared too
        assert loop.prepared == [([2, 3], [1]), ([5], [1])]
        loop.release.set()
        got = await asyncio.gather(first, lone, more[0], *late)
        assert got == [2, 4, 6, 10, 12, 14]
        assert loop.batches == [[1], [2, 3, 5], [6, 7]]  # in order; at most 4 taken a batch
    finally:
        await loop.stop()


async def test_a_failed_prepare_leaves_the_commit_to_do_without() -> None:
    loop = Preparing()
    loop.start()
    try:
        first = loop.enqueue(1)
        await asyncio.sleep(0)
        ahead = [loop.enqueue(n) for n in (12, 13)]
        await asyncio.sleep(0.01)
        loop.release.set()
        assert await asyncio.gather(first, *ahead) == [2, 24, 26]
        assert loop.batches == [[1], [12, 13]]
    finally:
        await loop.stop()


async def test_stop_fails_a_batch_taken_ahead_and_never_committed() -> None:
    loop = Preparing()
    loop.start()
    committing = loop.enqueue(1)
    await asyncio.sleep(0)
    ahead = [loop.enqueue(n) for n in (2, 3)]
    await asyncio.sleep(0.01)
    assert loop.prepared == [([2, 3], [1])]
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.01)
    loop.release.set()
    await stopping
    assert await committing == 2
    for future in ahead:
        with pytest.raises(RuntimeError, match="stopping"):
            await future
    assert loop.batches == [[1]]


async def refuse() -> None:
    raise PermissionError("refused")
