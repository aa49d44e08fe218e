"""Pairing the modules of two models: by name, then by structure and position.

Each model is a tree of :class:`ModuleRecord` (class, own parameter shapes, children in
execution order). The trees are aligned from the root down. At each matched pair of parents:

1. children with the same non-numeric name are paired (``attn`` with ``attn``);
2. the others are aligned as two sequences, keeping their order (Needleman-Wunsch, like a
   diff): first on anchors, pairs whose weights are nearly the same (similarity >=
   :data:`ANCHOR`, when weights are known), then, between anchors, on structure: a pair scores
   1 for the same class and parameter shapes plus its weight similarity, 0.25 for the same
   class with other shapes, and a hair more for the same name or index (which breaks ties on
   ``meta``). So in a ``ModuleList`` one inserted block leaves the blocks after it paired with
   their old selves instead of shifting every pair by one.

Modules still unpaired after that (renamed or moved to another parent) are paired across the
whole tree when their class and parameter shapes agree, biggest first, the most similar weights
winning. Whatever is left is added (only in B) or removed (only in A).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

_INDEX = re.compile(r"\d+")
#: Weight elements sampled per parameter for the similarity used when pairing.
SAMPLE = 64
#: Weight similarity from which a pair anchors the alignment (see :meth:`_Matcher._align`).
ANCHOR = 0.9
_NEVER = 1e12


@dataclass
class ModuleRecord:
    """One module of a model: what the matcher and the weight diff need to know about it.

    ``type`` is ``""`` when unknown (weights read from a bare safetensors file); unknown types
    pair with any type.
    """

    name: str
    type: str
    params: dict[str, tuple[int, ...]]
    children: list[str] = field(default_factory=list)
    order: float = 0.0
    shape_sig: str = ""
    size: int = 0

    @property
    def local(self) -> str:
        """The last part of the qualified name (``"3"`` for ``"h.3"``)."""
        return self.name.rpartition(".")[2]


def build_tree(
    entries: Iterable[tuple[str, str, Mapping[str, tuple[int, ...]]]],
    order: Mapping[str, float] | None = None,
) -> dict[str, ModuleRecord]:
    """Records from ``(qualified name, class, {param: shape})`` in registration order.

    Missing parents are created (type unknown); children are sorted by ``order`` (execution
    order where a trace saw them, registration order otherwise). Each record gets a structure
    signature (shapes of its subtree, classes left out) and its subtree's parameter count.

    Examples
    --------
    >>> tree = build_tree([("", "Net", {}), ("fc", "Linear", {"weight": (2, 3)})])
    >>> tree[""].children, tree["fc"].size
    (['fc'], 6)
    """
    records: dict[str, ModuleRecord] = {}
    for position, (name, type_name, params) in enumerate(entries):
        records[name] = ModuleRecord(name, type_name, dict(params), order=float(position))
    for name in list(records):
        child = name
        while child:
            parent = child.rpartition(".")[0]
            if parent not in records:
                records[parent] = ModuleRecord(parent, "", {}, order=records[child].order)
            if child not in records[parent].children:
                records[parent].children.append(child)
            child = parent
    if order:
        _reorder(records, "", order)
    for record in records.values():
        record.children.sort(key=lambda c: (records[c].order, natural_key(c)))
    _sign(records, "")
    return records


def _reorder(records: dict[str, ModuleRecord], name: str, order: Mapping[str, float]) -> float:
    """Execution order: a module's first call, else its first-called descendant's; modules that
    never ran go last, in registration order."""
    record = records[name]
    seen = [_reorder(records, child, order) for child in list(record.children)]
    if name in order:
        record.order = float(order[name])
    else:
        record.order = min(seen, default=_NEVER + record.order)
    return record.order


def natural_key(name: str) -> list:
    """Sort key that puts ``h.2`` before ``h.10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _sign(records: dict[str, ModuleRecord], name: str) -> None:
    record = records[name]
    for child in record.children:
        _sign(records, child)
    own = sorted((k, v) for k, v in record.params.items())
    text = repr((own, [records[c].shape_sig for c in record.children]))
    record.shape_sig = hashlib.sha1(text.encode()).hexdigest()[:16]
    record.size = sum(int(np.prod(s)) for s in record.params.values()) + sum(
        records[c].size for c in record.children
    )


def compatible(a: ModuleRecord, b: ModuleRecord) -> bool:
    """Same class, or a class unknown on one side."""
    return a.type == b.type or not a.type or not b.type


@dataclass
class Matching:
    """The result of :func:`match_modules`: ``pairs`` maps A's names to B's (every module)."""

    pairs: dict[str, str]
    added: list[str]
    removed: list[str]


Sampler = Callable[[str], "np.ndarray | None"]


def _none(_name: str) -> None:
    """The sampler of a model without values (``meta``)."""


class _Matcher:
    def __init__(
        self,
        tree_a: dict[str, ModuleRecord],
        tree_b: dict[str, ModuleRecord],
        sample_a: Sampler,
        sample_b: Sampler,
    ) -> None:
        self.a, self.b = tree_a, tree_b
        self.sample_a, self.sample_b = sample_a, sample_b
        self.pairs: dict[str, str] = {}
        self.taken_b: set[str] = set()
        self._samples: dict[tuple[str, str], list[tuple[int, np.ndarray]] | None] = {}

    # ------------------------------------------------------------ similarity
    def _sample(self, side: str, name: str) -> list[tuple[int, np.ndarray]] | None:
        """``(size, first values)`` of every parameter in the subtree, or ``None`` if unknown."""
        key = (side, name)
        if key not in self._samples:
            tree, sampler = (self.a, self.sample_a) if side == "a" else (self.b, self.sample_b)
            parts = []
            for member in preorder(tree, name):
                for param, shape in sorted(tree[member].params.items()):
                    values = sampler(f"{member}.{param}" if member else param)
                    parts.append((int(np.prod(shape)), values))
            known = bool(parts) and all(v is not None for _, v in parts)
            self._samples[key] = parts if known else None
        return self._samples[key]

    def similarity(self, name_a: str, name_b: str) -> float:
        """How alike the weights of two same-shaped subtrees are, in [0, 1] (0 if unknown).

        The cosine of each parameter's sampled values (0 if negative), averaged with the
        parameters' sizes as weights: per parameter, so a LayerNorm's ones do not drown the
        matrices beside it, and by size, so the matrices decide.
        """
        sa, sb = self._sample("a", name_a), self._sample("b", name_b)
        if sa is None or sb is None or len(sa) != len(sb):
            return 0.0
        sizes = np.array([n for n, _ in sa], dtype=float)
        alike = np.array([_alike(x, y) for (_, x), (_, y) in zip(sa, sb)])
        return float(alike @ sizes / sizes.sum()) if sizes.sum() else 0.0

    def score(self, name_a: str, name_b: str) -> float:
        """Structural pairing score: same shapes 1 + weight similarity, same class only 0.25."""
        ra, rb = self.a[name_a], self.b[name_b]
        if not compatible(ra, rb):
            return -np.inf
        bonus = 0.01 if ra.local == rb.local else 0.0
        if ra.shape_sig != rb.shape_sig:
            return 0.25 + bonus
        return 1.0 + self.similarity(name_a, name_b) + bonus

    def anchor_score(self, name_a: str, name_b: str) -> float:
        """Only pairs with nearly the same weights (similarity >= :data:`ANCHOR`) count."""
        ra, rb = self.a[name_a], self.b[name_b]
        if not compatible(ra, rb) or ra.shape_sig != rb.shape_sig:
            return -np.inf
        similar = self.similarity(name_a, name_b)
        return similar + (0.01 if ra.local == rb.local else 0.0) if similar >= ANCHOR else -np.inf

    # ------------------------------------------------------------ alignment
    def pair(self, name_a: str, name_b: str) -> None:
        self.pairs[name_a] = name_b
        self.taken_b.add(name_b)
        kids_a, kids_b = self.a[name_a].children, self.b[name_b].children
        named_b = {self.b[c].local: c for c in kids_b if not _INDEX.fullmatch(self.b[c].local)}
        rest_a = []
        for child in kids_a:
            local = self.a[child].local
            partner = named_b.get(local)
            if partner is not None and partner not in self.taken_b:
                self.pair(child, partner)
            else:
                rest_a.append(child)
        rest_b = [c for c in kids_b if c not in self.taken_b]
        for ca, cb in self._align(rest_a, rest_b):
            self.pair(ca, cb)

    def _align(self, seq_a: list[str], seq_b: list[str]) -> list[tuple[str, str]]:
        """Pairs of two child sequences, order kept: first anchors (nearly equal weights), then
        the structural alignment of each stretch between anchors (like patience diff)."""
        weighted = self.sample_a is not _none and self.sample_b is not _none
        anchors = _best_path(seq_a, seq_b, self.anchor_score) if weighted else []
        out: list[tuple[str, str]] = []
        i0 = j0 = 0
        for i, j in [*anchors, (len(seq_a), len(seq_b))]:
            stretch = _best_path(seq_a[i0:i], seq_b[j0:j], self.score)
            out += [(seq_a[i0 + x], seq_b[j0 + y]) for x, y in stretch]
            if i < len(seq_a):
                out.append((seq_a[i], seq_b[j]))
            i0, j0 = i + 1, j + 1
        return out

    def leftovers(self) -> None:
        """Pair still unpaired modules (renamed, moved to another parent) across the tree: same
        class and shapes, and - when weights are known - nearly the same weights; the most
        similar, then the nearest in relative position, wins. Biggest modules first."""
        weighted = self.sample_a is not _none and self.sample_b is not _none
        where_a = _positions(self.a)
        where_b = _positions(self.b)
        left_a = sorted(
            (n for n, r in self.a.items() if n not in self.pairs and r.size),
            key=lambda n: (-self.a[n].size, where_a[n]),
        )
        for name_a in left_a:
            if name_a in self.pairs:
                continue
            ra = self.a[name_a]
            options = [
                (self.similarity(name_a, n), -abs(where_b[n] - where_a[name_a]), n)
                for n, rb in self.b.items()
                if n not in self.taken_b
                and rb.size
                and rb.shape_sig == ra.shape_sig
                and compatible(ra, rb)
            ]
            if options:
                similar, _, name_b = max(options)
                if similar >= ANCHOR or not weighted:
                    self.pair(name_a, name_b)


def _positions(tree: Mapping[str, ModuleRecord]) -> dict[str, float]:
    """Each module's place in the execution-ordered walk of its tree, from 0 to 1."""
    names = preorder(tree)
    return {n: i / max(1, len(names) - 1) for i, n in enumerate(names)}


def _alike(x: np.ndarray, y: np.ndarray) -> float:
    """Cosine of two samples, clipped at 0; two all-zero samples are alike."""
    if x.shape != y.shape:
        return 0.0
    if np.array_equal(x, y):
        return 1.0
    denom = float(np.linalg.norm(x) * np.linalg.norm(y))
    return max(0.0, float(x @ y) / denom) if denom > 0 else 0.0


def _best_path(
    seq_a: list[str], seq_b: list[str], score: Callable[[str, str], float]
) -> list[tuple[int, int]]:
    """Index pairs of the order-keeping alignment with the highest total score (gaps score 0,
    pairs scoring -inf are never made): Needleman-Wunsch."""
    n, m = len(seq_a), len(seq_b)
    if not n or not m:
        return []
    table = np.array([[score(x, y) for y in seq_b] for x in seq_a])
    best = np.zeros((n + 1, m + 1))
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best[i, j] = max(
                best[i - 1, j], best[i, j - 1], best[i - 1, j - 1] + table[i - 1, j - 1]
            )
    out = []
    i, j = n, m
    while i and j:
        diagonal = best[i - 1, j - 1] + table[i - 1, j - 1]
        if np.isfinite(diagonal) and best[i, j] == diagonal:
            out.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i, j] == best[i - 1, j]:
            i -= 1
        else:
            j -= 1
    return out[::-1]


def preorder(tree: Mapping[str, ModuleRecord], name: str = "") -> list[str]:
    """``name`` and everything inside it, parents before children, in child order."""
    out = [name]
    for child in tree[name].children:
        out.extend(preorder(tree, child))
    return out


def top_level(names: Iterable[str]) -> list[str]:
    """The names not inside another of ``names`` (the roots of added/removed subtrees)."""
    names = list(names)
    chosen = set(names)
    return [n for n in names if not any(n.startswith(p + ".") for p in chosen if p != n)]


def match_modules(
    tree_a: dict[str, ModuleRecord],
    tree_b: dict[str, ModuleRecord],
    sample_a: Sampler | None = None,
    sample_b: Sampler | None = None,
) -> Matching:
    """Pair the modules of two trees (see the module docstring).

    ``sample_a``/``sample_b`` return up to :data:`SAMPLE` weight values of a parameter by its
    qualified name (or ``None`` when unknown, e.g. on ``meta``).

    Examples
    --------
    >>> a = build_tree([("", "Seq", {}), ("0", "Linear", {"weight": (4, 4)}),
    ...                 ("1", "Linear", {"weight": (2, 4)})])
    >>> b = build_tree([("", "Seq", {}), ("0", "Linear", {"weight": (4, 4)}),
    ...                 ("1", "ReLU", {}), ("2", "Linear", {"weight": (2, 4)})])
    >>> m = match_modules(a, b)
    >>> m.pairs, m.added
    ({'': '', '0': '0', '1': '2'}, ['1'])
    """
    matcher = _Matcher(tree_a, tree_b, sample_a or _none, sample_b or _none)
    matcher.pair("", "")
    matcher.leftovers()
    removed = top_level([n for n in tree_a if n not in matcher.pairs])
    added = top_level([n for n in tree_b if n not in matcher.taken_b])
    return Matching(matcher.pairs, added, removed)
