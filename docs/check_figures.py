"""Checks that the figures in README.md and docs/ come from committed tables (benchmarks/*.md).

A figure is a measured quantity as the prose writes it: a percentage (``92%``), a time (``11.9 minutes``,
``4.4 s``, ``6.5 ms``), a ratio (``1.74x``) or a number with a decimal point or a sign (``+0.85``, ``0.48``).
Each paragraph (or list item) that links to tables in ``benchmarks/`` must take its figures from those tables; in
README.md every figure must be in some committed table, linked or not. A figure is found when its digits appear in
the table, or a number there rounds to it (``0.48`` is found in a table that says ``+0.477``; ``4.4 s`` where it says
``4.42``).

Run: python docs/check_figures.py    (lists every figure not found; exit status 1 if any)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"(?<![\w.,/-])[+-]?(\d[\d,]*\.\d+|\d[\d,]*(?=%)|\d[\d,]*(?=x\b)|\d[\d,]*(?= (?:s|ms|minutes)\b))"
                    r"(?:%|x\b| (?:s|ms|minutes)\b)?")
LINK = re.compile(r"\(((?:\.\./)?benchmarks/[\w./-]+\.md)\)")
CODE = re.compile(r"```.*?```", re.S)
INLINE = re.compile(r"`[^`]*`")


NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def found(number: str, text: str) -> bool:
    """Whether ``number`` (as the prose writes it, without its sign) is in ``text``, exactly or rounded."""
    if re.search(rf"(?<![\d.,]){re.escape(number)}(?![\d]|[.,]\d)", text):
        return True
    places = len(number.split(".")[1]) if "." in number else 0
    want = float(number.replace(",", ""))
    return any(round(float(m.group(0).replace(",", "")), places) == want for m in NUMBER.finditer(text)
               if "." in m.group(0) and len(m.group(0).split(".")[1]) > places)


def paragraphs(text: str) -> list[str]:
    text = CODE.sub("", text)
    return [p for p in re.split(r"\n\s*\n|\n(?=\s*[-*] |\s*\d+\. |\|)", text) if p.strip()]


def missing() -> list[str]:
    tables = {p: p.read_text() for p in (ROOT / "benchmarks").glob("*.md")}
    everything = "\n".join(tables.values())
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for para in paragraphs(doc.read_text()):
            links = [(doc.parent / l).resolve() for l in LINK.findall(para)]
            if not links and doc.name != "README.md":
                continue
            cited = "\n".join(tables.get(l, "") for l in links) if links else everything
            prose = INLINE.sub("", LINK.sub("", para))
            for m in FIGURE.finditer(prose):
                number = m.group(1)
                if not found(number, cited):
                    where = ", ".join(str(l.relative_to(ROOT)) for l in links) or "any committed table"
                    out.append(f"{doc.relative_to(ROOT)}: {m.group(0).strip()} is not in {where}: "
                               f"...{prose[max(0, m.start() - 60):m.end() + 20]!r}...")
    return out


def main() -> int:
    bad = missing()
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
