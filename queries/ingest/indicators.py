"""Indicators: definitions (code, names, unit, domain, thresholds…) and/or values per area and time."""
from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, or_, select

from queries import vocab
from queries.ingest.common import (
    Context,
    DatasetDefaults,
    close_dataset,
    dedupe_keys,
    newest_time,
    open_dataset,
    write,
)
from queries.ingest.fields import INDICATOR_DEFINITION_FIELDS, INDICATOR_VALUE_FIELDS
from queries.schema import Area, Indicator, IndicatorValue

INDICATOR_DATASET = DatasetDefaults("stats.indicator_values", "城市运行指标", "City operation indicators", "统计局", "Statistics Bureau", "daily")
DIRECTIONS = {
    "up": "up", "down": "down", "neutral": "neutral", "越大越好": "up", "越小越好": "down", "正向": "up", "负向": "down",
    "适中": "neutral", "中性": "neutral", "higher": "up", "lower": "down",
}
AGGREGATION_ALIASES = {"求和": "sum", "合计": "sum", "平均": "mean", "均值": "mean", "最大": "max", "最小": "min", "最新": "last", "加权平均": "weighted_mean"}


def validate_definitions(ctx: Context) -> pd.DataFrame:
    ctx.match(INDICATOR_DEFINITION_FIELDS)
    parsed = ctx.parse(INDICATOR_DEFINITION_FIELDS)
    ctx.require(parsed, ("code", "name_zh", "domain"))
    if "name_en" not in parsed:
        parsed["name_en"] = None
    parsed["name_en"] = parsed["name_en"].astype(object).where(parsed["name_en"].notna(), parsed["code"])
    if "good_direction" in parsed:
        direction = parsed["good_direction"].map(lambda v: None if v is None else DIRECTIONS.get(str(v).lower()))
        bad = parsed["good_direction"].notna() & direction.isna()
        ctx.flag(bad, "good_direction", lambda p: f"{ctx.raw_value('good_direction', p)} is not a direction (up/down/neutral, 越大越好/越小越好)")
        parsed["good_direction"] = direction.fillna("neutral")
    if "aggregation" in parsed:
        aggregation = parsed["aggregation"].map(lambda v: None if v is None else AGGREGATION_ALIASES.get(v, v.lower() if v.lower() in vocab.AGGREGATIONS else None))
        bad = parsed["aggregation"].notna() & aggregation.isna()
        ctx.flag(bad, "aggregation", lambda p: f"{ctx.raw_value('aggregation', p)} is not an aggregation ({'/'.join(vocab.AGGREGATIONS)})")
        parsed["aggregation"] = aggregation.fillna("sum")
    return dedupe_keys(ctx, parsed, ["code"], "indicator code")


def validate_values(ctx: Context, conn: Connection, defined: set[str]) -> pd.DataFrame:
    ctx.match(INDICATOR_VALUE_FIELDS)
    parsed = ctx.parse(INDICATOR_VALUE_FIELDS)
    ctx.require(parsed, ("indicator_code", "area_code", "ts", "value"))
    codes = [c for c in parsed["indicator_code"].dropna().unique()]
    known = set(defined)
    known.update(conn.execute(select(Indicator.code).where(Indicator.code.in_(codes))).scalars() if codes else [])
    unknown = parsed["indicator_code"].notna() & ~parsed["indicator_code"].isin(known)
    ctx.flag(unknown, "indicator_code", lambda p: f"unknown indicator {parsed['indicator_code'].iloc[p]!r} (define it with --definitions or in the catalogue first)")
    # Areas by code, or by a 14-digit legacy grid code stored in legacy_code.
    areas = [a for a in parsed["area_code"].dropna().unique()]
    by_code: dict[str, str] = {}
    for start in range(0, len(areas), 5000):
        part = areas[start : start + 5000]
        for code, legacy in conn.execute(select(Area.code, Area.legacy_code).where(or_(Area.code.in_(part), Area.legacy_code.in_(part)))).all():
            by_code[code] = code
            if legacy:
                by_code[legacy] = code
    area = parsed["area_code"].map(by_code)
    missing = parsed["area_code"].notna() & area.isna()
    ctx.flag(missing, "area_code", lambda p: f"unknown area code {parsed['area_code'].iloc[p]!r} (not among the loaded areas)")
    parsed["area_code"] = area
    return dedupe_keys(ctx, parsed, ["indicator_code", "area_code", "ts"], "indicator, area and time")


def write_indicators(conn: Connection, definition_ctx: Context | None, definitions: pd.DataFrame | None, value_ctx: Context | None, values: pd.DataFrame | None) -> None:
    report = (value_ctx or definition_ctx).report
    code = open_dataset(conn, (value_ctx or definition_ctx).options, INDICATOR_DATASET, report)
    if definitions is not None and len(definitions):
        definitions = definitions.assign(dataset_code=code)
        write(conn, Indicator.__table__, definitions, ["code"], report)
        report.extra["indicator definitions"] = len(definitions)
    if values is not None:
        write(conn, IndicatorValue.__table__, values, ["indicator_code", "area_code", "ts"], report)
    table = IndicatorValue.__table__ if values is not None else Indicator.__table__
    close_dataset(conn, code, table, report, newest_time(values, ("ts",)) if values is not None else None, by_dataset=values is None)
