"""The sentiment lexicons: Italian (inbox/data/it_lexicon.tsv, written for this project),
English (VADER's lexicon, corrected and extended by inbox/data/en_lexicon.tsv) and emoji
(inbox/data/emoji.tsv), and the valence of a word in them, negated or not.

A line is `term<TAB>valence[<TAB>valence when negated]`; a term may be a phrase
("nessuna risposta") or a stem ending in `*` that matches up to four more letters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("data")
LEXICON_FILE = DATA / "it_lexicon.tsv"
EN_LEXICON_FILE = DATA / "en_lexicon.tsv"
EMOJI_FILE = DATA / "emoji.tsv"
N_SCALAR = -0.74  # VADER: a negated word keeps 74% of its strength, reversed
SARCASM_EMOJI = frozenset("🙄🙃😒😏")


@dataclass(slots=True)
class Lexicon:
    words: dict[str, float] = field(default_factory=dict)
    negated: dict[str, float] = field(default_factory=dict)  # valence when negated, if set
    stems: list[tuple[str, float, float | None]] = field(default_factory=list)
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)


@lru_cache(maxsize=1 << 16)
def strip_accents(word: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn"
    )


def _read_tsv(path: Path, lex: Lexicon, *, accentless: bool) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        term, value = cols[0].strip().lower(), float(cols[1])
        negated = float(cols[2]) if len(cols) > 2 and cols[2].strip() else None
        forms = {term, strip_accents(term)} if accentless else {term}
        for form in forms:
            if " " in form:
                words = tuple(form.split())
                lex.phrases.setdefault(words[0], []).append((words, value))
            elif form.endswith("*"):
                lex.stems.append((form[:-1], value, negated))
            else:
                lex.words[form] = value
                if negated is not None:
                    lex.negated[form] = negated
    lex.stems.sort(key=lambda s: -len(s[0]))  # the longest stem wins
    for candidates in lex.phrases.values():
        candidates.sort(key=lambda p: -len(p[0]))  # the longest phrase wins


@cache
def lexicon(lang: str) -> Lexicon:
    lex = Lexicon()
    if lang == "it":
        _read_tsv(LEXICON_FILE, lex, accentless=True)
    else:
        from vaderSentiment import vaderSentiment as vader

        vader_file = Path(vader.__file__).with_name("vader_lexicon.txt")
        for line in vader_file.read_text(encoding="utf-8").splitlines():
            word, value = line.split("\t")[:2]
            if " " not in word:
                lex.words[word] = float(value)
        _read_tsv(EN_LEXICON_FILE, lex, accentless=False)
    return lex


@cache
def emoji_table() -> dict[str, float]:
    table: dict[str, float] = {}
    for line in EMOJI_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            symbol, value = line.split("\t")[:2]
            table[symbol.strip()] = float(value)
    return table


def is_emoji(token: str) -> bool:
    return (
        token in emoji_table() or token in SARCASM_EMOJI or unicodedata.category(token[0]) == "So"
    )


@lru_cache(maxsize=1 << 16)
def word_valence(lang: str, word: str, negated: bool) -> float | None:
    """A word's valence (negated or not); cached, as the stem scan is the slow part."""
    lex = lexicon(lang)
    if word in lex.words:
        if negated and word in lex.negated:
            return lex.negated[word]
        value = lex.words[word]
        return value * N_SCALAR if negated else value
    for stem, value, neg_value in lex.stems:
        if word.startswith(stem) and len(word) - len(stem) <= 4:
            if negated:
                return neg_value if neg_value is not None else value * N_SCALAR
            return value
    if len(word) > 3 and word[-1] == word[-2] and word[-1] in "aeiouy":
        return word_valence(lang, word[:-1], negated)  # texting's "ciaoo", "amoo", "sooo"
    return None
