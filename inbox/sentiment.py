"""Language and sentiment of a customer's message, offline, in Italian and English.

English is scored by VADER (vaderSentiment). Italian is scored by our own
VADER-style method: a lexicon written for this project (inbox/data/it_lexicon.tsv,
customer-care vocabulary, stems with `*` match any ending) and VADER's rules:
negation flips and damps the next sentiment words ("non è male" is mildly positive,
"non funziona" negative), intensifiers and dampeners scale them ("molto",
"davvero", "un po'"), after a contrast word ("ma", "però") the clause that follows
weighs more, exclamation marks and words in capitals add emphasis, and emoji are
scored through VADER's own emoji table. Nothing is downloaded at run time.

The stable command `crocevia sentiment` reads one message per line and prints one
JSON object per line: {"language": "it", "label": "negative", "score": -0.62}.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("data") / "it_lexicon.tsv"
LANGUAGES = ["it", "en", "es", "fr", "de", "pt"]
THRESHOLD = 0.05
ALPHA = 15.0  # VADER's normalisation constant

NEGATORS = frozenset({"non", "mai", "nessuno", "nessuna", "niente", "nulla", "senza", "né",
                      "nemmeno", "neanche", "neppure", "manco"})  # fmt: skip
BOOSTERS = {
    "molto": 0.3, "davvero": 0.3, "veramente": 0.3, "troppo": 0.3, "super": 0.3,
    "estremamente": 0.4, "assolutamente": 0.35, "proprio": 0.2, "tanto": 0.2, "tantissimo": 0.35,
    "incredibilmente": 0.35, "decisamente": 0.3, "parecchio": 0.2, "sempre": 0.15,
    "poco": -0.3, "abbastanza": -0.1, "piuttosto": -0.1, "quasi": -0.2, "leggermente": -0.25,
}  # fmt: skip
CONTRAST = frozenset({"ma", "però", "pero", "tuttavia", "eppure", "invece"})
N_SCALAR = -0.74
CAPS_INCR = 0.733

_ITALIAN_HINTS = frozenset(
    "il lo la gli le un una di del della che non è e' sono ho ha mi ci per con grazie ciao "
    "buongiorno buonasera salve ordine spedizione pacco reso rimborso perché quando dove "
    "come vorrei potete posso avete ancora già molto tutto".split()
)  # fmt: skip
_ENGLISH_HINTS = frozenset(
    "the a an is are was i you my your it this that not no thanks thank hello hi please "
    "order shipping package refund when where how would could can have still already very "
    "all and with for".split()
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|[!?]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str | None
    score: float
    label: str


def _label(score: float) -> str:
    if score >= THRESHOLD:
        return "positive"
    if score <= -THRESHOLD:
        return "negative"
    return "neutral"


@cache
def _vader():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@cache
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(LANGUAGES)
    return ident


@cache
def _lexicon() -> tuple[dict[str, float], list[tuple[str, float]]]:
    words: dict[str, float] = {}
    stems: list[tuple[str, float]] = []
    for line in LEXICON_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, value = line.split("\t")
        if term.endswith("*"):
            stems.append((term[:-1], float(value)))
        else:
            words[term] = float(value)
    stems.sort(key=lambda s: -len(s[0]))  # the longest stem wins
    return words, stems


def _normalise(word: str) -> str:
    word = unicodedata.normalize("NFC", word.lower())
    word = re.sub(r"(.)\1{2,}", r"\1", word)  # "grazieee" -> "grazie"
    return {"e'": "è", "perche": "perché", "pero": "però", "piu": "più"}.get(word, word)


def _valence(word: str) -> float | None:
    words, stems = _lexicon()
    if word in words:
        return words[word]
    for stem, value in stems:
        if word.startswith(stem) and len(word) - len(stem) <= 4:
            return value
    return None


def language(text: str) -> str | None:
    tokens = [_normalise(t) for t in _WORD.findall(text) if t not in "!?"]
    if not tokens:
        return None
    it = sum(t in _ITALIAN_HINTS or _valence(t) is not None for t in tokens)
    en = sum(t in _ENGLISH_HINTS for t in tokens)
    if len(tokens) <= 3 and it != en:  # too short for a character model: trust the words
        return "it" if it > en else "en"
    lang, prob = _identifier().classify(text)
    if prob < 0.6 and it != en:
        return "it" if it > en else "en"
    return str(lang)


def _emoji_valence(text: str) -> float:
    emoji = "".join(ch for ch in text if unicodedata.category(ch) == "So")
    if not emoji:
        return 0.0
    compound = _vader().polarity_scores(emoji)["compound"]
    # Back from VADER's normalised compound to a raw valence sum.
    return (
        compound * math.sqrt(ALPHA / max(1e-9, 1 - compound * compound))
        if abs(compound) < 1
        else 4.0 * compound
    )


def italian_score(text: str) -> float:
    raw = _WORD.findall(text)
    tokens = [_normalise(t) for t in raw]
    caps_mixed = any(t.isalpha() and not t.isupper() for t in raw)
    clause_weights: list[float] = []
    contrast_at = max((i for i, t in enumerate(tokens) if t in CONTRAST), default=-1)
    total = 0.0
    for i, token in enumerate(tokens):
        value = _valence(token)
        if value is None or token in NEGATORS or token in BOOSTERS:
            continue
        if caps_mixed and raw[i].isupper() and len(raw[i]) > 1:
            value += CAPS_INCR if value > 0 else -CAPS_INCR
        for back in (1, 2, 3):
            j = i - back
            if j < 0 or tokens[j] in CONTRAST:
                break
            boost = BOOSTERS.get(tokens[j])
            if boost is not None:
                scale = 1.0 if back == 1 else 0.95 if back == 2 else 0.9
                value += math.copysign(boost * scale, value)
        if any(tokens[j] in NEGATORS for j in range(max(0, i - 3), i)):
            value *= N_SCALAR
        if contrast_at >= 0:
            value *= 0.5 if i < contrast_at else 1.5
        clause_weights.append(value)
        total += value
    total += _emoji_valence(text)
    if total:
        bangs = min(text.count("!"), 4) * 0.292
        total += bangs if total > 0 else -bangs
        if "?" in text and not clause_weights:
            total *= 0.5
    return total / math.sqrt(total * total + ALPHA)


def analyse(text: str) -> Analysis:
    if not text.strip():
        return Analysis(None, 0.0, "neutral")
    lang = language(text)
    if lang == "it":
        score = italian_score(text)
    else:
        score = float(_vader().polarity_scores(text)["compound"])
    score = max(-1.0, min(1.0, score))
    return Analysis(lang, round(score, 4), _label(score))


def main(argv: list[str] | None = None) -> int:
    """`crocevia sentiment`: one message per line in, one JSON object per line out."""
    del argv
    for line in sys.stdin:
        text = line.rstrip("\n")
        a = analyse(text)
        print(
            json.dumps({"language": a.language, "label": a.label, "score": round(a.score, 2)}),
            flush=True,
        )
    return 0
