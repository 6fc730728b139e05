"""`crocevia worker`: sends replies through their connectors.

Jobs come from the Redis stream `crocevia:outbound`, read in the consumer group
`crocevia:outbound`. A job is acknowledged only after the reply's new status is
committed. A retryable failure (429, 5xx, network) is tried again with backoff,
honouring `retry_after`; a worker that dies leaves its jobs pending, and another
worker takes them over with XAUTOCLAIM once they have been idle long enough.
The status moves `pending -> sent` at most once (a guarded update), so a job
taken over after its reply was sent is only acknowledged.

While a reply is being sent its worker holds a lock in Redis that it renews; a
copy of the job that finds the lock taken stays pending (it is claimed again
later), so the lock of a worker killed mid-send expires within `lock_ms` and the
reply is then sent by another worker, instead of waiting for a long fixed lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from connectors.base import Connector
from gateway.email_fallback import continue_by_email
from gateway.metrics import MESSAGES_OUT, OUTBOUND_RETRIES
from inbox.events import OUTBOUND_GROUP, OUTBOUND_STREAM
from inbox.files import FileStore
from inbox.model import (
    DeliveryStatus,
    Inbox,
    Message,
    Outbox,
    utcnow,
)
from inbox.outbound import load_outbound
from inbox.relay import Relay
from inbox.replies import set_delivery_status
from inbox.stream_read import read_reply
from inbox.types import Channel, DeliveryError

log = logging.getLogger("crocevia.worker")

MAX_TRIES = 5
# How long a reply waits for an earlier pending reply of its conversation to go first.
ORDER_WAIT_S = 30.0
SEND_LOCK_MS = 5 * 60 * 1000  # held through a platform's long rate-limit waits
MIN_SEND_LOCK_MS = 15_000  # the renewed lease: 2 x claim_idle_ms, at least this
BASE_BACKOFF = 0.5
MAX_BACKOFF = 60.0
MAX_RATE_LIMIT_WAIT = 3600.0  # beyond an hour of platform-imposed waits, the reply fails


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _conversation_of(fields: dict[Any, Any]) -> int | None:
    """The job's conversation (jobs queued before it was recorded have none)."""
    try:
        found = json.loads(_s(fields.get(b"data", fields.get("data", "{}")))).get("conversation_id")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, int) else None


class OutboundWorker:
    def __init__(
        self,
        redis: Redis,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        connector_for: Callable[[Inbox], Connector],
        *,
        name: str | None = None,
        claim_idle_ms: int = 30_000,
        requeue_after_s: float = 120.0,
        concurrency: int = 32,
        files: FileStore | None = None,
    ) -> None:
        self.redis = redis
        self.sessions = sessions
        self.files = files
        self.relay = relay
        self.connector_for = connector_for
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.requeue_after = timedelta(seconds=requeue_after_s)
        self.lock_ms = max(2 * claim_idle_ms, MIN_SEND_LOCK_MS)
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        # conversation -> message -> the jobs sending it (a job taken over while its first
        # copy still waits its turn makes two)
        self._running: dict[int, dict[int, set[asyncio.Task[Any]]]] = {}
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop taking jobs: run() then lets the jobs in hand finish and returns."""
        self._stopping.set()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(OUTBOUND_STREAM, OUTBOUND_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, drain_s: float = 8.0) -> None:
        """Take and send jobs until stop(); then wait up to `drain_s` for the jobs in
        hand. A job still running after that is cancelled and stays pending in the
        stream, for another worker to claim."""
        await self.ensure_group()
        log.info("worker_started", extra={"consumer": self.name})
        try:
            await self._take_jobs()
        finally:
            left = await self.drain(drain_s)
            log.info("worker_stopped", extra={"consumer": self.name, "left_pending": left})

    async def _take_jobs(self) -> None:
        next_claim = next_requeue = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                if loop.time() >= next_claim:
                    next_claim = loop.time() + max(self.claim_idle_ms / 2000, 0.2)
                    await self._claim_abandoned()
                if loop.time() >= next_requeue:
                    next_requeue = loop.time() + max(self.requeue_after.total_seconds() / 4, 0.5)
                    await self.requeue_lost()
                batch = await self.redis.xreadgroup(
                    OUTBOUND_GROUP, self.name, {OUTBOUND_STREAM: ">"}, count=50, block=1000
                )
            except (RedisError, OSError) as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    await self.ensure_group()
                    continue
                log.warning("worker_read_failed", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                continue
            except Exception:  # a bug in one pass must not end the worker's process
                log.exception("worker_pass_crashed")
                await asyncio.sleep(1.0)
                continue
            for entry_id, fields in read_reply(batch):
                # Read after stop(): it stays pending, and is claimed by another worker.
                if not self._stopping.is_set():
                    await self._spawn(entry_id, fields)

    async def requeue_lost(self) -> int:
        """Replies still pending long after they were queued lost their job (Redis
        restarted without persistence): queue them again from the database."""
        cutoff = utcnow() - self.requeue_after
        try:
            async with self.sessions() as session:
                ids = [
                    (int(mid), int(conv))
                    for mid, conv in await session.execute(
                        select(Message.id, Message.conversation_id)
                        .where(Message.status == DeliveryStatus.PENDING.value)
                        .where(Message.direction == "out")
                        .where(Message.created_at < cutoff)
                        .order_by(Message.id)
                        .limit(500)
                    )
                ]
        except SQLAlchemyError as exc:
            log.warning("worker_requeue_failed", extra={"error": str(exc)})
            return 0
        for message_id, conversation_id in ids:
            if await self.redis.exists(f"crocevia:sending:{message_id}"):
                continue
            if await self.redis.set(
                f"crocevia:requeued:{message_id}",
                1,
                nx=True,
                ex=int(self.requeue_after.total_seconds()),
            ):
                await self.redis.xadd(
                    OUTBOUND_STREAM,
                    {"eid": f"requeue-{message_id}", "event": "outbound.send",
                     # with its conversation, so it waits its turn like the first job
                     "data": json.dumps({"message_id": message_id,
                                         "conversation_id": conversation_id})},
                )  # fmt: skip
                log.info("reply_requeued", extra={"message_id": message_id})
        return len(ids)

    async def _claim_abandoned(self) -> None:
        """Take over jobs that a dead worker read and never acknowledged."""
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                OUTBOUND_STREAM, OUTBOUND_GROUP, self.name, self.claim_idle_ms, start, count=50
            )
            start, entries = _s(reply[0]), reply[1]
            for entry_id, fields in entries:
                if fields is None:
                    continue
                log.info("worker_claimed", extra={"entry": _s(entry_id)})
                await self._spawn(_s(entry_id), fields)
            if start == "0-0" or not entries:
                return

    async def _spawn(self, entry_id: str, fields: dict[Any, Any]) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(entry_id, fields))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _earlier_pending(self, message_id: int, conversation_id: int) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(Message.id)
                .where(Message.conversation_id == conversation_id)
                .where(Message.direction == "out")
                .where(Message.status == DeliveryStatus.PENDING.value)
                .where(Message.id < message_id)
                .limit(1)
            )
        return found is not None

    async def _in_turn(self, message_id: int, conversation_id: int | None) -> None:
        """Replies of one conversation go out in the order written, whichever worker or job
        gets them first: wait for this worker's jobs of earlier replies to finish (their
        events published), then while an earlier reply is still pending in the database
        (another worker's; at most ORDER_WAIT_S, so one reply stuck in retries holds the
        others only so long)."""
        if conversation_id is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ORDER_WAIT_S
        while True:
            # An earlier reply's job of ours runs until its event is published, which is
            # after the database says "sent": wait for the job, not only for the status
            # (a job read before its earlier sibling's would otherwise overtake it).
            mine = self._running.get(conversation_id, {})
            earlier = [task for mid, tasks in mine.items() if mid < message_id for task in tasks]
            if earlier:
                await asyncio.wait(earlier, timeout=max(deadline - loop.time(), 0.01))
            elif not await self._earlier_pending(message_id, conversation_id):
                if not any(mid < message_id for mid in self._running.get(conversation_id, {})):
                    return
                continue
            else:
                await asyncio.sleep(0.05)
            if loop.time() > deadline:
                log.warning("reply_order_wait_expired", extra={"message_id": message_id})
                return

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("worker_job_crashed", exc_info=task.exception())

    async def _handle(self, entry_id: str, fields: dict[Any, Any]) -> None:
        f = {_s(k): _s(v) for k, v in fields.items()}
        try:
            message_id = int(json.loads(f["data"])["message_id"])
        except (KeyError, ValueError, TypeError):
            log.error("worker_bad_job", extra={"entry": entry_id})
            await self.redis.xack(OUTBOUND_STREAM, OUTBOUND_GROUP, entry_id)
            return
        conversation_id = _conversation_of(fields)
        me = asyncio.current_task()
        if conversation_id is not None and me is not None:
            self._running.setdefault(conversation_id, {}).setdefault(message_id, set()).add(me)
        try:
            await self._in_turn(message_id, conversation_id)
            done = await self._deliver(message_id)
        except (SQLAlchemyError, OSError, RedisError) as exc:
            # Leave the job pending: it is claimed again after claim_idle_ms.
            log.warning("worker_job_deferred", extra={"message_id": message_id, "error": repr(exc)})
            return
        finally:
            if conversation_id is not None:
                running = self._running.get(conversation_id, {})
                mine = running.get(message_id, set())
                mine.discard(me)
                if not mine:
                    running.pop(message_id, None)
                if not running:
                    self._running.pop(conversation_id, None)
        if not done:
            return  # another copy is being sent; this one stays pending, claimed again later
        await self.redis.xack(OUTBOUND_STREAM, OUTBOUND_GROUP, entry_id)

    async def _deliver(self, message_id: int) -> bool:
        """Send one reply; False when another worker holds its send lock (the job must
        stay pending: if that worker died, its lock expires and a later claim sends it)."""
        # One sender at a time per reply: a job taken over (XAUTOCLAIM) or queued again
        # while its first copy is still being sent is not sent twice.
        lock = f"crocevia:sending:{message_id}"
        if not await self.redis.set(lock, self.name, nx=True, px=self.lock_ms):
            log.info("reply_already_in_flight", extra={"message_id": message_id})
            return False
        keeper = asyncio.create_task(self._keep_lock(lock))
        try:
            await self._deliver_locked(message_id, lock)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            if await self.redis.get(lock) == self.name.encode():
                await self.redis.delete(lock)
        return True

    async def _keep_lock(self, lock: str) -> None:
        """Renew the send lock for as long as this worker lives and sends: a worker killed
        mid-send leaves a lock that expires within `lock_ms`, not a long fixed lease."""
        while True:
            await asyncio.sleep(self.lock_ms / 3000)
            try:  # never shorten a longer lease (a rate-limit wait set one)
                if await self.redis.pttl(lock) < self.lock_ms:
                    await self.redis.pexpire(lock, self.lock_ms)
            except (RedisError, OSError) as exc:
                log.warning("send_lock_renew_failed", extra={"lock": lock, "error": str(exc)})

    async def _deliver_locked(self, message_id: int, lock: str) -> None:
        loaded = await load_outbound(self.sessions, self.files, message_id)
        if loaded is None:
            return
        inbox, out = loaded
        connector = self.connector_for(inbox)
        failures = 0  # rate-limit waits the platform asked for do not count as failures
        waited = 0.0
        while True:
            try:
                receipt = await connector.send(out)
            except DeliveryError as exc:
                limited = exc.retry_after is not None
                failures += 0 if limited else 1
                waited += exc.retry_after or 0.0
                if exc.retryable and failures < MAX_TRIES and waited <= MAX_RATE_LIMIT_WAIT:
                    OUTBOUND_RETRIES.labels(inbox.channel).inc()
                    delay = exc.retry_after or min(BASE_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
                    log.info("reply_retry", extra={"message_id": message_id, "delay": delay,
                                                   "reason": exc.reason})  # fmt: skip
                    # Keep the send lock for the whole wait (X's windows last 15 minutes).
                    await self.redis.pexpire(lock, max(SEND_LOCK_MS, int((delay + 60) * 1000)))
                    await asyncio.sleep(delay)
                    continue
                MESSAGES_OUT.labels(inbox.channel, "failed").inc()
                await self._set(message_id, DeliveryStatus.FAILED, error=exc.reason[:500])
                return
            MESSAGES_OUT.labels(inbox.channel, "sent").inc()
            await self._set(message_id, DeliveryStatus.SENT, external_id=receipt.external_id)
            if inbox.channel == Channel.WEBSITE and (inbox.settings or {}).get(
                "email_fallback_inbox_id"
            ):
                await continue_by_email(self.sessions, self.redis, self.connector_for, message_id)
            return

    async def _set(self, message_id: int, status: DeliveryStatus, **kwargs: Any) -> None:
        rows: list[Outbox] = []
        async with self.sessions() as session, session.begin():
            moved = await set_delivery_status(session, message_id, status, outbox=rows, **kwargs)
        if moved is not None:
            log.info("reply_status", extra={"message_id": message_id, "status": status.value})
        await self.relay.publish_quietly(rows)

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait for the jobs in hand, at most `timeout_s`; cancel what is left and
        return how many were."""
        if not self._tasks:
            return 0
        _done, late = await asyncio.wait(list(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        return len(late)
