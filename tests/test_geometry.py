"""Dissolving units into the levels above them: the same union as geopandas, edge-matched or not."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.errors import GEOSException
from shapely.geometry import Polygon, box

from siting.geometry import dissolve


def grid(*, split_edge: bool) -> gpd.GeoDataFrame:
    """Four 1 km squares in two townships of one county; ``split_edge`` gives one square an extra vertex."""
    squares = [box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000), box(0, 1000, 1000, 2000), box(1000, 1000, 2000, 2000)]
    if split_edge:  # the shared edge x = 1000 gets a vertex at y = 500 on the left square only
        squares[0] = Polygon([(0, 0), (1000, 0), (1000, 500), (1000, 1000), (0, 1000)])
        squares[1] = box(1000, 0, 2000, 1000).buffer(0)  # its edge stays one segment
    return gpd.GeoDataFrame(
        {
            "community_code": ["c4", "c2", "c3", "c1"],
            "township_code": ["t2", "t1", "t2", "t1"],
            "county_code": ["k", "k", "k", "k"],
        },
        geometry=squares,
        crs="EPSG:32648",
    )


def test_dissolve_matches_geopandas_and_keeps_codes() -> None:
    for split_edge in (False, True):  # edge-matched (coverage union) and not (overlay fallback)
        frame = grid(split_edge=split_edge)
        ours = dissolve(frame, "township_code", keep=("county_code",))
        theirs = frame.dissolve(by="township_code", as_index=False)
        assert ours["township_code"].tolist() == ["t1", "t2"]
        assert ours["county_code"].tolist() == ["k", "k"]
        assert ours.crs == frame.crs
        for a, b in zip(ours.geometry, theirs.geometry, strict=True):
            assert shapely.equals(a, b)
        # t1 holds c2 (lower right) and c1 (upper right): one 1 x 2 km strip.
        assert ours.geometry.iloc[0].area == 2_000_000
        assert shapely.equals(ours.geometry.iloc[0], box(1000, 0, 2000, 2000))


def test_dissolve_falls_back_where_edges_do_not_match() -> None:
    frame = grid(split_edge=True)
    with pytest.raises(GEOSException):  # the coverage union refuses the unmatched edge ...
        shapely.coverage_union_all(frame.geometry.to_numpy())
    for edge_matched in (True, False):  # ... so the overlay joins the county, with or without the first try
        county = dissolve(frame, "county_code", edge_matched=edge_matched)
        assert len(county) == 1
        assert shapely.equals(county.geometry.iloc[0], box(0, 0, 2000, 2000))
    assert len(dissolve(frame.iloc[:0], "county_code")) == 0
    assert len(dissolve(frame.iloc[:0], "county_code")) == 0
