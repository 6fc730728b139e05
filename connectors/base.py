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

from inbox.types import Attachment, Downloaded, InboundMessage, OutboundMessage, Sender, SentReceipt


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
class LooksUpSenders(Protocol):
    """The platform's messages name the sender by id only (Messenger, Instagram): the
    inbox asks for the profiles of senders it has never seen (inbox/preparation.py)."""

    async def profiles(self, external_ids: Sequence[str]) -> dict[str, Sender]:
        """The profiles found, by external id; one that fails is left out."""


@runtime_checkable
class DownloadsFiles(Protocol):
    """Files arrive as references to the platform's own (Telegram file ids, WhatsApp media
    ids): the inbox asks for the bytes of a new message's files and stores them."""

    def waiting_download(self, attachment: Attachment) -> bool:
        """Whether `attachment` is a reference this connector can download."""

    async def download(self, attachments: Sequence[Attachment]) -> list[Downloaded | Attachment]:
        """One answer per attachment: its bytes, or the attachment kept as a reference
        with `data["error"]` saying why (too big, gone, refused); raise on a failure worth
        a retry (network, rate limit), so that the platform delivers again."""


@runtime_checkable
class LinksContacts(Protocol):
    """A message can ask to be linked to a contact we know (Telegram's signed `/start`
    payload): the inbox then points the sender's identity at that contact."""

    def linked_contact(self, item: InboundMessage, secret_key: str) -> int | None:
        """The contact `item` asks to be linked to, when its proof is good; else None."""


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
