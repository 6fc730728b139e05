"""The connector registry: every channel has a connector, webhook paths serve their
channels only, and a connector is kept per inbox and settings for a while."""

from __future__ import annotations

import pytest

from connectors.base import (
    AnswersChallenge,
    DownloadsFiles,
    LinksContacts,
    LooksUpSenders,
    ReportsStatuses,
)
from gateway.channels import (
    BUILDERS,
    WEBHOOK_PATHS,
    ConnectorCache,
    UnknownChannel,
    webhook_connector_for,
)
from inbox.model import Inbox
from inbox.types import Channel


def _inbox(channel: str, inbox_id: int = 7, **settings: object) -> Inbox:
    return Inbox(id=inbox_id, name="shop", channel=channel, settings=dict(settings))


def test_every_channel_has_a_connector_of_that_channel() -> None:
    assert set(BUILDERS) == {c.value for c in Channel}
    cache = ConnectorCache()
    for channel in Channel:
        connector = cache.get(_inbox(channel.value))
        assert connector.channel == channel.value


def test_the_optional_steps_are_declared_where_they_exist() -> None:
    cache = ConnectorCache()
    meta = cache.get(_inbox("whatsapp"))
    x = cache.get(_inbox("x", account_id="1"))
    telegram = cache.get(_inbox("telegram"))
    website = cache.get(_inbox("website"))
    assert isinstance(meta, AnswersChallenge) and isinstance(x, AnswersChallenge)
    assert not isinstance(telegram, AnswersChallenge)
    assert isinstance(meta, DownloadsFiles) and isinstance(telegram, DownloadsFiles)
    assert isinstance(meta, LooksUpSenders) and not isinstance(telegram, LooksUpSenders)
    assert isinstance(telegram, LinksContacts) and not isinstance(meta, LinksContacts)
    assert isinstance(meta, ReportsStatuses) and not isinstance(telegram, ReportsStatuses)
    assert not any(
        isinstance(website, p)
        for p in (AnswersChallenge, DownloadsFiles, LinksContacts, LooksUpSenders, ReportsStatuses)
    )


def test_a_connector_is_kept_per_inbox_and_settings_for_a_while() -> None:
    now = [1000.0]
    cache = ConnectorCache(keep_s=60, clock=lambda: now[0])
    first = cache.get(_inbox("telegram", api_base_url="http://a.test"))
    assert cache.get(_inbox("telegram", api_base_url="http://a.test")) is first
    changed = cache.get(_inbox("telegram", api_base_url="http://b.test"))
    assert changed is not first  # new settings take effect at once
    assert cache.get(_inbox("telegram", 8, api_base_url="http://a.test")) is not first
    now[0] += 61  # a secret rotated in its file is read again within the minute
    assert cache.get(_inbox("telegram", api_base_url="http://a.test")) is not first


def test_webhook_paths_serve_their_channels_only() -> None:
    assert webhook_connector_for(_inbox("whatsapp"), "meta") is not None
    assert webhook_connector_for(_inbox("telegram"), "meta") is None
    assert webhook_connector_for(_inbox("website"), "telegram") is None
    assert set(WEBHOOK_PATHS) == {"telegram", "x", "meta", "api"}
    with pytest.raises(UnknownChannel):
        webhook_connector_for(_inbox("website"), "website")
    with pytest.raises(UnknownChannel):
        ConnectorCache().get(_inbox("fax"))
