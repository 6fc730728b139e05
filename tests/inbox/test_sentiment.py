"""Language and sentiment on fixed sentences, and the stable `crocevia sentiment` command."""

from __future__ import annotations

import io
import json

import pytest

from inbox.sentiment import analyse, main


@pytest.mark.parametrize(
    ("text", "language", "label"),
    [
        ("Grazie mille, gentilissimi!", "it", "positive"),
        ("non è male", "it", "positive"),
        ("non funziona niente", "it", "negative"),
        ("il prodotto è bello ma la consegna è stata un disastro", "it", "negative"),
        ("Il pacco è arrivato rotto, sono molto deluso", "it", "negative"),
        ("Vorrei sapere i tempi di spedizione per la Sicilia", "it", "neutral"),
        ("PESSIMO servizio", "it", "negative"),
        ("grazieee 😍", "it", "positive"),
        ("thanks a lot, great service", "en", "positive"),
        ("My order never arrived, this is terrible", "en", "negative"),
        ("Hello, where is my package?", "en", "neutral"),
    ],
)
def test_fixed_sentences(text: str, language: str, label: str) -> None:
    a = analyse(text)
    assert (a.language, a.label) == (language, label)
    assert -1.0 <= a.score <= 1.0


def test_rules_move_the_score_the_right_way() -> None:
    assert analyse("molto gentili").score > analyse("gentili").score > 0
    assert analyse("PESSIMO servizio").score < analyse("pessimo servizio").score < 0
    assert analyse("ottimo!!!").score > analyse("ottimo").score
    assert analyse("non è male").score < analyse("è bello").score


def test_the_command_prints_one_json_object_per_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Che schifo di servizio\n\nthank you so much\n"))
    assert main([]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["language"], d["label"]) for d in lines] == [
        ("it", "negative"),
        (None, "neutral"),
        ("en", "positive"),
    ]
    assert all(set(d) == {"language", "label", "score"} for d in lines)
