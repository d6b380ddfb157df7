"""Bilingual headers (Chinese first) for every table a planner or the provincial office reads.

Headers of cost columns are made from the access unit (``distance_mean_m`` →
"平均距离(公里) mean distance km", ``time_mean_min`` → "平均时间(分钟) mean time min"),
so no header assumes metres.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["HEADERS", "bilingual", "header", "rename_bilingual"]

#: Column → header shown to planners (Chinese first, units in brackets).
HEADERS = {
    "level": "层级 level",
    "parent_code": "上级代码 parent code",
    "unit_code": "区划代码 code",
    "unit_name_zh": "名称 name",
    "unit_name_en": "英文名 name (English)",
    "prefecture_code": "州市代码 prefecture code",
    "prefecture_name_zh": "州市 prefecture",
    "prefecture_name_en": "州市英文名 prefecture (English)",
    "prefecture_name": "州市 prefecture",
    "county_code": "县代码 county code",
    "county_name": "县 county",
    "township_code": "乡镇代码 township code",
    "township_name": "乡镇 township",
    "community_code": "村(社区)代码 community code",
    "community_name": "村(社区) community",
    "communities": "村(社区)数(个) communities",
    "children": "儿童数(人) children",
    "children_covered": "覆盖儿童(人) children covered",
    "group": "群体 group",
    "beyond_standard": "服务标准外(人) beyond the standard",
    "beyond_standard_pct": "服务标准外占比 % beyond the standard",
    "cost_mean": "平均距离或时间 mean distance or time",
    "cost_p90": "90%分位距离或时间 90th percentile",
    "gini": "基尼系数 Gini",
    "left_behind": "留守儿童(人) left-behind children",
    "difficult_circumstances": "困境儿童(人) children in difficult circumstances",
    "dibao": "低保儿童(人) minors on dibao",
    "children_covered_pct": "儿童覆盖率 children covered %",
    "priority_children": "重点儿童(人) priority children",
    "priority_covered": "覆盖重点儿童(人) priority children covered",
    "priority_covered_pct": "重点儿童覆盖率 priority covered %",
    "homes_existing": "已有儿童之家(个) existing homes",
    "homes_new": "新建儿童之家(个) new homes",
    "homes_total": "儿童之家合计(个) homes total",
    "townships": "乡镇(街道)数(个) townships",
    "townships_with_home": "有儿童之家的乡镇(个) townships with a home",
    "townships_with_home_pct": "乡镇覆盖率 townships with a home %",
    "communities_uncovered": "服务标准外村(社区)(个) communities beyond the standard",
    "build_cost_cny": "建设资金(元) build cost CNY",
    "directors": "儿童主任(人) child directors",
    "director_pay_cny_per_year": "儿童主任年报酬(元) directors' pay CNY/year",
    "nearest_site_id": "最近儿童之家代码 nearest home code",
    "nearest_home_name": "最近儿童之家 nearest home",
    "site_id": "儿童之家编号 home id",
    "communities_served": "服务村(社区)(个) communities served",
    "children_served": "服务儿童(人) children served",
    "priority_served": "服务重点儿童(人) priority children served",
    "children_added": "新增覆盖儿童(人) children added",
    "alternative_name": "本乡镇次优选址 best other site in the township",
    "alternative_site_id": "次优选址编号 best other site id",
    "alternative_added": "次优选址新增(人) children the other site would add",
    "cost_share_pct": "占建设资金比例 share of the build cost %",
    "why": "选址理由 why here",
    "reason_kind": "未覆盖类型 kind of reason",
    "reason": "未覆盖原因 why not covered",
    "cost_cny": "建设资金(元) cost CNY",
    "existing": "已有 existing",
    "new": "新建 new",
    "province_code": "省代码 province code",
    "served_names": "服务村(社区) communities served (names)",
    "township_uncovered_before": "乡镇原未覆盖儿童(人) township's uncovered children before",
    "township_uncovered_after": "乡镇现未覆盖儿童(人) township's uncovered children after",
    "nearest_existing_m": "最近已有儿童之家(米) nearest existing home m",
    "priority_served_text": "服务重点儿童(显示) priority children served (as shown)",
    "x_m": "X(米) x m",
    "y_m": "Y(米) y m",
    "build_year": "建设年份 build year",
    "covered": "已覆盖 covered",
    "demand_id": "需求点 demand point",
    "supervisors": "儿童督导员(人) child supervisors",
    "villages": "村(社区)数(个) villages",
    "round_trip_km": "督导往返里程(公里/月) supervisor's round trips km/month",
    "round_trip_min": "督导往返时间(分钟/月) supervisor's round trips min/month",
    "villages_unreached": "网格未达村(个) villages the grid does not reach",
    "supervisor_hours_per_month": "督导走访时间(小时/月) supervisor's visiting hours/month",
    "supervisors_needed": "所需督导员(人) supervisors needed",
    "director_hours_per_month": "儿童主任家访时间(小时/月) directors' home-visit hours/month",
    "supervisor_pay_cny_per_year": "儿童督导员年报酬(元) supervisors' pay CNY/year",
    "staff_pay_cny_per_year": "人员年报酬合计(元) staff pay CNY/year",
    "source_directors_2019": "2019年文件儿童主任(人) directors in the 2019 document",
    "source_supervisors_2019": "2019年文件儿童督导员(人) supervisors in the 2019 document",
    "year": "年份 year",
    "budget_cny": "预算(元) budget CNY",
    "spent_cny": "支出(元) spent CNY",
    "homes_built": "建成(个) homes built",
    "bound": "上界 bound",
    "gap": "差距 gap",
    "rank": "排名 rank",
    "planned": "年度计划(个) planned this year",
    "built": "已建成(个) built",
    "in_service": "已投入使用(个) in service",
    "year_target_pct": "完成率 % of the year's target",
    "expected_pct": "时间进度 % of the year gone",
    "behind_schedule": "进度 schedule",
    "children_covered_now": "现覆盖儿童(人) children covered now",
    "directors_in_post": "在岗儿童主任(人) directors in post",
}

_COST = re.compile(r"^(?:(?P<pre>nearest)_)?(?P<quantity>distance|time)(?:_(?P<stat>mean|p90|max))?_(?P<unit>m|min)$")
_STATS = {None: ("", ""), "mean": ("平均", "mean "), "p90": ("90%分位", "90th percentile "), "max": ("最大", "max ")}


_WITHIN = re.compile(r"^children_(?P<side>within|beyond)_(?P<minutes>[0-9.]+)_min$")
_BAND = re.compile(
    r"^(?P<group>[a-z_]+?)_(?:(?P<low>[0-9.]+)_(?P<high>[0-9.]+)|over_(?P<over>[0-9.]+))_(?P<unit>km|min)$"
)
#: The sample's priority groups (a registry's own columns keep their names).
GROUPS = {
    "children": ("儿童", "children"),
    "left_behind": ("留守儿童", "left-behind"),
    "difficult_circumstances": ("困境儿童", "in difficult circumstances"),
    "dibao": ("低保儿童", "on dibao"),
}


def header(column: str, *, km: bool = False) -> str:
    """The bilingual header of one column (the column name itself when none is known).

    Distances are in metres, as the values are; ``km=True`` names them in kilometres for
    a sheet that shows them divided by 1,000.
    """
    if column in HEADERS:
        return HEADERS[column]
    band = _BAND.match(column)
    if band is not None:
        zh, en = GROUPS.get(band["group"], (band["group"], band["group"]))
        unit_zh = "公里" if band["unit"] == "km" else "分钟"
        if band["over"] is not None:
            return f"{zh} 超过{band['over']}{unit_zh} {en} over {band['over']} {band['unit']}"
        span = f"{band['low']}–{band['high']}"
        return f"{zh} {span}{unit_zh} {en} {span} {band['unit']}"
    within = _WITHIN.match(column)
    if within is not None:
        minutes = within["minutes"]
        if within["side"] == "within":
            return f"{minutes}分钟内儿童(人) children within {minutes} min"
        return f"超过{minutes}分钟儿童(人) children beyond {minutes} min"
    match = _COST.match(column)
    if match is None:
        return column
    stat_zh, stat_en = _STATS[match["stat"]]
    zh, en = ("距离", "distance") if match["quantity"] == "distance" else ("时间", "travel time")
    shown_zh, shown = (("公里", "km") if km else ("米", "m")) if match["unit"] == "m" else ("分钟", "min")
    if match["pre"]:
        return f"最近儿童之家{zh}({shown_zh}) {en} to the nearest home {shown}"
    return f"{stat_zh}{zh}({shown_zh}) {stat_en}{en} {shown}"


def bilingual(columns: list[str]) -> dict[str, str]:
    """Column → header for ``rename``."""
    return {c: header(c) for c in columns}


def rename_bilingual(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with bilingual headers."""
    return table.rename(columns=bilingual([str(c) for c in table.columns]))
