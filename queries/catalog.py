"""The resource catalogue as the /catalog page shows it: every dataset with its freshness and the
rule behind it, every indicator with its definition, which panels read which dataset, and the
filter and search over them.

Reads are small and cached (``@cached``): the catalogue tables only, never the data tables. A
dataset's row count is the catalogue's own ``datasets.row_count``, kept by every import and feed
batch (``queries.writes.record_change``), so showing it costs nothing however large the table.
Freshness depends on the time of the view, so it is computed on the cached rows (``with_freshness``).

Which panels read a dataset: the app knows what each panel type reads (tables, indicators, named
datasets — ``PanelRead``); ``panel_usage`` maps that onto catalogue datasets through
``dataset_tables`` and the indicators' source datasets, the way a panel's own freshness footer does.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, select

from queries.cache import cached
from queries.db import read_frame
from queries.freshness import FRESH_GRACE, FRESHNESS_STATES, LATE_LIMIT, freshness_of
from queries.schema import Dataset, DatasetTable, Indicator
from queries.specs.store import SPECS_DATASET
from queries.vocab import UPDATE_CYCLE_SECONDS

DATASET_COLUMNS = ["code", "name", "name_en", "provider", "provider_en", "sharing_type", "update_cycle", "last_update_at", "row_count",
                   "version", "description"]
INDICATOR_COLUMNS = ["code", "name_zh", "name_en", "unit", "domain", "good_direction", "warn_threshold", "alarm_threshold", "aggregation",
                     "description", "dataset_code", "dataset_name", "dataset_name_en", "provider", "provider_en"]
USAGE_COLUMNS = ["dataset_code", "kind", "spec_id", "scene", "panel", "panel_type"]
MAX_SEARCH_LENGTH = 100


@cached(tables=("datasets",))
def catalogue_datasets(conn: Connection) -> pd.DataFrame:
    """Every dataset of the resource catalogue (not cityops's own system entry for specs), by code."""
    stmt = select(*(getattr(Dataset, c) for c in DATASET_COLUMNS)).where(Dataset.code != SPECS_DATASET).order_by(Dataset.code)
    return read_frame(conn, stmt, DATASET_COLUMNS)


def _utc(value) -> dt.datetime | None:
    if value is None or pd.isna(value):  # None, NaT (a datetime itself) or NaN
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def with_freshness(frame: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """The catalogue rows with ``freshness`` (fresh / late / stale / unknown, ``queries.freshness``),
    ``age_s`` and the rule that decided it: fresh while the age is within ``fresh_within_s``
    (1.5 update cycles), late within ``late_within_s`` (3 cycles), stale beyond; None for datasets
    updated irregularly."""
    frame = frame.copy()
    times = [_utc(value) for value in frame["last_update_at"]] if len(frame) else []
    cycles = [UPDATE_CYCLE_SECONDS.get(cycle) for cycle in frame["update_cycle"]] if len(frame) else []
    frame["age_s"] = pd.Series([None if moment is None else (now - moment).total_seconds() for moment in times], index=frame.index, dtype=object)
    frame["freshness"] = pd.Series([freshness_of(cycle, moment, now) for cycle, moment in zip(frame["update_cycle"], times)],
                                   index=frame.index, dtype=object)
    frame["fresh_within_s"] = pd.Series([None if s is None else s * FRESH_GRACE for s in cycles], index=frame.index, dtype=object)
    frame["late_within_s"] = pd.Series([None if s is None else s * LATE_LIMIT for s in cycles], index=frame.index, dtype=object)
    return frame


@cached(tables=("indicators", "datasets"))
def catalogue_indicators(conn: Connection) -> pd.DataFrame:
    """Every indicator with its definition, unit, thresholds and source dataset, by code."""
    stmt = (
        select(Indicator.code, Indicator.name_zh, Indicator.name_en, Indicator.unit, Indicator.domain, Indicator.good_direction,
               Indicator.warn_threshold, Indicator.alarm_threshold, Indicator.aggregation, Indicator.description, Indicator.dataset_code,
               Dataset.name, Dataset.name_en, Dataset.provider, Dataset.provider_en)
        .outerjoin(Dataset, Dataset.code == Indicator.dataset_code)
        .order_by(Indicator.code)
    )
    return read_frame(conn, stmt, INDICATOR_COLUMNS)


@cached(tables=("dataset_tables", "indicators", "datasets"))
def dataset_links(conn: Connection) -> dict:
    """What leads from a panel to catalogue datasets: ``tables`` (table → the datasets whose rows
    are in it, from ``dataset_tables``) and ``indicators`` (indicator → its source dataset or None)."""
    tables: dict[str, list[str]] = {}
    for code, table in conn.execute(select(DatasetTable.dataset_code, DatasetTable.table_name)
                                    .where(DatasetTable.dataset_code != SPECS_DATASET)
                                    .order_by(DatasetTable.table_name, DatasetTable.dataset_code)):
        tables.setdefault(table, []).append(code)
    indicators = {code: dataset for code, dataset in conn.execute(select(Indicator.code, Indicator.dataset_code).order_by(Indicator.code))}
    return {"tables": tables, "indicators": indicators}


@dataclass(frozen=True)
class PanelRead:
    """What one panel of a wall (or section of a briefing) reads: tables, indicators, named datasets."""

    kind: str  # wall | briefing
    spec_id: str
    scene: str  # the scene's id; for a briefing section its position ("0", "1"…)
    panel: str  # the panel's id; for a briefing section its type
    panel_type: str
    tables: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()


def panel_usage(links: dict, reads: Iterable[PanelRead], known: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, panel) a panel reads it through (``USAGE_COLUMNS``), in spec order.

    ``known`` limits the datasets to those codes (e.g. the catalogue's), dropping names a freshness
    panel gives that the catalogue does not have."""
    keep = None if known is None else set(known)
    rows, seen = [], set()
    for read in reads:
        codes: list[str] = []
        for table in read.tables:
            codes += links["tables"].get(table, [])
        codes += [links["indicators"][code] for code in read.indicators if links["indicators"].get(code)]
        codes += list(read.datasets)
        for code in dict.fromkeys(codes):
            key = (code, read.kind, read.spec_id, read.scene, read.panel)
            if (keep is not None and code not in keep) or key in seen:
                continue
            seen.add(key)
            rows.append({"dataset_code": code, "kind": read.kind, "spec_id": read.spec_id, "scene": read.scene, "panel": read.panel,
                         "panel_type": read.panel_type})
    return pd.DataFrame(rows, columns=USAGE_COLUMNS)


# --- filter and search --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogFilter:
    """What the page is asked to show: free text (every word must match: code, Chinese or English
    name, provider) and the datasets' freshness states, providers and sharing types (any of)."""

    search: str = ""
    freshness: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    sharing: tuple[str, ...] = ()

    @property
    def narrows_datasets(self) -> bool:
        return bool(self.freshness or self.providers or self.sharing)

    def terms(self) -> list[str]:
        return search_terms(self.search)


def search_terms(text: str | None) -> list[str]:
    return [term.casefold() for term in (text or "").split()]


def _matches(frame: pd.DataFrame, columns: Sequence[str], terms: list[str]) -> pd.Series:
    if frame.empty or not terms:
        return pd.Series(True, index=frame.index)
    haystack = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), "").astype(str).agg(" ".join, axis=1).str.casefold()
    mask = pd.Series(True, index=frame.index)
    for term in terms:
        mask &= haystack.str.contains(term, regex=False)
    return mask


DATASET_SEARCH_COLUMNS = ("code", "name", "name_en", "provider", "provider_en")
INDICATOR_SEARCH_COLUMNS = ("code", "name_zh", "name_en", "dataset_code")


def _dataset_mask(frame: pd.DataFrame, wanted: CatalogFilter) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    if wanted.freshness:
        mask &= frame["freshness"].isin(wanted.freshness)
    if wanted.providers:
        mask &= frame["provider"].isin(wanted.providers)
    if wanted.sharing:
        mask &= frame["sharing_type"].isin(wanted.sharing)
    return mask


def filter_datasets(datasets: pd.DataFrame, wanted: CatalogFilter) -> pd.DataFrame:
    """The datasets (``with_freshness`` rows) the filter keeps, in their order."""
    return datasets[_dataset_mask(datasets, wanted) & _matches(datasets, DATASET_SEARCH_COLUMNS, wanted.terms())]


def filter_indicators(indicators: pd.DataFrame, datasets: pd.DataFrame, wanted: CatalogFilter) -> pd.DataFrame:
    """The indicators whose own code or names match the search and, when the filter narrows the
    datasets (freshness, provider, sharing), whose source dataset it keeps."""
    mask = _matches(indicators, INDICATOR_SEARCH_COLUMNS, wanted.terms())
    if wanted.narrows_datasets:
        sources = set(datasets.loc[_dataset_mask(datasets, wanted), "code"])
        mask &= indicators["dataset_code"].isin(sources)
    return indicators[mask]


def providers(datasets: pd.DataFrame) -> list[dict]:
    """The providers of the catalogue (``provider``, ``provider_en``), each once, by Chinese name."""
    seen: dict[str, str | None] = {}
    for provider, english in zip(datasets["provider"], datasets["provider_en"]):
        if provider not in seen or (seen[provider] is None and isinstance(english, str)):
            seen[provider] = english if isinstance(english, str) else None
    return [{"provider": name, "provider_en": seen[name]} for name in sorted(seen)]


def freshness_counts(datasets: pd.DataFrame) -> dict[str, int]:
    """How many datasets are in each freshness state (every state present)."""
    counts = datasets["freshness"].value_counts().to_dict() if len(datasets) else {}
    return {state: int(counts.get(state, 0)) for state in FRESHNESS_STATES}


def finite(value) -> float | None:
    """A threshold or number from a frame as a float, None when missing (None / NaN)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number
