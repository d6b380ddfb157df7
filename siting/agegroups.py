"""Splitting 5-year age groups into single years with Sprague multipliers.

Sprague's fifth-difference osculatory formula (T. B. Sprague, "Explanation of a
new formula for interpolation", *Journal of the Institute of Actuaries* 22,
1880, pp. 270–285) splits a 5-year group into single years using the group and
its neighbours. The coefficients below are the standard table of Sprague
multipliers as printed in H. S. Shryock and J. S. Siegel, *The Methods and
Materials of Demography* (U.S. Bureau of the Census, 1971; condensed edition
1976), Appendix C. Each row gives one single year of the group being split;
each column the weight of one 5-year group:

* first group: columns N1..N4 (the group itself and the next three);
* second group: columns N1..N4;
* interior groups: columns N(i-2)..N(i+2);
* the next-to-last and last groups mirror the second and first.

Properties checked by the tests: the five rows of a panel add up to the group
(column sums 1 for the group itself and 0 for its neighbours), and a population
whose single-year counts follow a polynomial of degree ≤ 4 is split exactly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SPRAGUE_FIRST", "SPRAGUE_MIDDLE", "SPRAGUE_SECOND", "sprague_single_years", "sprague_weights"]

SPRAGUE_FIRST = np.array(
    [
        [0.3616, -0.2768, 0.1488, -0.0336],
        [0.2640, -0.0960, 0.0400, -0.0080],
        [0.1840, 0.0400, -0.0320, 0.0080],
        [0.1200, 0.1360, -0.0720, 0.0160],
        [0.0704, 0.1968, -0.0848, 0.0176],
    ]
)
SPRAGUE_SECOND = np.array(
    [
        [0.0336, 0.2272, -0.0752, 0.0144],
        [0.0080, 0.2320, -0.0480, 0.0080],
        [-0.0080, 0.2160, -0.0080, 0.0000],
        [-0.0160, 0.1840, 0.0400, -0.0080],
        [-0.0176, 0.1408, 0.0912, -0.0144],
    ]
)
SPRAGUE_MIDDLE = np.array(
    [
        [-0.0128, 0.0848, 0.1504, -0.0240, 0.0016],
        [-0.0016, 0.0144, 0.2224, -0.0416, 0.0064],
        [0.0064, -0.0336, 0.2544, -0.0336, 0.0064],
        [0.0064, -0.0416, 0.2224, 0.0144, -0.0016],
        [0.0016, -0.0240, 0.1504, 0.0848, -0.0128],
    ]
)


def sprague_weights(n_groups: int) -> np.ndarray:
    """The (5 n, n) matrix that turns n five-year groups into 5 n single years.

    Parameters
    ----------
    n_groups
        Number of consecutive 5-year groups (at least 5).
    """
    if n_groups < 5:
        raise ValueError(f"Sprague splitting needs at least 5 consecutive 5-year groups, got {n_groups}")
    weights = np.zeros((5 * n_groups, n_groups))
    weights[0:5, 0:4] = SPRAGUE_FIRST
    weights[5:10, 0:4] = SPRAGUE_SECOND
    for group in range(2, n_groups - 2):
        weights[5 * group : 5 * group + 5, group - 2 : group + 3] = SPRAGUE_MIDDLE
    last = n_groups - 1
    weights[5 * (last - 1) : 5 * last, last - 3 : last + 1] = SPRAGUE_SECOND[::-1, ::-1]
    weights[5 * last : 5 * last + 5, last - 3 : last + 1] = SPRAGUE_FIRST[::-1, ::-1]
    return weights


def sprague_single_years(groups: np.ndarray) -> np.ndarray:
    """Split 5-year groups (first axis) into single years (first axis × 5)."""
    groups = np.asarray(groups, dtype=float)
    weights = sprague_weights(groups.shape[0])
    return np.tensordot(weights, groups, axes=(1, 0))
