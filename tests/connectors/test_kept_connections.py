"""The worker keeps one HTTP pool per inbox (connectors/kept_client.py, ConnectorCache
with keep_connections): a run of replies to one platform reuses its connections, a
connector evicted from the cache closes them, and a connector outside a keeping cache
opens and closes a client per call, as before."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from fakes_social.graph_api import FakeGraph

from connectors.meta import MetaConnector
from gateway.channels import ConnectorCache
from inbox.model import Inbox
from inbox.types import Channel, OutboundMessage

pytestmark = pytest.mark.timeout(60)

PAGE = "1029384756"


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph(secrets.token_urlsafe(24), set())
    server.start()
    yield server
    server.stop()


def _inbox(graph: FakeGraph, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Inbox:
    monkeypatch.setenv("KEPT_TEST_META_TOKEN", graph.token)
    settings = {"page_id": PAGE, "access_token_env": "KEPT_TEST_META_TOKEN",
                "app_secret_env": "KEPT_TEST_META_TOKEN", "api_base_url": graph.url, **extra}  # fmt: skip
    return Inbox(id=41, name="Shop", channel="messenger", settings=settings)


def _reply(n: int) -> OutboundMessage:
    return OutboundMessage(n, 1, 41, Channel.MESSENGER, "5550001", f"Risposta {n}")


def _peers(graph: FakeGraph) -> set[str | None]:
    return {c.peer for c in graph.sent()}


async def test_a_keeping_cache_sends_a_run_of_replies_over_one_connection(
    graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ConnectorCache(keep_connections=True, close_after_s=0.05)
    inbox = _inbox(graph, monkeypatch)
    first = cache.get(inbox)
    assert isinstance(first, MetaConnector)
    for n in range(6):
        await cache.get(inbox).send(_reply(n))
    assert len(graph.sent()) == 6
    assert len(_peers(graph)) == 1, _peers(graph)
    assert first.keeps_open_connections

    # New settings: a new connector, and the old one's connections are closed.
    changed = cache.get(_inbox(graph, monkeypatch, api_version="v23.0"))
    assert changed is not first
    await changed.send(_reply(7))
    await asyncio.sleep(0.3)  # closed a while after its eviction, not while in use
    assert not first.keeps_open_connections
    assert len(_peers(graph)) == 2
    await cache.aclose()
    assert isinstance(changed, MetaConnector) and not changed.keeps_open_connections


async def test_an_evicted_connector_is_closed_later_and_a_stop_closes_it_now(
    graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ConnectorCache(keep_connections=True)  # closes evicted pools 120 s later
    first = cache.get(_inbox(graph, monkeypatch))
    assert isinstance(first, MetaConnector)
    await first.send(_reply(1))
    sending = asyncio.create_task(first.send(_reply(2)))  # still in use when evicted
    cache.get(_inbox(graph, monkeypatch, api_version="v23.0"))
    await sending  # not cut off by the eviction
    assert first.keeps_open_connections
    await cache.aclose()
    assert not first.keeps_open_connections


async def test_without_keeping_every_call_opens_its_own_client(
    graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ConnectorCache()
    inbox = _inbox(graph, monkeypatch)
    for n in range(3):
        await cache.get(inbox).send(_reply(n))
    assert len(_peers(graph)) == 3
