"""The website live-chat widget as a channel.

Inbound comes over `/ws/widget` from a visitor holding a signed token (the
gateway verifies it); a message's platform id is the visitor's id and the
client id the widget chose, so a resend after a reconnect is the same message.
Outbound needs no platform call: the visitor's socket receives the reply from
the event stream once this connector has marked it sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.base import ParseError
from inbox.types import (
    Attachment,
    Channel,
    InboundMessage,
    OutboundMessage,
    Sender,
    SentReceipt,
    utcnow,
)


class WebsiteConnector:
    channel = Channel.WEBSITE.value

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Widget frames are authenticated by the visitor token on the socket."""

    def parse_frame(
        self,
        inbox_id: int,
        visitor_id: str,
        client_id: str,
        text: str,
        attachments: Sequence[Attachment] = (),
    ) -> InboundMessage:
        return InboundMessage(
            attachments=tuple(attachments),
            channel=Channel.WEBSITE,
            inbox_id=inbox_id,
            external_id=f"{visitor_id}:{client_id}",
            sender=Sender(external_id=visitor_id),
            text=text,
            sent_at=utcnow(),
            raw={"client_id": client_id},
        )

    def parse(self, payload: Any) -> list[InboundMessage]:
        try:
            return [
                self.parse_frame(
                    int(payload["inbox_id"]),
                    str(payload["visitor_id"]),
                    str(payload["client_id"]),
                    str(payload["text"]),
                )
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ParseError(f"expected inbox_id, visitor_id, client_id and text: {exc}") from None

    async def send(self, message: OutboundMessage) -> SentReceipt:
        return SentReceipt(external_id=f"web:{message.message_id}", sent_at=utcnow())
