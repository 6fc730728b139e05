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

The parts: inbox/sentiment_lexicon.py (the lexicons, a word's valence),
inbox/sentiment_rules.py (each language's rule words), inbox/social_text.py (clean-up and
tokens), inbox/language.py (language detection: py3langid restricted to six European
languages, with word hints deciding short or uncertain messages); this module scores.
Nothing is downloaded at run time.

The stable command `crocevia sentiment` reads one message per line and prints one
JSON object per line: {"language": "it", "label": "negative", "score": -0.62}.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass

from inbox.language import language, warm_up_identifier
from inbox.sentiment_lexicon import (
    N_SCALAR,
    SARCASM_EMOJI,
    Lexicon,
    emoji_table,
    lexicon,
    word_valence,
)
from inbox.sentiment_rules import ITALIAN, Rules, english_rules
from inbox.social_text import Token, clean
from inbox.social_text import tokens as split_tokens

__all__ = ["Analysis", "analyse", "language", "main", "warm_up"]

THRESHOLD = 0.05
ALPHA = 15.0  # VADER's normalisation constant
CAPS_INCR = 0.733  # VADER: a word in capitals in a mixed-case message
BANG_INCR = 0.292  # VADER: per "!" (at most 4)
QUESTION_BAND = 1.6  # a plain question needs more than this raw valence to count
_POCO = frozenset({"poco", "poca", "pochi", "poche"})


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str | None
    score: float
    label: str


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


def _match_phrase(lex: Lexicon, words: list[Token], i: int) -> tuple[int, float] | None:
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
    rules = ITALIAN if lang == "it" else english_rules()
    lex = lexicon("it" if lang == "it" else "en")
    has_link = bool(_LINK.search(text))
    text = clean(text, "it" if lang == "it" else "en")
    tokens = split_tokens(text, rules, lang)
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
            known = word_valence("it" if lang == "it" else "en", tok.norm, negated)
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
    table = emoji_table()
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


def _after_se(words: list[Token], w: Token) -> bool:
    """Italian "se mai" is "if ever", not a negation."""
    k = words.index(w)
    return k > 0 and words[k - 1].norm == "se"


def _is_lack(lang: str, word: str, nxt: Token | None) -> bool:
    """A lack told as a fact is a complaint: "and now no wifi", "arrived in Paris and
    nothing", "E niente." ("no problem" and "no thanks" are not; a sentiment word after
    "no" is negated instead)."""
    if word in _NOTHING:
        return nxt is None
    if lang != "en" or word != "no" or nxt is None or nxt.norm in _NO_NOT_LACK:
        return False
    return word_valence("en", nxt.norm, False) is None


def _is_rhetorical(text: str, words: list[Token], lang: str) -> bool:
    """A question that asks for an account, not for information: "Why is my refund not here
    yet?", "why the delay", "Ma perché nessuno risponde?", "Ma vi sembra normale?"."""
    if lang == "it":
        return "?" in text and bool(words and words[0].norm == "ma")
    return any(
        w.norm == "why" and (k == 0 or words[k - 1].clause != w.clause or "?" in text)
        for k, w in enumerate(words)
    )


def _is_plain_question(text: str, words: list[Token], rules: Rules, lang: str) -> bool:
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
    lexicon("it")
    lexicon("en")
    emoji_table()
    warm_up_identifier()
