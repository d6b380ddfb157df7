"""Administrative levels: codes, names and how they are derived — the one place that knows them.

A community belongs to a township, a county, a prefecture and a province. Each
table the stages pass on carries one code column per level (:data:`CODE_COLUMNS`),
so no other module cuts codes into pieces. Codes come from explicit columns of
the user's data; only where a column is absent are they derived from 12-digit
NBS statistical codes (``533421101203``: county ``533421``, township
``533421101``, prefecture ``533400``, province ``530000``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from siting.errors import InputError

__all__ = [
    "CODE_COLUMNS",
    "LEVELS",
    "LEVEL_NAMES_ZH",
    "NBS_PROVINCES",
    "REGION_CODE",
    "LevelColumns",
    "admin_codes",
    "check_hierarchy",
    "name_lookup",
    "nbs_codes",
    "study_area_mask",
    "text_codes",
    "unit_names",
]

#: Report levels, top down.
LEVELS = ("province", "prefecture", "county", "township")
#: Code column of each level, community included.
CODE_COLUMNS = {
    "province": "province_code",
    "prefecture": "prefecture_code",
    "county": "county_code",
    "township": "township_code",
    "community": "community_code",
}
LEVEL_NAMES_ZH = {"province": "省", "prefecture": "州市", "county": "县", "township": "乡镇", "community": "村(社区)"}
#: Province code given to own data whose codes are not NBS codes: the whole study area is one unit.
REGION_CODE = "000000"
NBS_COMMUNITY = r"\d{12}"
#: Province-level units by their first two code digits (GB/T 2260, the NBS division codes):
#: the name a multi-province run shows where the data name no province.
NBS_PROVINCES = {
    "11": ("北京市", "Beijing"),
    "12": ("天津市", "Tianjin"),
    "13": ("河北省", "Hebei"),
    "14": ("山西省", "Shanxi"),
    "15": ("内蒙古自治区", "Inner Mongolia"),
    "21": ("辽宁省", "Liaoning"),
    "22": ("吉林省", "Jilin"),
    "23": ("黑龙江省", "Heilongjiang"),
    "31": ("上海市", "Shanghai"),
    "32": ("江苏省", "Jiangsu"),
    "33": ("浙江省", "Zhejiang"),
    "34": ("安徽省", "Anhui"),
    "35": ("福建省", "Fujian"),
    "36": ("江西省", "Jiangxi"),
    "37": ("山东省", "Shandong"),
    "41": ("河南省", "Henan"),
    "42": ("湖北省", "Hubei"),
    "43": ("湖南省", "Hunan"),
    "44": ("广东省", "Guangdong"),
    "45": ("广西壮族自治区", "Guangxi"),
    "46": ("海南省", "Hainan"),
    "50": ("重庆市", "Chongqing"),
    "51": ("四川省", "Sichuan"),
    "52": ("贵州省", "Guizhou"),
    "53": ("云南省", "Yunnan"),
    "54": ("西藏自治区", "Tibet"),
    "61": ("陕西省", "Shaanxi"),
    "62": ("甘肃省", "Gansu"),
    "63": ("青海省", "Qinghai"),
    "64": ("宁夏回族自治区", "Ningxia"),
    "65": ("新疆维吾尔自治区", "Xinjiang"),
    "71": ("台湾省", "Taiwan"),
    "81": ("香港特别行政区", "Hong Kong"),
    "82": ("澳门特别行政区", "Macao"),
}


@dataclass(frozen=True)
class LevelColumns:
    """Where the codes and names of each level are in a community table.

    ``id`` is required (any unique id); every other column is optional. Codes of a
    level without a column are derived from 12-digit NBS ids; names of a level
    without a column are the codes (or the sample's real names).
    """

    id: str = "community_code"
    name: str | None = None
    township_code: str | None = None
    county_code: str | None = None
    prefecture_code: str | None = None
    province_code: str | None = None
    township_name: str | None = None
    county_name: str | None = None
    prefecture_name: str | None = None
    province_name: str | None = None

    def given(self) -> dict[str, str]:
        """Option name → column name, for the columns that were given."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def text_codes(values: pd.Series) -> pd.Series:
    """Codes as clean text: numbers read as floats lose their ``.0``; blanks become missing."""
    text = values.astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return text.mask(text == "")


def nbs_codes(ids: pd.Series) -> pd.DataFrame:
    """Township, county, prefecture and province codes of 12-digit NBS community codes.

    Raises
    ------
    InputError
        When an id is not 12 digits, saying what the tool needs instead.
    """
    ids = text_codes(ids)
    bad = ids[~ids.fillna("").str.fullmatch(NBS_COMMUNITY)]
    if len(bad):
        raise InputError(
            f"{len(bad)} community ids are not 12-digit NBS statistical codes (e.g. {list(bad.head(5))}), so "
            "their township, county and prefecture cannot be derived from them; give the columns "
            "township_code_column, county_code_column and prefecture_code_column, or use 12-digit codes "
            "(read as text so leading zeros stay)"
        )
    return pd.DataFrame(
        {
            "township_code": ids.str[:9],
            "county_code": ids.str[:6],
            "prefecture_code": ids.str[:4] + "00",
            "province_code": ids.str[:2] + "0000",
        },
        index=ids.index,
    ).astype(object)


def admin_codes(table: pd.DataFrame, columns: LevelColumns, *, source: str) -> pd.DataFrame:
    """The code of every level for each row of ``table``.

    Parameters
    ----------
    table
        The user's community table.
    columns
        Which columns hold what.
    source
        Where the table came from (for messages).

    Returns
    -------
    pandas.DataFrame
        ``community_code``, ``township_code``, ``county_code``, ``prefecture_code``,
        ``province_code`` as text, in the order of ``table``.
    """
    absent = [f"{option}={name!r}" for option, name in columns.given().items() if name not in table.columns]
    if absent:
        shown = [c for c in table.columns if c != "geometry"]
        raise InputError(f"{source} has no column {', '.join(absent)}; its columns are {shown}")
    out = pd.DataFrame({"community_code": text_codes(table[columns.id])}, index=table.index)
    explicit = {
        level: getattr(columns, f"{level}_code")
        for level in ("township", "county", "prefecture", "province")
        if getattr(columns, f"{level}_code") is not None
    }
    for level, column in explicit.items():
        out[f"{level}_code"] = text_codes(table[column])
    missing_levels = [lvl for lvl in ("township", "county", "prefecture") if lvl not in explicit]
    if missing_levels:
        nbs_like = out["community_code"].fillna("").str.fullmatch(NBS_COMMUNITY).all()
        if nbs_like:
            derived = nbs_codes(out["community_code"])
            for level in missing_levels:
                out[f"{level}_code"] = derived[f"{level}_code"]
        elif missing_levels == ["prefecture"] and out["county_code"].fillna("").str.fullmatch(r"\d{6}").all():
            out["prefecture_code"] = out["county_code"].str[:4] + "00"
        else:
            needed = ", ".join(f"{level}_code_column" for level in missing_levels)
            example = out["community_code"].dropna().head(3).tolist()
            raise InputError(
                f"{source}: the ids in {columns.id!r} (e.g. {example}) are not 12-digit NBS codes, so the "
                f"{', '.join(missing_levels)} of each community cannot be derived; give {needed} "
                "(columns of the same file)"
            )
    if "province" not in explicit:
        prefecture = out["prefecture_code"].fillna("")
        nbs = prefecture.str.fullmatch(r"\d{6}")
        out["province_code"] = np.where(nbs, prefecture.str[:2] + "0000", REGION_CODE)
    empty = {column: int(out[column].isna().sum()) for column in [*CODE_COLUMNS.values()] if out[column].isna().any()}
    if empty:
        raise InputError(f"{source}: empty codes in {empty} (rows without a code); fill them in")
    return out[["community_code", "township_code", "county_code", "prefecture_code", "province_code"]].astype(object)


def check_hierarchy(codes: pd.DataFrame, *, source: str) -> None:
    """Each township lies in one county, each county in one prefecture, each prefecture in one province."""
    problems = []
    for child, parent in (("township", "county"), ("county", "prefecture"), ("prefecture", "province")):
        pairs = codes[[f"{child}_code", f"{parent}_code"]].drop_duplicates()
        split = pairs[pairs[f"{child}_code"].duplicated(keep=False)]
        if len(split):
            examples = split.groupby(f"{child}_code")[f"{parent}_code"].agg(list).head(5).to_dict()
            plural = {"county": "counties", "prefecture": "prefectures", "province": "provinces"}[parent]
            problems.append(f"{len(split[f'{child}_code'].unique())} {child} codes lie in several {plural} {examples}")
    if problems:
        raise InputError(f"{source}: " + "; ".join(problems) + "; each unit must lie in exactly one parent unit")


def unit_names(
    codes: pd.DataFrame,
    *,
    names: pd.DataFrame | None = None,
    region_name_zh: str = "",
    region_name_en: str = "",
) -> pd.DataFrame:
    """One row per unit of every level: ``unit_code``, ``level``, ``unit_name_zh``, ``unit_name_en``.

    Names come from ``names`` (``unit_code``, ``unit_name_zh``, ``unit_name_en``) where
    known; a unit without one is named by its code, so no table or popup shows ``nan``.
    A province the data do not name takes ``region_name_*`` when it is the only one (or,
    without a region name, the name of the only prefecture: the study area is that
    prefecture), else its GB/T 2260 name (:data:`NBS_PROVINCES`) when its code is an NBS
    province code: the provinces of a national plan are each named as themselves.
    """
    rows = [
        pd.DataFrame({"unit_code": codes[CODE_COLUMNS[level]].drop_duplicates().to_numpy(), "level": level})
        for level in LEVELS
    ]
    table = pd.concat(rows, ignore_index=True)
    if names is not None and len(names):
        known = names.drop_duplicates("unit_code").set_index("unit_code")
        table["unit_name_zh"] = table["unit_code"].map(known["unit_name_zh"])
        table["unit_name_en"] = table["unit_code"].map(known.get("unit_name_en", pd.Series(dtype=object)))
    else:
        table["unit_name_zh"] = None
        table["unit_name_en"] = None
    province = table["level"] == "province"
    prefecture = table["level"] == "prefecture"
    if province.sum() == 1 and prefecture.sum() == 1 and not region_name_zh:
        # One prefecture's data: the top row is that prefecture (the study area), never its province's
        # name over the prefecture's numbers (凉山 under 四川省).
        region_name_zh = str(table.loc[prefecture, "unit_name_zh"].fillna(table.loc[prefecture, "unit_code"]).iloc[0])
        region_name_en = region_name_en or str(table.loc[prefecture, "unit_name_en"].fillna("").iloc[0])
    if province.sum() == 1:
        if region_name_zh:
            table.loc[province & table["unit_name_zh"].isna(), "unit_name_zh"] = region_name_zh
        if region_name_en:
            table.loc[province & table["unit_name_en"].isna(), "unit_name_en"] = region_name_en
    # Several provinces (a national plan): each is named as itself, never by the study area's name.
    official = (
        table.loc[province, "unit_code"]
        .astype(str)
        .map(lambda code: NBS_PROVINCES.get(code[:2]) if code.endswith("0000") else None)
    )
    for position, language in enumerate(("zh", "en")):
        column = f"unit_name_{language}"
        table.loc[province, column] = table.loc[province, column].fillna(official.str[position])
    table["unit_name_zh"] = table["unit_name_zh"].where(table["unit_name_zh"].notna(), table["unit_code"])
    table["unit_name_en"] = table["unit_name_en"].fillna("")
    return table.astype({"unit_code": object, "unit_name_zh": object, "unit_name_en": object})


def names_by_code(names: pd.DataFrame, *, language: str = "zh") -> pd.Series:
    """Unit code → name (one row per code), for ``Series.map``."""
    return names.drop_duplicates("unit_code").set_index("unit_code")[f"unit_name_{language}"]


def name_lookup(names: pd.DataFrame, codes: Iterable[object], *, language: str = "zh") -> list[str]:
    """The names of some unit codes (the code itself where no name is known; never ``nan``)."""
    known = names.drop_duplicates("unit_code").set_index("unit_code")[f"unit_name_{language}"]
    out = []
    for code in codes:
        name = known.get(code)
        out.append(str(name) if isinstance(name, str) and name else ("" if code is None else str(code)))
    return out


def _codes_of(wanted: Sequence[str], codes: pd.DataFrame, *, level: str, problems: list[str]) -> list[str]:
    """The codes of ``wanted`` units, each given by code or by name (Chinese or English, where known).

    A name several units share is refused with their codes (never resolved by whichever row
    came first); a name that matches nothing is refused with the closest match.
    """
    code_column = f"{level}_code"
    names: dict[str, set[str]] = {}
    for column in (f"{level}_name", f"{level}_name_zh", f"{level}_name_en"):
        if column in codes.columns:
            pairs = codes[[column, code_column]].dropna().drop_duplicates()
            for name, code in zip(pairs[column].astype(str), pairs[code_column].astype(str), strict=True):
                names.setdefault(name, set()).add(code)
    known = sorted(codes[code_column].astype(str).unique())
    out = []
    for item in (str(w) for w in wanted):
        if item in known:
            out.append(item)
        elif item in names and len(names[item]) == 1:
            out.append(next(iter(names[item])))
        elif item in names:
            shared = sorted(names[item])
            problems.append(
                f"{item} names {len(shared)} {level} units ({', '.join(shared)}); give the code of the one meant"
            )
        else:
            close = list(dict.fromkeys(difflib.get_close_matches(item, known + sorted(names), n=3, cutoff=0.5)))
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{item} matches no {level} code or name{hint}")
    return out


def study_area_mask(
    codes: pd.DataFrame, *, prefectures: Sequence[str] = (), counties: Sequence[str] = ()
) -> np.ndarray:
    """Rows inside the study area; units are given by code or name, and each that matches nothing is refused.

    Raises
    ------
    InputError
        ``"530199 matches no county code or name; did you mean 530102?"`` for each
        unknown unit, also when other units of the list do match.
    """
    problems: list[str] = []
    prefecture_codes = _codes_of(prefectures, codes, level="prefecture", problems=problems)
    county_codes = _codes_of(counties, codes, level="county", problems=problems)
    if problems:
        raise InputError("study_area: " + "; ".join(problems))
    keep = np.ones(len(codes), dtype=bool)
    if prefectures:
        keep &= codes["prefecture_code"].astype(str).isin(prefecture_codes).to_numpy()
    if counties:
        keep &= codes["county_code"].astype(str).isin(county_codes).to_numpy()
    if not keep.any():
        raise InputError(
            f"the study area (prefectures {list(prefectures)}, counties {list(counties)}) holds no community: "
            "the counties lie outside the prefectures given; list counties of those prefectures"
        )
    return keep
