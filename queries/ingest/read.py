"""Read what departments hand over — GeoJSON, Shapefile (.shp or .zip), GeoPackage, CSV, XLSX —
into one shape: a table of raw values, optional geometries, the declared CRS and, for every record,
the number a person would look for (spreadsheet row with the header as row 1, or feature number).

Damaged input fails here with a message that names the file and says what is wrong (truncated,
wrong encoding, unknown layer/sheet) instead of a library traceback or mojibake.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from queries.ingest.report import IngestError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
VECTOR_SUFFIXES = (".geojson", ".json", ".shp", ".gpkg", ".zip")
SUPPORTED = "GeoJSON (.geojson/.json), Shapefile (.shp or zipped .zip), GeoPackage (.gpkg), CSV (.csv/.txt/.tsv), Excel (.xlsx)"
ENCODING_ALIASES = {"utf8": "utf-8", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "utf8-sig": "utf-8-sig", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030", "cp936": "gbk"}


@dataclass
class SourceTable:
    name: str
    frame: pd.DataFrame  # raw values, positional index 0..n-1
    numbers: np.ndarray  # record number shown in messages, per position
    unit: str  # "row" or "feature"
    format: str  # csv, xlsx, geojson, shapefile, gpkg
    geometry: np.ndarray | None = None  # shapely geometries for vector formats
    crs: str | None = None  # declared CRS as "EPSG:xxxx" or WKT, None if none declared
    notes: list[str] = field(default_factory=list)

    @property
    def spreadsheet(self) -> bool:
        return self.format == "xlsx"

    def label(self, position: int) -> str:
        return f"{self.name} {self.unit} {int(self.numbers[position])}"

    def __len__(self) -> int:
        return len(self.frame)


def read_source(path, *, encoding: str | None = None, sheet: str | None = None, layer: str | None = None) -> SourceTable:
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path.name}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, encoding)
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(path, sheet)
    if suffix == ".xls":
        raise IngestError(f"{path.name}: old binary .xls is not supported; save it as .xlsx (Excel 2007+) or CSV")
    if suffix in (".geojson", ".json"):
        return _read_geojson(path, encoding)
    if suffix == ".shp":
        return _read_shapefile(path, encoding, display_name=path.name)
    if suffix == ".gpkg":
        return _read_gpkg(path, layer, display_name=path.name)
    if suffix == ".zip":
        return _read_zip(path, encoding, layer)
    raise IngestError(f"{path.name}: unknown file type {suffix or '(none)'}; supported: {SUPPORTED}")


# --- text decoding ------------------------------------------------------------------------------

def _normalise_encoding(encoding: str) -> str:
    key = encoding.strip().lower().replace("_", "-")
    if key in ENCODING_ALIASES:
        return ENCODING_ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise IngestError(f"unknown encoding {encoding!r}; common ones: utf-8, utf-8-sig, gbk, gb18030") from None


def decode_text(raw: bytes, name: str, encoding: str | None) -> tuple[str, str]:
    """Decode bytes strictly; returns (text, encoding used). Refuses decodings that would be mojibake."""
    if encoding:
        chosen = _normalise_encoding(encoding)
        if chosen not in ("utf-8", "utf-8-sig") and not raw.isascii():
            # UTF-8 multibyte text almost always also "decodes" as GBK — into nonsense.
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                raise IngestError(f"{name}: the file is UTF-8, not {encoding}; decoding it as {encoding} would garble every Chinese character. Use --encoding utf-8 (or leave --encoding out).")
        try:
            text = raw.decode(chosen)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise IngestError(
                f"{name}: not valid {encoding}: byte {raw[exc.start]:#04x} at line {line} cannot be decoded. "
                f"Try --encoding {'gb18030' if chosen.startswith('utf') else 'utf-8'} (or leave --encoding out to detect it)."
            ) from None
        return text.lstrip("\ufeff"), chosen
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(f"{name}: neither UTF-8 nor GBK/GB18030 (undecodable byte at line {line}); give the right --encoding") from None


# --- CSV ----------------------------------------------------------------------------------------

def _sniff_separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, encoding: str | None) -> SourceTable:
    raw = path.read_bytes()
    text, used = decode_text(raw, path.name, encoding)
    first_line = text.split("\n", 1)[0]
    sep = "\t" if path.suffix.lower() == ".tsv" else _sniff_separator(first_line)
    _check_csv_complete(text, sep, path.name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise IngestError(f"{path.name}: no header row") from None
    except pd.errors.ParserError as exc:
        message = str(exc).strip()
        if "EOF" in message:
            raise IngestError(f"{path.name}: the file ends inside a quoted value — it looks truncated") from None
        raise IngestError(f"{path.name}: not a well-formed CSV: {message}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_columns(frame.columns, path.name)
    numbers = np.arange(len(frame)) + 2  # header is row 1
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(len(frame), bool)
    frame = frame.loc[~blank].reset_index(drop=True)
    source = SourceTable(path.name, frame, numbers[~blank], "row", "csv")
    if encoding is None and used != "utf-8":
        source.notes.append(f"encoding detected as {used}")
    return source


def _check_csv_complete(text: str, sep: str, name: str) -> None:
    """A file cut off mid-row has no final line end and a short last row."""
    stripped = text.rstrip("\r\n")
    if not stripped:
        raise IngestError(f"{name}: the file is empty")
    if text.endswith(("\n", "\r")):
        return
    lines = stripped.splitlines()
    if len(lines) < 2:
        return
    header = next(csv.reader([lines[0]], delimiter=sep))
    try:
        last = next(csv.reader([lines[-1]], delimiter=sep))
    except (csv.Error, StopIteration):
        return
    if len(last) < len(header):
        raise IngestError(
            f"{name}: the file looks truncated — its last line (line {len(lines)}) has {len(last)} of {len(header)} fields and no line end"
        )


def _check_columns(columns, name: str) -> None:
    seen: set[str] = set()
    duplicates = [c for c in columns if c in seen or seen.add(c)]
    if duplicates:
        raise IngestError(f"{name}: duplicate column names {duplicates}; rename them so each field is unambiguous")


# --- XLSX ---------------------------------------------------------------------------------------

def _read_xlsx(path: Path, sheet: str | None) -> SourceTable:
    import openpyxl

    if not zipfile.is_zipfile(path):
        raise IngestError(f"{path.name}: not a complete .xlsx file (the zip container is damaged or truncated)")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise IngestError(f"{path.name}: cannot open the workbook — it is damaged or truncated ({exc})") from None
    try:
        names = workbook.sheetnames
        if sheet is None:
            worksheet = workbook[names[0]]
        elif sheet in names:
            worksheet = workbook[sheet]
        elif sheet.isdigit() and 1 <= int(sheet) <= len(names):
            worksheet = workbook[names[int(sheet) - 1]]
        else:
            raise IngestError(f"{path.name}: no sheet {sheet!r}; sheets: {', '.join(names)}")
        try:
            rows = list(worksheet.iter_rows(values_only=True))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise IngestError(f"{path.name}: the sheet cannot be read — the file is damaged or truncated ({exc})") from None
    finally:
        workbook.close()
    header_index = next((i for i, row in enumerate(rows) if any(v not in (None, "") for v in row)), None)
    if header_index is None:
        raise IngestError(f"{path.name}: sheet {worksheet.title!r} is empty")
    header = [("" if v is None else str(v).strip()) for v in rows[header_index]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    for i, name in enumerate(header):
        if name == "":
            header[i] = f"column_{i + 1}"
    _check_columns(header, path.name)
    body, numbers = [], []
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        values = list(row[:width]) + [None] * (width - len(row))
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        body.append(values)
        numbers.append(offset)
    frame = pd.DataFrame(body, columns=header, dtype=object)
    source = SourceTable(path.name, frame, np.asarray(numbers, dtype=int), "row", "xlsx")
    if len(names) > 1 and sheet is None:
        source.notes.append(f"read sheet {worksheet.title!r} (the first of {len(names)}; choose another with --sheet)")
    return source


# --- vector formats -----------------------------------------------------------------------------

def _vector_table(frame, name: str, fmt: str) -> SourceTable:
    geometry = np.asarray(frame.geometry.values, dtype=object) if frame.geometry is not None else None
    crs = frame.crs.to_string() if frame.crs is not None else None
    properties = pd.DataFrame(frame.drop(columns=frame.geometry.name)).reset_index(drop=True)
    properties.columns = [str(c).strip() for c in properties.columns]
    _check_columns(properties.columns, name)
    return SourceTable(name, properties, np.arange(len(properties)) + 1, "feature", fmt, geometry=geometry, crs=crs)


def _read_vector(path: Path, name: str, fmt: str, **kwargs):
    import pyogrio

    try:
        return pyogrio.read_dataframe(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - GDAL raises several error types for a broken file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{name}: cannot read this {fmt} — it is damaged, truncated or not a {fmt} ({first})") from None


def _read_geojson(path: Path, encoding: str | None) -> SourceTable:
    raw = path.read_bytes()
    text, _ = decode_text(raw, path.name, encoding)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            raise IngestError(f"{path.name}: the JSON ends unexpectedly at line {exc.lineno} column {exc.colno} — the file is truncated") from None
        raise IngestError(f"{path.name}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(document, dict) or document.get("type") not in ("FeatureCollection", "Feature"):
        raise IngestError(f"{path.name}: not GeoJSON (expected a FeatureCollection or Feature object at the top)")
    if document["type"] == "FeatureCollection" and not document.get("features"):
        raise IngestError(f"{path.name}: the FeatureCollection has no features")
    frame = _read_vector(path, path.name, "GeoJSON")
    return _vector_table(frame, path.name, "geojson")


def _check_shapefile(shp: Path, name: str) -> None:
    dbf = shp.with_suffix(".dbf") if shp.with_suffix(".dbf").exists() else shp.with_suffix(".DBF")
    if not dbf.exists():
        raise IngestError(f"{name}: the .dbf file with the attributes is missing next to {shp.name}")
    with shp.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or struct.unpack(">i", header[:4])[0] != 9994:
        raise IngestError(f"{name}: {shp.name} is not a shapefile or is truncated (bad header)")
    declared = struct.unpack(">i", header[24:28])[0] * 2
    actual = shp.stat().st_size
    if actual < declared:
        raise IngestError(f"{name}: {shp.name} is truncated: {actual} bytes of the {declared} its header declares")
    with dbf.open("rb") as handle:
        dbf_header = handle.read(12)
    if len(dbf_header) >= 12:
        records, header_len, record_len = struct.unpack("<IHH", dbf_header[4:12])
        if dbf.stat().st_size < header_len + records * record_len:
            raise IngestError(f"{name}: {dbf.name} is truncated: it declares {records} records but stops early")


def _redecode(value: str, encodings=("utf-8", "gb18030")) -> str:
    raw = value.encode("latin-1")
    for enc in encodings:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return value


def _read_shapefile(shp: Path, encoding: str | None, display_name: str) -> SourceTable:
    _check_shapefile(shp, display_name)
    has_cpg = any(shp.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    if encoding:
        frame = _read_vector(shp, display_name, "Shapefile", encoding=_normalise_encoding(encoding))
        source = _vector_table(frame, display_name, "shapefile")
    elif has_cpg:
        source = _vector_table(_read_vector(shp, display_name, "Shapefile"), display_name, "shapefile")
    else:
        # No .cpg: GDAL would read bytes as Latin-1. Read them raw that way (lossless), then decode
        # as UTF-8 or GBK, the two encodings Chinese departments' tools write.
        frame = _read_vector(shp, display_name, "Shapefile", encoding="latin1")
        source = _vector_table(frame, display_name, "shapefile")
        source.frame.columns = [_redecode(c) for c in source.frame.columns]
        for column in source.frame.columns:
            series = source.frame[column]
            if series.dtype == object or pd.api.types.is_string_dtype(series):
                source.frame[column] = series.astype(object).map(lambda v: _redecode(v) if isinstance(v, str) else v)
        source.notes.append("no .cpg file: attribute encoding detected from the bytes (UTF-8 or GBK)")
    if source.crs is None:
        source.notes.append("no .prj file: coordinates taken as given by --crs (default EPSG:4326)")
    return source


def _read_gpkg(path: Path, layer: str | None, display_name: str) -> SourceTable:
    import pyogrio

    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:  # noqa: BLE001
        raise IngestError(f"{display_name}: cannot open the GeoPackage — damaged or truncated ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    if not layers:
        raise IngestError(f"{display_name}: the GeoPackage has no layers")
    if layer is None:
        if len(layers) > 1:
            raise IngestError(f"{display_name}: {len(layers)} layers ({', '.join(layers)}); choose one with --layer")
        layer = layers[0]
    elif layer not in layers:
        raise IngestError(f"{display_name}: no layer {layer!r}; layers: {', '.join(layers)}")
    frame = _read_vector(path, display_name, "GeoPackage", layer=layer)
    return _vector_table(frame, display_name, "gpkg")


def _read_zip(path: Path, encoding: str | None, layer: str | None) -> SourceTable:
    try:
        archive = zipfile.ZipFile(path)
        damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise IngestError(f"{path.name}: not a complete zip archive — damaged or truncated ({exc})") from None
    if damaged is not None:
        raise IngestError(f"{path.name}: {damaged} inside the zip is damaged (CRC error) — the archive is truncated or corrupt")
    with archive, tempfile.TemporaryDirectory(prefix="cityops-ingest-") as tmp:
        members = [m for m in archive.namelist() if not m.endswith("/") and "__MACOSX" not in m]
        shapefiles = [m for m in members if m.lower().endswith(".shp")]
        others = [m for m in members if m.lower().endswith((".gpkg", ".geojson", ".json", ".csv", ".xlsx"))]
        if len(shapefiles) > 1 and layer is None:
            raise IngestError(f"{path.name}: {len(shapefiles)} shapefiles inside ({', '.join(shapefiles)}); choose one with --layer NAME")
        if layer is not None and shapefiles:
            shapefiles = [m for m in shapefiles if Path(m).stem == layer or m == layer]
            if not shapefiles:
                raise IngestError(f"{path.name}: no shapefile {layer!r} inside")
        root = Path(tmp)
        for member in members:
            target = (root / member).resolve()
            if root.resolve() not in target.parents:
                raise IngestError(f"{path.name}: unsafe path {member!r} inside the zip")
        archive.extractall(root)
        if shapefiles:
            return _read_shapefile(root / shapefiles[0], encoding, display_name=f"{path.name}:{Path(shapefiles[0]).name}")
        if len(others) == 1:
            inner = root / others[0]
            source = read_source(inner, encoding=encoding, layer=layer)
            source.name = f"{path.name}:{inner.name}"
            return source
        raise IngestError(f"{path.name}: no shapefile (or single GeoPackage/GeoJSON/CSV/XLSX) inside; it holds: {', '.join(members[:20])}")
