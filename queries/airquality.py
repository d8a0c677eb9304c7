"""Air quality index per HJ 633-2012, driven by a versioned breakpoint table (data, not code).

Tables live in ``queries/standards/aqi_*.json`` (vendored from the domain reference
hj633_2012_iaqi.json); a revision of the standard is a new file selected by its id, not new code.

Rules implemented (HJ 633-2012 Table 1 and its notes):
* IAQI_P = (IAQI_Hi − IAQI_Lo)/(BP_Hi − BP_Lo)·(C_P − BP_Lo) + IAQI_Lo, rounded up to an integer;
* a concentration above the top breakpoint caps at IAQI 500;
* SO2 1-h above 800 µg/m³: the 1-h table no longer applies, SO2 is rated by its 24-h IAQI;
* O3 8-h above 800 µg/m³: the 8-h table no longer applies, O3 is rated by its 1-h IAQI;
* AQI = max IAQI; above 50 the primary pollutant(s) are those with the largest IAQI (ties: all).

Which concentration feeds which table is the caller's choice: an hourly real-time AQI rates SO2,
NO2, CO and O3 by their 1-h values, O3 also by its 8-h moving average, and PM2.5/PM10 by their 24-h
moving averages (the national real-time feed's practice); a daily AQI uses the 24-h tables.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STANDARDS_DIR = Path(__file__).with_name("standards")
DEFAULT_STANDARD = "HJ633-2012"
POLLUTANT_TABLES = ("so2_24h", "so2_1h", "no2_24h", "no2_1h", "pm10_24h", "co_24h", "co_1h", "o3_1h", "o3_8h", "pm25_24h")
# Labels as the national feed prints the primary pollutant.
POLLUTANT_LABELS = {
    "so2_24h": ("二氧化硫", "SO2"), "so2_1h": ("二氧化硫", "SO2"),
    "no2_24h": ("二氧化氮", "NO2"), "no2_1h": ("二氧化氮", "NO2"),
    "pm10_24h": ("颗粒物(PM10)", "PM10"), "pm25_24h": ("细颗粒物(PM2.5)", "PM2.5"),
    "co_24h": ("一氧化碳", "CO"), "co_1h": ("一氧化碳", "CO"),
    "o3_1h": ("臭氧1小时", "O3 1-h"), "o3_8h": ("臭氧8小时", "O3 8-h"),
}


@dataclass(frozen=True)
class AqiLevel:
    low: int
    high: int | None
    level: str
    category: str
    colour_name: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class AqiStandard:
    id: str
    iaqi: tuple[float, ...]
    breakpoints: dict[str, tuple[float | None, ...]]
    levels: tuple[AqiLevel, ...]


def available_standards() -> dict[str, Path]:
    found = {}
    for path in sorted(STANDARDS_DIR.glob("aqi_*.json")):
        found[json.loads(path.read_text(encoding="utf-8"))["id"]] = path
    return found


@functools.cache  # an immutable table read from a versioned file: read it once per process
def load_standard(standard_id: str = DEFAULT_STANDARD) -> AqiStandard:
    paths = available_standards()
    if standard_id not in paths:
        raise KeyError(f"unknown AQI standard {standard_id!r}; available: {', '.join(paths)}")
    raw = json.loads(paths[standard_id].read_text(encoding="utf-8"))
    levels = tuple(
        AqiLevel(low=lv["aqi"][0], high=lv["aqi"][1], level=lv["level"], category=lv["category"], colour_name=lv["color"], rgb=tuple(lv["rgb"]))
        for lv in raw["levels"]
    )
    return AqiStandard(id=raw["id"], iaqi=tuple(raw["iaqi"]), breakpoints={k: tuple(raw[k]) for k in POLLUTANT_TABLES}, levels=levels)


def iaqi(standard: AqiStandard, table: str, concentration) -> np.ndarray:
    """Individual AQI of concentrations against one table; NaN where the table does not apply."""
    conc = np.asarray(concentration, dtype="float64")
    points = [(bp, ia) for bp, ia in zip(standard.breakpoints[table], standard.iaqi) if bp is not None]
    bps = np.array([p[0] for p in points])
    ias = np.array([p[1] for p in points])
    upper = np.clip(np.searchsorted(bps, conc, side="left"), 1, len(bps) - 1)
    lower = upper - 1
    value = (ias[upper] - ias[lower]) / (bps[upper] - bps[lower]) * (conc - bps[lower]) + ias[lower]
    value = np.where(conc > bps[-1], 500.0 if bps.size == len(standard.iaqi) else np.nan, value)
    value = np.where(np.isnan(conc) | (conc < 0), np.nan, value)
    # Round up, after trimming float noise so that a value exactly on a breakpoint stays there.
    return np.ceil(np.round(value, 6))


def iaqi_table(standard: AqiStandard, concentrations: dict[str, object]) -> dict[str, np.ndarray]:
    """IAQI per given table, with the HJ 633 substitutions for SO2 1-h and O3 8-h above 800."""
    result = {table: iaqi(standard, table, conc) for table, conc in concentrations.items()}
    if "so2_1h" in result:
        over = np.asarray(concentrations["so2_1h"], dtype="float64") > 800
        substitute = result.get("so2_24h", np.full(over.shape, np.nan))
        result["so2_1h"] = np.where(over, substitute, result["so2_1h"])
    if "o3_8h" in result:
        over = np.asarray(concentrations["o3_8h"], dtype="float64") > 800
        result["o3_8h"] = np.where(over, np.nan, result["o3_8h"])  # rated by the 1-h value instead
    return result


def aqi(standard: AqiStandard, concentrations: dict[str, object]) -> tuple[np.ndarray, list[list[str]]]:
    """AQI (float array, NaN where nothing was measured) and the primary pollutant tables per row."""
    tables = iaqi_table(standard, concentrations)
    names = list(tables)
    stacked = np.vstack([np.atleast_1d(tables[n]) for n in names])
    with np.errstate(all="ignore"):
        all_missing = np.all(np.isnan(stacked), axis=0)
        value = np.where(all_missing, np.nan, np.nanmax(np.where(np.isnan(stacked), -1, stacked), axis=0))
    primary = []
    for column, top in enumerate(value):
        if np.isnan(top) or top <= 50:
            primary.append([])
            continue
        hits = [names[row] for row in range(len(names)) if stacked[row, column] == top]
        # SO2 or O3 rated twice (two tables) is still one pollutant.
        primary.append(list(dict.fromkeys(hits)))
    return value, primary


def primary_label(tables: list[str], language: str = "zh") -> str | None:
    labels = list(dict.fromkeys(POLLUTANT_LABELS[t][0 if language == "zh" else 1] for t in tables))
    return ",".join(labels) if labels else None


def level_of(standard: AqiStandard, value: float) -> AqiLevel | None:
    if value is None or np.isnan(value):
        return None
    for level in standard.levels:
        if level.low <= value and (level.high is None or value <= level.high):
            return level
    return standard.levels[0] if value < standard.levels[0].low else None
