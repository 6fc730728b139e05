"""Language and sentiment of a customer's message, offline, in Italian and English.

One VADER-style engine scores both languages (see docs/sentiment.md):

* lexicons: for Italian, inbox/data/it_lexicon.tsv, written for this project (customer-care
  vocabulary, stems with `*` match any ending, accent-less and texting spellings); for
  English, VADER's own lexicon as shipped with vaderSentiment, corrected and extended by
  inbox/data/en_lexicon.tsv (also written for this project). A lexicon line may be a phrase
  ("nessuna risposta", "never arrived") and may carry a third column: the valence when the
  word is negated ("arrivato" is neutral, "non è arrivato" negative). Emoji are scored from
  inbox/data/emoji.tsv.
* rules, after VADER: negation flips and damps the words that follow it in the clause
  ("non è male" is mildly positive; Italian's "non ... mai" counts once), intensifiers and
  dampeners scale them ("molto", "davvero", "un po'"), "poco" negates the next word
  ("poco gentile"), a contrast word ("ma",
  "però", "but") makes the clause after it weigh more and the one before less, a concession
  ("nonostante", "despite") weighs less, exclamation marks and words in capitals add
  emphasis, plain questions lean neutral and rhetorical ones ("why ...", "Ma ...?") are
  complaints, complaints told as facts count ("couldn't get through", "no wifi", "on hold
  for an hour"), wishes and polite thanks are not praise, and sarcasm cues flip praise: a
  rolling-eyes or upside-down emoji, a short praising opener or closer next to a complaint,
  praise next to a counted wait, and "grazie per" / "thanks for" followed by something
  negative ("Ottimo, un'altra settimana di attesa"). Social text is cleaned first: handles,
  links, hashtags split into words, emoticons read as emoji.

Language detection is py3langid restricted to six European languages, with word hints
deciding short or uncertain messages. Nothing is downloaded at run time.

The stable command `crocevia sentiment` reads one message per line and prints one
JSON object per line: {"language": "it", "label": "negative", "score": -0.62}.
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("data")
LEXICON_FILE = DATA / "it_lexicon.tsv"
EN_LEXICON_FILE = DATA / "en_lexicon.tsv"
EMOJI_FILE = DATA / "emoji.tsv"
LANGUAGES = ["it", "en", "es", "fr", "de", "pt"]
THRESHOLD = 0.05
ALPHA = 15.0  # VADER's normalisation constant
N_SCALAR = -0.74  # VADER: a negated word keeps 74% of its strength, reversed
CAPS_INCR = 0.733  # VADER: a word in capitals in a mixed-case message
BANG_INCR = 0.292  # VADER: per "!" (at most 4)
QUESTION_BAND = 1.6  # a plain question needs more than this raw valence to count
_POCO = frozenset({"poco", "poca", "pochi", "poche"})
SARCASM_EMOJI = frozenset("🙄🙃😒😏")
PUNCT = frozenset(",.;:!?")


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str | None
    score: float
    label: str


@dataclass(slots=True)
class _Lexicon:
    words: dict[str, float] = field(default_factory=dict)
    negated: dict[str, float] = field(default_factory=dict)  # valence when negated, if set
    stems: list[tuple[str, float, float | None]] = field(default_factory=list)
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Rules:
    negators: frozenset[str]
    boosters: dict[str, float]
    contrast: frozenset[str]
    concession: frozenset[str]
    gratitude: frozenset[str]
    gratitude_for: frozenset[str]  # "grazie *per* ...", "thanks *for* ..."
    question_words: frozenset[str]
    spelling: dict[str, str]
    irrealis: frozenset[str] = frozenset()  # a wish or a condition follows
    request: frozenset[str] = frozenset()  # a request's words: its "thanks" is politeness
    negation_window: int = 3


_IT = _Rules(
    negators=frozenset({"non", "mai", "nessuno", "nessuna", "nessun", "niente", "nulla", "senza",
                        "né", "nemmeno", "neanche", "neppure", "manco", "nn"}),
    boosters={
        "molto": 0.3, "davvero": 0.3, "veramente": 0.3, "troppo": 0.3, "super": 0.3,
        "estremamente": 0.4, "assolutamente": 0.35, "proprio": 0.2, "tanto": 0.2,
        "tantissimo": 0.35, "incredibilmente": 0.35, "decisamente": 0.3, "parecchio": 0.2,
        "sempre": 0.15, "così": 0.2, "cosi": 0.2, "completamente": 0.3, "totalmente": 0.3,
        "particolarmente": 0.25, "affatto": 0.3, "mega": 0.3, "ultra": 0.3, "sinceramente": 0.1,
        "abbastanza": -0.2, "piuttosto": -0.15, "quasi": -0.2, "leggermente": -0.3,
        "po": -0.3, "pochino": -0.3, "poco": -0.3, "relativamente": -0.2, "vagamente": -0.3,
    },
    contrast=frozenset({"ma", "però", "tuttavia", "eppure", "comunque", "anzi", "invece"}),
    concession=frozenset({"nonostante", "malgrado", "sebbene", "benché", "seppur", "seppure"}),
    gratitude=frozenset({"grazie", "ringrazio", "ringraziamo", "complimenti"}),
    gratitude_for=frozenset({"per", "di"}),
    question_words=frozenset({"come", "quando", "dove", "quanto", "quanti", "quale", "quali",
                              "qual", "perché", "cosa", "chi", "posso", "potete", "avete",
                              "è", "si", "mi", "vorrei"}),
    spelling={
        "e'": "è", "perche": "perché", "xke": "perché", "xché": "perché", "perke": "perché",
        "pk": "perché", "xk": "perché", "pero": "però", "piu": "più", "gia": "già",
        "cmq": "comunque", "grz": "grazie", "graz": "grazie", "grazi": "grazie", "x": "per",
        "qnd": "quando", "ke": "che", "ki": "chi", "tt": "tutto", "sn": "sono", "nn": "non",
        "cosi": "così", "puo": "può", "qlc": "qualcosa", "qlcs": "qualcosa", "nessun": "nessuno",
        "tnx": "grazie", "thx": "grazie", "citta": "città", "qualita": "qualità",
    },
    irrealis=frozenset({"vorrei", "vorremmo", "spero", "speriamo", "sperando", "magari", "se",
                        "sarebbe", "sarebbero", "avrei", "dovrebbe", "dovreste", "potreste",
                        "basterebbe", "piacerebbe", "auguro", "voglio", "volevo",
                        "vogliamo"}),
    request=frozenset({"favore", "cortesemente", "potete", "potreste", "vorrei", "aiuto",
                       "aiutarmi", "aiutatemi"}),
    negation_window=4,
)  # fmt: skip


@cache
def _en_rules() -> _Rules:
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

    negators = {w for w in NEGATE} | {"no", "nobody", "nothing", "without", "none", "neither"}
    return _Rules(
        negators=frozenset(negators),
        boosters=dict(BOOSTER_DICT) | {"pretty": 0.293},
        contrast=frozenset({"but", "however", "though"}),
        concession=frozenset({"despite", "although", "notwithstanding"}),
        gratitude=frozenset({"thanks", "thank", "thx", "cheers"}),
        gratitude_for=frozenset({"for"}),
        question_words=frozenset({"how", "what", "when", "where", "which", "who", "why", "can",
                                  "could", "do", "does", "did", "is", "are", "will", "would",
                                  "have", "has", "should", "may"}),
        irrealis=frozenset({"would", "could", "should", "hope", "hoping", "wish", "wishing",
                            "if", "unless", "expect", "expected", "supposed", "want", "wanted",
                            "wants", "need", "needs", "trying", "tryna"}),
        request=frozenset({"please", "help", "need", "assist", "kindly"}),
        spelling={"u": "you", "ur": "your", "thx": "thanks", "thnx": "thanks", "ty": "thanks",
                  "tks": "thanks", "pls": "please", "plz": "please", "im": "i'm",
                  "recieved": "received", "recieve": "receive", "pakage": "package",
                  "pkg": "package", "wont": "won't", "isnt": "isn't", "hasnt": "hasn't",
                  "havent": "haven't", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't",
                  "cant": "can't", "wasnt": "wasn't", "arent": "aren't", "ive": "i've"},
    )  # fmt: skip


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
_ITALIAN_ELISION = re.compile(
    r"^(?:l|un|dell|dall|nell|sull|all|coll|quest|quell|c|m|t|s|v|d|n|tutt|bell|sant|mezz)'",
)
# Social-text clean-up before scoring: an @handle or a link says nothing of the mood (and
# "@united" is not the word "united"); a hashtag is read as its word; emoticons become
# the emoji they stand for; laughter ("ahahah", "hahaha", "LOL") becomes one word.
# Links as tweets carry them may be broken by a space after the scheme ("http:// bit.ly/x").
_HANDLE_OR_LINK = re.compile(r"@\w+|https?://\s?\S+|\bpic\.twitter\.com/\S+|\bwww\.\s?\S+")
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


# A customer counting how long they waited is complaining: "on hold for 45 minutes",
# "da tre giorni", "after two weeks". Counted once per message.
_WAIT = re.compile(
    r"\b(?:\d+|a|an|one|two|three|four|five|six|several|many|un|una|due|tre|quattro|cinque|"
    r"sei|dieci|venti|diversi|diverse|parecchi|parecchie)\s*\+?\s*"
    r"(?:mins?|minutes?|minuti|hrs?|hours?|ore|days?|giorni|weeks?|settimane|mesi|months?)\b"
    r"|\b(?:for|over|after|per|da)\s+(?:hours|days|weeks|months|ages|ore|giorni|settimane|mesi)\b"
    r"|\ball (?:day|night|morning|afternoon)\b",
    re.IGNORECASE,
)
WAIT_VALENCE = -1.2
WAIT_SARCASM = -0.5  # praise in a message counting a wait
POLITE_SCALE = 0.3  # "thanks" closing a request
LINK_BAND = 0.8
_LINK = re.compile(r"https?://|\bwww\.|\bpic\.twitter\.com/")
_ON_HOLD = re.compile(r"\bon hold\b", re.IGNORECASE)
WHY_VALENCE = -1.0


LACK_VALENCE = -1.0
_BOOST_OR_PRAISE = frozenset({"pretty"})
_NOTHING = frozenset({"nothing", "niente", "nulla"})
_NO_NOT_LACK = frozenset(
    "i you he she we they it one the a an more longer matter doubt need rush worries worry "
    "thanks thank sir problem problems issue issues way idea clue no not".split()
)
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_POLITE_TAIL = frozenset(
    "many thanks thank you in advance please mille tante grazie anticipo cortesia".split()
)
_SPEED = frozenset({"in", "within", "entro", "only", "just", "solo", "soli", "sole", "appena"})


def _waited(text: str) -> bool:
    """A wait counted in time, unless it is speed: "fixed in five minutes", "in soli 2 giorni"."""
    for m in _WAIT.finditer(text):
        before = text[: m.start()].split()
        if not (before and before[-1].lower() in _SPEED):
            return True
    return False


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
    lex = _lexicon(lang)
    if len(low) < 7 or low in lex.words or _word_valence(lang, low, False) is not None:
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


def _clean(text: str, lang: str = "en") -> str:
    text = _HANDLE_OR_LINK.sub(" ", text)
    text = _HASHTAG.sub(lambda m: f" {_hashtag_words(m.group(1), lang)} ", text)
    text = text.replace("#", " ")
    for pattern, emoji in _EMOTICONS:
        text = pattern.sub(emoji, text)
    return _LAUGH.sub(" haha ", text)


_REPEATS = re.compile(r"(.)\1{2,}")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*['’]?|[,.;:!?]|[^\w\s]", re.UNICODE)


# -- lexicons ---------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _strip_accents(word: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn"
    )


def _read_tsv(path: Path, lex: _Lexicon, *, accentless: bool) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        term, value = cols[0].strip().lower(), float(cols[1])
        negated = float(cols[2]) if len(cols) > 2 and cols[2].strip() else None
        forms = {term, _strip_accents(term)} if accentless else {term}
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
def _lexicon(lang: str) -> _Lexicon:
    lex = _Lexicon()
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
def _emoji() -> dict[str, float]:
    table: dict[str, float] = {}
    for line in EMOJI_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            symbol, value = line.split("\t")[:2]
            table[symbol.strip()] = float(value)
    return table


def _is_emoji(token: str) -> bool:
    return token in _emoji() or token in SARCASM_EMOJI or unicodedata.category(token[0]) == "So"


# -- tokens ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Token:
    raw: str
    norm: str
    kind: str  # "word", "punct" or "emoji"
    clause: int = 0


def _tokens(text: str, rules: _Rules, lang: str) -> list[_Token]:
    out: list[_Token] = []
    clause = 0
    for raw in _TOKEN.findall(unicodedata.normalize("NFC", text)):
        if raw in PUNCT:
            out.append(_Token(raw, raw, "punct", clause))
            clause += 1
            continue
        if not raw[0].isalpha():
            if _is_emoji(raw):
                out.append(_Token(raw, raw, "emoji", clause))
            continue
        word = raw.lower().replace("’", "'")
        word = _REPEATS.sub(r"\1", word)  # "grazieee" -> "grazie"
        word = rules.spelling.get(word, word)
        if lang == "it":
            word = _ITALIAN_ELISION.sub("", word) or word
            word = word.rstrip("'") or word  # "po'" -> "po"
            word = rules.spelling.get(word, word)
        out.append(_Token(raw, word, "word", clause))
    return out


# -- language ---------------------------------------------------------------------------


@cache
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(LANGUAGES)
    return ident


def language(text: str) -> str | None:
    """The message's language among LANGUAGES, or None when it has no words."""
    text = _HANDLE_OR_LINK.sub(" ", text)  # "@united", "http:// bit.ly" are no language
    words = [w.lower().replace("’", "'") for w in re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)*", text)]
    if not words:
        return None
    it = sum(w in _ITALIAN_HINTS or _strip_accents(w) in _ITALIAN_HINTS for w in words)
    it += sum(bool(_ITALIAN_ELISION.match(w)) for w in words)
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


# -- scoring ---------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _word_valence(lang: str, word: str, negated: bool) -> float | None:
    """A word's valence (negated or not); cached, as the stem scan is the slow part."""
    lex = _lexicon(lang)
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
        return _word_valence(lang, word[:-1], negated)  # texting's "ciaoo", "amoo", "sooo"
    return None


def _match_phrase(lex: _Lexicon, words: list[_Token], i: int) -> tuple[int, float] | None:
    for phrase, value in lex.phrases.get(words[i].norm, ()):
        if i + len(phrase) > len(words):
            continue
        ok = True
        for k, part in enumerate(phrase[1:], start=1):
            w = words[i + k].norm
            if not (w == part or (part.endswith("*") and w.startswith(part[:-1]))):
                ok = False
                break
        if ok:
            return len(phrase), value
    return None


def _raw_score(text: str, lang: str) -> float:
    rules = _IT if lang == "it" else _en_rules()
    lex = _lexicon("it" if lang == "it" else "en")
    has_link = bool(_LINK.search(text))
    text = _clean(text, "it" if lang == "it" else "en")
    tokens = _tokens(text, rules, lang)
    words = [t for t in tokens if t.kind == "word"]
    caps_mixed = any(t.raw.isalpha() and not t.raw.isupper() for t in words)
    contrast_at = max((i for i, t in enumerate(words) if t.norm in rules.contrast), default=-1)
    concession_at = [i for i, t in enumerate(words) if t.norm in rules.concession]
    values: list[tuple[int, float]] = []  # (index in words, valence)
    gratitude: list[int] = []  # gratitude words followed by "per"/"for"
    i = 0
    while i < len(words):
        tok = words[i]
        start = i
        window = [
            words[j]
            for j in range(max(0, i - rules.negation_window), i)
            if words[j].clause == tok.clause
        ]
        negated = any(
            (w.norm in rules.negators and not (w.norm == "mai" and _after_se(words, w)))
            or (lang != "it" and w.norm.endswith("n't"))
            for w in window
        )
        phrase = _match_phrase(lex, words, i)
        if phrase is not None:
            span, value = phrase
            if negated:
                value *= N_SCALAR
            i += span
        else:
            i += 1
            after = words[i] if i < len(words) and words[i].clause == tok.clause else None
            # "pretty passive" is "rather passive"; "pretty" at a clause's end is praise.
            adverb = tok.norm not in _BOOST_OR_PRAISE or after is not None
            if (tok.norm in rules.boosters and adverb) or tok.norm in rules.negators:
                if _is_lack(lang, tok.norm, after):
                    values.append((start, LACK_VALENCE))
                continue
            # Italian "poco" before a word negates just that word: "poco gentile" is rude.
            if lang == "it" and not negated and start and words[start - 1].norm in _POCO:
                if words[start - 1].clause == tok.clause:
                    negated = True
            known = _word_valence("it" if lang == "it" else "en", tok.norm, negated)
            if known is None or known == 0:
                continue
            value = known
            if tok.norm in rules.gratitude and i < len(words):
                nxt = [w.norm for w in words[i : i + 3] if w.clause == tok.clause]
                if any(w in rules.gratitude_for for w in nxt):
                    gratitude.append(len(values))
        if caps_mixed and tok.raw.isupper() and len(tok.raw) > 1:
            value += math.copysign(CAPS_INCR, value)
        for back, scale in ((1, 1.0), (2, 0.95), (3, 0.9)):
            j = start - back
            if j < 0 or words[j].clause != tok.clause or words[j].norm in rules.contrast:
                break
            boost = rules.boosters.get(words[j].norm)
            if boost is not None:
                value += boost * scale * (1.0 if value > 0 else -1.0)  # a dampener is < 0
        # A wish or a condition is not praise: "would love consistent policies", "spero
        # che risolviate", "se almeno funzionasse", "wish it had a battery".
        if (
            value > 0
            and tok.norm not in rules.gratitude
            and any(
                words[k].norm in rules.irrealis and words[k].clause == tok.clause
                for k in range(max(0, start - 6), start)
            )
        ):
            value = 0.0
        if contrast_at >= 0:
            value *= 0.5 if start < contrast_at else 1.5 if start > contrast_at else 1.0
        if any(k < start and words[k].clause == tok.clause for k in concession_at):
            value *= 0.5
        values.append((start, value))

    # Sarcasm: "grazie per avermi fatto aspettare", "thanks for cancelling my order".
    for g in gratitude:
        idx, value = values[g]
        later = [v for k, v in values if k > idx and words[k].clause == words[idx].clause]
        if value > 0 and sum(later) < -0.5:
            values[g] = (idx, -value)
    # Sarcasm: a short praising opener before a complaint ("Ottimo, un'altra settimana...").
    first_clause = words[0].clause if words else 0
    opener = [(k, v) for k, v in values if words[k].clause == first_clause]
    rest = sum(v for k, v in values if words[k].clause != first_clause)
    opener_len = sum(w.clause == first_clause for w in words)
    if opener and opener_len <= 3 and sum(v for _, v in opener) > 0 and rest <= -1.2:
        values = [(k, -abs(v) if words[k].clause == first_clause else v) for k, v in values]
    # ... and the same praise as a closer: "On hold for 45 minutes, great."
    last_clause = words[-1].clause if words else 0
    closer = [(k, v) for k, v in values if words[k].clause == last_clause]
    before = sum(v for k, v in values if words[k].clause != last_clause)
    closer_len = sum(w.clause == last_clause for w in words)
    if (last_clause != first_clause and closer and closer_len <= 2
            and sum(v for _, v in closer) > 0 and before <= -1.0):  # fmt: skip
        values = [(k, -abs(v) if words[k].clause == last_clause else v) for k, v in values]

    # Thanks closing a request or a question is politeness, not praise ("Can you change my
    # flight? Many thanks", "Vorrei cambiare taglia, grazie").
    if "?" in text or any(w.norm in rules.request for w in words):
        values = [
            (k, v * POLITE_SCALE if v > 0 and words[k].norm in rules.gratitude else v)
            for k, v in values
        ]
    if _waited(text) or _ON_HOLD.search(
        text
    ):  # praise next to a wait is sarcasm: "really enjoying my Sunday on hold"
        values = [
            (k, WAIT_SARCASM * v if v > 0 and words[k].norm not in rules.gratitude else v)
            for k, v in values
        ]
    if _WAIT.search(text):
        values.append((len(words), WAIT_VALENCE))
    # "Why ...?" put to a company is a complaint ("why no charging station?"); "how"/"when"
    # questions stay plain questions.
    if _is_rhetorical(text, words, lang):
        values.append((len(words), WHY_VALENCE))
    emoji = [t.raw for t in tokens if t.kind == "emoji"]
    if any(e in SARCASM_EMOJI for e in emoji):
        values = [(k, -0.8 * v if v > 0 else v) for k, v in values]
    total = sum(v for _, v in values)
    table = _emoji()
    mood = sum(table.get(e, 0.0) for e in emoji)
    if total + mood:
        total += math.copysign(min(text.count("!"), 4) * BANG_INCR, total + mood)
    # A question's words lean neutral; its emoji still say the mood ("anche tu? :)").
    if total:
        if _is_plain_question(text, words, rules, lang):
            total = math.copysign(max(0.0, abs(total) - QUESTION_BAND), total)
        elif has_link:  # a shared headline or link reports more often than it judges
            total = math.copysign(max(0.0, abs(total) - LINK_BAND), total)
    return total + mood


def _after_se(words: list[_Token], w: _Token) -> bool:
    """Italian "se mai" is "if ever", not a negation."""
    k = words.index(w)
    return k > 0 and words[k - 1].norm == "se"


def _is_lack(lang: str, word: str, nxt: _Token | None) -> bool:
    """A lack told as a fact is a complaint: "and now no wifi", "arrived in Paris and
    nothing", "E niente." ("no problem" and "no thanks" are not; a sentiment word after
    "no" is negated instead)."""
    if word in _NOTHING:
        return nxt is None
    if lang != "en" or word != "no" or nxt is None or nxt.norm in _NO_NOT_LACK:
        return False
    return _word_valence("en", nxt.norm, False) is None


def _is_rhetorical(text: str, words: list[_Token], lang: str) -> bool:
    """A question that asks for an account, not for information: "Why is my refund not here
    yet?", "why the delay", "Ma perché nessuno risponde?", "Ma vi sembra normale?"."""
    if lang == "it":
        return "?" in text and bool(words and words[0].norm == "ma")
    return any(
        w.norm == "why" and (k == 0 or words[k - 1].clause != w.clause or "?" in text)
        for k, w in enumerate(words)
    )


def _is_plain_question(text: str, words: list[_Token], rules: _Rules, lang: str) -> bool:
    if "??" in text or "?!" in text or "!?" in text:
        return False  # indignation, not a plain question
    if _is_rhetorical(text, words, lang):
        return False  # "Why is my refund not here yet?" asks for an account, not information
    stripped = text.rstrip()
    while stripped and not stripped[-1].isalnum() and stripped[-1] not in "?.!":
        stripped = stripped[:-1].rstrip()  # trailing emoji
    if stripped.endswith("?"):
        return True
    # Opened by a question word, with nothing said after the last "?" ("How is it going to
    # be on time? This is BS." is not a plain question).
    # A closing "thanks" or "grazie mille" says nothing more.
    if "?" not in text or not (words and words[0].norm in rules.question_words):
        return False
    tail = text[text.rfind("?") + 1 :]
    return not {w.lower() for w in _LETTER_RUN.findall(tail)} - rules.gratitude - _POLITE_TAIL


def italian_score(text: str) -> float:
    return _normalise_score(_raw_score(text, "it"))


def english_score(text: str) -> float:
    return _normalise_score(_raw_score(text, "en"))


def _normalise_score(total: float) -> float:
    return total / math.sqrt(total * total + ALPHA)


def _label(score: float) -> str:
    if score >= THRESHOLD:
        return "positive"
    if score <= -THRESHOLD:
        return "negative"
    return "neutral"


def analyse(text: str) -> Analysis:
    if not text.strip():
        return Analysis(None, 0.0, "neutral")
    lang = language(text)
    # Italian-first inbox: a message without words (emoji only) is scored the Italian way,
    # which for emoji is the same table in both languages.
    score = italian_score(text) if lang in ("it", None) else english_score(text)
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


def warm_up() -> None:
    """Load the lexicons, the emoji table and the language model now. They load lazily,
    and the first message needing them would wait 0.3-0.7 s on the gateway's event loop."""
    _lexicon("it")
    _lexicon("en")
    _emoji()
    _identifier()
