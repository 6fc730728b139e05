"""The interface every connector implements.

A connector verifies what a platform sent, parses it into `InboundMessage`s
and sends replies. It knows its platform and nothing of routing or storage: of our
code it imports only inbox/types.py (tests/connectors/test_adapters_know_no_storage.py).
What needs storage the inbox does with the connector's answers: inbox/preparation.py
stores the files it downloads and links the contacts it names; inbox/outbound.py hands
it a reply with the bytes of its files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

# The steps the inbox runs before storing (inbox/preparation.py) are declared with the
# data they exchange, in inbox/types.py: the inbox must not import connectors.
from inbox.types import DownloadsFiles as DownloadsFiles
from inbox.types import InboundMessage, OutboundMessage, SentReceipt
from inbox.types import LinksContacts as LinksContacts
from inbox.types import LooksUpSenders as LooksUpSenders


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
class KeepsConnections(Protocol):
    """The connector can keep its HTTP connections between calls (built with
    `keep_connections=True`); its owner closes them."""

    async def aclose(self) -> None:
        """Close the kept connections (none kept: nothing to do)."""


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
