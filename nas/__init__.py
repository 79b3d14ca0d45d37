"""nas: neural architecture search for convolutional networks.

The core: a genome that round-trips through YAML, its exact analytic cost, its primitive-op graph and its
torch model, plus the registry of block types they share.

>>> import nas
>>> g = nas.loads("input: [3, 32, 32]\\nclasses: 10\\nstages: [[{type: conv, c: 16, k: 3}]]\\n"
...               "head: [{type: gap}, {type: linear}]")
>>> nas.cost(g).params, nas.cost(g).macs
(634, 442528)
"""

from . import branches  # noqa: F401 - the multi-branch block types register as the package loads
from .blocks import CELL_OPS, make_divisible
from .budget import parse_budget
from .cost import Cost, Layer, cost, human, table
from .errors import GenomeError, NasError
from .genome import Block, Genome, Stage, dumps, load, loads, parse_shape, save
from .graph import graph, write_graph
from .network import Trace, trace
from .registry import ACTIVATIONS, REGISTRY, BlockType, Param, block_type, block_types, register
from .zoo import Figure, Seed, get_seed, seed, seeds

__version__ = "0.1.0"


def build(g: Genome):  # noqa: ANN201 - imports torch lazily so that the cost model stays torch-free
    """A ``torch.nn.Module`` for the genome (see ``nas.builder``)."""
    from .builder import build as _build

    return _build(g)


__all__ = [
    "ACTIVATIONS", "CELL_OPS", "REGISTRY", "Block", "BlockType", "Cost", "Genome", "GenomeError", "Layer", "Figure",
    "Seed", "get_seed", "seed", "seeds",
    "NasError", "Param", "Stage", "Trace", "block_type", "block_types", "build", "cost", "dumps", "graph", "human",
    "load", "loads", "make_divisible", "parse_budget", "parse_shape", "register", "save", "table", "trace",
    "write_graph",
]
