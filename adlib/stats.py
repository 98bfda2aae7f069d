"""The book's statistics over seeds: mean and spread, group means, and the one rule that calls
two estimates above, below or level with each other."""

from __future__ import annotations

import numpy as np


PERCENT_POINT = 1.0
"""The least gap in a percentage (a best-arm rate) that the book counts: three nearly identical
seeds must not make a 0.1-point gap count. Pass it as ``min_margin`` for percentages."""


def compare(a: tuple[float, float], b: tuple[float, float], min_margin: float = 0.0) -> str:
    """'above', 'below' or 'level with': the book's one rule for two estimates ``(mean, std)``.

    ``a`` is above (below) ``b`` when its mean exceeds (falls short of) ``b``'s by more than
    twice the larger of the two standard deviations over seeds, and by more than
    ``min_margin`` (a floor in the measure's own units, e.g. :data:`PERCENT_POINT`); else they
    are level. The rule is symmetric: swapping ``a`` and ``b`` swaps above and below. An
    estimate with a NaN mean or std is level with everything.
    """
    values = (float(a[0]), float(a[1]), float(b[0]), float(b[1]))
    if any(np.isnan(v) for v in values):
        return "level with"
    margin = max(2 * max(values[1], values[3]), min_margin)
    if values[0] > values[2] + margin:
        return "above"
    if values[0] < values[2] - margin:
        return "below"
    return "level with"


def compare_percent(a: tuple[float, float], b: tuple[float, float]) -> str:
    """:func:`compare` for percentages (best-arm rates), with the :data:`PERCENT_POINT` floor."""
    return compare(a, b, min_margin=PERCENT_POINT)


def why_level(a: tuple[float, float], b: tuple[float, float], n_seeds: int, min_margin: float = 0.0) -> str:
    """Why :func:`compare` calls ``a`` and ``b`` level, in words for a caption: the spread over
    seeds hides the gap, or the gap is beyond the spread but smaller than ``min_margin``.
    Empty when :func:`compare` separates them."""
    if compare(a, b, min_margin) != "level with":
        return ""
    if compare(a, b) != "level with":  # the spread separates them; only the floor does not
        return f"a gap of {a[0] - b[0]:+.2f}, beyond 2 std but within the {min_margin:g}-point margin the book treats as level"
    return f"not distinguishable with {n_seeds} seeds"


def as_tuple(value) -> tuple[float, float]:
    """``(mean, std)`` from a record's ``{"mean", "std"}``, a ``(mean, std)`` pair or a plain number (std 0)."""
    if isinstance(value, dict):
        return float(value["mean"]), float(value.get("std", 0.0))
    if isinstance(value, (list, tuple)):
        return float(value[0]), float(value[1]) if len(value) > 1 else 0.0
    return float(value), 0.0


def as_dict(ms, per_seed: bool = False) -> dict:
    """``(mean, std)`` as the records' ``{"mean": ..., "std": ...}``; with ``per_seed``, also the
    values it was computed from (a :class:`Spread`'s, one per training seed) as ``"per_seed"``."""
    out = {"mean": float(ms[0]), "std": float(ms[1])}
    if per_seed:
        if not isinstance(ms, Spread):
            raise TypeError("per_seed needs a Spread (from mean_and_spread), which keeps the values it was computed from")
        out["per_seed"] = [float(v) for v in ms.values]
    return out


def per_seed(value) -> np.ndarray:
    """The per-seed values behind a record's ``{"mean", "std", "per_seed"}`` or a :class:`Spread`;
    just the mean where none were kept."""
    if isinstance(value, Spread):
        return value.values
    if isinstance(value, dict) and "per_seed" in value:
        return np.asarray(value["per_seed"], dtype=float)
    return np.array([as_tuple(value)[0]])


def mean_by_group(values, groups) -> np.ndarray:
    """``[n_groups, ...]`` the mean of ``values [n, ...]`` within each group (``groups [n]``,
    e.g. the training seed of each run, in sorted order), NaNs left out."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values but {len(groups)} group labels")
    return np.stack([np.nanmean(values[groups == g], axis=0) for g in np.unique(groups)])


class Spread(tuple):
    """``(mean, std)`` that keeps the values it was computed from (``.values``, NaNs kept, so
    that value ``i`` stays seed ``i``'s), so that a per-seed interval can be read from it later.
    Behaves as a plain pair."""

    def __new__(cls, mean: float, std: float, values: np.ndarray):
        spread = super().__new__(cls, (mean, std))
        spread.values = values
        return spread

    def __reduce__(self):
        return Spread, (self[0], self[1], self.values)


def mean_and_spread(values) -> Spread:
    """(mean, sample std) of per-seed or per-run values, NaNs left out (std 0 for a single
    value), as a :class:`Spread` that keeps the values."""
    every = np.asarray(values, dtype=float).ravel()
    values = every[np.isfinite(every)]
    if values.size == 0:
        return Spread(float("nan"), float("nan"), every)
    return Spread(float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0, every)
