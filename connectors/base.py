"""The interface every connector implements.

A connector verifies what a platform sent, parses it into `InboundMessage`s
and sends replies. It knows its platform and nothing of routing or storage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

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


# -- optional steps: a connector has them or not, and the webhook asks with isinstance -------


@runtime_checkable
class AnswersChallenge(Protocol):
    """The platform checks the webhook URL with a GET before it sends (Meta's
    hub.challenge, X's CRC)."""

    def answer_challenge(self, query: Mapping[str, str]) -> str | dict[str, str]:
        """The answer the platform expects; raise VerificationError when it is not ours."""


@runtime_checkable
class PreparesItems(Protocol):
    """Asynchronous work on parsed messages before they are stored (Telegram's file
    downloads and /start links, Meta's sender profiles and WhatsApp media)."""

    async def prepare(
        self, items: Sequence[InboundMessage], *, sessions: Any, files: Any, secret_key: str
    ) -> list[InboundMessage]:
        """The messages to store; raise to have the platform deliver again later."""


class DeliveryStatusUpdate(Protocol):
    """What became of one of our replies, named by the platform's id for it."""

    @property
    def external_id(self) -> str: ...
    @property
    def status(self) -> str: ...  # a DeliveryStatus value: sent, delivered, read, failed
    @property
    def error(self) -> str | None: ...


@runtime_checkable
class ReportsStatuses(Protocol):
    """The platform's webhooks also say what became of our replies (WhatsApp statuses,
    Messenger and Instagram delivery receipts)."""

    def parse_statuses(self, payload: Any) -> Sequence[DeliveryStatusUpdate]:
        """The updates in `payload` (none when it holds only messages)."""
