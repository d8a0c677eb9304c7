"""Import the files departments hand over: boundaries, incidents, 12345 work orders, readings,
indicators, emergency resources and roads, from GeoJSON, Shapefile, GeoPackage, CSV or XLSX.

Every import is atomic — the whole file is validated first and every problem collected (file,
row/feature and field named), then everything is written in one transaction together with the
catalogue entry and the data-version bump — and idempotent: rows are upserted by natural key.

    report = ingest_file(engine, "incidents", "incidents.csv", mapping={"severity": "等级"})
    print(report.render())

Live feeds go through the same path with a DataFrame: ``ingest_records(engine, "incidents",
frame, "110-feed", bus=bus)`` (``queries.ingest.live`` publishes what a batch committed).
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy.engine import Engine

from queries.ingest.common import Context, Options
from queries.ingest.fields import KIND_FIELDS, help_text, parse_mapping_options
from queries.ingest.read import SUPPORTED, SourceTable, read_source
from queries.ingest.report import IngestError, IngestReport

KINDS = ("boundaries", "incidents", "workorders", "readings", "indicators", "resources", "roads")

__all__ = ["KINDS", "KIND_FIELDS", "SUPPORTED", "IngestError", "IngestReport", "Options", "help_text", "ingest_file", "ingest_records", "parse_mapping_options"]


def ingest_file(engine: Engine, kind: str, path, **options) -> IngestReport:
    """Validate ``path`` as ``kind`` and write it in one transaction; raises ``IngestError``.

    Options: mapping {target: column}, crs, encoding, sheet, layer, dataset, provider, level,
    parent (boundaries), reading_type (readings), definitions (indicators: a definitions file;
    ``path`` may then be None), z_is_local, dry_run.
    """
    if kind not in KINDS:
        raise IngestError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    opts = Options(**options)
    if kind == "indicators":
        return _ingest_indicators(engine, path, opts)
    if path is None:
        raise IngestError(f"ingest {kind}: no file given")
    source = read_source(path, encoding=opts.encoding, sheet=opts.sheet, layer=opts.layer)
    return _ingest_source(engine, kind, source, opts)


def ingest_records(engine: Engine, kind: str, frame, source_name: str, *, bus=None, after_write=None, **options) -> IngestReport:
    """Validate and write a live feed's records exactly as a file of ``kind`` would be.

    ``frame`` is a pandas DataFrame whose columns are matched like a file's (``mapping`` works
    too); problems name ``source_name`` and the record number (1-based). ``after_write(conn,
    report)`` runs in the same transaction once the records are written (e.g. lifecycle rows of
    a feed). With a ``bus`` (``queries.bus``), the committed incidents and the data-version bump
    are published after the commit; a failed publish never fails the import.
    """
    import numpy as np
    import pandas as pd

    if kind not in KINDS or kind == "indicators":
        raise IngestError(f"ingest_records: kind {kind!r} is not supported; one of {', '.join(k for k in KINDS if k != 'indicators')}")
    if not isinstance(frame, pd.DataFrame):
        raise IngestError(f"{source_name}: records must be a pandas DataFrame, not {type(frame).__name__}")
    opts = Options(**options)
    table = frame.reset_index(drop=True)
    table.columns = [str(c).strip() for c in table.columns]
    source = SourceTable(source_name, table, np.arange(len(table)) + 1, "record", "records")
    return _ingest_source(engine, kind, source, opts, after_write=after_write, bus=bus)


@contextmanager
def _one_transaction(engine: Engine, report: IngestReport):
    """The connection an import writes through: everything commits together, or nothing does.

    A failure rolls back; a dry run validates and writes, then rolls back and reports no version.
    """
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        if report.dry_run:
            transaction.rollback()
            report.data_version = None
        else:
            transaction.commit()


def _ingest_source(engine: Engine, kind: str, source: SourceTable, opts: Options, *, after_write=None, bus=None) -> IngestReport:
    report = IngestReport(kind=kind, file=source.name, rows_read=len(source), notes=list(source.notes), dry_run=opts.dry_run)
    if len(source) == 0:
        raise IngestError(f"{source.name}: no data rows")
    handler = _handler(kind)
    batch = None
    with _one_transaction(engine, report) as conn:
        if bus is not None or kind == "incidents":
            from queries.bus import BatchEvents

            batch = BatchEvents.before_write(conn, _incident_ids(source, opts) if kind == "incidents" else None, publishing=bus is not None)
        handler(conn, Context(source, opts, report))
        if after_write is not None:
            after_write(conn, report)
        if batch is not None and not opts.dry_run:
            # Notes the new incident ids in the change log (for the watcher) and builds the
            # events from the rows as committed.
            batch.after_write(conn, report.data_version)
    if bus is not None and batch is not None and not opts.dry_run:
        batch.publish(bus)
    return report


def _incident_ids(source: SourceTable, opts: Options) -> list[str]:
    """The incident ids of a source, matched as the incidents handler will match them."""
    from queries.ingest.fields import INCIDENT_FIELDS, match_columns
    from queries.ingest.parse import as_text

    column = match_columns(INCIDENT_FIELDS, source.frame.columns, opts.mapping, source.name).get("id")
    if column is None:
        return []
    return [v for v in as_text(source.frame[column]).dropna().unique()]


def _handler(kind: str):
    if kind == "boundaries":
        from queries.ingest.boundaries import ingest_boundaries

        return ingest_boundaries
    if kind == "incidents":
        from queries.ingest.points import ingest_incidents

        return ingest_incidents
    if kind == "workorders":
        from queries.ingest.points import ingest_work_orders

        return ingest_work_orders
    if kind == "resources":
        from queries.ingest.points import ingest_resources

        return ingest_resources
    if kind == "roads":
        from queries.ingest.roads import ingest_roads

        return ingest_roads
    from queries.ingest.readings import ingest_readings

    return ingest_readings


def _ingest_indicators(engine: Engine, path, opts: Options) -> IngestReport:
    from queries.ingest.indicators import (
        validate_definitions,
        validate_values,
        write_indicators,
    )

    if path is None and not opts.definitions:
        raise IngestError("ingest indicators: give a values FILE and/or --definitions FILE")
    definition_source = read_source(opts.definitions, encoding=opts.encoding, sheet=opts.sheet, layer=opts.layer) if opts.definitions else None
    value_source = read_source(path, encoding=opts.encoding, sheet=opts.sheet, layer=opts.layer) if path is not None else None
    names = " + ".join(s.name for s in (definition_source, value_source) if s is not None)
    report = IngestReport(kind="indicators", file=names, dry_run=opts.dry_run)
    report.rows_read = sum(len(s) for s in (definition_source, value_source) if s is not None)
    with _one_transaction(engine, report) as conn:
        definition_ctx = value_ctx = None
        definitions = values = None
        problems = []
        if definition_source is not None:
            # --map applies to the values file; definitions are matched automatically.
            definition_ctx = Context(definition_source, Options(**{**opts.__dict__, "mapping": {}}), report)
            definitions = validate_definitions(definition_ctx)
            problems.append(definition_ctx.problems)
        if value_source is not None:
            value_ctx = Context(value_source, opts, report)
            defined = set(definitions["code"].dropna()) if definitions is not None else set()
            values = validate_values(value_ctx, conn, defined)
            problems.append(value_ctx.problems)
        merged = [m for p in problems for _, m in sorted(p.entries, key=lambda e: e[0])]
        total = sum(p.total for p in problems)
        if total:
            raise IngestError(merged, total=total)
        write_indicators(conn, definition_ctx, definitions, value_ctx, values)
    return report


def describe_kind(kind: str) -> str:
    """The target fields of ``kind`` for ``--help``."""
    if kind == "readings":
        return "\n".join(
            f"{title}:\n{help_text(KIND_FIELDS[key])}"
            for title, key in (("--type aq (aq_readings)", "readings:aq"), ("--type traffic (traffic_readings)", "readings:traffic"), ("--type water_level|water_quality|sensor (sensor_readings)", "readings:sensor"))
        )
    if kind == "indicators":
        return f"--definitions FILE:\n{help_text(KIND_FIELDS['indicators:definitions'])}\nvalues FILE:\n{help_text(KIND_FIELDS['indicators:values'])}"
    return help_text(KIND_FIELDS[kind])
