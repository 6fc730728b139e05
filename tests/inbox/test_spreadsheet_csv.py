"""CSV for a spreadsheet in the reader's language (inbox/spreadsheet_csv.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from inbox.spreadsheet_csv import SheetStyle


def test_italian_excel_gets_semicolons_decimal_commas_local_times_and_safe_text() -> None:
    style = SheetStyle.of("it", "Europe/Rome")
    at = datetime(2026, 7, 1, 16, 3, 5, 123456, tzinfo=UTC)
    text = style.rows([["Nome", "Quando", "Media", "Conteggio", "Attivo", "Nota"],
                       ["Rossi; Mario", at, -0.65, 12, True, "=SOMMA(A1)"]])  # fmt: skip
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1] == ["Rossi; Mario", "2026-07-01 18:03:05", "-0,65", "12", "Sì", "'=SOMMA(A1)"]


def test_english_keeps_commas_and_points_in_the_readers_time_zone() -> None:
    style = SheetStyle.of("en", "America/New_York")
    at = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    rows = list(csv.reader(io.StringIO(style.rows([[at, 0.5, None, False]]))))
    assert rows == [["2026-01-15 07:00:00", "0.5", "", "No"]]
    assert style.header(["a", "b"], {"a": {"it": "A"}}) == ["a", "b"]
    assert SheetStyle.of("it", "Nowhere/Else").zone.key == "Europe/Rome"
