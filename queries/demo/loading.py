"""Fast bulk loading inside the caller's transaction, on SQLite and on PostgreSQL.

SQLAlchemy's ``execute(insert(T), rows)`` costs Python time per row; the demo writes millions, so
this module goes to the DBAPI connection of the same transaction: ``executemany`` on SQLite (the
statement compiled by SQLAlchemy, times pre-formatted as ``SQLITE_DATETIME_FORMAT``) and
``COPY … FROM STDIN`` on PostgreSQL (composed with ``psycopg.sql``; geometry as hex EWKB, which
PostGIS parses on input). Column values arrive as lists already converted with the helpers below.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from sqlalchemy import Connection, Table, insert

from queries.db import WGS84_SRID

_SQLITE_BATCH = 50_000
_DEFER_INDEXES_FROM = 200_000  # rows


class BulkWriter:
    def __init__(self, conn: Connection):
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    # --- value converters ----------------------------------------------------------------------
    def times(self, values: np.ndarray) -> list[str | None]:
        """numpy datetime64 (naive UTC) → the wire text of a UTC timestamp; NaT → NULL."""
        values = np.asarray(values).astype("datetime64[us]")
        text = np.datetime_as_string(values, unit="us")
        missing = np.isnat(values)
        if self.postgres:
            wire = np.char.add(text, "+00:00")
        else:
            wire = np.char.replace(text, "T", " ")  # SQLITE_DATETIME_FORMAT: "%Y-%m-%d %H:%M:%S.%f"
        result = wire.astype(object)
        result[missing] = None
        return result.tolist()

    def geoms(self, geoms: np.ndarray) -> list:
        geoms = np.asarray(geoms, dtype=object)
        if self.postgres:
            return shapely.to_wkb(shapely.set_srid(geoms, WGS84_SRID), hex=True, include_srid=True).tolist()
        return shapely.to_wkb(geoms).tolist()

    @staticmethod
    def json(values: Iterable) -> list[str | None]:
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]

    @staticmethod
    def floats(values, decimals: int | None = None) -> list[float | None]:
        array = np.asarray(values, dtype=float)
        if decimals is not None:
            array = np.round(array, decimals)
        result = array.astype(object)
        result[np.isnan(array)] = None
        return result.tolist()

    # --- loading -------------------------------------------------------------------------------
    def load(self, table: Table, columns: dict[str, Sequence]) -> int:
        """Insert column-wise data (equal-length lists in wire form) into ``table``."""
        names = list(columns)
        if not names:
            return 0
        count = len(columns[names[0]])
        if count == 0:
            return 0
        rows = zip(*(columns[n] for n in names))
        if self.postgres:
            self._copy(table, names, rows)
            return count
        # Secondary indexes are cheaper to build once, sorted, than to grow row by row.
        deferred = [index for index in table.indexes if not index.unique] if count >= _DEFER_INDEXES_FROM else []
        for index in deferred:
            index.drop(self.conn, checkfirst=True)
        self._executemany(table, names, rows)
        for index in deferred:
            index.create(self.conn, checkfirst=True)
        return count

    def _executemany(self, table: Table, names: list[str], rows: Iterable[tuple]) -> None:
        compiled = insert(table).compile(dialect=self.conn.dialect, column_keys=names)
        if list(compiled.positiontup) != names:
            # Columns with a Python-side default are rendered too: fill them with that default.
            picks = [(names.index(key), None) if key in names else (-1, table.c[key].default.arg) for key in compiled.positiontup]
            rows = (tuple(row[i] if i >= 0 else constant for i, constant in picks) for row in rows)
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            batch: list[tuple] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= _SQLITE_BATCH:
                    cursor.executemany(compiled.string, batch)
                    batch = []
            if batch:
                cursor.executemany(compiled.string, batch)
        finally:
            cursor.close()

    def _copy(self, table: Table, names: list[str], rows: Iterable[tuple]) -> None:
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names)))
        with self.conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
