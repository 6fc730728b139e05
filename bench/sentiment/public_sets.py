"""Accuracy of inbox.sentiment on public human-labelled data that nobody here wrote.

Usage: .venv/bin/python bench/sentiment/public_sets.py --data DIR [--split dev|test|all]
                                                   [--errors N]

DIR holds one TSV per source (split, language, label, text), made by prepare_public.py
from the sets as published (see its docstring for where each comes from and its licence;
no third-party data is committed here). For each source and for each language (sources
pooled) it prints n, macro-F1 over negative/neutral/positive, accuracy, and the recall
and precision of `negative` (the messages a care team must see first), for Crocevia and
for "VADER alone" (vaderSentiment on the raw text) as a baseline. `--errors N` lists N
misclassified messages of each source's dev split, for tuning; the test split is only
ever scored.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.sentiment.evaluate import LABELS, Message, Scores, load, score, vader_alone  # noqa: E402
from inbox.sentiment import analyse  # noqa: E402


def negative_recall(s: Scores) -> float:
    found = sum(s.confusion["negative", p] for p in LABELS)
    return s.confusion["negative", "negative"] / found if found else 0.0


def negative_precision(s: Scores) -> float:
    flagged = sum(s.confusion[g, "negative"] for g in LABELS)
    return s.confusion["negative", "negative"] / flagged if flagged else 0.0


def line(title: str, s: Scores) -> str:
    return (f"  {title:<12} n={s.n:<5} macro-F1 {s.macro_f1:.3f}  accuracy {s.accuracy:6.1%}  "
            f"negative recall {negative_recall(s):6.1%}  precision {negative_precision(s):6.1%}")  # fmt: skip


def report(title: str, messages: list[Message]) -> tuple[Scores, Scores]:
    gold = [m.label for m in messages]
    ours = score(gold, [analyse(m.text).label for m in messages])
    vader = score(gold, [vader_alone(m.text) for m in messages])
    print(f"\n[{title}]")
    print(line("crocevia", ours))
    print(line("VADER alone", vader))
    print("      gold \\ predicted " + " ".join(f"{p:>9}" for p in LABELS))
    for g in LABELS:
        print(f"      {g:<20}" + " ".join(f"{ours.confusion[g, p]:>9}" for p in LABELS))
    return ours, vader


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of <source>.tsv")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--errors", type=int, default=0, help="list N dev errors per source")
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.tsv"))
    if not files:
        parser.error(f"no .tsv in {args.data} (make them with prepare_public.py)")
    by_language: dict[str, list[Message]] = {}
    print(f"== split: {args.split}")
    for path in files:
        messages = load(args.split, path)
        report(f"{path.stem} ({messages[0].language})", messages)
        for m in messages:
            by_language.setdefault(m.language, []).append(m)
        if args.errors:
            wrong = [(m, a) for m in load("dev", path) if (a := analyse(m.text)).label != m.label]
            print(f"  -- {len(wrong)} dev errors; the first {args.errors}:")
            for m, a in wrong[: args.errors]:
                print(f"    gold={m.label:<8} got={a.label:<8} {a.score:+.2f}  {m.text[:160]}")
    for lang, messages in sorted(by_language.items()):
        report(f"all {lang}", messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
