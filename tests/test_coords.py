"""WGS-84 ↔ GCJ-02 ↔ BD-09."""

from __future__ import annotations

import numpy as np
import pytest

from siting.coords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02

# Kunming (Green Lake). The forward GCJ-02 offset is closed-form: these values were computed
# from the published formula and agree with an independent implementation (cnmaps) to 1e-12°.
KUNMING_WGS = (102.712251, 25.040609)
KUNMING_GCJ = (102.7136925325774, 25.03763628925363)


def test_forward_known_point() -> None:
    lon, lat = wgs84_to_gcj02(*KUNMING_WGS)
    assert float(lon) == pytest.approx(KUNMING_GCJ[0], abs=1e-10)
    assert float(lat) == pytest.approx(KUNMING_GCJ[1], abs=1e-10)
    # The shift in Kunming is a few hundred metres.
    shift_m = np.hypot((KUNMING_GCJ[0] - KUNMING_WGS[0]) * 101_000, (KUNMING_GCJ[1] - KUNMING_WGS[1]) * 111_000)
    assert 300 < shift_m < 400


def test_round_trips_within_a_centimetre() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(97.5, 106.2, 1000)
    lat = rng.uniform(21.1, 29.2, 1000)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    error_m = np.hypot((back_lon - lon) * 111_000 * np.cos(np.radians(lat)), (back_lat - lat) * 111_000)
    assert error_m.max() < 0.01
    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    error_m = np.hypot((back_lon - lon) * 111_000 * np.cos(np.radians(lat)), (back_lat - lat) * 111_000)
    assert error_m.max() < 0.01
