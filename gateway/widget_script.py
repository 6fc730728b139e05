"""The chat widget's script as shops load it (/widget.js): web/widget/widget.js with the
files it names in `/* @inline path */` lines put in their place.

The widget is one classic script on someone else's page, so it cannot import modules; the
live-socket client it shares with the console and the lead page (web/shared/live_socket.js,
an ES module) is inlined here with its `export` keyword dropped. The result is built again
when a source file changes (its modification time), and carries an ETag so browsers
revalidate cheaply.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

INLINE = re.compile(r"^(?P<indent>[ \t]*)/\* @inline (?P<path>[\w./-]+) \*/[ \t]*$", re.MULTILINE)
EXPORT = re.compile(r"^export (?=function )", re.MULTILINE)


@dataclass(frozen=True)
class Script:
    text: bytes
    etag: str


class WidgetScript:
    def __init__(self, source: Path) -> None:
        self.source = source
        self._built: tuple[tuple[float, ...], Script] | None = None

    def _inlined(self) -> list[Path]:
        text = self.source.read_text(encoding="utf-8")
        return [(self.source.parent / m["path"]).resolve() for m in INLINE.finditer(text)]

    def get(self) -> Script:
        files = [self.source, *self._inlined()]
        stamp = tuple(f.stat().st_mtime for f in files)
        if self._built is None or self._built[0] != stamp:
            self._built = (stamp, self._build())
        return self._built[1]

    def _build(self) -> Script:
        def inline(match: re.Match[str]) -> str:
            path = (self.source.parent / match["path"]).resolve()
            code = EXPORT.sub("", path.read_text(encoding="utf-8")).rstrip("\n")
            return "\n".join(match["indent"] + line if line else line for line in code.split("\n"))

        text = INLINE.sub(inline, self.source.read_text(encoding="utf-8")).encode()
        return Script(text=text, etag='"' + hashlib.sha256(text).hexdigest()[:32] + '"')
