"""WSGI entry points: a factory for any WSGI server and the embedded gunicorn runner.

``gunicorn 'app.wsgi:create_wsgi_app()'`` works on its own; ``cityops serve --workers N`` uses
``run_gunicorn``. Preloading is off, so every worker builds its own app and its own engine
(database connections must never be shared across a fork).
"""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


def create_wsgi_app(settings=None):
    """The Flask server of a freshly created app."""
    from app.server import create_app

    return create_app(settings).server


class CityOpsGunicorn(BaseApplication):
    """gunicorn configured from code rather than a config file or its own command line."""

    def __init__(self, options: dict, settings=None):
        self.options = options
        self.settings = settings
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            # Settings an older gunicorn does not know are skipped rather than fatal.
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        return create_wsgi_app(self.settings)


def run_gunicorn(host: str, port: int, workers: int, settings=None, *, debug: bool = False) -> None:
    from queries.settings import get_settings

    settings = settings or get_settings()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads let one worker serve Dash's parallel callback requests from the same page, and
        # every open live-update stream (/api/v1/events) holds one: CITYOPS_WEB_THREADS.
        "worker_class": "gthread",
        "threads": settings.web_threads,
        "preload_app": False,
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": "-" if debug else None,
        "loglevel": "debug" if debug else "info",
        "proc_name": "cityops",
        # gunicorn >= 24 opens a control socket in $HOME; parallel instances would fight over it.
        "control_socket_disable": True,
    }
    CityOpsGunicorn(options, settings).run()
