"""WSGI entry points: a factory for any WSGI server and the embedded gunicorn runner.

``gunicorn 'app.wsgi:create_wsgi_app()'`` works on its own; ``cityops serve --workers N`` uses
``run_gunicorn``. Preloading is off, so every worker builds its own app and its own engine
(database connections must never be shared across a fork).

Every worker is ready before it accepts its first request: ``create_app`` runs Dash's
first-request set-up itself (``app.server.ready_for_requests``, the reason is told there).

Memory: glibc gives threads that allocate at once malloc arenas of their own (up to 8 per core),
and an arena's free memory is rarely returned to the system; with ``CITYOPS_WEB_THREADS`` threads
per worker the arenas' high water grows with every burst of concurrency. And once a large block
(a wall refresh's JSON answer with a map's layer data runs to megabytes) is freed, glibc raises
its mmap threshold to that size, so the next ones come from the arenas and fragment them. Every
worker therefore sets, at start (``tune_malloc``, glibc's ``mallopt``; the environment variables
are read only when a process starts): at most ``MALLOC_ARENA_MAX`` = 2 arenas, and a fixed mmap
threshold of ``MMAP_THRESHOLD`` bytes (large blocks always mapped and given back when freed). The
environment wins where it sets ``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` itself. A WSGI
server of your own: ``MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=262144 gunicorn
'app.wsgi:create_wsgi_app()'``. Figures in docs/performance.md (the wall's soak).
"""
from __future__ import annotations

import ctypes
import os

from gunicorn.app.base import BaseApplication

MALLOC_ARENA_MAX = 2
MMAP_THRESHOLD = 256 * 1024
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc malloc.h


def create_wsgi_app(settings=None):
    """The Flask server of a freshly created app (ready to serve: ``app.server.ready_for_requests``)."""
    from app.server import create_app

    return create_app(settings).server


def tune_malloc(arenas: int = MALLOC_ARENA_MAX, mmap_threshold: int = MMAP_THRESHOLD) -> dict[str, int]:
    """glibc's malloc for a long-running threaded server, from now on in this process: at most
    ``arenas`` arenas, large blocks mapped from ``mmap_threshold`` bytes on. A setting the
    environment makes (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``) is left alone. Returns
    what was set; nothing where ``mallopt`` is not there (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):  # musl, macOS: no mallopt of that kind
        return {}
    done = {}
    for variable, parameter, value in (("MALLOC_ARENA_MAX", M_ARENA_MAX, arenas), ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, mmap_threshold)):
        if variable not in os.environ and mallopt(parameter, int(value)):
            done[variable] = int(value)
    return done


def _post_fork(server, worker) -> None:
    """gunicorn ``post_fork``: in the worker, before it loads the app or starts a thread."""
    done = tune_malloc()
    if done:
        server.log.debug("worker %s: %s", worker.pid, " ".join(f"{name}={value}" for name, value in done.items()))


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
        "preload_app": False,  # every worker its own app and engine (and ready_for_requests)
        "post_fork": _post_fork,
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": "-" if debug else None,
        # gunicorn's default line plus the worker that answered (which of the workers did what).
        "access_log_format": '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" pid=%(p)s',
        "loglevel": "debug" if debug else "info",
        "proc_name": "cityops",
        # gunicorn >= 24 opens a control socket in $HOME; parallel instances would fight over it.
        "control_socket_disable": True,
    }
    CityOpsGunicorn(options, settings).run()
