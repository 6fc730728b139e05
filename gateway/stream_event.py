"""One event as the gateway reads it: from the events stream (XREAD, XRANGE), or from a
contact's channel (inbox/relay.py publishes each event with a contact there as well).

Routing fields in the clear, the payload opaque: fan-out decides with `route` alone,
the payload is parsed only if someone asks for `data`, and the frame is assembled
around the payload's JSON without re-encoding it.
"""

from __future__ import annotations

from typing import Any

from inbox import json_codec
from inbox.events import ROUTE_FIELDS


def parse_id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def valid_id(stream_id: str) -> bool:
    try:
        parse_id(stream_id)
    except ValueError:
        return False
    return True


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class StreamEvent:
    __slots__ = ("id", "sid", "eid", "event", "route", "data_json", "_data", "_frame")

    def __init__(self, id: str, eid: int, event: str, route: dict[str, str], data_json: str):
        self.id = id
        self.sid = parse_id(id)
        self.eid = eid
        self.event = event
        self.route = route
        self.data_json = data_json
        self._data: dict[str, Any] | None = None
        self._frame: str | None = None

    @classmethod
    def from_entry(cls, entry_id: Any, fields: dict[Any, Any]) -> StreamEvent:
        f = {text(k): text(v) for k, v in fields.items()}
        return cls(text(entry_id), int(f["eid"]), f["event"], _route(f.get("r", "")), f["data"])

    @classmethod
    def from_published(cls, message: bytes | str) -> StreamEvent:
        """A contact channel's message: the entry's id, eid, event, routing field and
        payload, one per line (the payload last: compact JSON has no raw newline)."""
        entry_id, eid, event, route, data = text(message).split("\n", 4)
        return cls(entry_id, int(eid), event, _route(route), data)

    def int_route(self, name: str) -> int | None:
        value = self.route.get(name, "")
        return int(value) if value else None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json_codec.loads(self.data_json)
        return self._data

    @property
    def frame(self) -> str:
        if self._frame is None:
            head = json_codec.dumps(
                {"type": "event", "id": self.id, "eid": self.eid, "event": self.event}
            )
            self._frame = f'{head[:-1]},"data":{self.data_json}}}'
        return self._frame


def _route(joined: str) -> dict[str, str]:
    return dict(zip(ROUTE_FIELDS, joined.split("|"), strict=False))
