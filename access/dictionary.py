"""The data dictionary of the machine-readable outputs, as data.

``data_dictionary.csv`` is written beside the files it describes, so the
meaning of every column (keys, units, what an empty cell means) travels with
the data when the folder is copied or published; README "Outputs" points to
it. Column names with ``<...>`` stand for a family, e.g. ``t_<circle>``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: (file, column, unit, description in English, description in Chinese)
ENTRIES: list[tuple[str, str, str, str, str]] = [
    ("cells.parquet", "cell_id", "", "Population cell id (raster row-major index or input row).", "人口格网编号"),
    ("cells.parquet", "x, y", "m", "Cell centre in the study CRS (run.json: crs).", "格网中心坐标（研究区投影坐标系）"),
    ("cells.parquet", "lon, lat", "degrees", "Cell centre in WGS84.", "格网中心经纬度（WGS84）"),
    ("cells.parquet", "population", "persons", "Residents of the cell.", "格网人口"),
    ("cells.parquet", "pop_<group>", "persons", "Residents of a demand group (e.g. elderly, age_3_5) when given.",
     "分人群人口（如老年人、3-5岁儿童）"),
    ("cells.parquet", "urban", "bool", "Cell is in the urban scope (urban township or urban area).",
     "是否属于城镇范围"),
    ("cells.parquet", "county, county_name, township, township_name", "",
     "Administrative codes and names of the cell's county and township.", "所在县（区）、乡镇/街道代码与名称"),
    ("cells.parquet", "reachable_<mode>", "bool", "Cell snapped to the roads usable by the mode.",
     "是否可接入该出行方式的道路"),
    ("cells.parquet", "t_<mode>_<category>", "s",
     "Travel time to the nearest facility of the category (32-bit float, to 1 ms); empty when none is reachable "
     "within search_minutes.", "到最近该类设施的出行时间（秒，32位浮点，精确到1毫秒）；检索时限内无法到达时为空"),
    ("cells.parquet", "why_unreachable_<mode>", "",
     "Why the cell cannot use the mode's roads (no road within the snap limit, or a disconnected road fragment); "
     "empty when it can.", "无法接入该出行方式道路的原因（吸附距离内无道路或位于孤立道路碎片）；可接入时为空"),
    ("cells.parquet", "completeness_<circle>", "0-1", "Service completeness: share of the circle's services within "
     "its limit.", "设施完备度：限值内可到达的该生活圈服务项比例"),
    ("cells.parquet", "in_<circle>", "bool", "Every service of the circle is within its limit.",
     "是否在该生活圈内（所有服务项均在限值内）"),
    ("cells.parquet", "t_<circle>", "s",
     "Binding time: the longest of the times to the circle's services (32-bit float; in_<circle> was decided on "
     "the full-precision time); empty when some service is unreachable.",
     "生活圈约束时间（各服务项时间的最大值，秒，32位浮点；是否在圈内按全精度时间判定）；有服务项无法到达时为空"),
    ("cells.parquet", "missing_<circle>", "", "Services of the circle not within its limit, comma-separated keys.",
     "限值内缺少的服务项（逗号分隔）"),
    ("cells.parquet", "in_<circle>__<service>", "bool", "That service of the circle is within the limit.",
     "该服务项是否在限值内"),
    ("coverage_county.csv, coverage_township.csv", "code, name", "",
     "Unit code and name; the last row has code 'total' for the whole study.", "区划代码与名称；最后一行为研究区合计"),
    ("coverage_county.csv, coverage_township.csv", "population", "persons", "Residents of the unit.", "人口"),
    ("coverage_county.csv, coverage_township.csv", "unreachable_<mode>", "persons",
     "Persons in cells not snapped to the mode's roads.", "无法接入该出行方式道路的人口"),
    ("coverage_county.csv, coverage_township.csv", "covered_<circle>, share_<circle>", "persons, 0-1",
     "Persons inside the circle and their share of the circle's persons.", "生活圈覆盖人口与覆盖率"),
    ("coverage_county.csv, coverage_township.csv", "t50_<circle>, t90_<circle>", "s",
     "Population-weighted median and 90th percentile of the binding time; empty when that share of persons "
     "cannot reach every service within search_minutes.",
     "约束时间的人口加权中位数与第90百分位（秒）；该比例人口无法到达全部服务时为空"),
    ("coverage_county.csv, coverage_township.csv", "covered_<circle>__<category>, share_<circle>__<category>",
     "persons, 0-1", "Persons whose own time to the category is within the circle's limit.",
     "到该类设施时间在限值内的人口与比例"),
    ("coverage_county.csv, coverage_township.csv", "scope_<circle>, demand_<circle>, population_<circle>",
     "persons", "The circle's scope (urban, rural, all), demand group, and persons of that group in scope: the "
     "denominator of its shares.", "生活圈适用范围、服务人群及范围内该人群人口（覆盖率的分母）"),
    ("coverage_county.csv, coverage_township.csv", "completeness_<circle>", "0-1",
     "Population-weighted mean service completeness.", "人口加权平均设施完备度"),
    ("coverage_county.csv, coverage_township.csv",
     "population_<circle>__<service>, covered_<circle>__<service>, share_<circle>__<service>", "persons, 0-1",
     "Per service of the circle, in the service's own demand group: persons, persons within the limit, share.",
     "各服务项（按其服务人群）的人口、限值内人口与覆盖率"),
    ("coverage_county.csv, coverage_township.csv", "outside_any_circle", "persons",
     "Persons outside at least one circle that applies to them, each counted once.",
     "至少缺一个适用生活圈的人口（不重复计）"),
    ("headline.csv", "circle, scope, demand, population, covered, outside, share", "persons, 0-1",
     "Headline per circle, each person counted once; the row 'any' counts persons outside at least one circle "
     "that applies to them.", "各生活圈主要指标（每人只计一次）；any 行为至少缺一个适用生活圈的人口"),
    ("completeness_township.csv", "level, code, name, circle, scope, demand, services, within", "",
     "Distribution of service completeness per unit: persons reaching 'within' of the circle's 'services'.",
     "各单元设施完备度分布：可到达 within 项（共 services 项）服务的人口"),
    ("completeness_township.csv", "completeness, persons, share", "0-1, persons, 0-1",
     "Completeness of the class, its persons and their share of the unit's persons in scope.",
     "该档完备度、人口及其占比"),
    ("equity.csv", "circle, scope, demand, measure, services, population", "persons",
     "Inequality of the circle's measure (service completeness per cell) over the persons of its scope and group.",
     "公平性指标的对象：生活圈、适用范围、服务人群、度量（设施完备度）、服务项数、人口"),
    ("equity.csv", "mean, share_complete, gini, theil, theil_between, theil_within, palma", "",
     "Weighted mean, share with every service, Gini, Theil T and its between/within-county parts, Palma ratio.",
     "加权平均、全部服务可达比例、基尼系数、泰尔指数（县间/县内）、帕尔玛比值"),
    ("equity.csv", "urban_mean, rural_mean, urban_rural_gap", "", "Mean in urban and rural cells and their gap.",
     "城镇与乡村平均值及其差距"),
    ("gaps.csv", "circle, gap_id, rank, scope, township, township_name, missing, population, cells", "persons",
     "The gap areas of gaps.gpkg without geometry, ranked within each circle.", "服务缺口列表（不含几何），按生活圈排序"),
    ("gaps.csv", "t_median_s, unreachable_population", "s, persons",
     "Median current time to the missing services (empty when unreachable); persons with no route.",
     "现状中位时间（秒，无法到达时为空）；无法到达人口"),
    ("gaps.csv, gaps.gpkg", "pop_<group>", "persons", "Persons of each demand group in the gap.",
     "缺口内各服务人群人口"),
    ("gaps.csv", "pop_missing__<service>, t_<service>_s", "persons, s",
     "Per missing service: persons lacking it and their median current time to it.",
     "各缺少服务项的人口及其现状中位时间（秒）"),
    ("gaps.csv", "nearest_<service>, nearest_name_<service>", "",
     "Id and name of the nearest existing facility of that service.", "最近现有设施的编号与名称"),
    ("categories.csv", "raw, key, rule, count", "facilities",
     "How each raw facility type was matched to a canonical category (or dropped), the rule that decided, how many.",
     "原始设施类别与标准类别的对应（或舍弃）、判定依据及数量"),
    ("township_rules.csv", "label_zh", "", "The rule in Chinese.", "配置要求（中文）"),
    ("township_rules.csv", "code, name, rule, found, required", "facilities",
     "Townships failing a per-township rule: facilities found and required.", "未满足乡镇配置要求的乡镇：现有与要求数量"),
    ("supply_township.csv", "target", "", "Target name ([[targets]] of the scenario).", "千人指标名称"),
    ("supply_township.csv", "demand, township, population", "persons",
     "Demand group the ratio is per 1,000 of, township code, and persons of that group.",
     "千人指标所对应的服务人群、乡镇代码及该人群人口"),
    ("supply_township.csv", "per_1000, target_per_1000", "capacity per 1,000 persons",
     "2SFCA supply, population-weighted over the township, and the target.", "两步移动搜寻法千人供给（人口加权）与目标"),
    ("supply_township.csv", "shortfall_per_1000, supply_needed", "capacity per 1,000 persons, capacity",
     "Shortfall below the target (0 when met) and the capacity needed to meet it.", "低于目标的千人缺口与需新增的规模"),
    ("capacity_township.csv", "target, township, township_name, population", "persons",
     "Capacity-aware coverage of a target with allocate = true, per township.", "按设施容量分配的覆盖（各乡镇）"),
    ("capacity_township.csv", "in_reach, served, crowded_out, share_in_reach, share_served", "persons, 0-1",
     "Persons with a facility within the limit (capacity-free), served within limit and capacity, the difference, "
     "and their shares of the population.", "限值内可达人口、在限值与容量内获得服务的人口、二者之差及其比例"),
    ("capacity_facilities.csv", "target, id, name, category, township_name", "", "The target's facility.",
     "设施编号、名称、类别及所在乡镇"),
    ("capacity_facilities.csv", "capacity, persons_per_unit, capacity_persons", "units, persons",
     "Capacity in units (beds, places), persons one unit serves (1,000 / per_1000), capacity in persons.",
     "容量（床位、学位等）、每单位服务人数、折算服务人口"),
    ("capacity_facilities.csv", "demand_in_reach, demand_nearest, load, utilisation", "persons, 0-1",
     "Persons within the limit, persons for whom it is the nearest, persons served, load over capacity.",
     "限值内人口、以其为最近设施的人口、实际服务人口、负荷率"),
    ("capacity_facilities.csv", "shortfall_persons, oversubscribed", "persons, bool",
     "Persons for whom it is the nearest beyond its capacity, and whether there are any.", "超出容量的人口及是否超负荷"),
    ("cells.parquet", "served_<target>", "persons", "Persons of the cell served within the limit and capacity.",
     "在限值与容量内获得服务的人口"),
    ("gaps.gpkg", "circle, gap_id, rank", "", "Gap area of a circle, ranked by persons within the circle.",
     "生活圈服务缺口及其排序"),
    ("gaps.gpkg", "population, cells, unreachable_population", "persons, cells",
     "Persons and cells in the gap; persons with no route to a missing service.", "缺口人口、格网数、无法到达人口"),
    ("gaps.gpkg", "missing, township, township_name", "", "Missing services and the gap's township.",
     "缺少的服务项与所在乡镇"),
    ("gaps.gpkg", "t_median_s", "s", "Median current time to the missing services; empty when unreachable.",
     "到缺少服务的现状中位时间（秒）；无法到达时为空"),
    ("service_areas.gpkg", "county, county_name, circle, category, facilities, minutes", "min",
     "Area of the county reachable from the category's facilities (all of the study's) within the circle's limit; "
     "one row per county, the counties' pieces never overlap.",
     "县域内限值内可从该类设施（全研究区）到达的区域；每县一行，各县互不重叠"),
    ("coverage.xlsx", "(all sheets)", "persons, min, %",
     "The tables above for people: headers in the chosen language, whole persons, minutes to 0.1, blank for "
     "unreachable with an explicit column of persons unreachable.",
     "供规划人员使用的表格：所选语言表头、整数人口、分钟（保留一位小数）、无法到达者留空并单列人数"),
    ("run.json", "accounting", "rows, persons", "What each input read, kept and dropped, with reasons.",
     "各输入数据读入、保留、剔除数量及原因"),
]


def dictionary_table(files=None) -> pd.DataFrame:
    """The dictionary as a table (``file``, ``column``, ``unit``, ``description``, ``说明``).

    Parameters
    ----------
    files : iterable of str, optional
        Keep only entries describing these file names.
    """
    df = pd.DataFrame(ENTRIES, columns=["file", "column", "unit", "description", "说明"])
    if files is not None:
        names = set(files)
        df = df[[any(f.strip() in names for f in row.split(",")) for row in df["file"]]]
    return df.reset_index(drop=True)


def write_dictionary(path, files=None) -> Path:
    """Write ``data_dictionary.csv`` (UTF-8 with BOM, for Excel)."""
    path = Path(path)
    dictionary_table(files).to_csv(path, index=False, encoding="utf-8-sig")
    return path
