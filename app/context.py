"""Per-app state (settings and engines) kept on the Flask server, never at module level.

``create_app`` installs an ``AppContext`` in ``server.extensions``; pages and routes reach it
through ``current_context()`` while a request is being handled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import flask
from sqlalchemy.engine import Engine

from app.i18n import normalise_lang

EXTENSION_KEY = "cityops"


@dataclass(frozen=True)
class AppContext:
    settings: object  # queries.settings.Settings
    engine: Engine  # writes and anything that must see its own writes
    read_engine: Engine  # the read replica when configured, else ``engine``
    # The query cache (queries.cache.QueryCache): Redis when CITYOPS_REDIS_URL is set, else in-process.
    # Built from the settings when not given, so every app instance has exactly one.
    cache: object = field(default=None)

    def __post_init__(self):
        if self.cache is None:
            from queries.cache import QueryCache

            object.__setattr__(self, "cache", QueryCache.from_settings(self.settings))


def install(server: flask.Flask, context: AppContext) -> None:
    server.extensions[EXTENSION_KEY] = context


def current_context() -> AppContext:
    return flask.current_app.extensions[EXTENSION_KEY]


def current_lang(requested=None) -> str:
    """The language asked for in the URL (``?lang=en``), else the configured default (CITYOPS_LOCALE)."""
    return normalise_lang(requested, default=current_context().settings.locale)


def run_query(query, *args, **kwargs):
    """One query function on the read engine; ``@cached`` ones are answered from the query cache
    (keyed on the versions of the datasets they read). Every page and route reads through here."""
    context = current_context()
    if hasattr(query, "__cache_spec__"):
        return context.cache.call(context.read_engine, query, *args, **kwargs)
    with context.read_engine.connect() as conn:
        return query(conn, *args, **kwargs)
