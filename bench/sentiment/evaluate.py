"""Accuracy of inbox.sentiment on Crocevia's labelled customer-care messages.

Usage: .venv/bin/python bench/sentiment/evaluate.py [--split dev|test|fresh|all] [--errors]

For each split and language it prints n, accuracy, macro-F1 over the three labels, the
confusion matrix, how often the language was detected correctly, and the same figures
for "VADER alone" (vaderSentiment on the raw text, compound >= 0.05 positive, <= -0.05
negative) as a baseline. It also times analyse() per message. Standard library only,
besides the project's own dependencies.

The data set (messages.tsv) was written for this project; every third message of each
language is in the held-out `test` split, which is not looked at while tuning; the `fresh`
split was written after tuning was finished, as a check on words the lexicon never saw.
`--errors` lists the misclassified messages of the chosen split (use it on `dev`).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inbox.sentiment import analyse  # noqa: E402

DATA = Path(__file__).with_name("messages.tsv")
LABELS = ("negative", "neutral", "positive")
SPLITS = ("dev", "test", "fresh")


@dataclass(frozen=True, slots=True)
class Message:
    split: str
    language: str
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    confusion: dict[tuple[str, str], int]  # (gold, predicted) -> count


def load(split: str = "all", path: Path = DATA) -> list[Message]:
    with path.open(encoding="utf-8", newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    messages = [Message(r["split"], r["language"], r["label"], r["text"]) for r in rows]
    assert all(m.label in LABELS and m.split in SPLITS for m in messages)
    return [m for m in messages if split == "all" or m.split == split]


def score(gold: list[str], predicted: list[str]) -> Scores:
    confusion = {(g, p): 0 for g in LABELS for p in LABELS}
    for g, p in zip(gold, predicted, strict=True):
        confusion[g, p] += 1
    f1s = []
    for label in LABELS:
        tp = confusion[label, label]
        fp = sum(confusion[g, label] for g in LABELS) - tp
        fn = sum(confusion[label, p] for p in LABELS) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    n = len(gold)
    correct = sum(confusion[label, label] for label in LABELS)
    return Scores(n, correct / n if n else 0.0, sum(f1s) / len(f1s), confusion)


def vader_alone(text: str) -> str:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    global _VADER
    try:
        analyzer = _VADER
    except NameError:
        analyzer = _VADER = SentimentIntensityAnalyzer()
    compound = analyzer.polarity_scores(text)["compound"]
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def evaluate(
    messages: Iterable[Message], classify: Callable[[str], tuple[str | None, str]] | None = None
) -> dict[str, tuple[Scores, float | None]]:
    """Per language: the scores and the language-detection accuracy (None for a baseline)."""
    results: dict[str, tuple[Scores, float | None]] = {}
    by_language: dict[str, list[Message]] = {}
    for m in messages:
        by_language.setdefault(m.language, []).append(m)
    for lang, group in sorted(by_language.items()):
        if classify is None:
            analyses = [analyse(m.text) for m in group]
            predicted = [a.label for a in analyses]
            # Emoji-only messages have no language to detect; they are left out of that figure.
            detectable = [
                (m, a) for m, a in zip(group, analyses, strict=True) if _has_letters(m.text)
            ]
            lang_ok = sum(a.language == m.language for m, a in detectable) / max(1, len(detectable))
        else:
            predicted = [classify(m.text)[1] for m in group]
            lang_ok = None
        results[lang] = (score([m.label for m in group], predicted), lang_ok)
    return results


def time_per_message(messages: list[Message], rounds: int = 5) -> tuple[float, float]:
    """Median and worst of the mean microseconds per analyse() call over a few rounds."""
    for m in messages:  # warm up: lexicon, VADER and the language model are loaded once
        analyse(m.text)
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for m in messages:
            analyse(m.text)
        means.append((time.perf_counter() - start) / len(messages) * 1e6)
    return statistics.median(means), max(means)


def _print_scores(title: str, scores: Scores, lang_ok: float | None) -> None:
    detection = f"  language detected {lang_ok:6.1%}" if lang_ok is not None else ""
    print(
        f"  {title:<14} n={scores.n:<4} accuracy {scores.accuracy:6.1%}  macro-F1 {scores.macro_f1:.3f}{detection}"
    )


def _print_confusion(scores: Scores) -> None:
    print("      gold \\ predicted " + " ".join(f"{p:>9}" for p in LABELS))
    for g in LABELS:
        print(f"      {g:<20}" + " ".join(f"{scores.confusion[g, p]:>9}" for p in LABELS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=(*SPLITS, "all"), default=None)
    parser.add_argument("--errors", action="store_true", help="list misclassified messages")
    args = parser.parse_args(argv)
    splits = [args.split] if args.split else list(SPLITS)

    everything = load("all")
    counts = {lang: sum(m.language == lang for m in everything) for lang in ("it", "en")}
    print(
        f"{len(everything)} messages ({counts['it']} Italian, {counts['en']} English) in {DATA.name}"
    )
    for split in splits:
        messages = load(split)
        print(f"\n== split: {split} ({len(messages)} messages)")
        ours = evaluate(messages)
        baseline = evaluate(messages, classify=lambda t: (None, vader_alone(t)))
        for lang, (scores, lang_ok) in ours.items():
            print(f"\n[{lang}]")
            _print_scores("crocevia", scores, lang_ok)
            _print_confusion(scores)
            _print_scores("VADER alone", *baseline[lang])
            _print_confusion(baseline[lang][0])
        if args.errors:
            print(f"\n-- misclassified ({split})")
            for m in messages:
                a = analyse(m.text)
                if a.label != m.label or a.language != m.language:
                    print(
                        f"  {m.language}->{a.language} gold={m.label:<8} got={a.label:<8} {a.score:+.3f}  {m.text}"
                    )
    median, worst = time_per_message(everything)
    print(
        f"\nanalyse(): {median:.0f} µs per message (median of 5 rounds over {len(everything)}; worst round {worst:.0f} µs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
