r"""Cycling speed on a slope: the rider keeps the power they ride with on the flat.

AccessMod 5's *bicycling* mode corrects a cell's flat speed for the slope of each move
with a power balance (the bikecalculator.com / Kreuzotter model): the power a rider
needs at speed :math:`v` on a grade :math:`s = \Delta h / d` is

.. math:: P(v, s) = v \, \big( W (s + C_{rr}) + k v^2 \big), \qquad k = \tfrac12 \rho \, C_d A,

with :math:`W` the weight of rider and bicycle (N). The rider's power is the one that
gives the flat speed on level ground, :math:`P_0 = P(v_0, 0)`, and the speed on the
slope is the one positive root of the cubic :math:`P(v, s) = P_0` (one root, since
:math:`P_0 > 0`), at most :data:`MAX_RATIO` times the flat speed (brakes downhill, as
AccessMod caps it). The parameters are AccessMod's: a rider of 80 kg on a 15 kg
bicycle, rolling resistance 0.012, frontal area 0.445 m², still air at 20 °C and
500 m. Drivetrain losses divide both sides and cancel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["MAX_RATIO", "bicycle_kmh"]

#: A bicycle goes at most twice its flat speed downhill (AccessMod's cap).
MAX_RATIO = 2.0
_RIDER_KG, _BICYCLE_KG, _G = 80.0, 15.0, 9.8
_ROLLING = 0.012
_FRONTAL_M2 = 0.445
_AIR_KG_M3 = (1.293 - 0.00426 * 20.0) * math.exp(-500.0 / 7000.0)  # 20 °C, 500 m above the sea
_WEIGHT_N = _G * (_RIDER_KG + _BICYCLE_KG)
_DRAG = 0.5 * _FRONTAL_M2 * _AIR_KG_M3  # k: N per (m/s)²


@njit(cache=True)
def bicycle_ratio(flat_kmh: float, grade: float) -> float:
    """Speed on ``grade`` (Δh / d, positive uphill) over the flat speed ``flat_kmh`` (> 0), at most twice it."""
    v0 = flat_kmh / 3.6
    power = v0 * (_WEIGHT_N * _ROLLING + _DRAG * v0 * v0)
    # v³ + p v + q = 0 (Cardano); q < 0, so the cubic has exactly one positive root.
    p = _WEIGHT_N * (grade + _ROLLING) / _DRAG
    q = -power / _DRAG
    disc = (q / 2.0) ** 2 + (p / 3.0) ** 3
    if disc >= 0.0:
        root = math.sqrt(disc)
        v = np.cbrt(-q / 2.0 + root) + np.cbrt(-q / 2.0 - root)
    else:  # p < 0 (downhill, steeper than rolling resistance): three real roots, the largest is the one > 0
        v = 2.0 * math.sqrt(-p / 3.0) * math.cos(math.acos(1.5 * q / p * math.sqrt(-3.0 / p)) / 3.0)
    v -= (v * v * v + p * v + q) / (3.0 * v * v + p)  # one Newton step polishes the rounding of the formula
    return min(v / v0, MAX_RATIO)


@njit(cache=True)
def _ratios(flat_kmh: np.ndarray, grade: np.ndarray) -> np.ndarray:
    out = np.empty(len(flat_kmh))
    for k in range(len(flat_kmh)):
        out[k] = bicycle_ratio(flat_kmh[k], grade[k])
    return out


def bicycle_kmh(flat_kmh: float | np.ndarray, grade: float | np.ndarray) -> np.ndarray:
    """Cycling speed (km/h) on a grade ``Δh / d`` (positive uphill) for a flat speed (km/h, > 0)."""
    flat, slope = np.broadcast_arrays(np.asarray(flat_kmh, dtype=np.float64), np.asarray(grade, dtype=np.float64))
    return flat * _ratios(flat.ravel(), slope.ravel()).reshape(flat.shape)
