"""Social text as the sentiment rules read it: handles and links dropped, hashtags split
into words, emoticons read as the emoji they stand for, laughter as one word; then the
tokens (words normalised for spelling and elision, punctuation, emoji) by clause."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from inbox.sentiment_lexicon import is_emoji, lexicon, word_valence
from inbox.sentiment_rules import Rules

PUNCT = frozenset(",.;:!?")
ITALIAN_ELISION = re.compile(
    r"^(?:l|un|dell|dall|nell|sull|all|coll|quest|quell|c|m|t|s|v|d|n|tutt|bell|sant|mezz)'",
)
# Social-text clean-up before scoring: an @handle or a link says nothing of the mood (and
# "@united" is not the word "united"); a hashtag is read as its word; emoticons become
# the emoji they stand for; laughter ("ahahah", "hahaha", "LOL") becomes one word.
# Links as tweets carry them may be broken by a space after the scheme ("http:// bit.ly/x").
HANDLE_OR_LINK = re.compile(r"@\w+|https?://\s?\S+|\bpic\.twitter\.com/\S+|\bwww\.\s?\S+")
_EMOTICONS = [
    (
        re.compile(r"(?<![\w:])[:;=8][-'^]?[)\]}]+|\(+[-^]?[:;=](?!\w)|\^\^|\^_\^|(?<!\w)c:(?!\w)"),
        " 🙂 ",
    ),
    (re.compile(r"(?<![\w:])[:;=8][-'^]?[dDpP3]+(?!\w)|(?<!\w)[xX][dD]+(?!\w)|<3+"), " 😄 "),
    (
        re.compile(r"(?<![\w:])[:;=8][-'^]?[(\[{cC]+(?!\w)|\)+[-^]?[:;=](?!\w)|:'\(+|[tT]_[tT]"),
        " 🙁 ",
    ),
    (re.compile(r"(?<![\w:/])[:;=][-'^]?[/\\|]+(?![\w/])|-_-|>:\(+"), " 😒 "),
    (re.compile(r"(?<![\w:])[:;][-']?\*+|(?<!\S)\*[._]\*(?!\S)"), " 😘 "),  # a kiss, starry eyes
]
_LAUGH = re.compile(
    r"(?<!\w)(?:a?h[ae]){2,}h?(?!\w)|(?<!\w)(?:lol)+(?!\w)|(?<!\w)(?:a?ha){2,}h?(?!\w)", re.I
)


_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _hashtag_words(tag: str, lang: str) -> str:
    """A hashtag's words: "#ThankYouForTheTour" by its capitals; "#usairwayssucks",
    "#worsttraveldayever", "#delusionemonti" by the longest sentiment word it starts or
    ends with."""
    parts = _CAMEL.findall(tag)
    if len(parts) > 1:
        return " ".join(parts)
    low = tag.lower()
    lex = lexicon(lang)
    if len(low) < 7 or low in lex.words or word_valence(lang, low, False) is not None:
        return low
    for neg in ("never", "not", "no", "non", "mai"):  # "#neveragain", "#notcool"
        rest = low[len(neg) :]
        if low.startswith(neg) and (
            rest in lex.words or any(p == (neg, rest) for p, _ in lex.phrases.get(neg, ()))
        ):
            return f"{neg} {rest}"
    for n in range(len(low) - 3, 3, -1):
        if lex.words.get(low[:n]):
            return f"{low[:n]} {low[n:]}"
    for n in range(3, len(low) - 3):
        if lex.words.get(low[n:]):
            return f"{low[:n]} {low[n:]}"
    return low


def clean(text: str, lang: str = "en") -> str:
    text = HANDLE_OR_LINK.sub(" ", text)
    text = _HASHTAG.sub(lambda m: f" {_hashtag_words(m.group(1), lang)} ", text)
    text = text.replace("#", " ")
    for pattern, emoji in _EMOTICONS:
        text = pattern.sub(emoji, text)
    return _LAUGH.sub(" haha ", text)


_REPEATS = re.compile(r"(.)\1{2,}")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*['’]?|[,.;:!?]|[^\w\s]", re.UNICODE)


@dataclass(slots=True)
class Token:
    raw: str
    norm: str
    kind: str  # "word", "punct" or "emoji"
    clause: int = 0


def tokens(text: str, rules: Rules, lang: str) -> list[Token]:
    out: list[Token] = []
    clause = 0
    for raw in _TOKEN.findall(unicodedata.normalize("NFC", text)):
        if raw in PUNCT:
            out.append(Token(raw, raw, "punct", clause))
            clause += 1
            continue
        if not raw[0].isalpha():
            if is_emoji(raw):
                out.append(Token(raw, raw, "emoji", clause))
            continue
        word = raw.lower().replace("’", "'")
        word = _REPEATS.sub(r"\1", word)  # "grazieee" -> "grazie"
        word = rules.spelling.get(word, word)
        if lang == "it":
            word = ITALIAN_ELISION.sub("", word) or word
            word = word.rstrip("'") or word  # "po'" -> "po"
            word = rules.spelling.get(word, word)
        out.append(Token(raw, word, "word", clause))
    return out
