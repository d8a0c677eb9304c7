"""The ``cityops`` command line: a contract other tools script against.

Every command that touches the database creates or migrates the schema first, so any command
works on an empty database. Imports of heavy modules happen inside the commands.
"""
from __future__ import annotations

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

# --- demo: demo city (owner: demo city) --------------------------------------------------------

# --- ingest and areas (owner: ingest) ----------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
