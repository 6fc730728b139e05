"""The customer's own words in a reply, and the quoted history folded beside them.

Mail clients write a reply as new text plus the mail it answers. How they mark the
old mail differs by client and language:

* an attribution line, often wrapped over two or three lines: "On … wrote:",
  "Il giorno … ha scritto:", "In data … ha scritto:", "Le … a écrit :",
  "Am … schrieb …:", Gmail's date-first "2017-11-24 16:32 GMT+01:00 Name <a@b>:";
* a separator: "-----Original Message-----", "-----Ursprüngliche Nachricht-----",
  "-------- Messaggio originale --------", Outlook's line of underscores;
* a block of header lines (Outlook, Windows Mail, Apple Mail forwards): "Da: … /
  Inviato: … / A: … / Oggetto: …", "De : … Envoyé le : … Objet :", "Von: … Gesendet:";
* "> " in front of each quoted line (most plain-text clients; html2text writes the
  same for `<blockquote>`).

`split_reply` reads a text body and returns what the agent reads (`visible`) and
what is folded away (`quoted`: the history and the signature). It never drops the
customer's own words: a text written below or between "> " quotes (bottom-posting,
inline answers) stays visible; a forwarded mail stays whole; when nothing is
recognised, everything is visible.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from connectors.email_quote_patterns import (
    FORWARD,
    FORWARD_INTRO,
    FORWARD_SUBJECT,
    HEADER_LABEL,
    MOBILE_SIGNATURE,
    SEPARATOR,
    attribution_at,
    from_label,
)

_UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")
_RULE = re.compile(r"^\s*(?:[-=_*]{3,}|\* \* \*)\s*$")
_INITIALS_QUOTE = re.compile(r"^\s*[A-Z]{1,3}>(?:\s|$)")
_INVISIBLE = re.compile(r"^[\s\u200b-\u200f\u2060\ufeff]+$")
_TRACKER = re.compile(r"^\s*\u1427\s*$")  # the "ᐧ" that Gmail mail trackers add at the end
_SIG_RULE = re.compile(r"^\s*_{5,}\s*$")
_FOOTER_RULE = re.compile(r"^\s*(?:_{2,}|—{2,}|-{5,}|={5,})\s*$")
_FOOTER_LINES = 6
_SIG_DASHES = frozenset({"--", "-- ", "—"})
_MAX_HEADER_GAP = 2
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply split in two: `visible` for the agent, `quoted` to fold (may be "")."""

    visible: str
    quoted: str


def _is_quote(line: str) -> bool:
    """ "> " in front, or Supercite's initials ("JD> ")."""
    return line.lstrip().startswith(">") or bool(_INITIALS_QUOTE.match(line))


def _header_block(lines: list[str], n: int) -> bool:
    """Line `n` starts a block of mail headers ("From: …" then "Sent: …", "To: …"; or
    three header lines in a row in any order, as Hotmail writes "Date: … Subject: …")."""
    if not from_label(lines[n]):
        run = lines[n : n + 3]
        return (
            len(run) == 3
            and all(HEADER_LABEL.match(x) and len(x) < 300 for x in run)
            and (any(from_label(x) for x in lines[n : n + 6]))
        )
    labels = 0
    gap = 0
    for line in lines[n + 1 : n + 8]:
        if not line.strip():
            gap += 1
            if gap > _MAX_HEADER_GAP:
                break
            continue
        if HEADER_LABEL.match(line):
            labels += 1
            if labels >= 2 or (labels == 1 and _is_address_line(lines[n])):
                return True
        elif labels == 0 and len(line) > 120:
            break
    return False


def _is_address_line(line: str) -> bool:
    return "@" in line or "[mailto:" in line


def _cut_at(lines: list[str]) -> tuple[int, int, bool] | None:
    """Where the history starts: (first line, lines its marker spans, is a forward)."""
    for n, line in enumerate(lines):
        if _is_quote(line):
            continue
        if SEPARATOR.match(line):
            return n, 1, bool(FORWARD.search(line))
        if FORWARD_INTRO.match(line):
            return n, 1, True
        if _UNDERSCORES.match(line) and any(
            from_label(x) for x in lines[n + 1 : n + 4] if x.strip()
        ):
            return n, 1, False
        span = attribution_at(lines, n)
        if span:
            return n, span, False
        if _header_block(lines, n):
            return _header_top(lines, n), 1, False
        if _phone_cut(lines, n):
            return n + 1, 1, False
    return None


def _header_top(lines: list[str], n: int) -> int:
    """The first line of a header block found at its "From:" line: a "Date:" or a
    row of "=" / "-" just above belongs to it."""
    while n > 0:
        above = lines[n - 1]
        if above.strip() and not (HEADER_LABEL.match(above) or _RULE.match(above)):
            break
        n -= 1
    while n < len(lines) and not lines[n].strip():
        n += 1
    return n


def _phone_cut(lines: list[str], n: int) -> bool:
    """ "Sent from my phone" alone on its line, then the answered mail with no header
    (some Android clients): the history starts below it."""
    if not MOBILE_SIGNATURE.match(lines[n]) or len(lines[n]) > 100:
        return False
    if n == 0 or lines[n - 1].strip() or n + 2 >= len(lines) or lines[n + 1].strip():
        return False
    return any(x.strip() for x in lines[n + 2 :])


def _drop_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """The lines before a signature, and the signature itself: from a "-- " line, a
    rule over a card or a list footer, and a last "Sent from my phone" line."""
    body, signature = lines, []
    for n, line in enumerate(lines):
        if line.rstrip() in _SIG_DASHES:
            body, signature = lines[:n], lines[n:]
            break
    end = len(body)
    while end and not body[end - 1].strip():
        end -= 1
    for n in range(max(0, end - _FOOTER_LINES - 1), end):
        block = " ".join(body[n + 1 : end])
        if _SIG_RULE.match(body[n]) or (
            _FOOTER_RULE.match(body[n]) and re.search(r"@|https?://|\+?\d[\d .-]{6,}", block)
        ):
            return body[:n], body[n:] + signature
    if end and (MOBILE_SIGNATURE.match(body[end - 1]) or _TRACKER.match(body[end - 1])):
        return body[: end - 1], body[end - 1 :] + signature
    return body, signature


def _tidy(lines: list[str]) -> str:
    text = "\n".join(_INVISIBLE.sub("", line).rstrip() for line in lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def split_reply(text: str, *, subject: str | None = None) -> Reply:
    """The new part of a reply and the quoted part (history, signature) to fold.

    A mail whose `subject` says it is a forward ("I:", "Fwd:", "WG:", "TR:", …: Outlook
    writes a forward like a reply) is the forwarded mail: it is shown whole.
    Every word of `text` is in one of the two: when a split would leave a word out
    of both (quotes above an attribution, a signature above a bottom-posted answer),
    the fold holds the whole text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if subject and FORWARD_SUBJECT.match(subject):
        return Reply(_tidy(lines), "")
    reply = _split(lines, nested=False)
    words = Counter(_WORD.findall(text.lower()))
    if words - Counter(_WORD.findall(f"{reply.visible}\n{reply.quoted}".lower())):
        return Reply(reply.visible, _tidy(lines))
    return reply


def _split(lines: list[str], *, nested: bool) -> Reply:
    cut = _cut_at(lines)
    if cut is not None and cut[2]:
        return Reply(_tidy(lines), "")  # a forward: what was forwarded is the message
    if cut is None:
        own = [x for x in lines if not _is_quote(x)]
        body, signature = _drop_signature(own)
        if not _tidy(body):
            return Reply(_tidy(lines), "")
        quoted = _tidy(lines) if len(own) < len(lines) else _tidy(signature)
        return Reply(_tidy(body), quoted)
    start, span, _ = cut
    head = [x for x in lines[:start] if not _is_quote(x)]
    after = lines[start + span :]
    below = _end_of_quotes(after)
    if below is not None:  # written below or between the quotes: all of it is the customer's
        tail = [x for x in after[below:] if not _is_quote(x)]
        later = _cut_at(tail)
        if later is not None and not later[2]:
            tail = tail[: later[0]]
        body, _signature = _drop_signature([*head, "", *tail])
        if _tidy(body):
            return Reply(_tidy(body), _tidy(lines[start:]))
    if not _tidy(head) and below is None and not nested and not _is_quote(_first(after)):
        # an attribution on top of plain text: the client dropped the "> " (or the
        # customer wrote under it); the text is shown, the attribution folded
        under = _split(after, nested=True)
        if under.visible and under.visible != _tidy(after):
            return Reply(under.visible, _tidy([*lines[start : start + span], "", under.quoted]))
        kept, _signature = _drop_signature(after)
        if _tidy(kept) and not _cut_at(kept):
            return Reply(_tidy(kept), _tidy(lines[start : start + span]))
    body, signature = _drop_signature(head)
    if not _tidy(body):
        return Reply(_tidy(lines), "")  # nothing but history: show it rather than nothing
    quoted_above = next((i for i in range(start) if _is_quote(lines[i])), start)
    if quoted_above < start:
        return Reply(_tidy(body), _tidy(lines[quoted_above:]))
    return Reply(_tidy(body), _tidy([*signature, *lines[start:]]))


def _first(lines: list[str]) -> str:
    """The first line with text ("" if none)."""
    return next((x for x in lines if x.strip()), "")


def _continues_quote(after: list[str], i: int) -> bool:
    """Line `i` is the wrapped end of the quoted line above it, not an answer."""
    return (
        i + 1 < len(after)
        and _is_quote(after[i - 1])
        and _is_quote(after[i + 1])
        and bool(after[i].strip())
    )


def _end_of_quotes(after: list[str]) -> int | None:
    """In the lines after an attribution: where text written below its "> " quotes
    starts, or None when there is none (the rest is all history)."""
    first = next((i for i, x in enumerate(after) if x.strip()), None)
    if first is None or not _is_quote(after[first]):
        return None
    for i in range(first, len(after)):
        line = after[i]
        if not line.strip() or _is_quote(line) or _continues_quote(after, i):
            continue
        if line.rstrip() in _SIG_DASHES or _UNDERSCORES.match(line):
            return None
        if MOBILE_SIGNATURE.match(line) and not any(x.strip() for x in after[i + 1 :]):
            return None
        return i
    return None
