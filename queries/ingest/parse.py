"""Vectorised parsing of the value forms departments use: text, numbers, times, vocabulary terms,
yes/no flags. Each parser returns the parsed Series and a boolean mask of values it could not take
(missing values are not "bad": whether a field may be empty is decided by the caller).
"""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from queries.vocab import Term, lookup

SOURCE_TIMEZONE = "Asia/Shanghai"  # naive times from Chinese departments are Beijing time
MISSING_MARKERS = ("", "-", "--", "—", "——", "/", "na", "n/a", "nan", "nat", "null", "none", "#n/a")
EARLIEST_PLAUSIBLE = pd.Timestamp("1970-01-01", tz="UTC")
FUTURE_MARGIN = pd.Timedelta(days=400)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_EXCEL_SERIAL_RANGE = (25569, 73051)  # 1970-01-01 … 2100-01-01
_DATE_PART = r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)(?:\s*日)?(?:\s+|(?=\d)|$)"
_CHINESE_TIME = re.compile(r"(\d{1,2})\s*[时點点]\s*(?:(\d{1,2})\s*分)?\s*(?:(\d{1,2})\s*秒)?")
_ZONE_SUFFIX = re.compile(r"\d\s*(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)$", re.IGNORECASE)
_COMPACT_FORMATS = {14: "%Y%m%d%H%M%S", 12: "%Y%m%d%H%M", 8: "%Y%m%d"}
TRUE_WORDS = ("1", "true", "t", "yes", "y", "是", "有", "已", "对", "√")
FALSE_WORDS = ("0", "false", "f", "no", "n", "否", "无", "未", "不", "×")


def as_text(series: pd.Series) -> pd.Series:
    """Stripped strings (object dtype) with None for missing; integral floats lose their '.0'."""
    if pd.api.types.is_bool_dtype(series):
        return series.map(lambda v: None if pd.isna(v) else ("1" if v else "0")).astype(object)
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
        integral = np.isfinite(values) & (values == np.round(values)) & (values.abs() < 1e15)
        out = values.map(repr).astype(object)
        out[integral] = values[integral].astype("int64").astype(str)
        out[values.isna()] = None
        return out
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.map(lambda v: None if pd.isna(v) else v.isoformat()).astype(object)
    if series.dtype == object:
        series = series.map(_scalar_text)
    text = series.astype("string").str.strip()
    missing = text.isna() | text.str.lower().isin(MISSING_MARKERS)
    out = text.astype(object)
    out[missing.to_numpy(dtype=bool)] = None
    return out


def _scalar_text(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Floats; accepts '1,234.5' and full-width digits. Returns (values, bad)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype(float)
        return values, pd.Series(False, index=series.index)
    text = as_text(series)
    present = text.notna()
    cleaned = text.astype("string").str.replace(",", "", regex=False).str.replace("，", "", regex=False)
    cleaned = cleaned.str.translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-"))
    values = pd.to_numeric(cleaned, errors="coerce").astype(float)
    bad = present & values.isna()
    return values, bad


def parse_bools(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = as_text(series).map(lambda v: None if v is None else v.lower())
    values = pd.Series(None, index=series.index, dtype=object)
    values[text.isin(TRUE_WORDS)] = True
    values[text.isin(FALSE_WORDS)] = False
    bad = text.notna() & values.isna()
    return values, bad


def parse_terms(series: pd.Series, terms: tuple[Term, ...], extra: dict[str, str] | None = None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Vocabulary codes for Chinese/English names, aliases, codes (and ``extra`` raw→code).

    Lookup runs once per distinct value, so a 100k-row column costs a handful of lookups.
    Returns (codes, bad, raw text).
    """
    text = as_text(series)
    mapping: dict[str, str | None] = {}
    for value in text.dropna().unique():
        key = str(value)
        term = lookup(terms, key)
        if term is None and extra:
            code = extra.get(key.lower())
            mapping[key] = code
            continue
        if term is None and re.fullmatch(r"\d+\.0+", key):
            term = lookup(terms, key.split(".")[0])
        mapping[key] = term.code if term else None
    codes = text.map(mapping).astype(object)
    codes[text.isna()] = None
    bad = text.notna() & codes.isna()
    return codes, bad, text


def parse_times(series: pd.Series, *, spreadsheet: bool = False, z_is_local: bool = False, now: pd.Timestamp | None = None) -> tuple[pd.Series, pd.Series]:
    """Aware UTC timestamps from the forms departments write; naive times are Asia/Shanghai.

    Accepted: '2026-11-21 08:30:00', '2026/11/21 8:30', '2026年11月21日 8时30分', ISO 8601 with
    'Z' or an offset, compact '20261121083000', Unix epoch seconds/milliseconds, datetime cells,
    and in spreadsheets Excel serial day numbers. Implausible times (before 1970, more than
    ~a year ahead) count as bad. Returns (times, bad).
    """
    index = series.index
    result = pd.Series(pd.NaT, index=index, dtype="datetime64[us, UTC]")
    if pd.api.types.is_datetime64_any_dtype(series):
        result[:] = _localise(pd.DatetimeIndex(series))
        return _plausible(result, series.notna(), now)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype(float)
        result[:] = _from_numbers(numbers, spreadsheet)
        return _plausible(result, series.notna(), now)

    values = series.astype(object) if series.dtype != object else series
    is_datetime = values.map(lambda v: isinstance(v, (dt.datetime, dt.date, pd.Timestamp)))
    if is_datetime.any():
        moments = pd.to_datetime(values[is_datetime].map(lambda v: v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)))
        result[is_datetime] = _localise(pd.DatetimeIndex(moments))
    is_number = values.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool))
    if is_number.any():
        result[is_number] = _from_numbers(values[is_number].astype(float), spreadsheet)
    rest = ~(is_datetime | is_number)
    text = as_text(values[rest])
    present_rest = text.notna()
    if present_rest.any():
        parsed = _from_text(text, spreadsheet=spreadsheet, z_is_local=z_is_local)
        result.iloc[np.flatnonzero(rest.to_numpy(dtype=bool))] = parsed.array
    present = pd.Series(False, index=index)
    present[is_datetime | is_number] = True
    present[text.index[present_rest.to_numpy()]] = True
    return _plausible(result, present, now)


def _localise(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    if index.tz is None:
        index = index.tz_localize(SOURCE_TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    return index.tz_convert("UTC").as_unit("us")


def _from_numbers(numbers: pd.Series, spreadsheet: bool):
    """Excel serial days (spreadsheets) or Unix epoch seconds/milliseconds → aware UTC values."""
    numbers = pd.Series(np.asarray(numbers, dtype=float))
    if spreadsheet:
        serial = numbers.where((numbers >= _EXCEL_SERIAL_RANGE[0]) & (numbers <= _EXCEL_SERIAL_RANGE[1]))
        local = (_EXCEL_EPOCH + pd.to_timedelta(serial.round(6), unit="D")).dt.round("s")
        return _localise(pd.DatetimeIndex(local)).array
    seconds = numbers.where(numbers.between(1e9, 5e9))
    millis = numbers.where(numbers.between(1e12, 5e12))
    epoch = pd.to_datetime(seconds.fillna(millis / 1000.0), unit="s", utc=True).dt.as_unit("us")
    return pd.DatetimeIndex(epoch).array


def _from_text(text: pd.Series, *, spreadsheet: bool, z_is_local: bool) -> pd.Series:
    # Fast path: most files use ISO-like dates with '-' or '/'; only what fails that gets the
    # (slower) regex normalisation of Chinese date/time forms.
    normalised = text.astype("string").str.replace("/", "-", regex=False)
    if z_is_local:
        normalised = normalised.str.replace(r"Z$", "", regex=True)
    out = _parse_normalised(normalised, spreadsheet)
    retry = normalised.notna().to_numpy(dtype=bool) & np.isnat(out)
    if retry.any():
        again = normalised[retry].str.replace(_DATE_PART, r"\1-\2-\3 ", regex=True)
        again = again.str.replace(
            _CHINESE_TIME, lambda m: f"{m.group(1)}:{m.group(2) or '00'}:{m.group(3) or '00'}", regex=True
        )
        again = again.str.replace(r"\s+", " ", regex=True).str.strip()
        again = again.str.replace(r"\s*(UTC|GMT)$", "+00:00", regex=True, case=False)
        out[retry] = _parse_normalised(again, spreadsheet)
    return pd.Series(pd.DatetimeIndex(out).tz_localize("UTC"), index=text.index)


def _parse_normalised(normalised: pd.Series, spreadsheet: bool) -> np.ndarray:
    """UTC wall times as datetime64[us] (NaT where unparseable)."""
    values = normalised.to_numpy(dtype=object, na_value=None)
    present = normalised.notna().to_numpy(dtype=bool)
    zoned = normalised.str.contains(_ZONE_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    digits = normalised.str.fullmatch(r"\d+(\.\d+)?").fillna(False).to_numpy(dtype=bool)
    lengths = normalised.str.len().fillna(0).to_numpy(dtype=int)
    naive = present & ~zoned & ~digits
    out = np.full(len(values), np.datetime64("NaT", "us"), dtype="datetime64[us]")  # UTC wall time
    if zoned.any():
        parsed = pd.to_datetime(pd.Series(values[zoned]), format="ISO8601", errors="coerce", utc=True)
        out[zoned] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    if naive.any():
        parsed = pd.to_datetime(pd.Series(values[naive]), format="ISO8601", errors="coerce")
        out[naive] = _localise(pd.DatetimeIndex(parsed)).tz_localize(None).to_numpy(dtype="datetime64[us]")
    for length, fmt in _COMPACT_FORMATS.items():
        compact = digits & (lengths == length)
        if compact.any():
            parsed = pd.to_datetime(pd.Series(values[compact]), format=fmt, errors="coerce")
            out[compact] = _localise(pd.DatetimeIndex(parsed)).tz_localize(None).to_numpy(dtype="datetime64[us]")
    numeric = digits & ~np.isin(lengths, list(_COMPACT_FORMATS))
    if numeric.any():
        numbers = pd.to_numeric(pd.Series(values[numeric]), errors="coerce").astype(float)
        converted = pd.Series(_from_numbers(numbers, spreadsheet))
        out[numeric] = pd.to_datetime(converted, utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return out


def _plausible(times: pd.Series, present: pd.Series, now: pd.Timestamp | None) -> tuple[pd.Series, pd.Series]:
    now = now or pd.Timestamp.now(tz="UTC")
    implausible = times.notna() & ((times < EARLIEST_PLAUSIBLE) | (times > now + FUTURE_MARGIN))
    bad = (present & times.isna()) | implausible
    times = times.where(~implausible)
    return times, bad.astype(bool)


def latest_plausible() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC") + FUTURE_MARGIN
