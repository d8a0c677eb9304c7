"""The ``cityops`` command line: a contract other tools script against.

Every command that touches the database creates or migrates the schema first, so any command
works on an empty database. Imports of heavy modules happen inside the commands.
"""
from __future__ import annotations

from pathlib import Path

import click


def _engine(settings=None):
    from queries.db import engine_from_settings
    from queries.migrate import ensure_schema
    from queries.settings import get_settings

    engine = engine_from_settings(settings or get_settings())
    ensure_schema(engine)
    return engine


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def main() -> None:
    """cityops — city operations-centre dashboard (城市运行管理中心)."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision."""
    from queries.migrate import current_revision

    engine = _engine()
    click.echo(f"schema at revision {current_revision(engine)}")


# --- serve: app shell (owner: app shell) -------------------------------------------------------


def _build_demo_city_if_empty(engine, settings) -> None:
    """First start on an empty database: build the demo city, with a progress bar."""
    import importlib

    from queries.overview import area_count

    with engine.connect() as conn:
        if area_count(conn) > 0:
            return
    try:
        demo = importlib.import_module("queries.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "queries.demo":
            raise  # a real missing dependency inside the demo package must not be hidden
        demo = None
    ensure_demo_city = getattr(demo, "ensure_demo_city", None)
    if ensure_demo_city is None:  # the demo city is not part of this build yet
        click.echo("empty database and no demo city available: starting with no data", err=True)
        return
    with click.progressbar(length=1000, label="building demo city", show_percent=True, width=32) as bar:

        def progress(step_label: str, fraction: float) -> None:
            bar.label = f"demo city: {step_label}"
            target = int(max(0.0, min(1.0, fraction)) * 1000)
            if target > bar.pos:
                bar.update(target - bar.pos)

        built = ensure_demo_city(engine, scale=settings.demo_scale, seed=settings.demo_seed, progress=progress)
        bar.update(1000 - bar.pos)
    if built:
        click.echo(f"demo city built (scale={settings.demo_scale}, seed={settings.demo_seed})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="1 = built-in server; more = gunicorn processes.")
@click.option("--debug", is_flag=True, help="Dash dev tools in the browser and verbose logs (never on a production wall).")
def serve(host: str, port: int, workers: int, debug: bool) -> None:
    """Serve the dashboard: migrate the schema, build the demo city on an empty database, listen.

    Without any user, first creates ``admin`` with a random password printed once here."""
    from app.cli_users import ensure_first_admin
    from queries.settings import get_settings

    settings = get_settings()
    engine = _engine(settings)
    try:
        _build_demo_city_if_empty(engine, settings)
        ensure_first_admin(engine)
    finally:
        engine.dispose()  # no pooled connection may cross into gunicorn's forked workers

    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
    click.echo(f"cityops serving on http://{shown_host}:{port}/  (workers={workers}, database={engine.dialect.name})")
    if workers > 1:
        from app.wsgi import run_gunicorn

        run_gunicorn(host, port, workers, settings, debug=debug)
    else:
        from app.server import create_app

        create_app(settings).run(host=host, port=port, debug=debug, use_reloader=False, dev_tools_hot_reload=False)


# --- demo: demo city (owner: demo city) --------------------------------------------------------
@main.command("demo")
@click.option("--scale", type=click.Choice(["small", "city", "large"]), default="city", show_default=True, help="Size of the demo city.")
@click.option("--seed", type=int, default=20261121, show_default=True, help="Random seed: the same seed (and hour) builds the same city.")
@click.option("--reset", is_flag=True, help="Empty all platform tables first (required when the database already has areas).")
def demo(scale: str, seed: int, reset: bool) -> None:
    """Build the demo city (连云港市): areas to unit grids, roads, sensors, 90 days of data."""
    from queries.demo import DemoCityExists, build_demo_city

    engine = _engine()
    with click.progressbar(length=1000, label="building demo city", show_percent=True, item_show_func=lambda label: label) as bar:
        def advance(label: str, fraction: float) -> None:
            target = int(max(0.0, min(1.0, fraction)) * 1000)
            bar.update(max(0, target - bar.pos), label)

        try:
            summary = build_demo_city(engine, scale, seed, reset=reset, progress=advance)
        except DemoCityExists as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"demo city built: scale={summary['scale']} seed={summary['seed']} now={summary['now']} in {summary['seconds']:.1f} s")
    for table, rows in summary["tables"].items():
        click.echo(f"  {table:<22}{rows:>12,}")
    click.echo(f"  {'total':<22}{summary['rows']:>12,}")



# --- ingest and areas (owner: ingest) ----------------------------------------------------------

_INGEST_KINDS = {
    "boundaries": "Administrative areas and unit grids (polygons) into areas.",
    "incidents": "Emergency incidents (points) into incidents.",
    "workorders": "12345 hotline work orders into work_orders.",
    "readings": "Air-quality, traffic-detector and sensor readings.",
    "indicators": "Indicator definitions (--definitions) and/or values per area and time.",
    "resources": "Emergency resources (fire stations, shelters, depots…) into resources.",
    "roads": "Road segments (lines) into road_segments.",
}
_AREA_LEVELS = ("city", "district", "street", "community", "grid")


class _IngestCommand(click.Command):
    """Lists the kind's target fields in --help (imported only when help is shown)."""

    def format_epilog(self, ctx, formatter) -> None:
        from queries.ingest import SUPPORTED, describe_kind

        formatter.write_paragraph()
        formatter.write_text(f"Files: {SUPPORTED}. Rows in messages are numbered as a spreadsheet shows them (header = row 1); features from 1.")
        formatter.write_paragraph()
        formatter.write("Target fields (--map TARGET=SOURCE; unmapped ones are matched from common Chinese/English column names):\n")
        for line in describe_kind(self.name).splitlines():
            formatter.write(f"  {line}\n")


def _common_ingest_options(func):
    options = (
        click.option("--map", "mappings", multiple=True, metavar="TARGET=SOURCE", help="Map a source column/property to a target field (repeatable; wins over automatic matching)."),
        click.option("--crs", default=None, help="Coordinate system of the input: EPSG:4326 (default), EPSG:4490, EPSG:3857, EPSG:xxxx, gcj02, bd09."),
        click.option("--encoding", default=None, help="Text encoding of CSV/Shapefile attributes: utf-8, utf-8-sig, gbk, gb18030 (default: detect)."),
        click.option("--sheet", default=None, help="XLSX sheet name or number (default: the first)."),
        click.option("--layer", default=None, help="GeoPackage layer (or shapefile name inside a zip)."),
        click.option("--dataset", default=None, help="Catalogue dataset code (default per kind)."),
        click.option("--provider", default=None, help="Provider department of the dataset (default per kind)."),
        click.option("--z-is-local", is_flag=True, help="Read a trailing 'Z' as Beijing time (the pm25.in/CNEMC mirror quirk)."),
        click.option("--dry-run", is_flag=True, help="Validate and report, write nothing."),
        click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    )
    for option in reversed(options):
        func = option(func)
    return func


def _run_ingest(kind: str, file, mappings, as_json: bool, **options) -> None:
    import json
    import sys

    from queries.ingest import IngestError, ingest_file, parse_mapping_options

    try:
        mapping = parse_mapping_options(mappings)
        engine = _engine()
        try:
            report = ingest_file(engine, kind, file, mapping=mapping, **options)
        finally:
            engine.dispose()
    except IngestError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the contract is a message and a non-zero exit, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"ingest {kind} failed: {type(exc).__name__}: {first}. Nothing was imported.", err=True)
        sys.exit(1)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else report.render())


@main.group()
def ingest() -> None:
    """Import department files (GeoJSON, Shapefile, GeoPackage, CSV, XLSX) — atomic and idempotent."""


@ingest.command("boundaries", cls=_IngestCommand, help=_INGEST_KINDS["boundaries"])
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--level", type=click.Choice(_AREA_LEVELS), default=None, help="Level of every feature (default: a level field, else from the code length).")
@click.option("--parent", default=None, help="Parent area code of every feature (default: a parent field, else from the code prefix).")
@_common_ingest_options
def ingest_boundaries(file, mappings, as_json, **options) -> None:
    _run_ingest("boundaries", file, mappings, as_json, **options)


@ingest.command("readings", cls=_IngestCommand, help=_INGEST_KINDS["readings"])
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--type", "reading_type", type=click.Choice(("aq", "traffic", "water_level", "water_quality", "sensor")), default=None, help="Kind of readings (default: detected from the columns).")
@_common_ingest_options
def ingest_readings(file, mappings, as_json, **options) -> None:
    _run_ingest("readings", file, mappings, as_json, **options)


@ingest.command("indicators", cls=_IngestCommand, help=_INGEST_KINDS["indicators"])
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--definitions", type=click.Path(dir_okay=False), default=None, help="File of indicator definitions, imported in the same transaction.")
@_common_ingest_options
def ingest_indicators(file, mappings, as_json, **options) -> None:
    _run_ingest("indicators", file, mappings, as_json, **options)


def _simple_ingest_command(kind: str) -> None:
    @ingest.command(kind, cls=_IngestCommand, help=_INGEST_KINDS[kind])
    @click.argument("file", type=click.Path(dir_okay=False))
    @_common_ingest_options
    def command(file, mappings, as_json, **options) -> None:
        _run_ingest(kind, file, mappings, as_json, **options)


for _kind in ("incidents", "workorders", "resources", "roads"):
    _simple_ingest_command(_kind)


@main.command()
@click.option("--level", type=click.Choice(_AREA_LEVELS), default=None, help="Only this level.")
@click.option("--parent", default=None, help="Only the children of this area code.")
@click.option("--json", "as_json", is_flag=True, help="JSON list of {code, name, level, parent, area_km2}.")
def areas(level, parent, as_json) -> None:
    """List the loaded areas (city → district → street → community → grid)."""
    import json

    from queries.areas import list_areas

    engine = _engine()
    try:
        with engine.connect() as conn:
            frame = list_areas(conn, level=level, parent=parent)
    finally:
        engine.dispose()
    records = [
        {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent, "area_km2": None if r.area_km2 is None or r.area_km2 != r.area_km2 else round(float(r.area_km2), 4)}
        for r in frame.itertuples(index=False)
    ]
    if as_json:
        click.echo(json.dumps(records, ensure_ascii=False))
        return
    if not records:
        click.echo("no areas loaded (cityops ingest boundaries FILE)")
        return
    for r in records:
        area = "" if r["area_km2"] is None else f"{r['area_km2']:.2f} km²"
        click.echo(f"{r['code']:<15} {r['level']:<9} {r['name']:<20} {r['parent'] or '':<15} {area}")
    click.echo(f"{len(records)} areas")


# --- simulate (owner: live push) ----------------------------------------------------------------


@main.command()
@click.option("--rate", default=6.0, show_default=True, type=click.FloatRange(0, 6000), help="New incidents per minute (Poisson).")
@click.option("--duration", default=None, type=click.FloatRange(min=0, min_open=True), help="Stop after S seconds (default: until Ctrl-C).")
@click.option("--seed", default=None, type=int, help="Random seed (default: a fresh one each run).")
@click.option("--speed", "lifecycle_speed", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Run incident lifecycles N× faster (demos).")
def simulate(rate: float, duration: float | None, seed: int | None, lifecycle_speed: float) -> None:
    """Write a live feed into the database: incidents and their lifecycle, sensor readings, alarms.

    Everything goes through the same validation and write path as ``cityops ingest``; a running
    dashboard shows it without reload (published on the bus with CITYOPS_REDIS_URL, else found
    by the server's change-log watcher).
    """
    import signal
    import sys
    import threading

    from queries.bus import bus_from_settings
    from queries.settings import get_settings
    from queries.simulate import CitySimulator, NoAreas

    settings = get_settings()
    engine = _engine(settings)
    bus = bus_from_settings(settings)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        simulator = CitySimulator(engine, rate=rate, seed=seed, bus=bus, lifecycle_speed=lifecycle_speed)
        click.echo(f"simulating {rate:g} incidents/min on {engine.dialect.name} (bus: {bus.backend}); Ctrl-C stops", err=True)
        try:
            report = simulator.run(duration=duration, stop=stop)
        except KeyboardInterrupt:
            report = simulator.report
        click.echo(report.render())
    except NoAreas as exc:
        click.echo(f"cityops simulate: {exc}", err=True)
        sys.exit(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
        bus.close()
        engine.dispose()


# --- bench (owner: lead) -------------------------------------------------------------------------


@main.command()
@click.option("--scale", type=click.Choice(["small", "city", "large"]), default="city", show_default=True, help="Demo city scale to measure on.")
@click.option("--db", "databases", type=click.Choice(["sqlite", "postgres", "both"]), default="both", show_default=True, help="Which database(s).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures as JSON here.")
@click.option("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres", show_default=True,
              help="Administrative PostgreSQL URL; the benchmark creates its own database cityops_bench_SCALE there.")
@click.option("--redis-url", default=None, help="Redis for the warm-cache figures (default: CITYOPS_REDIS_URL, else the in-process cache).")
@click.option("--skip", multiple=True, type=click.Choice(["ingest", "drill", "grid", "layers", "pages"]), help="Leave a benchmark out (repeatable).")
def bench(scale: str, databases: str, json_path: Path | None, pg_url: str, redis_url: str | None, skip: tuple[str, ...]) -> None:
    """Every benchmark at a demo scale, on SQLite and PostGIS: data generation, ingest, drill
    steps cold/warm, grid assignment vs sjoin, layer payloads vs naive pydeck, page payloads.

    Builds (once, then reuses) a demo city in a database of its own per scale; prints a table
    (figures per database, then the database-independent ones). The load test is separate:
    ``python bench/load.py`` (it needs gunicorn, PostgreSQL and Redis running as in production).
    """
    from app.bench import format_table, run, write_json
    from queries.settings import get_settings

    settings = get_settings()
    chosen = ["sqlite", "postgres"] if databases == "both" else [databases]
    results = run(scale, chosen, settings.data_dir, pg_url, redis_url or settings.redis_url, say=lambda text: click.echo(text, err=True), skip=skip)
    click.echo(format_table(results))
    if json_path:
        write_json(results, json_path)
        click.echo(f"written to {json_path}", err=True)


from app.cli_specs import specs  # noqa: E402 - registered last; it imports nothing from here at import time

main.add_command(specs)

from app.cli_wall import wall  # noqa: E402 - registered last; it imports nothing from here at import time

main.add_command(wall)

from app.cli_users import users  # noqa: E402 - registered last; it imports nothing from here at import time

main.add_command(users)


if __name__ == "__main__":  # pragma: no cover
    main()
