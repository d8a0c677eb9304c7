"""Classed colours for choropleths: quantile or natural (Jenks) breaks, 5–7 classes.

Breaks are the classes' upper bounds, ascending, the last one the maximum: a value ``v`` is in
class ``i`` when ``breaks[i-1] < v <= breaks[i]``. Equal breaks (ties in skewed counts) merge, so
a frame may get fewer classes than asked for.
"""
from __future__ import annotations

import numpy as np

from layers.base import RGB

METHODS = ("quantile", "natural")
MIN_CLASSES, MAX_CLASSES = 5, 7
# Natural breaks are O(k·n²): above this many distinct values, classify evenly spaced quantiles of them.
NATURAL_BREAKS_SAMPLE = 600

# Sequential ramp readable on the dark basemap (ColorBrewer YlOrRd, 7 steps).
SEQUENTIAL_RGB: tuple[RGB, ...] = (
    (255, 255, 178), (254, 217, 118), (254, 178, 76), (253, 141, 60), (252, 78, 42), (227, 26, 28), (177, 0, 38),
)


def _finite(values) -> np.ndarray:
    array = np.asarray(values, dtype="float64").ravel()
    return np.sort(array[np.isfinite(array)])


def quantile_breaks(values, classes: int) -> list[float]:
    data = _finite(values)
    if data.size == 0:
        return []
    quantiles = np.quantile(data, np.arange(1, classes + 1) / classes)
    return sorted({float(q) for q in quantiles})


def natural_breaks(values, classes: int) -> list[float]:
    """Fisher–Jenks optimal breaks: the partition of sorted values minimising within-class squared deviation."""
    data = _finite(values)
    if data.size == 0:
        return []
    distinct = np.unique(data)
    if distinct.size <= classes:
        return [float(v) for v in distinct]
    if data.size > NATURAL_BREAKS_SAMPLE:
        data = np.quantile(data, np.linspace(0, 1, NATURAL_BREAKS_SAMPLE))
    n = data.size
    prefix = np.concatenate(([0.0], np.cumsum(data)))
    prefix_sq = np.concatenate(([0.0], np.cumsum(data * data)))

    def cost(start: np.ndarray, end: int) -> np.ndarray:
        """Squared deviation of data[start:end] for an array of starts."""
        count = end - start
        total = prefix[end] - prefix[start]
        return (prefix_sq[end] - prefix_sq[start]) - total * total / count

    best = np.full((classes + 1, n + 1), np.inf)
    split = np.zeros((classes + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for k in range(1, classes + 1):
        for end in range(k, n + 1):
            starts = np.arange(k - 1, end)
            totals = best[k - 1, starts] + cost(starts, end)
            choice = int(np.argmin(totals))
            best[k, end] = totals[choice]
            split[k, end] = starts[choice]
    breaks, end = [], n
    for k in range(classes, 0, -1):
        breaks.append(float(data[end - 1]))
        end = split[k, end]
    return sorted(set(breaks))


def class_breaks(values, method: str = "quantile", classes: int = MIN_CLASSES) -> list[float]:
    if method not in METHODS:
        raise ValueError(f"classification must be one of {METHODS}, not {method!r}")
    if not MIN_CLASSES <= classes <= MAX_CLASSES:
        raise ValueError(f"{MIN_CLASSES}–{MAX_CLASSES} classes, not {classes}")
    return quantile_breaks(values, classes) if method == "quantile" else natural_breaks(values, classes)


def class_index(values, breaks: list[float]) -> np.ndarray:
    """Class of each value (-1 where the value is missing)."""
    array = np.asarray(values, dtype="float64")
    index = np.searchsorted(np.asarray(breaks, dtype="float64"), array, side="left")
    index = np.minimum(index, max(len(breaks) - 1, 0))
    return np.where(np.isfinite(array), index, -1)


def ramp(classes: int) -> tuple[RGB, ...]:
    """``classes`` colours spread over the sequential ramp, light to dark."""
    if classes <= 0:
        return ()
    if classes == 1:  # one value everywhere: the middle of the ramp, not its palest end
        return (SEQUENTIAL_RGB[len(SEQUENTIAL_RGB) // 2],)
    picks = np.round(np.linspace(0, len(SEQUENTIAL_RGB) - 1, classes)).astype(int)
    return tuple(SEQUENTIAL_RGB[i] for i in picks)
