"""Replies written the way real mail clients write them: the agent reads the customer's
words, exactly, and nothing the customer wrote is lost (what is hidden is folded).

The corpus is in tests/connectors/email_corpus (see its README)."""

from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.email_parse import html_to_text, parse_email
from connectors.email_quotes import split_reply

CORPUS = Path(__file__).parent / "email_corpus"


def _cases() -> list[tuple[str, str, str, str]]:
    """(id, kind, raw, expected) for every case of every corpus file (raw: a path for .eml)."""
    found = []
    for path in sorted(CORPUS.glob("*.txt")):
        chunks = re.split(r"^#### ", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
        for chunk in chunks[1:]:
            title, _, body = chunk.partition("\n")
            raw, _, expected = body.partition("\n---- expected\n")
            kind = "html" if title.startswith("html:") else "text"
            found.append((f"{path.stem}: {title.strip()}", kind, raw, expected))
    for path in sorted(CORPUS.glob("*.eml")):
        found.append((path.name, "eml", str(path), ""))
    return found


CASES = _cases()


def _norm(text: str) -> str:
    return " ".join(text.split())


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def test_the_corpus_is_large_and_italian_first() -> None:
    assert len(CASES) >= 150
    assert sum(1 for c in CASES if c[0].startswith("it")) >= 40


@pytest.mark.parametrize(
    ("kind", "raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_reply_reads_as_the_customer_wrote_it(kind: str, raw: str, expected: str) -> None:
    if kind == "eml":
        data = Path(raw).read_bytes()
        mail = parse_email(data)
        want = base64.b64decode(mail_header(data.decode("latin-1"), "X-Expected-Visible")).decode()
        assert _norm(mail.text) == _norm(want)
        text, visible, quoted = mail.full_text, mail.text, mail.quoted
    else:
        text = html_to_text(raw) if kind == "html" else raw
        reply = split_reply(text)
        assert _norm(reply.visible) == _norm(expected)
        visible, quoted = reply.visible, reply.quoted
    # nothing is lost: every word is either shown or in the folded quote
    assert not _words(text) - _words(visible) - _words(quoted)


def mail_header(raw: str, name: str) -> str:
    match = re.search(rf"^{name}: *(.*)$", raw, flags=re.MULTILINE)
    assert match, f"{name} header expected in the corpus mail"
    return match.group(1).strip()


def test_a_reply_of_thousands_of_attributions_is_read_quickly() -> None:
    """A crafted mail: attribution after attribution, each on top of the rest."""
    text = "On Mon, 3 Mar 2025 at 10:00 Shop <s@shop.test> wrote:\n\n" * 3000 + "ciao"
    reply = split_reply(text)
    assert reply.visible.endswith("ciao")
    assert not _words(text) - _words(reply.visible) - _words(reply.quoted)


#: Lines a reply is made of: the customer's, and every kind of marker the splitter knows.
LINES = [
    "Grazie mille",
    "Il pacco è arrivato rotto.",
    "Ciao,",
    "",
    "",
    "Saluti\nMarta",
    "On Monday I wrote:",
    "Il giorno lun 3 mar 2025 alle ore 10:12 Shop <s@shop.test> ha scritto:",
    "Il giorno lun 3 mar 2025 alle ore 10:12 Shop <",
    "s@shop.test> ha scritto:",
    "On Thu, 6 Mar 2025 at 11:16 Shop",
    "<",
    "> wrote:",
    "> Quale taglia?",
    ">> vecchio",
    "JD> citato",
    "-- ",
    "--",
    "Inviato da iPhone",
    "ᐧ",
    "________________________________",
    "_____",
    "marta@example.it",
    "-----Messaggio originale-----",
    "Da: Shop <s@shop.test>",
    "Inviato: lunedì 3 marzo 2025 10:12",
    "A: Marta",
    "Oggetto: Ordine",
    "---------- Forwarded message ---------",
    "Inizio messaggio inoltrato:",
    "2017-11-24 16:32 GMT+01:00 Shop <s@shop.test>:",
    "Sent from my phone",
    "====",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=25))
def test_no_word_is_ever_lost_whatever_the_mix(lines: list[str]) -> None:
    """Whatever the order of markers and text: each word is shown or folded."""
    text = "\n".join(lines)
    reply = split_reply(text)
    assert not _words(text) - _words(reply.visible) - _words(reply.quoted)
    assert reply.visible or not _words(text)  # never an empty message for a mail with words
