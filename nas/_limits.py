"""Bounds on what a genome may ask for, checked before the work they bound is done.

Each is generous next to every real network (the largest seed file is about 5 KB, nests records 2 deep and
expands to a few hundred block instances) and small enough that reading, checking and costing any genome
inside them takes about a second, so that no input can make ``nas decode`` hang or run out of memory.
"""

MAX_BYTES = 128 * 1024
"""Largest genome file read (PyYAML's pure-Python reader parses about 100 KB a second)."""

MAX_DEPTH = 64
"""Deepest YAML nesting (PyYAML's composer recurses, and runs out of stack at about 450 levels)."""

MAX_NODES = 50_000
"""Most YAML nodes once aliases are expanded (a kilobyte of nested aliases can stand for billions)."""

MAX_NESTING = 16
"""Deepest nesting of block records inside block records (inception branches)."""

MAX_INSTANCES = 10_000
"""Most block instances in a genome, repeats and nested records counted."""

MAX_INT = 1 << 24
"""Largest integer in a genome (channels, kernel sizes, input sides, classes): 16,777,216 keeps every cost
figure far from float overflow and from Python's 4,300-digit limit on printing integers."""

MAX_OPS = 200_000
"""Most primitive ops a genome expands to (the largest seed, a DenseNet, takes about a thousand): a defined block
of 64 nodes repeated 10,000 times would otherwise be 640,000 rows of an op table."""

MAX_DEFINITION_NODES = 64
"""Most nodes in one block type defined in the genome (a ShuffleNetV2 or ghost unit takes about ten)."""

MAX_EXPRESSION = 120
"""Longest arithmetic expression in a defined block's attribute (it also bounds the parser's recursion)."""

MAX_BUILD_PARAMS = 4_000_000_000
"""Most parameters ``nas.build`` allocates (16 GB at float32; the largest seed holds 144 million): a genome may
describe more, and its cost is still computed, but no model is built for it."""

MAX_COUNT = 10**9
"""Largest count a search setting takes (trials, classes, an input side...): beyond it a number is a typo."""

MAX_SHARE = 10_000.0
"""Largest CPU or GPU share of a trial, and largest width multiplier."""
