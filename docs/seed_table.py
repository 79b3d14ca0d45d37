"""Writes docs/seeds.md, the table of the seed networks and the figures they reproduce, from ``nas.zoo.report()``.

Run: python docs/seed_table.py          (rewrites docs/seeds.md)
     python docs/seed_table.py --check  (exit status 1 when docs/seeds.md is not what it would write)
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGE = ROOT / "docs" / "seeds.md"
NOTE = (
    "Input 3x224x224 and 1000 classes unless noted. Each figure says what it is: \"matches torchvision ...\" is "
    "torchvision's own count, reproduced to the last parameter and MAC; a published figure (a paper's or a model "
    "table's, usually rounded) is matched exactly or within the stated tolerance; \"computed\" is a count worked "
    "out here from the paper's layers where no exact published figure exists: it is checked as a regression "
    "figure and matches nothing. Made by `python docs/seed_table.py`; `nas seeds` prints the same with notes "
    "(`--format json` gives each figure's kind, source and label).")


def page() -> str:
    """The whole of docs/seeds.md."""
    from nas.zoo import report

    out = ["# Seeds: the hand-designed networks", "", textwrap.fill(NOTE, 115), "",
           "| seed | family | input | params | MACs | params figure | MACs figure |", "|---|---|---|---:|---:|---|---|"]
    for r in report():
        out.append(f"| {r['name']} | {r['family']} | {'x'.join(map(str, r['input']))} | {r['params']:,} | "
                   f"{r['macs']:,} | {r.get('params_label', '')} | {r.get('macs_label', '')} |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that docs/seeds.md is up to date")
    a = ap.parse_args()
    text = page()
    if a.check:
        if PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run python docs/seed_table.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
