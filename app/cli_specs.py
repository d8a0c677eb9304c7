"""``cityops specs``: check spec files before they reach a wall.

Registered on the main group at the end of ``app/cli.py``. The output is the contract of an
editor or CI step: one ``FILE:LINE: PATH: MESSAGE`` line per problem (every problem of every file,
not the first one), a summary, exit 1 when anything is wrong. Heavy imports happen inside.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

DB_UNREACHABLE_EXIT = 2


@click.group()
def specs() -> None:
    """Wall (and briefing) specs: YAML/JSON documents of what screens show."""


def _database_catalogue(settings, layer_names):
    """The configured database's catalogue, or a message saying why it could not be read."""
    from app.cli import _engine
    from queries.specs.store import catalogue_from_db

    shown = _safe_url(settings.resolved_database_url())
    engine = None
    try:
        engine = _engine(settings)  # like every command: the schema is created or migrated first
        with engine.connect() as conn:
            return catalogue_from_db(conn, layer_names), None
    except Exception as exc:  # noqa: BLE001 - the contract is a message and an exit status, never a traceback
        return None, f"{shown}: {type(exc).__name__}: {_first_line(exc)}"
    finally:
        if engine is not None:
            engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as the error itself says
        return "the configured database"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _describe(catalogue, offline: bool) -> str:
    layers = f"{len(catalogue.layers)} map layers"
    if offline:
        return f"offline: structure and {layers} only"
    parts = [f"{len(values)} {name}" if values else f"no {name} (not checked)"
             for name, values in (("indicators", catalogue.indicators), ("areas", catalogue.areas), ("datasets", catalogue.datasets))]
    return f"against the database: {', '.join(parts)}, {layers}"


@specs.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--offline", is_flag=True, help="Do not read the database: check structure and map layers only.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {file, line, column, path, message} (empty when valid).")
def validate(paths: tuple[Path, ...], offline: bool, as_json: bool) -> None:
    """Validate spec files and folders (*.yaml, *.yml, *.json found under them).

    Every problem is printed as FILE:LINE: PATH: MESSAGE. Indicators, areas and datasets are
    checked against the configured database (CITYOPS_DATABASE_URL) and map layers against the
    layer registry; --offline skips the database. Exit status: 0 all valid, 1 any problem,
    2 the database could not be read (without --offline).
    """
    import json

    from layers import layer_names
    from queries.settings import get_settings
    from queries.specs.files import collect_spec_files, validate_paths
    from queries.specs.model import SpecCatalogue

    if offline:
        catalogue = SpecCatalogue(layers=frozenset(layer_names()))
    else:
        catalogue, problem = _database_catalogue(get_settings(), layer_names())
        if catalogue is None:
            click.echo(f"cityops specs validate: cannot read the catalogue from the database {problem}\n"
                       f"(use --offline to check structure and map layers only)", err=True)
            sys.exit(DB_UNREACHABLE_EXIT)
    errors = validate_paths(paths, catalogue)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in errors], ensure_ascii=False, indent=2))
        sys.exit(1 if errors else 0)
    for error in errors:
        click.echo(str(error))
    files, _ = collect_spec_files(paths)
    checked = f"{_count(len(files), 'file')} checked {_describe(catalogue, offline)}"
    if errors:
        click.echo(f"{_count(len(errors), 'error')} in {_count(len({e.file for e in errors}), 'file')}; {checked}")
        sys.exit(1)
    click.echo(f"all valid: {checked}")
