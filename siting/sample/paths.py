"""Where the Yunnan sample lives on disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SamplePaths", "default_data_dir", "sample_paths"]


def default_data_dir() -> Path:
    """The ``data/`` folder of the checkout, or ``$SITING_DATA_DIR`` when set."""
    env = os.environ.get("SITING_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class SamplePaths:
    """Files of the embedded Yunnan sample.

    The real parts (boundaries, division codes, census) are committed under
    ``data/yunnan/``; the modelled parts are generated into
    ``data/yunnan/modelled/`` by ``siting sample build``.
    """

    root: Path

    @property
    def counties_gpkg(self) -> Path:
        return self.root / "yunnan_counties_2020.gpkg"

    @property
    def counties_csv(self) -> Path:
        return self.root / "yunnan_counties_2020.csv"

    @property
    def prefectures_csv(self) -> Path:
        return self.root / "yunnan_prefectures_2020.csv"

    @property
    def communities_csv(self) -> Path:
        return self.root / "yunnan_communities_2020.csv"

    @property
    def terrain_dir(self) -> Path:
        """Real terrain sources: heights, rivers and lakes (committed)."""
        return self.root / "terrain"

    @property
    def heights_tif(self) -> Path:
        return self.terrain_dir / "heights_5arcmin.tif"

    @property
    def water_gpkg(self) -> Path:
        return self.terrain_dir / "rivers_lakes.gpkg"

    @property
    def landcover_tif(self) -> Path:
        """MODIS MCD12C1 2019 land cover (IGBP classes, 0.05°), real."""
        return self.terrain_dir / "landcover_modis_2019.tif"

    @property
    def landcover_speeds_csv(self) -> Path:
        """Walking speed per IGBP class: this project's assumption (modelled)."""
        return self.terrain_dir / "landcover_speeds.csv"

    @property
    def dem_tif(self) -> Path:
        return self.modelled_dir / "dem_200m.tif"

    @property
    def roads_gpkg(self) -> Path:
        return self.modelled_dir / "roads.gpkg"

    @property
    def modelled_dir(self) -> Path:
        return self.root / "modelled"

    @property
    def communities_gpkg(self) -> Path:
        return self.modelled_dir / "communities.gpkg"

    @property
    def children_tif(self) -> Path:
        return self.modelled_dir / "children_0_17.tif"

    @property
    def priority_csv(self) -> Path:
        return self.modelled_dir / "priority_groups.csv"

    @property
    def existing_homes_csv(self) -> Path:
        return self.modelled_dir / "existing_homes.csv"

    @property
    def institutions_csv(self) -> Path:
        return self.modelled_dir / "institutions.csv"

    @property
    def metadata_json(self) -> Path:
        return self.modelled_dir / "metadata.json"

    def is_built(self) -> bool:
        """True when every modelled file exists (the metadata file is written last)."""
        return self.metadata_json.exists()


def sample_paths(data_dir: Path | None = None) -> SamplePaths:
    """Paths of the Yunnan sample below ``data_dir`` (default :func:`default_data_dir`)."""
    return SamplePaths(root=(data_dir or default_data_dir()) / "yunnan")
