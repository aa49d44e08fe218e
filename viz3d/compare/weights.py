"""How one weight tensor changed between two models: size, direction, rank, zeros, quantisation.

Every measure is computed from the two tensors alone, one pair at a time, so a caller can
stream them from disk (see :mod:`viz3d.compare.sources`) and never hold both models.

* ``relative_change`` = ``||W_b - W_a|| / ||W_a||`` (Frobenius) and the ``cosine`` between them;
* ``rank`` of ``ΔW`` (matrices; a conv weight is reshaped to ``out x rest``): singular values
  above the float rounding floor of the weights, found with a randomised sketch of
  :data:`RANK_PROBE` columns (``None`` when the update has more than that: high rank), and
  ``spectrum``: its top singular values divided by ``||ΔW||``, so ``sum(spectrum[:k]**2)`` is the
  energy share of the top ``k`` (a merged rank-4 LoRA update has rank 4 and all its energy in 4);
* ``zero_fraction_a``/``_b``: the share of weights that are exactly zero (pruning);
* ``quantized``: ``W_b`` lies on a uniform grid (one scale per tensor or per output channel,
  ``quant_bits`` levels) while ``W_a`` did not - what an int8/int4 round trip leaves behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: Columns of the random sketch: ranks up to this are exact, higher ones are reported as ``None``.
RANK_PROBE = 32
#: Singular values kept in ``spectrum``.
SPECTRUM = 16
#: Largest grid (in bits) still called quantised.
MAX_QUANT_BITS = 8
#: Elements checked first when testing for a grid, before the whole tensor.
_GRID_SAMPLE = 4096


@dataclass(frozen=True)
class TensorDiff:
    """The change of one parameter tensor (see the module docstring for each measure).

    Examples
    --------
    >>> import torch
    >>> a = torch.ones(4, 4)
    >>> d = tensor_diff(a, 2 * a)
    >>> d.relative_change, d.cosine, d.rank
    (1.0, 1.0, 1)
    """

    shape: tuple[int, ...]
    relative_change: float | None
    cosine: float | None
    norm_a: float
    norm_delta: float
    rank: int | None = None
    spectrum: tuple[float, ...] = ()
    zero_fraction_a: float = 0.0
    zero_fraction_b: float = 0.0
    quantized: bool = False
    quant_scheme: str | None = None
    quant_bits: int | None = None

    @property
    def changed(self) -> bool:
        """Whether any weight differs."""
        return self.norm_delta > 0

    @property
    def rank_text(self) -> str:
        """The rank as shown in tables: ``""`` for vectors, ``"high"`` above the probe."""
        if len(self.shape) < 2:
            return ""
        return "high" if self.rank is None else str(self.rank)

    def energy(self, k: int) -> float | None:
        """Share of ``||ΔW||²`` in the top ``k`` singular values (``None`` for vectors)."""
        if not self.spectrum:
            return None
        return float(min(1.0, sum(s * s for s in self.spectrum[:k])))

    def to_dict(self) -> dict:
        """JSON-ready fields (non-finite numbers become ``None``)."""
        return {
            "shape": list(self.shape),
            "relative_change": finite_or_none(self.relative_change),
            "cosine": finite_or_none(self.cosine),
            "norm_a": finite_or_none(self.norm_a),
            "norm_delta": finite_or_none(self.norm_delta),
            "rank": self.rank,
            "spectrum": [finite_or_none(s) for s in self.spectrum],
            "zero_fraction_a": self.zero_fraction_a,
            "zero_fraction_b": self.zero_fraction_b,
            "quantized": self.quantized,
            "quant_scheme": self.quant_scheme,
            "quant_bits": self.quant_bits,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TensorDiff:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **{
                **data,
                "shape": tuple(data["shape"]),
                "spectrum": tuple(data.get("spectrum") or ()),
                "norm_a": data.get("norm_a") or 0.0,
                "norm_delta": data.get("norm_delta") or 0.0,
            }
        )


def finite_or_none(value: float | None) -> float | None:
    """``value`` as a float, or ``None`` when missing or not finite (JSON-safe)."""
    return None if value is None or not math.isfinite(value) else float(value)


def tensor_diff(a: torch.Tensor, b: torch.Tensor) -> TensorDiff:
    """Compare two tensors of the same shape (``a`` is the base, ``b`` the changed one).

    The tensors are read in blocks of :data:`BLOCK` elements (as an ``out x rest`` matrix,
    row blocks), so the temporaries stay small whatever the tensor's size.

    Examples
    --------
    >>> import torch
    >>> w = torch.randn(64, 32)
    >>> pruned = w * (w.abs() > w.abs().median())
    >>> round(tensor_diff(w, pruned).zero_fraction_b, 1)
    0.5
    """
    a, b = a.detach(), b.detach()
    if a.shape != b.shape:
        raise ValueError(
            f"tensor_diff needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    work = torch.float64 if a.dtype == torch.float64 else torch.float32
    sketch = _Sketch(a, work) if a.ndim >= 2 and a.numel() else None
    squares = [0.0, 0.0, 0.0]
    nonzero = [0, 0]
    for rows, da, db in _blocks(a, b, work):
        delta = db - da
        for k, t in enumerate((da, db, delta)):
            squares[k] += float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2
        nonzero[0] += int(torch.count_nonzero(da))
        nonzero[1] += int(torch.count_nonzero(db))
        if sketch is not None:
            sketch.first_pass(rows, delta)
    norm_a, norm_b, norm_delta = (math.sqrt(v) for v in squares)
    relative = norm_delta / norm_a if norm_a > 0 else (0.0 if norm_delta == 0 else None)
    cosine = None
    if norm_a > 0 and norm_b > 0:  # <a, b> from the three norms: no product tensor
        cosine = (squares[0] + squares[1] - squares[2]) / (2 * norm_a * norm_b)
    size = max(a.numel(), 1)
    rank, spectrum = (0 if sketch is not None else None), ()
    if sketch is not None and norm_delta > 0:
        rank, spectrum = sketch.finish(a, b, norm_delta, norm_b / math.sqrt(size), b.dtype)
    scheme, bits = (None, None)
    if norm_delta > 0 and b.is_floating_point():
        scheme, bits = grid_of(b)
        if scheme is not None and grid_of(a)[0] is not None:
            scheme, bits = None, None  # both on a grid: a re-quantised model, not a round trip
    return TensorDiff(
        shape=tuple(a.shape),
        relative_change=relative,
        cosine=None if cosine is None else max(-1.0, min(1.0, cosine)),
        norm_a=norm_a,
        norm_delta=norm_delta,
        rank=rank,
        spectrum=spectrum,
        zero_fraction_a=1 - nonzero[0] / size,
        zero_fraction_b=1 - nonzero[1] / size,
        quantized=scheme is not None,
        quant_scheme=scheme,
        quant_bits=bits,
    )


#: Elements per block read by :func:`tensor_diff` (16 MiB of float32).
BLOCK = 1 << 22


def _matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1) if t.ndim >= 2 else t.reshape(1, -1)


def _blocks(a: torch.Tensor, b: torch.Tensor, work: torch.dtype):
    """``(row slice, a rows, b rows)`` of the ``out x rest`` matrices, in ``work`` precision."""
    ma, mb = _matrix(a), _matrix(b)
    step = max(1, BLOCK // max(1, ma.shape[1]))
    for start in range(0, ma.shape[0], step):
        rows = slice(start, start + step)
        yield rows, ma[rows].to(work), mb[rows].to(work)


class _Sketch:
    """Randomised range finder for ``ΔW`` (``out x rest``), built block by block.

    ``RANK_PROBE + 8`` Gaussian columns on the wide orientation hold an update of rank below
    :data:`RANK_PROBE` exactly, so such a rank is exact; a higher one is reported as ``None``.
    Matrices with a side of at most ``2 * RANK_PROBE`` get a full SVD instead.
    """

    def __init__(self, a: torch.Tensor, work: torch.dtype) -> None:
        self.rows, self.cols = _matrix(a).shape
        self.tall = self.rows > self.cols
        self.small = min(self.rows, self.cols) <= 2 * RANK_PROBE
        self.work = work
        width = RANK_PROBE + 8
        generator = torch.Generator().manual_seed(0)
        long_side = self.rows if self.tall else self.cols
        self.probe = torch.randn(long_side, width, generator=generator, dtype=work)
        self.parts: list[torch.Tensor] = []  # wide: row blocks of ΔW @ P
        self.sum = torch.zeros(self.cols, width, dtype=work)  # tall: ΔWᵀ @ P

    def first_pass(self, rows: slice, delta: torch.Tensor) -> None:
        if self.small:
            self.parts.append(delta.double())
        elif self.tall:
            self.sum += delta.T @ self.probe[rows]
        else:
            self.parts.append(delta @ self.probe)

    def finish(
        self, a: torch.Tensor, b: torch.Tensor, norm_delta: float, rms_b: float, dtype: torch.dtype
    ) -> tuple[int | None, tuple[float, ...]]:
        """Rank and normalised top singular values; a second pass over the blocks if needed.

        The threshold is the larger of numpy's ``s_max * max(m, n) * eps`` and the singular
        value that rounding ``W_b`` to its dtype alone leaves (``2 eps rms(W_b) (√m + √n)``).
        """
        if self.small:
            values = torch.linalg.svdvals(torch.cat(self.parts))
        else:
            basis, _ = torch.linalg.qr(self.sum if self.tall else torch.cat(self.parts))
            if self.tall:  # (ΔW Q)ᵀ, row block by row block
                parts = [(db - da) @ basis for _, da, db in _blocks(a, b, self.work)]
                projected = torch.cat(parts).T
            else:  # Qᵀ ΔW, summed over row blocks
                projected = sum(
                    basis[rows].T @ (db - da) for rows, da, db in _blocks(a, b, self.work)
                )
            values = torch.linalg.svdvals(projected.double())
        eps = torch.finfo(dtype if dtype.is_floating_point else torch.float32).eps
        m, n = self.rows, self.cols
        floor = 2.0 * eps * rms_b * (math.sqrt(m) + math.sqrt(n))
        tol = max(float(values[0]) * max(m, n) * eps, floor)
        rank = int((values > tol).sum())
        spectrum = tuple(float(v) / norm_delta for v in values[:SPECTRUM])
        if not self.small and rank >= RANK_PROBE:
            return None, spectrum
        return rank, spectrum


def grid_of(weights: torch.Tensor) -> tuple[str | None, int | None]:
    """``("per-tensor" | "per-channel", bits)`` when every weight is ``scale * integer`` with at
    most ``2**MAX_QUANT_BITS`` levels (one scale per tensor, or per row), else ``(None, None)``.

    Examples
    --------
    >>> import torch
    >>> w = torch.randn(16, 300)
    >>> scale = w.abs().amax() / 127
    >>> grid_of(torch.round(w / scale) * scale)
    ('per-tensor', 8)
    >>> grid_of(w)
    (None, None)
    """
    flat = weights.detach().reshape(weights.shape[0] if weights.ndim > 1 else 1, -1)
    if flat.numel() < 16:
        return None, None
    bits = _on_grid(flat.reshape(1, -1))
    if bits is not None:
        return "per-tensor", bits
    if flat.shape[0] > 1 and flat.shape[1] >= 8:
        bits = _on_grid(flat)
        if bits is not None:
            return "per-channel", bits
    return None, None


def _on_grid(rows: torch.Tensor) -> int | None:
    """Bits of the uniform grid (one scale per row) every row lies on, or ``None``.

    Scale candidates per row: absmax/(2^(b-1)-1) (symmetric), range/(2^b-1) (affine, integer
    zero point) for b = 8 and 4, and the smallest gap between distinct values; the scale is then
    refined by least squares. A few thousand values of a few rows are checked first (in float64),
    so most float tensors are rejected without touching the rest; the full check follows only
    when they pass.
    """
    step = max(1, rows.shape[0] // max(1, _GRID_SAMPLE // rows.shape[1]))
    probe = rows[::step][: max(1, _GRID_SAMPLE // rows.shape[1] + 1), :_GRID_SAMPLE].double()
    if not bool(torch.isfinite(probe).all()) or _grid_bits(probe) is None:
        return None
    full = rows.double()
    return _grid_bits(full) if bool(torch.isfinite(full).all()) else None


def _grid_bits(rows: torch.Tensor) -> int | None:
    absmax = rows.abs().amax(dim=1)
    spread = rows.amax(dim=1) - rows.amin(dim=1)
    ordered = torch.sort(rows, dim=1).values
    gaps = torch.diff(ordered, dim=1)
    gaps = torch.where(gaps > absmax[:, None] * 1e-9, gaps, torch.inf).amin(dim=1)
    candidates = [absmax / 127, spread / 255, absmax / 7, spread / 15, gaps]
    for scale in candidates:
        scale = torch.where(torch.isfinite(scale) & (scale > 0), scale, torch.ones_like(scale))
        q = torch.round(rows / scale[:, None])
        refined = (rows * q).sum(dim=1) / (q * q).sum(dim=1).clamp_min(1.0)
        refined = torch.where(refined > 0, refined, scale)
        q = torch.round(rows / refined[:, None])
        if float((rows / refined[:, None] - q).abs().amax()) > 1e-3:
            continue
        levels = float((q.amax(dim=1) - q.amin(dim=1)).amax()) + 1
        if levels <= 2**MAX_QUANT_BITS:
            return max(1, math.ceil(math.log2(max(levels, 2))))
    return None
