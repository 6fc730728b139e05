"""CSV that a spreadsheet opens right in the reader's language: what the report and signal
downloads of the web pages send (the `crocevia signals export` command and NDJSON stay
machine-oriented: commas, ISO 8601 in UTC, English column names).

For Italian (Excel set to Italian reads `;` as the separator and `,` as the decimal
mark): `;` between cells, `0,25` for numbers with decimals, Italian column names. For
both languages: a UTF-8 byte-order mark (so Excel reads accents right), times in the
reader's time zone as `2026-11-24 18:03:05` (no microseconds, no offset), and text that
a spreadsheet would run as a formula quoted with a `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BOM = "\ufeff"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Text that a spreadsheet would run as a formula, quoted with a '."""
    return "'" + value if value[:1] in _FORMULA else value


@dataclass(frozen=True, slots=True)
class SheetStyle:
    language: str  # "it" or "en"
    zone: ZoneInfo

    @classmethod
    def of(cls, language: str | None, timezone: str | None) -> SheetStyle:
        try:
            zone = ZoneInfo(timezone or "Europe/Rome")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("Europe/Rome")
        return cls("it" if language != "en" else "en", zone)

    @property
    def separator(self) -> str:
        return ";" if self.language == "it" else ","

    def header(self, columns: Iterable[str], names: Mapping[str, Mapping[str, str]]) -> list[str]:
        """Column names in the reader's language (`names[column][language]`), else as is."""
        return [names.get(c, {}).get(self.language, c) for c in columns]

    def cell(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, bool):
            return {"it": ("Sì", "No"), "en": ("Yes", "No")}[self.language][0 if value else 1]
        if isinstance(value, float):
            text = f"{value:.6g}" if abs(value) < 1e15 else f"{value:.0f}"
            return text.replace(".", ",") if self.language == "it" else text
        if isinstance(value, str):
            return safe_text(value)
        return value

    def rows(self, rows: Iterable[Iterable[Any]]) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=self.separator, lineterminator="\r\n")
        writer.writerows([self.cell(v) for v in row] for row in rows)
        return buf.getvalue()
