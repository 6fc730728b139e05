"""The interface every connector implements.

A connector verifies what a platform sent, parses it into `InboundMessage`s
and sends replies. It knows its platform and nothing of routing or storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from inbox.types import InboundMessage, OutboundMessage, SentReceipt


class VerificationError(Exception):
    """The request did not come from the platform (bad signature, secret, origin)."""


class ParseError(ValueError):
    """The payload is not what the platform sends."""


class Connector(Protocol):
    channel: str

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise VerificationError unless the request is authentic."""

    def parse(self, payload: Any) -> list[InboundMessage]:
        """Turn the platform's payload into inbound messages (raise ParseError)."""

    async def send(self, message: OutboundMessage) -> SentReceipt:
        """Deliver a reply; raise inbox.types.DeliveryError on failure."""
