"""The words each language's sentiment rules act on: negators, intensifiers and
dampeners, contrast and concession, thanks, question words, wishes and conditions,
requests, texting spellings (Italian written here; English from VADER's lists)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Rules:
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


ITALIAN = Rules(
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
def english_rules() -> Rules:
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

    negators = {w for w in NEGATE} | {"no", "nobody", "nothing", "without", "none", "neither"}
    return Rules(
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
