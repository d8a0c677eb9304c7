"""``cityops specs``: check spec files before they reach a wall, and move specs in and out of
the database as files.

Registered on the main group at the end of ``app/cli.py``. The output is the contract of an
editor or CI step: one ``FILE:LINE: PATH: MESSAGE`` line per problem (every problem of every file,
not the first one), a summary, exit 1 when anything is wrong. Heavy imports happen inside.

``export DIR`` writes every wall and briefing as YAML (``queries.specs.transfer``: the layout,
the canonical form, the header); ``import DIR`` validates every file first and writes all of them
in one transaction or nothing, and records the import in the audit log (``spec_imported``, by
``--author`` or ``cli``) in that same transaction. Exit status of both: 0 done, 1 a problem (nothing
imported), 2 the database could not be read.
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


# --- export and import ------------------------------------------------------------------------------

AUTHOR_MAX = 64  # spec_versions.author, spec_heads.published_by, audit_log.user_name


def _open_engine(settings, command: str):
    """The configured database, schema migrated; exit 2 with one line when it cannot be reached."""
    from app.cli import _engine

    try:
        return _engine(settings)
    except Exception as exc:  # noqa: BLE001 - the contract is a message and an exit status, never a traceback
        click.echo(f"cityops specs {command}: cannot read the database {_safe_url(settings.resolved_database_url())}: "
                   f"{type(exc).__name__}: {_first_line(exc)}", err=True)
        sys.exit(DB_UNREACHABLE_EXIT)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _origin(stored) -> str:
    if stored.version is None:
        return "the shipped file"
    state = "draft" if stored.draft else "published"
    return f"{state} version {stored.version}" + (f" by {stored.author}" if stored.author else "")


@specs.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--drafts", is_flag=True,
              help="Also the newest unpublished version of each spec, as DIR/drafts/walls/ID.yaml and DIR/drafts/briefings/ID.yaml.")
def export(directory: Path, drafts: bool) -> None:
    """Write every wall and briefing spec into DIRECTORY as YAML files.

    DIRECTORY/walls/ID.yaml and DIRECTORY/briefings/ID.yaml hold each spec as screens show it: the
    version published in the database, else the file shipped with cityops. Each file starts with a
    comment naming the version, its author and the time of export; below it the spec in one stable
    form (the same spec always gives the same text), Chinese kept readable. Files of an earlier
    export of specs that no longer exist are removed; other files are left alone. `cityops specs
    import DIRECTORY` reads the folder back.
    """
    from queries.settings import get_settings
    from queries.specs.transfer import export_specs

    settings = get_settings()
    engine = _open_engine(settings, "export")
    try:
        with engine.connect() as conn:
            report = export_specs(conn, directory, drafts=drafts, settings=settings)
    except Exception as exc:  # noqa: BLE001 - a broken shipped spec, an unwritable folder, the database going away
        click.echo(f"cityops specs export: {type(exc).__name__}: {_first_line(exc)}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    for path, stored in report.written:
        click.echo(f"{_relative(path, directory)}: {stored.kind} {stored.spec_id}, {_origin(stored)}")
    for path in report.removed:
        click.echo(f"removed {_relative(path, directory)}: an earlier export of a spec that no longer exists")
    for path in report.foreign:
        click.echo(f"left alone {_relative(path, directory)}: not written by cityops specs export (import would read it)")
    for note in report.notes:
        click.echo(f"skipped: {note}")
    drafts_written = sum(1 for _, stored in report.written if stored.draft)
    click.echo(f"exported {_count(len(report.written) - drafts_written, 'spec')}"
               + (f" and {_count(drafts_written, 'draft')}" if drafts else "") + f" to {directory}")


def _check_author(_ctx, _param, value):
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > AUTHOR_MAX or not text.isprintable():
        raise click.BadParameter(f"a name of 1 to {AUTHOR_MAX} printable characters")
    return text


def _step_line(step, root: Path) -> str:
    where = f"{_relative(step.file, root)}: {step.kind} {step.spec_id}"
    if step.action == "unchanged":
        return f"{where} unchanged ({step.reason})"
    if step.action == "publish_existing":
        return f"{where} → version {step.version} (already saved), published"
    return f"{where} → version {step.version}, " + ("published" if step.action == "publish" else "saved as a draft")


@specs.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--publish/--draft", "publish", default=True, show_default=True,
              help="Publish the new versions (walls and briefings show them at once), or save them as drafts. Files under DIR/drafts/ are always saved as drafts.")
@click.option("--author", default=None, callback=_check_author, help="Who saves and publishes the new versions (default: cli); also the audit log's user.")
@click.option("--dry-run", is_flag=True, help="Validate and say what would be done; write nothing.")
def import_(directory: Path, publish: bool, author: str | None, dry_run: bool) -> None:
    """Import the spec files of DIRECTORY (the layout `cityops specs export` writes).

    Every file is validated first, against the database's catalogue (indicators, areas, datasets)
    and the map layers; every problem is printed as FILE:LINE: PATH: MESSAGE and nothing is imported.
    Then, in one transaction, each spec that differs from what is live gets a new version (published
    unless --draft); specs equal to what is live are skipped and reported. Any failure leaves the
    database as it was. The import is recorded in the audit log.
    """
    from layers import layer_names
    from queries.auth import record_audit
    from queries.settings import get_settings
    from queries.specs.store import catalogue_from_db
    from queries.specs.transfer import ImportInvalid, import_specs

    settings = get_settings()
    actor = author or "cli"
    engine = _open_engine(settings, "import")
    try:
        with engine.begin() as conn:  # the whole import, and its audit entry, or nothing
            catalogue = catalogue_from_db(conn, layer_names())
            report = import_specs(conn, directory, catalogue, author=actor, publish=publish, settings=settings, dry_run=dry_run)
            if not dry_run:
                where = str(directory.resolve())
                record_audit(conn, "spec_imported", user=actor, role=None, target=where, detail={**report.summary(), "dir": where})
    except ImportInvalid as exc:
        for error in exc.errors:
            click.echo(str(error))
        click.echo(f"{_count(len(exc.errors), 'error')} in {_count(len({e.file for e in exc.errors}), 'file')}; nothing imported")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a failed write: rolled back, one line, never a traceback
        click.echo(f"cityops specs import: {type(exc).__name__}: {_first_line(exc)}\nnothing imported (the transaction was rolled back)", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    for step in report.steps:
        click.echo(_step_line(step, directory))
    published = len(report.of("publish", "publish_existing"))
    saved = len(report.of("save"))
    unchanged = len(report.of("unchanged"))
    if dry_run:
        click.echo(f"dry run, nothing written: would publish {published}, save {saved} as draft{'' if saved == 1 else 's'}; {unchanged} unchanged")
    else:
        click.echo(f"imported from {directory}: {published} published, {saved} saved as draft{'' if saved == 1 else 's'}, {unchanged} unchanged")
