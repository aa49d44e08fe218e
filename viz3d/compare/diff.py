"""``ModelDiff``: what changed between two models, as plain data (table, JSON, picture).

Statuses of a module (its own parameters and class; what happened inside its children is in
their rows and in the subtree ``relative_change``):

=================  ==========================================================================
``unchanged``      paired, same class and parameter shapes, every own weight bit-identical
``weight_changed`` paired, same shapes, some own weight differs
``shape_changed``  paired, but its own parameters differ in names or shapes (or its class)
``added``          only in model B (the top of an added subtree)
``removed``        only in model A (the top of a removed subtree)
=================  ==========================================================================
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viz3d.compare.weights import TensorDiff, finite_or_none
from viz3d.errors import GraphError
from viz3d.files import atomic_write, check_format
from viz3d.graph import LayerGraph

FORMAT = "viz3d.ModelDiff"
FORMAT_VERSION = 1
STATUSES = ("unchanged", "weight_changed", "shape_changed", "added", "removed")


@dataclass
class ModuleDiff:
    """One row of a :class:`ModelDiff`: a paired, added or removed module.

    Attributes
    ----------
    name_a, name_b : str or None
        Qualified names in each model (``None`` on the side it is missing from).
    type_a, type_b : str
        Classes (``""`` when unknown, e.g. weights read from safetensors).
    status : str
        One of :data:`STATUSES` (see the module docstring).
    weights : dict of str to TensorDiff
        The module's own parameters, compared (empty when shapes differ or values are unknown).
    relative_change : float or None
        ``||ΔW|| / ||W_a||`` over every compared weight of the module and its children.
    cka : float or None
        Linear CKA of the module's outputs in both models (when inputs were given).
    params_a, params_b : int
        Parameters of the module and its children in each model.
    """

    name_a: str | None
    name_b: str | None
    type_a: str = ""
    type_b: str = ""
    status: str = "unchanged"
    weights: dict[str, TensorDiff] = field(default_factory=dict)
    relative_change: float | None = None
    cka: float | None = None
    params_a: int = 0
    params_b: int = 0
    own_params: bool = False

    @property
    def name(self) -> str:
        """B's name, or A's for a removed module."""
        return self.name_b if self.name_b is not None else str(self.name_a)

    @property
    def renamed(self) -> bool:
        """Paired under another name (or moved to another parent)."""
        return None not in (self.name_a, self.name_b) and self.name_a != self.name_b

    @property
    def main(self) -> TensorDiff | None:
        """The biggest compared weight (``weight`` of a Linear), for one-number summaries."""
        if not self.weights:
            return None
        name = max(self.weights, key=lambda k: (math.prod(self.weights[k].shape), k == "weight"))
        return self.weights[name]

    @property
    def zero_fraction(self) -> float | None:
        """Share of the main weight's values that are exactly zero in model B (pruning)."""
        return None if self.main is None else self.main.zero_fraction_b

    @property
    def quantized(self) -> bool:
        """Some own weight of B lies on a quantisation grid that A's did not."""
        return any(d.quantized for d in self.weights.values())

    def facts(self) -> dict[str, Any]:
        """The numbers shown on hover, by name, JSON values only."""
        main = self.main
        facts: dict[str, Any] = {"status": self.status}
        if self.renamed:
            facts["paired with"] = self.name_a
        if self.relative_change is not None:
            facts["relative change"] = round(self.relative_change, 6)
        if main is not None:
            facts.update(
                {
                    "cosine": None if main.cosine is None else round(main.cosine, 6),
                    "rank of change": main.rank_text,
                    "zeros": round(self.zero_fraction or 0.0, 4),
                    "quantised": (
                        f"{main.quant_scheme}, {main.quant_bits} bits" if main.quantized else "no"
                    ),
                }
            )
        if self.cka is not None:
            facts["CKA"] = round(self.cka, 6)
        return facts

    def brief(self) -> str:
        """The numbers in one line, e.g. ``"weight changed: Δ 0.21, cos 0.978, rank 4"``.

        Examples
        --------
        >>> ModuleDiff("fc", "fc", status="unchanged", relative_change=0.0, cka=1.0).brief()
        'unchanged: Δ 0, CKA 1'
        """
        main = self.main
        parts = []
        if self.renamed:
            parts.append(f"was {self.name_a}")
        if self.relative_change is not None:
            parts.append(f"Δ {_num(self.relative_change)}")
        if main is not None and main.changed:
            parts += [f"cos {_num(main.cosine, 4)}", f"rank {main.rank_text or '-'}"]
            if main.zero_fraction_b:
                parts.append(f"zeros {100 * main.zero_fraction_b:.0f}%")
            if main.quantized:
                parts.append(f"{main.quant_bits}-bit grid {main.quant_scheme}")
        if self.cka is not None:
            parts.append(f"CKA {_num(self.cka, 4)}")
        text = self.status.replace("_", " ")
        return f"{text}: {', '.join(parts)}" if parts else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name_a": self.name_a,
            "name_b": self.name_b,
            "type_a": self.type_a,
            "type_b": self.type_b,
            "status": self.status,
            "weights": {k: v.to_dict() for k, v in self.weights.items()},
            "relative_change": finite_or_none(self.relative_change),
            "cka": finite_or_none(self.cka),
            "params_a": self.params_a,
            "params_b": self.params_b,
            "own_params": self.own_params,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleDiff:
        weights = {k: TensorDiff.from_dict(v) for k, v in data.get("weights", {}).items()}
        return cls(**{**data, "weights": weights})


@dataclass
class ModelDiff:
    """What changed between model A and model B: structure, weights and activations.

    Made by :func:`viz3d.compare`; saved and reloaded with :meth:`to_json` / :meth:`from_json`
    without the models; drawn with :meth:`render`.

    Attributes
    ----------
    modules : list of ModuleDiff
        Every module, in B's order, removed ones at their place in A.
    label_a, label_b : str
        Names of the two models.
    output : dict or None
        Divergence of the outputs: ``{"kind": "kl" | "relative_error", "value": float}``.
    weights_compared, activations_compared : bool
        Whether weights (not on ``meta``) and activations (inputs given) were compared.
    graph_a, graph_b : LayerGraph or None
        The traced architectures, for drawing.
    notes : list of str
        What was left out and why.

    Examples
    --------
    >>> import torch, viz3d
    >>> a = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> b = torch.nn.Sequential(*a[:2], torch.nn.Linear(4, 4), a[2])
    >>> diff = viz3d.compare(a, b, progress=False)
    >>> diff.added, diff.changed
    (['2'], [])
    >>> viz3d.ModelDiff.from_json(diff.to_json()).added
    ['2']
    """

    modules: list[ModuleDiff]
    label_a: str = "A"
    label_b: str = "B"
    output: dict[str, Any] | None = None
    weights_compared: bool = False
    activations_compared: bool = False
    graph_a: LayerGraph | None = None
    graph_b: LayerGraph | None = None
    notes: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------- views
    def _names(self, status: str) -> list[str]:
        return [m.name for m in self.modules if m.status == status]

    @property
    def added(self) -> list[str]:
        """B's modules with no partner in A (tops of added subtrees)."""
        return self._names("added")

    @property
    def removed(self) -> list[str]:
        """A's modules with no partner in B (tops of removed subtrees)."""
        return self._names("removed")

    @property
    def shape_changed(self) -> list[str]:
        """Paired modules whose own parameter shapes (or class) differ."""
        return self._names("shape_changed")

    @property
    def changed(self) -> list[str]:
        """Paired modules with some own weight changed."""
        return self._names("weight_changed")

    @property
    def unchanged(self) -> list[str]:
        """Paired modules with own weights, all identical."""
        return [m.name for m in self.modules if m.status == "unchanged" and m.own_params]

    @property
    def pairs(self) -> dict[str, str]:
        """A's name -> B's name for every paired module."""
        return {
            m.name_a: m.name_b
            for m in self.modules
            if m.name_a is not None and m.name_b is not None
        }

    @property
    def renamed(self) -> dict[str, str]:
        """The pairs whose names differ."""
        return {a: b for a, b in self.pairs.items() if a != b}

    def __getitem__(self, name: str) -> ModuleDiff:
        """The row of a module by B's name (or A's, for removed ones)."""
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(f"no module {name!r} in this diff; names: {[m.name for m in self.modules]}")

    def __repr__(self) -> str:
        return f"ModelDiff({self.label_a} -> {self.label_b}: {self.headline()})"

    def headline(self) -> str:
        """One line of counts."""
        renamed = len(self.renamed)
        counts = [
            f"{len(self.pairs)} paired" + (f" ({renamed} under another name)" if renamed else ""),
            f"{len(self.added)} added",
            f"{len(self.removed)} removed",
            f"{len(self.shape_changed)} shape-changed",
        ]
        if self.weights_compared:
            counts += [f"{len(self.changed)} weight-changed", f"{len(self.unchanged)} unchanged"]
        return ", ".join(counts)

    # ----------------------------------------------------------------- text
    def summary(self, max_rows: int | None = 200) -> str:
        """A table of the modules with weights plus added/removed/shape-changed ones, then counts.

        Columns: relative change ``||ΔW||/||W||``, cosine, rank of ΔW (``high`` above 32),
        share of zero weights in B, quantisation grid found in B, activation CKA.
        """
        rows = [
            ("Module", "Type", "Status", "Rel.change", "Cosine", "Rank", "Zeros", "Quant", "CKA")
        ]
        for m in self.modules:
            if not (m.own_params or m.status in ("added", "removed", "shape_changed")):
                continue
            main = m.main
            name = _pair_text(str(m.name_a), str(m.name_b)) if m.renamed else m.name
            quant = f"{main.quant_bits}b {main.quant_scheme}" if main and main.quantized else ""
            rows.append(
                (
                    name or "(root)",
                    m.type_b or m.type_a,
                    m.status.replace("_", "-"),
                    _num(m.relative_change),
                    _num(None if main is None else main.cosine, 4),
                    "" if main is None else main.rank_text,
                    "" if m.zero_fraction is None else f"{100 * m.zero_fraction:.1f}%",
                    quant,
                    _num(m.cka, 4),
                )
            )
        if max_rows is not None and len(rows) - 1 > max_rows:
            skipped = len(rows) - 1 - max_rows
            head = max_rows // 2
            rows = (
                rows[: head + 1]
                + [(f"... {skipped} more rows",) + ("",) * 8]
                + rows[-(max_rows - head) :]
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        rule = sum(widths) + 2 * (len(widths) - 1)
        lines.insert(1, "-" * rule)
        lines.append("=" * rule)
        lines.append(f"{self.label_a} -> {self.label_b}: {self.headline()}")
        if self.output is not None:
            kind = "KL(A||B) of logits" if self.output["kind"] == "kl" else "relative error"
            lines.append(f"output divergence ({kind}): {self.output['value']:.4g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (finite numbers only; see :meth:`from_dict`)."""
        return _sanitise(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "label_a": self.label_a,
                "label_b": self.label_b,
                "output": self.output,
                "weights_compared": self.weights_compared,
                "activations_compared": self.activations_compared,
                "notes": list(self.notes),
                "modules": [m.to_dict() for m in self.modules],
                "graph_a": None if self.graph_a is None else self.graph_a.to_dict(),
                "graph_b": None if self.graph_b is None else self.graph_b.to_dict(),
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelDiff:
        """Rebuild a diff written by :meth:`to_dict`."""
        check_format(data, FORMAT, FORMAT_VERSION, "ModelDiff")
        graphs = {
            k: None if data.get(k) is None else LayerGraph.from_dict(data[k])
            for k in ("graph_a", "graph_b")
        }
        return cls(
            modules=[ModuleDiff.from_dict(m) for m in data["modules"]],
            label_a=data["label_a"],
            label_b=data["label_b"],
            output=data.get("output"),
            weights_compared=data.get("weights_compared", False),
            activations_compared=data.get("activations_compared", False),
            notes=list(data.get("notes", [])),
            **graphs,
        )

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The diff as JSON text; also written to ``path`` (atomically) when given."""
        text = json.dumps(self.to_dict(), allow_nan=False)
        if path is not None:
            atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), suffix=".json")
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> ModelDiff:
        """Read a diff from JSON text or from a file written by :meth:`to_json`."""
        text = str(source)
        try:
            if not text.lstrip().startswith("{"):
                text = Path(source).read_text()
            data = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise GraphError(f"cannot read a ModelDiff from {str(source)[:80]!r}: {exc}") from exc
        return cls.from_dict(data)

    # ----------------------------------------------------------------- picture
    def render(
        self,
        color_by: str = "weight_change",
        *,
        side_by_side: bool = False,
        depth: int | None = None,
        title: str | None = None,
    ) -> Any:
        """Draw the diff on model B's architecture (see :func:`viz3d.render.compare.render_diff`).

        ``color_by`` is ``"weight_change"`` (log10 relative change), ``"cka"`` or ``"status"``;
        added modules are outlined, removed ones drawn as ghosts; ``side_by_side`` draws A behind
        B with links between paired modules. Returns a :class:`viz3d.Scene`.
        """
        from viz3d.render.compare import render_diff

        return render_diff(
            self, color_by=color_by, side_by_side=side_by_side, depth=depth, title=title
        )


def _pair_text(a: str, b: str) -> str:
    """``"h.1.attn" / "h.2.attn"`` -> ``"h.[1 -> 2].attn"``: the differing part in brackets."""
    pa, pb = a.split("."), b.split(".")
    head = 0
    while head < min(len(pa), len(pb)) - 1 and pa[head] == pb[head]:
        head += 1
    tail = 0
    while tail < min(len(pa), len(pb)) - head - 1 and pa[-1 - tail] == pb[-1 - tail]:
        tail += 1
    middle = f"[{'.'.join(pa[head : len(pa) - tail])} -> {'.'.join(pb[head : len(pb) - tail])}]"
    return ".".join([*pa[:head], middle, *pa[len(pa) - tail :]])


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _sanitise(value: Any) -> Any:
    """Non-finite floats -> ``None``, recursively (JSON holds finite numbers only)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _sanitise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitise(v) for v in value]
    return value


__all__ = ["STATUSES", "ModelDiff", "ModuleDiff"]
