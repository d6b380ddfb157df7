"""Travel time over terrain: the grid, its exact bounded search, and the access it gives.

The wing of the data flow that turns terrain files into minutes:

- :mod:`siting.travel.build` — the grid from a DEM, land cover with a speed table, roads
  and barriers (any CRS, checked for what makes them wrong, reprojected once);
- :mod:`siting.travel.grid` — :class:`TravelGrid` and the searches over it (one per site,
  or one from every home at once);
- :mod:`siting.travel.search` — the search itself, an exact bounded Dijkstra compiled with numba;
- :mod:`siting.travel.graph` — the same grid as an explicit scipy graph, for checks and benchmarks;
- :mod:`siting.travel.access` — the demand × site matrix in windows on the engine, and the
  nearest-home travel-time raster.
"""

from siting.travel.access import TravelTimeRaster, access_from_terrain, nearest_home_minutes
from siting.travel.build import TerrainInputs, build_travel_grid, read_speed_table
from siting.travel.grid import TravelGrid, nearest_times, search_from, site_times, tobler_kmh

__all__ = [
    "TerrainInputs",
    "TravelGrid",
    "TravelTimeRaster",
    "access_from_terrain",
    "build_travel_grid",
    "nearest_home_minutes",
    "nearest_times",
    "read_speed_table",
    "search_from",
    "site_times",
    "tobler_kmh",
]
