"""Classed breaks, checked against independent computations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from layers.classify import (
    class_breaks,
    class_index,
    natural_breaks,
    quantile_breaks,
    ramp,
)


def test_quantile_breaks_match_numpy():
    values = np.random.default_rng(3).gamma(2.0, 10.0, 500)
    for classes in (5, 6, 7):
        expected = np.quantile(values, np.arange(1, classes + 1) / classes)
        np.testing.assert_allclose(quantile_breaks(values, classes), expected)


def brute_force_natural(values, classes):
    data = np.sort(values)
    best, best_cut = np.inf, None
    for cuts in itertools.combinations(range(1, len(data)), classes - 1):
        groups = np.split(data, cuts)
        cost = sum(((g - g.mean()) ** 2).sum() for g in groups)
        if cost < best:
            best, best_cut = cost, groups
    return [float(g[-1]) for g in best_cut]


def test_natural_breaks_are_the_optimal_partition():
    values = np.array([1, 2, 2.5, 3, 10, 11, 12, 30, 31, 60, 61, 100], dtype=float)
    for classes in (3, 5):
        assert natural_breaks(values, classes) == pytest.approx(brute_force_natural(values, classes))


def test_class_index_and_limits():
    breaks = class_breaks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "quantile", 5)
    assert class_index([1, 2, 3, 10, np.nan], breaks).tolist() == [0, 0, 1, 4, -1]
    with pytest.raises(ValueError):
        class_breaks([1, 2], "quantile", 4)
    with pytest.raises(ValueError):
        class_breaks([1, 2], "equal", 5)
    assert quantile_breaks([0] * 9 + [5], 5) == [0.0, 5.0]  # ties merge
    assert len(ramp(7)) == 7 and ramp(5)[0] != ramp(5)[-1]


def test_a_single_class_takes_the_middle_of_the_ramp_not_its_palest_end():
    from layers.classify import SEQUENTIAL_RGB, ramp

    assert ramp(1) == (SEQUENTIAL_RGB[3],) and ramp(7) == SEQUENTIAL_RGB and ramp(0) == ()
