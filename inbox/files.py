"""Attachment storage: bytes in the data folder under their SHA-256, a row per upload.

The type of a file is read from its first bytes, never taken from its name or from
what the uploader declared. Only raster images are ever shown inline; everything
else (SVG, HTML, PDF, unknown) is served as a download (gateway/api/files.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.model import StoredFile
from inbox.types import Attachment

_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"ftyp", 4, "video/mp4"),  # ISO base media: Telegram's videos and video notes
    (b"\x1a\x45\xdf\xa3", 0, "video/webm"),  # Matroska/WebM: Telegram's video stickers
]
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class FileRefused(ValueError):
    pass


def sniff(data: bytes) -> str:
    """The content type that the bytes themselves show; application/octet-stream if unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, offset, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return kind
    return "application/octet-stream"


def safe_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip() or "file"
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in base)
    return cleaned[:120] or "file"


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def save(
        self,
        session: AsyncSession,
        data: bytes,
        name: str,
        *,
        inbox_id: int | None,
        allowed: frozenset[str] | None = None,
        max_size: int | None = None,
    ) -> StoredFile:
        if max_size is not None and len(data) > max_size:
            raise FileRefused(f"the file is {len(data)} bytes; the limit is {max_size}")
        kind = sniff(data)
        if allowed is not None and kind not in allowed:
            raise FileRefused(
                f"files of type {kind} are not accepted here; accepted: {', '.join(sorted(allowed))}"
            )
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        row = StoredFile(
            id=secrets.token_hex(16), sha256=digest, content_type=kind, name=safe_name(name),
            size=len(data), inbox_id=inbox_id,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row


STORED_URL = re.compile(r"^/api/files/([0-9a-f]{32})$")


async def stored_contents(
    session: AsyncSession, files: FileStore | None, attachments: tuple[Attachment, ...]
) -> tuple[Attachment, ...]:
    """A reply's attachments with the bytes, name and type of those that are our stored
    files (`/api/files/{id}`), for a connector to upload; one that is gone (or with no
    file store at hand) keeps no content, and its connector says what it cannot send."""
    ids = {m.group(1) for a in attachments if (m := STORED_URL.match(a.url or ""))}
    if not ids or files is None:
        return attachments
    rows = {
        r.id: r
        for r in (await session.execute(select(StoredFile).where(StoredFile.id.in_(ids)))).scalars()
    }
    out = []
    for a in attachments:
        m = STORED_URL.match(a.url or "")
        row = rows.get(m.group(1)) if m else None
        path = files.path(row.sha256) if row else None
        if row is None or path is None or not path.exists():
            out.append(a)
            continue
        data = await asyncio.to_thread(path.read_bytes)
        out.append(replace(a, name=row.name, content_type=row.content_type, size=row.size,
                           content=data))  # fmt: skip
    return tuple(out)
