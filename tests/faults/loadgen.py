"""The load generator of the fault tests, and the count of what survived.

Everything here is a real client of real gateway processes: widget visitors over
`/ws/widget`, a Telegram webhook (the platform's side: it delivers again until it
hears 200), and an agent replying over the REST API. Clients reach "the cluster"
the way they would through a load balancer: a connection that fails goes to the
next gateway in the list. Visitors reconnect with the last event id they saw.

Afterwards `Load.report()` counts, from the senders' own records and the database:
messages lost and duplicated, events missed or doubled per visitor (the events a
visitor may see are computed from the outbox table, the database's record of every
event), and replies sent once, failed, still pending or sent twice (Telegram replies
are counted where they arrive: at the fake Bot API).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fakes.telegram_api import FakeTelegram
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from connectors.telegram import SECRET_HEADER
from gateway.stream_event import StreamEvent
from gateway.visitor_tokens import Visitor
from gateway.ws_widget import visitor_may_see
from inbox.events import ROUTE_FIELDS, routing
from inbox.model import Conversation, Identity, Inbox, Message, Outbox

RETRYABLE = (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, httpx.HTTPError)


class Cluster:
    """The gateways a balancer would spread clients over (ports on 127.0.0.1)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = list(ports)
        self._next = 0
        self._clients: dict[int, httpx.AsyncClient] = {}  # kept-alive connections

    def client(self, port: int) -> httpx.AsyncClient:
        if port not in self._clients:
            self._clients[port] = httpx.AsyncClient(
                base_url=self.http(port), timeout=10,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            )  # fmt: skip
        return self._clients[port]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def pick(self) -> int:
        port = self.ports[self._next % len(self.ports)]
        self._next += 1
        return port

    def http(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    async def request(self, method: str, path: str, deadline: float, **kw: Any) -> httpx.Response:
        """Send to one gateway after another until one answers below 500 (or time runs out)."""
        while True:
            port = self.pick()
            try:
                r = await self.client(port).request(method, path, **kw)
                if r.status_code < 500:
                    return r
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path}: no gateway answered")
            await asyncio.sleep(0.2)


@dataclass
class Telegram:
    """A Telegram inbox of the world's team, its Bot API a fake in this process."""

    fake: FakeTelegram
    inbox_id: int
    secret: str


async def make_telegram(
    db: async_sessionmaker[AsyncSession], team_id: int, tmp_path: Path
) -> Telegram:
    fake = FakeTelegram(f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}").start()
    secret = secrets.token_urlsafe(24)
    (tmp_path / "tg-token").write_text(fake.token + "\n")
    (tmp_path / "tg-secret").write_text(secret)
    settings = {"bot_token_file": str(tmp_path / "tg-token"),
                "webhook_secret_file": str(tmp_path / "tg-secret"),
                "api_base_url": fake.url, "public_url": "https://crocevia.example.test"}  # fmt: skip
    async with db() as session, session.begin():
        inbox = Inbox(name="bot", channel="telegram", team_id=team_id, settings=settings)
        session.add(inbox)
        await session.flush()
        return Telegram(fake, inbox.id, secret)


class LoadVisitor:
    """One widget visitor: a socket that reconnects with its last event id, and a sender
    that sends each message until it is acknowledged (a resend keeps the client id)."""

    def __init__(self, cluster: Cluster, session: dict[str, Any], index: int) -> None:
        self.cluster = cluster
        self.token = session["visitor_token"]
        self.visitor_id = session["visitor_id"]
        self.index = index
        self.ws: ClientConnection | None = None
        self.port: int | None = None
        self.last_event_id: str | None = None
        self.eids: list[int] = []
        self.stream_ids: dict[int, list[str]] = {}  # eid -> the stream ids it came with
        self.resyncs = 0
        self.connects = 0
        self.sent: dict[str, str] = {}  # client id -> text
        self.acked: dict[str, int] = {}  # client id -> message id
        self.conversation_id: int | None = None
        self.resends = 0
        self.slowest = 0.0  # seconds from the first send of a message to its ack
        self.ready = asyncio.Event()
        self.stopping = False
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"visitor-{self.index}")

    async def _connect(self) -> ClientConnection:
        deadline = time.monotonic() + 60
        while True:
            port = self.cluster.pick()
            ws = None
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/ws/widget", open_timeout=20,
                                   max_size=2**22)  # fmt: skip
                await ws.send(json.dumps({"type": "auth", "token": self.token,
                                          "last_event_id": self.last_event_id}))  # fmt: skip
                ready = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if ready.get("type") != "ready":
                    raise AssertionError(f"visitor {self.index}: {ready}")
                self.port = port
                self.connects += 1
                return ws
            except BaseException as exc:
                if ws is not None:
                    ws.transport.abort()
                    with contextlib.suppress(Exception):
                        await ws.close()
                if not isinstance(exc, RETRYABLE) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _run(self) -> None:
        while not self.stopping:
            try:
                self.ws = await self._connect()
            except RETRYABLE:
                continue
            self.ready.set()
            try:
                async for raw in self.ws:
                    self._frame(json.loads(raw))
            except ConnectionClosed:
                pass
            self.ready.clear()
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("socket lost"))
            self._waiting.clear()

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            self.last_event_id = frame["id"]
            self.eids.append(int(frame["eid"]))
            self.stream_ids.setdefault(int(frame["eid"]), []).append(frame["id"])
        elif kind == "resync":
            self.resyncs += 1
        elif kind in ("ack", "error"):
            fut = self._waiting.get(frame.get("client_id") or "")
            if fut is not None and not fut.done():
                fut.set_result(frame)

    async def drop(self) -> None:
        """Lose the connection abruptly (no close handshake); the socket task reconnects."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def say(self, text: str, deadline: float) -> None:
        cid = str(uuid.uuid4())
        text = f"{text} [{cid[:8]}]"
        self.sent[cid] = text
        first = time.monotonic()
        tries = 0
        while True:
            tries += 1
            if tries > 1:
                self.resends += 1
            if time.monotonic() > deadline:
                raise TimeoutError(f"visitor {self.index}: no ack for {cid}")
            try:
                await asyncio.wait_for(self.ready.wait(), max(deadline - time.monotonic(), 0.1))
                assert self.ws is not None
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                self._waiting[cid] = fut
                await self.ws.send(json.dumps({"type": "message", "client_id": cid, "text": text}))
                frame = await asyncio.wait_for(fut, 15)
            except (*RETRYABLE, ConnectionError):
                await asyncio.sleep(0.1)
                continue
            finally:
                self._waiting.pop(cid, None)
            if frame["type"] == "ack":
                self.acked[cid] = int(frame["message"]["id"])
                self.conversation_id = int(frame["message"]["conversation_id"])
                self.slowest = max(self.slowest, time.monotonic() - first)
                return
            await asyncio.sleep(float(frame.get("retry_after") or 0.3))  # unavailable, limited

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


@dataclass
class Report:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # shown, never failing by themselves
    settled_s: float = 0.0

    def __str__(self) -> str:
        lines = [f"settled {self.settled_s:.1f} s after the load"] + [
            f"{name}: " + " ".join(f"{k}={v}" for k, v in values.items())
            for name, values in self.counts.items()
        ]
        return "\n".join([*lines, *self.problems, *self.notes])

    def check(self, allow: dict[str, int] | None = None) -> None:
        """No loss, duplicate, miss, double, pending reply or double send, beyond `allow`."""
        allow = allow or {}
        bad = {
            f"{name}.{key}": value
            for name, values in self.counts.items()
            for key, value in values.items()
            if key in ("lost", "duplicated", "missed", "doubled", "pending", "sent_twice")
            and value > allow.get(f"{name}.{key}", 0)
        }
        assert not bad and not self.problems, f"faults: {bad}\n{self}"


class Load:
    """Visitors, Telegram chats and an agent replying, all against `cluster`."""

    def __init__(
        self,
        cluster: Cluster,
        db: async_sessionmaker[AsyncSession],
        website_token: str,
        inbox_id: int,
        agent_login: tuple[str, str],
        telegram: Telegram | None = None,
    ) -> None:
        self.cluster = cluster
        self.db = db
        self.website_token = website_token
        self.inbox_id = inbox_id
        self.agent_login = agent_login
        self.telegram = telegram
        self.visitors: list[LoadVisitor] = []
        self.agent_token = ""
        self.tg_delivered: dict[str, str] = {}  # external id -> text
        self.tg_posts = 0
        self.replies: dict[str, int] = {}  # client id -> message id
        self.started = time.monotonic()
        self.total = 0
        self.done = 0

    async def open(self, visitors: int) -> None:
        await self.mark_start()
        deadline = time.monotonic() + 60
        email, password = self.agent_login
        r = await self.cluster.request("POST", "/api/auth/login", deadline,
                                       json={"email": email, "password": password})  # fmt: skip
        r.raise_for_status()
        self.agent_token = r.json()["token"]
        sem = asyncio.Semaphore(20)

        async def one(i: int) -> LoadVisitor:
            async with sem:
                r = await self.cluster.request("POST", "/api/widget/sessions", deadline,
                                               json={"website_token": self.website_token})  # fmt: skip
                r.raise_for_status()
                v = LoadVisitor(self.cluster, r.json(), i)
                v.start()
                await asyncio.wait_for(v.ready.wait(), 60)
                return v

        self.visitors = list(await asyncio.gather(*(one(i) for i in range(visitors))))

    async def _visitor_load(self, v: LoadVisitor, messages: int, pace: float, reply_every: int,
                            deadline: float) -> None:  # fmt: skip
        for k in range(messages):
            await v.say(f"visitor {v.index} message {k}", deadline)
            self.done += 1
            if reply_every and (k + 1) % reply_every == 0 and v.conversation_id is not None:
                await self.reply(v.conversation_id, f"reply to visitor {v.index} #{k}", deadline)
            await asyncio.sleep(pace)

    async def reply(self, conversation_id: int, text: str, deadline: float) -> None:
        cid = str(uuid.uuid4())
        r = await self.cluster.request(
            "POST", f"/api/conversations/{conversation_id}/messages", deadline,
            json={"client_id": cid, "text": f"{text} [{cid[:8]}]"},
            headers={"Authorization": f"Bearer {self.agent_token}"},
        )  # fmt: skip
        assert r.status_code in (200, 201), r.text
        self.replies[cid] = int(r.json()["id"])

    def telegram_update(self, chat: int, message_id: int, text: str) -> dict[str, Any]:
        return {
            "update_id": chat % 10**6 * 1000 + message_id,
            "message": {
                "message_id": message_id, "date": int(time.time()), "text": text,
                "chat": {"id": chat, "type": "private", "first_name": "Giulia"},
                "from": {"id": chat, "is_bot": False, "first_name": "Giulia",
                         "language_code": "it"},
            },
        }  # fmt: skip

    async def deliver(self, payload: dict[str, Any], deadline: float) -> None:
        """Deliver one update like Telegram does: again and again until a 200."""
        assert self.telegram is not None
        r = await self.cluster.request(
            "POST", f"/webhooks/telegram/{self.telegram.inbox_id}", deadline,
            json=payload, headers={SECRET_HEADER: self.telegram.secret},
        )  # fmt: skip
        self.tg_posts += 1
        assert r.status_code == 200, r.text
        msg = payload["message"]
        self.tg_delivered[f"{msg['chat']['id']}:{msg['message_id']}"] = msg["text"]

    async def _telegram_load(self, chat: int, messages: int, pace: float, reply: bool,
                             deadline: float) -> None:  # fmt: skip
        for k in range(1, messages + 1):
            await self.deliver(self.telegram_update(chat, k, f"telegram {chat} message {k}"),
                               deadline)  # fmt: skip
            self.done += 1
            if reply and k == messages // 2:
                conv_id = await self._conversation_of(f"{chat}:{k}", deadline)
                await self.reply(conv_id, f"reply to chat {chat}", deadline)
            await asyncio.sleep(pace)

    async def deliver_shuffled(self, chats: int, messages: int, copies: int = 2,
                               concurrency: int = 8, timeout: float = 90) -> int:  # fmt: skip
        """Every update of `chats` x `messages` delivered `copies` times, in a random order,
        several at once (as Telegram does after a timeout). Returns the number of posts."""
        deadline = time.monotonic() + timeout
        base = 10**9 + secrets.randbelow(10**9)
        updates = [self.telegram_update(base + c, k, f"telegram {base + c} message {k}")
                   for c in range(chats) for k in range(1, messages + 1)] * copies  # fmt: skip
        secrets.SystemRandom().shuffle(updates)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for u in updates:
            queue.put_nowait(u)

        async def poster() -> None:
            while not queue.empty():
                await self.deliver(queue.get_nowait(), deadline)

        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return len(updates)

    async def everyone_saw_an_event(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while missing := [v.index for v in self.visitors if not v.eids]:
            assert time.monotonic() < deadline, f"{len(missing)} visitors saw no event"
            await asyncio.sleep(0.05)

    async def all_reconnected(self, before: dict[int, int], timeout: float = 60) -> None:
        """Wait until every visitor connected again after `before` (index -> connects)."""
        deadline = time.monotonic() + timeout
        while any(v.connects <= before[v.index] or not v.ready.is_set() for v in self.visitors):
            assert time.monotonic() < deadline, "not every visitor reconnected"
            await asyncio.sleep(0.05)

    async def _conversation_of(self, external_id: str, deadline: float) -> int:
        assert self.telegram is not None
        while True:
            try:
                async with self.db() as session:
                    return int(
                        (
                            await session.execute(
                                select(Message.conversation_id)
                                .where(Message.inbox_id == self.telegram.inbox_id)
                                .where(Message.external_id == external_id)
                            )
                        ).scalar_one()
                    )
            except (SQLAlchemyError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def run(self, *, messages: int = 10, pace: float = 0.2, reply_every: int = 5,
                  chats: int = 0, chat_messages: int = 10, timeout: float = 90) -> float:  # fmt: skip
        """Send everything; returns the seconds it took."""
        deadline = time.monotonic() + timeout
        self.total = len(self.visitors) * messages + chats * chat_messages
        started = time.monotonic()
        jobs = [self._visitor_load(v, messages, pace, reply_every, deadline)
                for v in self.visitors]  # fmt: skip
        base = 10**9 + secrets.randbelow(10**9)
        jobs += [self._telegram_load(base + c, chat_messages, pace, reply_every > 0, deadline)
                 for c in range(chats)]  # fmt: skip
        await asyncio.gather(*jobs)
        return time.monotonic() - started

    def start(self, **kw: Any) -> asyncio.Task[float]:
        """`run` in the background; await the task for its seconds."""
        return asyncio.create_task(self.run(**kw), name="load")

    async def progress(self, fraction: float, timeout: float = 60) -> None:
        """Wait until `fraction` of the messages were acknowledged."""
        deadline = time.monotonic() + timeout
        while not self.total or self.done < fraction * self.total:
            assert time.monotonic() < deadline, f"only {self.done}/{self.total} sent"
            await asyncio.sleep(0.05)

    # -- counting ------------------------------------------------------------------------

    async def _settled(self, timeout: float) -> float:
        """Wait until no reply is pending and every visitor has every event it may see."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            try:
                pending = await self._pending_replies()
                expected = await self._expected_events()
            except (SQLAlchemyError, OSError):
                await asyncio.sleep(0.5)
                continue
            if not pending and all(
                expected.get(v.visitor_id, set()) <= set(v.eids) for v in self.visitors
            ):
                break
            await asyncio.sleep(0.5)
        return time.monotonic() - started

    async def _pending_replies(self) -> int:
        async with self.db() as session:
            rows = await session.execute(
                select(Message.id).where(Message.id.in_(list(self.replies.values())))
                .where(Message.status == "pending")
            )  # fmt: skip
            return len(rows.all())

    async def _expected_events(self) -> dict[str, set[int]]:
        """visitor id -> the outbox ids of every event the visitor may see."""
        async with self.db() as session:
            ids = dict(
                (
                    await session.execute(
                        select(Identity.external_id, Identity.contact_id)
                        .where(Identity.channel == "website")
                        .where(Identity.external_id.in_([v.visitor_id for v in self.visitors]))
                    )
                ).all()
            )
            contacts = set(ids.values())
            rows = (
                await session.execute(
                    select(Outbox.id, Outbox.event, Outbox.payload)
                    .where(Outbox.stream == "events")
                    .where(Outbox.id > self.first_eid)
                )
            ).all()
        by_contact: dict[int, list[StreamEvent]] = {}
        for eid, event, payload in rows:
            route = dict(zip(ROUTE_FIELDS, routing(payload).split("|"), strict=False))
            ev = StreamEvent("0-0", eid, event, route, json.dumps(payload))
            contact = ev.int_route("contact")
            if contact in contacts:
                by_contact.setdefault(contact, []).append(ev)
        own = {v.visitor_id: set(v.sent) for v in self.visitors}
        out = {}
        for visitor_id, contact_id in ids.items():
            who = Visitor(self.inbox_id, visitor_id, contact_id)
            out[visitor_id] = {
                ev.eid
                for ev in by_contact.get(contact_id, [])
                if visitor_may_see(who, ev) and not _own_echo(ev, own.get(visitor_id, set()))
            }
        return out

    first_eid = 0

    async def mark_start(self) -> None:
        """Events before now are not the load's (call before `open`)."""
        async with self.db() as session:
            self.first_eid = int(
                (await session.execute(select(func.coalesce(func.max(Outbox.id), 0)))).scalar_one()
            )

    async def report(self, settle: float = 45) -> Report:
        rep = Report()
        rep.settled_s = await self._settled(settle)
        async with self.db() as session:
            widget_rows = (
                await session.execute(
                    select(Message.external_id, Message.text)
                    .where(Message.inbox_id == self.inbox_id, Message.direction == "in")
                )
            ).all()  # fmt: skip
            tg_rows = []
            if self.telegram is not None:
                tg_rows = (
                    await session.execute(
                        select(Message.external_id, Message.text)
                        .where(Message.inbox_id == self.telegram.inbox_id)
                        .where(Message.direction == "in")
                    )
                ).all()
            out_rows = (
                await session.execute(
                    select(Message.id, Message.status, Message.text, Message.external_id,
                           Conversation.inbox_id, Identity.external_id)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(Identity, Identity.contact_id == Conversation.contact_id)
                    .where(Message.inbox_id.in_(
                        [self.inbox_id, self.telegram.inbox_id if self.telegram else -1]))
                    .where(Message.direction == "out")
                )
            ).all()  # fmt: skip
        # Widget messages: every acknowledged one stored once.
        texts = Counter(t for _e, t in widget_rows)
        stored_ext = Counter(e for e, _t in widget_rows)
        acked = {cid: v for v in self.visitors for cid in v.acked}
        visitor_of = {cid: v for v in self.visitors for cid in v.sent}
        lost = [c for c in acked if stored_ext[f"{visitor_of[c].visitor_id}:{c}"] == 0]
        dup = sum(n - 1 for t, n in texts.items() if n > 1 and t in
                  {v.sent[c] for v in self.visitors for c in v.sent})  # fmt: skip
        rep.counts["widget"] = {"sent": sum(len(v.sent) for v in self.visitors),
                                "acked": len(acked), "stored": len(widget_rows),
                                "lost": len(lost), "duplicated": dup,
                                "resends": sum(v.resends for v in self.visitors),
                                "slowest_ack_ms": int(1000 * max(
                                    (v.slowest for v in self.visitors), default=0))}  # fmt: skip
        if self.telegram is not None:
            tg_ext = Counter(e for e, _t in tg_rows)
            rep.counts["telegram"] = {
                "delivered": len(self.tg_delivered), "posts": self.tg_posts,
                "stored": len(tg_rows),
                "lost": sum(1 for e in self.tg_delivered if tg_ext[e] == 0),
                "duplicated": sum(n - 1 for n in tg_ext.values() if n > 1),
            }  # fmt: skip
        # Events: each visitor got each event it may see, once.
        expected = await self._expected_events()
        missed = doubled = received = want = 0
        for v in self.visitors:
            exp = expected.get(v.visitor_id, set())
            got = Counter(v.eids)
            want += len(exp)
            received += len(v.eids)
            missed += len(exp - set(got))
            doubled += sum(n - 1 for n in got.values() if n > 1)
            for eid, n in got.items():
                if n > 1:
                    rep.problems.append(f"visitor {v.index} got event {eid} {n} times, "
                                        f"stream ids {v.stream_ids[eid]}")  # fmt: skip
        rep.counts["events"] = {"visitors": len(self.visitors), "expected": want,
                                "received": received, "missed": missed, "doubled": doubled,
                                "reconnects": sum(max(v.connects - 1, 0) for v in self.visitors),
                                "resyncs": sum(v.resyncs for v in self.visitors)}  # fmt: skip
        # Replies (the agent's and automatic ones): sent once, or visibly failed.
        statuses = Counter(s for _i, s, *_ in out_rows)
        mine = set(self.replies.values())
        sent_twice = 0
        if self.telegram is not None:
            calls = Counter(
                (c.params.get("chat_id"), c.params.get("text"))
                for c in self.telegram.fake.calls_of("sendMessage") if c.status == 200
            )  # fmt: skip
            want_calls = Counter(
                (chat, text) for _i, s, text, _x, inbox, chat in out_rows
                if inbox == self.telegram.inbox_id and s == "sent"
            )  # fmt: skip
            sent_twice = sum(max(calls[k] - n, 0) for k, n in want_calls.items())
            for k, n in want_calls.items():
                if calls[k] > n:  # when: a retry after a timeout, or two senders at once?
                    at = [round(c.at - self.started, 2)
                          for c in self.telegram.fake.calls_of("sendMessage")
                          if (c.params.get("chat_id"), c.params.get("text")) == k]  # fmt: skip
                    rep.notes.append(f"sent {calls[k]} times: {k}, at {at} s")
            unsent = sum(max(n - calls[k], 0) for k, n in want_calls.items())
            if unsent:
                rep.problems.append(f"{unsent} Telegram replies marked sent never reached the API")
        rep.counts["replies"] = {
            "agent": len(mine), "other": len(out_rows) - len(mine & {r[0] for r in out_rows}),
            "sent": statuses["sent"], "failed": statuses["failed"],
            "pending": statuses["pending"], "sent_twice": sent_twice,
        }  # fmt: skip
        missing = mine - {r[0] for r in out_rows}
        if missing:
            rep.problems.append(f"replies acknowledged but not stored: {sorted(missing)}")
        return rep

    async def close(self) -> None:
        await asyncio.gather(*(v.stop() for v in self.visitors))
        await self.cluster.aclose()


async def start_gateway(services: Any, port: int) -> Any:
    """Another gateway process on `port` (started off the event loop: the load goes on)."""
    return await asyncio.to_thread(services.start_gateway, port)


@contextlib.asynccontextmanager
async def load_on(
    services: Any, world: Any, db: async_sessionmaker[AsyncSession], tmp_path: Path,
    ports: list[int], *, telegram: bool = True,
) -> Any:  # fmt: skip
    """A `Load` over the gateways on `ports`, with a Telegram inbox when asked."""
    tg = await make_telegram(db, world.team_id, tmp_path) if telegram else None
    _id, email, password = world.agents["anna"]
    load = Load(Cluster(ports), db, world.website_token, world.inbox_id, (email, password), tg)
    try:
        yield load
    finally:
        await load.close()
        if tg is not None:
            tg.fake.stop()


def _own_echo(ev: StreamEvent, sent: set[str]) -> bool:
    """The message.created of a message this visitor sent: its ack carried the message,
    so the socket that sent it does not get the event live (docs/api.md); a socket that
    resumed from before it may."""
    message = ev.data.get("message") if ev.event == "message.created" else None
    return isinstance(message, dict) and message.get("client_id") in sent
