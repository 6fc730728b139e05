"""The language of a customer's message: py3langid restricted to six European languages,
with word hints deciding short or uncertain messages. Nothing is downloaded at run time."""

from __future__ import annotations

import re
from functools import cache

from inbox.sentiment_lexicon import strip_accents
from inbox.social_text import HANDLE_OR_LINK, ITALIAN_ELISION

LANGUAGES = ["it", "en", "es", "fr", "de", "pt"]
_ITALIAN_HINTS = frozenset(
    "il lo la gli le un una di del della dei delle che non è sono ho ha hanno mi ci vi si "
    "per con grazie ciao buongiorno buonasera salve ordine spedizione pacco reso rimborso "
    "perché quando dove come vorrei potete posso avete siete ancora già molto tutto tutti "
    "questo questa nel nella sul alla al da dal dopo anche ma però più mio mia miei vostro "
    "vostra voi noi io niente nessuno sempre migliori bravi ottimo pessimo taglia consegna "
    "corriere arrivato ricevuto funziona assistenza grz nn xke cmq perche qnd".split()
)  # fmt: skip
_ENGLISH_HINTS = frozenset(
    "the a an is are was were i you my your it this that not no thanks thank hello hi "
    "please order shipping package refund when where how would could can have has had "
    "still already very all and with for of to from on in at me we they our us what why "
    "do does did don't can't i'm it's been just so but never nobody got get terrible great "
    "good bad awful love best worst thx pls ur u".split()
)  # fmt: skip


@cache
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(LANGUAGES)
    return ident


def warm_up_identifier() -> None:
    """Load the language model now rather than on the first message."""
    _identifier()


def language(text: str) -> str | None:
    """The message's language among LANGUAGES, or None when it has no words."""
    text = HANDLE_OR_LINK.sub(" ", text)  # "@united", "http:// bit.ly" are no language
    words = [w.lower().replace("’", "'") for w in re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)*", text)]
    if not words:
        return None
    it = sum(w in _ITALIAN_HINTS or strip_accents(w) in _ITALIAN_HINTS for w in words)
    it += sum(bool(ITALIAN_ELISION.match(w)) for w in words)
    en = sum(w in _ENGLISH_HINTS for w in words)
    if len(words) <= 3 and it != en:  # too short for a character model: trust the words
        return "it" if it > en else "en"
    ranked = _identifier().rank(text)
    lang, prob = ranked[0]
    if len(words) <= 3:  # short and undecided by the words: pick between our two languages
        probs = dict(ranked)
        return "it" if probs.get("it", 0.0) >= probs.get("en", 0.0) else "en"
    if lang not in ("it", "en") and prob < 0.9 and it != en:
        return "it" if it > en else "en"
    if prob < 0.6 and it != en:
        return "it" if it > en else "en"
    return str(lang)
