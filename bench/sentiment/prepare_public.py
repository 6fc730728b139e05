"""Turn public human-labelled sentiment sets into the TSVs that public_sets.py reads.

Usage: .venv/bin/python bench/sentiment/prepare_public.py RAW_DIR OUT_DIR

RAW_DIR holds the files as their projects publish them (none is committed here):

* `sentipolc14-train.tsv`, `sentipolc14-test.tsv`: EVALITA 2014 SENTIPOLC, Italian tweets
  (Basile, Bolioli, Nissim, Patti, Rosso), as redistributed for teaching in the GitHub
  repository dbuscaldi/SACourse (data/it/Sentipol14-*.tsv; columns: id, subjective,
  positive, negative, ironic, political, text, tagged text). Research use; cite the task.
  Label: positive only -> positive, negative only -> negative, neither -> neutral; mixed
  (both) is left out.
* `airline-tweets.csv`: "Twitter US Airline Sentiment" (CrowdFlower / Figure Eight, Data
  for Everyone, CC BY-NC-SA 4.0), the Kaggle `Tweets.csv`, as found in the GitHub repository
  Anuragiitk/Twitter-US-Sentiment-Analysis. Label: `airline_sentiment`, kept when the
  annotators' confidence is at least 0.6.

Each source gives OUT_DIR/<source>.tsv (split, language, label, text). The split is fixed
by a hash of the text: half `dev` (looked at while tuning), half `test` (never looked at).
At most 500 messages per split and source are kept, chosen by the same hash.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

PER_SPLIT = 500


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def sentipolc(raw: Path) -> Iterator[tuple[str, str]]:
    for name in ("sentipolc14-train.tsv", "sentipolc14-test.tsv"):
        with (raw / name).open(encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) < 7:
                    continue
                pos, neg, text = row[2], row[3], row[6]
                if pos == "1" and neg == "1":
                    continue  # mixed: not one of our three labels
                label = "positive" if pos == "1" else "negative" if neg == "1" else "neutral"
                yield label, text


def airline(raw: Path) -> Iterator[tuple[str, str]]:
    with (raw / "airline-tweets.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if float(row["airline_sentiment_confidence"] or 0) >= 0.6:
                yield row["airline_sentiment"], row["text"]


SOURCES = {"sentipolc14": ("it", sentipolc), "airline": ("en", airline)}


def main(raw: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for source, (language, read) in SOURCES.items():
        seen: set[str] = set()
        rows = []
        for label, text in read(raw):
            text = " ".join(text.split())
            if text and text not in seen:
                seen.add(text)
                rows.append((_key(text), label, text))
        rows.sort()
        splits: dict[str, list[tuple[str, str]]] = {"dev": [], "test": []}
        for key, label, text in rows:
            split = "dev" if int(key[-1], 16) % 2 == 0 else "test"
            if len(splits[split]) < PER_SPLIT:
                splits[split].append((label, text))
        with (out / f"{source}.tsv").open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE,
                           escapechar="\\")  # fmt: skip
            w.writerow(["split", "language", "label", "text"])
            for split, items in splits.items():
                for label, text in items:
                    w.writerow([split, language, label, text.replace("\t", " ")])
        counts = {s: len(v) for s, v in splits.items()}
        print(f"{source}: {counts}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
