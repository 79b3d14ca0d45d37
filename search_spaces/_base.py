"""What every search space shares: labelled dimensions, budgets, sampling, mutation and repair.

A space names its choices as flat, stably labelled dimensions (``s2.depth``, ``s2.b0.k``); a *config* is a dict
from the active dimensions' names to chosen values, and ``decode`` turns it into a genome. Dimensions list their
choices from the cheapest to the most expensive, which is what lets the repair step walk a too-costly config down
to the budget in a few bounded steps instead of rejecting it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import numpy as np

import nas
from nas import Block, Genome, NasError, Stage
from nas.cost import human as human_macs
from nas.network import section_cost

Config = dict[str, Any]
_UNSET = object()


class _Top:
    """Stands in for a generator where a newly gated dimension must take its last (costliest) choice."""

    @staticmethod
    def random(n: int) -> np.ndarray:
        return np.full(n, 0.999999)


_LAST_CHOICE = _Top()


@dataclass(frozen=True)
class Dim:
    """One labelled choice. ``when=(gate, op, value)`` makes it active only if ``config[gate] op value``."""

    name: str
    choices: tuple[Any, ...]
    when: tuple[str, str, Any] | None = None  # op: "gt" (gate > value) or "eq" (gate == value)
    ordered: bool = True  # choices run from cheaper to costlier, so the repair may step down along them
    doc: str = ""

    def active(self, config: Mapping[str, Any]) -> bool:
        """Whether this dimension takes part in ``config`` (its gate, if any, is open)."""
        if self.when is None:
            return True
        gate, op, value = self.when
        v = config.get(gate)
        return v is not None and (v > value if op == "gt" else v == value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (for ``nas spaces --format json``)."""
        out: dict[str, Any] = {"name": self.name, "choices": list(self.choices)}
        if self.when:
            out["when"] = list(self.when)
        return out


@dataclass(frozen=True)
class Budget:
    """A hardware budget: MACs, and optionally parameters, activation elements (batch 1) and milliseconds on this
    CPU as the space's latency model predicts them (``Space.use_latency``)."""

    macs: int
    params: int | None = None
    activations: int | None = None
    latency_ms: float | None = None

    @classmethod
    def of(cls, budget: "Budget | int | str | None") -> "Budget":
        """``300M``, ``300_000_000`` or a Budget; ``None`` means no limit."""
        if budget is None:
            return cls(2**62)
        if isinstance(budget, Budget):
            return budget
        return cls(nas.parse_budget(budget))

    def fits(self, cost: Sequence[float]) -> bool:
        """Whether a ``Space.cost``, (MACs, params, activations[, predicted ms]), lies within every cap."""
        macs, params, acts = cost[:3]
        if not (macs <= self.macs and (self.params is None or params <= self.params)
                and (self.activations is None or acts <= self.activations)):
            return False
        if self.latency_ms is None:
            return True
        if len(cost) < 4:
            raise NasError("a latency cap needs a latency model: call Space.use_latency first")
        return cost[3] <= self.latency_ms

    def __str__(self) -> str:
        parts = [f"{nas.human(self.macs)} MACs"]
        if self.params is not None:
            parts.append(f"{nas.human(self.params)} params")
        if self.activations is not None:
            parts.append(f"{nas.human(self.activations)} activations")
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:g} ms predicted on this CPU")
        return ", ".join(parts)


class Space:
    """A search space: dimensions, how a config decodes into a genome, and how a genome encodes back."""

    name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    seeds: ClassVar[tuple[str, ...]] = ()  # registered seed networks this space contains
    default_input: ClassVar[tuple[int, int, int]] = (3, 224, 224)
    default_classes: ClassVar[int] = 1000
    proxy_width: ClassVar[float] = 0.35
    """The width multiplier proxy training applies on top of a genome's own widths (``nas search --width``)."""
    proxy_map: ClassVar[int] = 2
    """Smallest map side (pixels) every block must run on at the proxy, so that the space's kernel, SE and
    activation choices compute different functions there: ``k // 2 + 1`` for the largest kernel ``k`` it varies
    (a 7x7 needs 4x4; on a smaller map it sees only the taps a 5x5 sees), and at least 2 so that a squeeze pools
    more than one pixel. Proxy training drops the strides that would go below it (``estimators.proxy_genome``)."""

    def __init__(self, input: tuple[int, int, int] | None = None, classes: int | None = None) -> None:
        self.input = tuple(input) if input else self.default_input
        self.classes = classes or self.default_classes
        self.dimensions: tuple[Dim, ...] = tuple(self._dimensions())
        self._dims = {d.name: d for d in self.dimensions}
        if len(self._dims) != len(self.dimensions):
            raise ValueError(f"space {self.name!r} has duplicate dimension names")
        self._pos = {d.name: {v: i for i, v in enumerate(d.choices)} for d in self.dimensions}
        self._dim_plan = [(d.name, d.choices, d.when) for d in self.dimensions]
        self._dim_sizes = np.array([len(d.choices) for d in self.dimensions], dtype=np.float64)
        # Stepping an ordered gate down can only switch "gt"-gated dimensions off, never on; then a shrunk config
        # costs right without re-filling (costs read only active dimensions).
        self._refill = any(d.when and d.when[1] != "gt" and self._dims[d.when[0]].ordered for d in self.dimensions)
        self._min: tuple[Any, ...] | None = None
        self.latency: Any = None  # a nas.latency.LatencyModel once use_latency is called
        self.stats = {"samples": 0, "repaired": 0}  # how often a drawn config was over the budget

    # ------------------------------------------------------------ what a space defines

    def _dimensions(self) -> Iterable[Dim]:
        """The space's dimensions, gates before the dimensions they gate."""
        raise NotImplementedError

    def sections(self, config: Mapping[str, Any]
                 ) -> tuple[tuple[Block, ...], list[tuple[Block, ...]], tuple[Block, ...]]:
        """(stem, stages, head) of the genome a full config describes."""
        raise NotImplementedError

    def encode(self, genome: Genome) -> Config:
        """The config of a genome in this space; raises NasError naming what lies outside it."""
        raise NotImplementedError

    # ------------------------------------------------------------ configs and genomes

    def decode(self, config: Mapping[str, Any]) -> Genome:
        """The genome of a config (checked: every active dimension set to one of its choices)."""
        return self._genome(self.check(config))

    def _genome(self, config: Mapping[str, Any]) -> Genome:
        stem, stages, head = self.sections(config)
        return Genome(stages=tuple(Stage(s) for s in stages), stem=stem, head=head, input=self.input,
                      classes=self.classes, name=self.name)

    def check(self, config: Mapping[str, Any]) -> Config:
        """The config restricted to its active dimensions; an unset or invalid value raises NasError."""
        out: Config = {}
        for d in self.dimensions:
            if not d.active(out):
                continue
            if d.name not in config:
                raise NasError(f"space '{self.name}': config has no value for '{d.name}'")
            v = config[d.name]
            if v not in d.choices:
                choices = ", ".join(map(str, d.choices))
                raise NasError(f"space '{self.name}': {d.name} = {v!r} is not one of {choices}")
            out[d.name] = v
        return out

    def contains(self, genome: Genome) -> bool:
        """Whether the genome is a point of this space (at this space's input and classes)."""
        try:
            return self.decode(self.encode(genome)) == replace(genome.with_input(self.input, self.classes),
                                                               name=self.name)
        except NasError:
            return False

    def use_latency(self, model: Any) -> None:
        """Cost configs with a fourth entry, their milliseconds as ``model`` (a ``nas.latency.LatencyModel``)
        predicts them, so that a Budget's ``latency_ms`` cap applies."""
        self.latency, self._min = model, None

    def cost(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        """(MACs, params, activations) of a full config at the deployment input; with a latency model
        (``use_latency``), then its predicted milliseconds: what a Budget's ``fits`` reads."""
        counts = self.counts(config)
        return counts if self.latency is None else (*counts, self.latency_ms(config))

    def counts(self, config: Mapping[str, Any]) -> tuple[int, int, int]:
        """(MACs, params, activations) of a full config at the deployment input, section by section (a space may
        add them up faster from parts it remembers)."""
        stem, stages, head = self.sections(config)
        shape, macs, params, acts = self.input, 0, 0, 0
        for section in (stem, *stages, head):
            shape, p, m, a = section_cost(section, shape, self.classes)
            params, macs, acts = params + p, macs + m, acts + a
        return macs, params, acts

    def latency_ms(self, config: Mapping[str, Any]) -> float:
        """Milliseconds on this CPU as the latency model predicts them, from block features it remembers."""
        stem, stages, head = self.sections(config)
        shape, features = self.input, 0.0
        for section in (stem, *stages, head):
            shape, f = self.latency.section(section, shape, self.classes)
            features = features + f
        return self.latency.ms(features)

    # ------------------------------------------------------------ the hand-designed baseline

    def baseline(self, budget: "Budget | int | str | None") -> tuple[str, Genome, int] | None:
        """The hand-designed network a search at ``budget`` is judged against: (label, genome, MACs), or None
        for a space without seeds. The same network for every run with this space and budget.

        Here: the largest of the space's seeds within the budget; with none within it, the cheapest seed shrunk
        along a path drawn with a fixed seed. A space whose family has a scaling rule of its own overrides this
        (MobileNetV2's width multiplier)."""
        budget = Budget.of(budget)
        seeds = []
        for name in self.seeds:
            config = self.encode(nas.seed(name))
            seeds.append((self.cost(config)[0], name, config))
        if not seeds:
            return None
        within = [t for t in seeds if budget.fits(self.cost(t[2]))]
        if within:
            macs, name, config = max(within, key=lambda t: t[0])
            return f"{name} ({human_macs(macs)})", self.decode(config), macs
        macs, name, config = min(seeds, key=lambda t: t[0])
        fixed = self.repair(config, np.random.default_rng(0), budget)  # not the search's seed: one per budget
        macs = self.cost(fixed)[0]
        return f"{name} shrunk ({human_macs(macs)})", self.decode(fixed), macs

    # ------------------------------------------------------------ extremes and size

    def extreme(self, largest: bool) -> Config:
        """The config with every ordered dimension at its cheapest (or costliest) choice."""
        out: Config = {}
        for d in self.dimensions:
            if d.active(out):
                out[d.name] = d.choices[-1] if largest and d.ordered else d.choices[0]
        return out

    def min_cost(self) -> tuple[Any, ...]:
        """(MACs, params, activations) of the space's cheapest member."""
        if self._min is None:
            self._min = self.cost(self.extreme(False))
        return self._min

    def mac_range(self) -> tuple[int, int]:
        """MACs of the cheapest member and of the costliest one found (ordered dimensions at their top, each
        unordered one at its costliest choice, tried one dimension at a time)."""
        top = self.extreme(True)
        for d in self.dimensions:
            if d.ordered or d.name not in top:
                continue
            best = max(d.choices, key=lambda v: self.cost(self._fill({**top, d.name: v}, _LAST_CHOICE))[0])
            top = self._fill({**top, d.name: best}, _LAST_CHOICE)
        return self.min_cost()[0], self.cost(top)[0]

    def log10_size(self) -> float:
        """log10 of the number of configs (dimensions gated by one gate are counted per gate value)."""
        gated: dict[str, list[Dim]] = {}
        total = 0.0
        gates = {d.when[0] for d in self.dimensions if d.when}
        for d in self.dimensions:
            if d.when:
                gated.setdefault(d.when[0], []).append(d)
            elif d.name not in gates:
                total += math.log10(len(d.choices))
        for gate, dims in gated.items():
            g = self._dims[gate]
            count = 0
            for v in g.choices:
                probe = {gate: v}
                count += math.prod(len(d.choices) for d in dims if d.active(probe))
            total += math.log10(count)
        return total

    # ------------------------------------------------------------ sampling, mutation, repair

    def _fill(self, config: Mapping[str, Any], rng: np.random.Generator) -> Config:
        """Keep the active dimensions' values, drop the inactive ones, draw any active one that is unset."""
        out: Config = {}
        draws = None
        for k, (name, choices, when) in enumerate(self._dim_plan):  # the sampler's hot loop: Dim.active inlined
            if when is not None:
                gate = out.get(when[0])
                if gate is None or not (gate > when[2] if when[1] == "gt" else gate == when[2]):
                    continue
            v = config.get(name, _UNSET)
            if v is _UNSET:
                if draws is None:  # one call to the generator per fill, turned into plain indices at once
                    draws = (rng.random(len(self._dim_plan)) * self._dim_sizes).astype(np.intp).tolist()
                v = choices[draws[k]]
            out[name] = v
        return out

    def check_budget(self, budget: "Budget | int | str | None") -> Budget:
        """The budget as a Budget; one below the space's smallest member raises NasError naming that member's MACs."""
        budget = Budget.of(budget)
        low = self.min_cost()
        if not budget.fits(low):
            ms = f", {low[3]:.2f} ms predicted" if len(low) > 3 else ""
            raise NasError(f"budget {budget} is below the smallest member of space '{self.name}' "
                           f"({low[0]:,} MACs, {low[1]:,} params{ms} at {'x'.join(map(str, self.input))})")
        return budget

    def sample_config(self, rng: np.random.Generator, budget: "Budget | int | str | None" = None) -> Config:
        """A config drawn uniformly over the dimensions, then repaired down to the budget if it is over."""
        budget = self.check_budget(budget)
        config = self._fill({}, rng)
        self.stats["samples"] += 1
        if budget.fits(self.cost(config)):
            return config
        self.stats["repaired"] += 1
        return self._repair(config, rng, budget)

    def sample(self, rng: np.random.Generator, budget: "Budget | int | str | None" = None) -> Genome:
        """A genome within the budget, drawn without building any model, in bounded work."""
        return self._genome(self.sample_config(rng, budget))

    def repair(self, config: Mapping[str, Any], rng: np.random.Generator,
               budget: "Budget | int | str | None" = None) -> Config:
        """The config itself if it fits; else the least-shrunk config on a random path of one-step reductions.

        The path lists each ordered dimension once per step it can go down, shuffled; every step lowers the
        cost (or keeps it), so a binary search finds the shortest prefix that fits in about log2(steps) costings.
        """
        return self._repair(self._fill(config, rng), rng, Budget.of(budget))

    def _repair(self, config: Config, rng: np.random.Generator, budget: Budget) -> Config:
        if budget.fits(self.cost(config)):
            return config
        self.check_budget(budget)
        pos = self._pos
        path = [d.name for d in self.dimensions if d.ordered and d.name in config
                for _ in range(pos[d.name][config[d.name]])]
        rng.shuffle(path)

        def shrunk(m: int) -> Config:
            steps: dict[str, int] = {}
            for name in path[:m]:
                steps[name] = steps.get(name, 0) + 1
            out = dict(config)
            for name, n in steps.items():
                out[name] = self._dims[name].choices[pos[name][out[name]] - n]
            return self._fill(out, rng) if self._refill else out

        lo, hi = 0, len(path)  # shrunk(lo) does not fit; shrunk(hi) is the cheapest config on this path
        best = shrunk(hi)
        if not budget.fits(self.cost(best)):  # a gated dimension kept cost up: fall back to the cheapest member
            return self.extreme(False)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            cand = shrunk(mid)
            if budget.fits(self.cost(cand)):
                hi, best = mid, cand
            else:
                lo = mid
        return self._fill(best, rng)

    def mutate_config(self, config: Mapping[str, Any], rng: np.random.Generator,
                      budget: "Budget | int | str | None" = None, n: int = 1, attempts: int = 20) -> Config:
        """A neighbour: ``n`` active dimensions changed (ordered ones mostly by one step), repaired to the budget."""
        budget = Budget.of(budget)
        config = self._fill(config, rng)
        for _ in range(attempts):
            out = dict(config)
            names = [d.name for d in self.dimensions if d.name in out and len(d.choices) > 1]
            for name in rng.choice(names, size=min(n, len(names)), replace=False):
                d = self._dims[str(name)]
                i = d.choices.index(out[d.name])
                if d.ordered and rng.random() < 0.7:
                    j = i + (1 if i == 0 else -1 if i == len(d.choices) - 1 else int(rng.choice([-1, 1])))
                else:
                    j = int(rng.choice([k for k in range(len(d.choices)) if k != i]))
                out[d.name] = d.choices[j]
            out = self.repair(out, rng, budget)
            if out != config:
                return out
        return config  # every neighbour tried was repaired back to the parent (a budget-tight corner)

    def mutate(self, genome: Genome, rng: np.random.Generator, budget: "Budget | int | str | None" = None,
               n: int = 1) -> Genome:
        """A neighbouring genome in the space and within the budget; the input genome is not changed."""
        return self._genome(self.mutate_config(self.encode(genome), rng, budget, n))

    def describe(self) -> dict[str, Any]:
        """What ``nas spaces`` prints: dimensions, size, MAC range, seeds with their MACs."""
        low, high = self.mac_range()
        seeds = {}
        for s in self.seeds:
            g = nas.seed(s)
            seeds[s] = nas.cost(g.with_input(self.input, self.classes)).macs
        return {"name": self.name, "doc": self.doc, "input": list(self.input), "classes": self.classes,
                "dimensions": [d.to_dict() for d in self.dimensions], "log10_size": round(self.log10_size(), 2),
                "macs": [low, high], "seeds": seeds}


def resolved(block: Block) -> dict[str, Any]:
    """A block's parameters with the defaults filled in."""
    return nas.block_type(block.type).resolve(dict(block.params))


def expand(blocks: Iterable[Block]) -> list[Block]:
    """Records with ``repeat: n`` as n records of repeat 1 (the stride kept on the first only)."""
    out = []
    for b in blocks:
        out.append(Block(b.type, b.params, 1))
        if b.repeat > 1:
            rest = Block(b.type, {k: v for k, v in b.params.items() if k != "s"}, 1)
            out.extend([rest] * (b.repeat - 1))
    return out


def runs(blocks: list[Block]) -> tuple[Block, ...]:
    """Consecutive equal records folded into one with a ``repeat`` count (the inverse of ``expand``)."""
    out: list[Block] = []
    for b in blocks:
        if out and out[-1].type == b.type and "s" not in b.params and \
                {k: v for k, v in out[-1].params.items() if k != "s"} == dict(b.params):
            out[-1] = Block(b.type, out[-1].params, out[-1].repeat + 1)
        else:
            out.append(b)
    return tuple(out)


def outside(space: str, what: str) -> NasError:
    """The error for a genome that is not a point of ``space``."""
    return NasError(f"not in space '{space}': {what}")
