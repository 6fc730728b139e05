"""How well the quote stripper reads replies written by mail clients we did not write.

    python bench/email_quotes/evaluate.py FOLDER [--expected FILE.json] [--show]

FOLDER holds raw replies (`*.txt` plain text, `*.html` HTML bodies, `*.eml` whole
mails) and `expected.json`: {"relative/path": "the visible text we expect"}. A reply
is *right* when its visible text equals the expected text after whitespace is
normalised; it *loses words* when a word of the expected text is missing from what the
agent reads (visible text only: the folded quote does not count).
The fixtures are not part of this repository; docs/email.md says where ours came from.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from connectors.email_parse import html_to_text, parse_email  # noqa: E402
from connectors.email_quotes import split_reply  # noqa: E402


def visible(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".eml":
        return parse_email(data).text
    text = data.decode("utf-8", "replace")
    if path.suffix in (".html", ".htm"):
        text = html_to_text(text)
    return split_reply(text).visible


def _norm(text: str) -> str:
    return " ".join(text.split())


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.lower()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--expected", type=Path, help="expectations (default: FOLDER/expected.json)"
    )
    parser.add_argument("--show", action="store_true", help="print each reply that is not right")
    args = parser.parse_args()
    expected: dict[str, str] = json.loads(
        (args.expected or args.folder / "expected.json").read_text()
    )
    right = lost = 0
    for name, want in sorted(expected.items()):
        got = visible(args.folder / name)
        ok = _norm(got) == _norm(want)
        missing = _words(want) - _words(got)
        right += ok
        lost += bool(missing)
        if args.show and not ok:
            print(f"--- {name}{' (loses: ' + ' '.join(missing) + ')' if missing else ''}")
            print(got[:800])
    total = len(expected)
    print(
        f"{right}/{total} right ({100 * right / max(total, 1):.1f} %), {lost} lose customer words"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
