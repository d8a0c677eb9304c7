"""The app factory: ``create_app(settings) -> dash.Dash``, fully offline.

Everything the browser loads is served by this process: Dash's own bundles (``serve_locally``),
the repo's ``assets/`` folder, no external scripts, stylesheets or fonts. Settings and engines are
kept on the Flask server (``app.context``); nothing is built at import time.
"""
from __future__ import annotations

from pathlib import Path

import dash

import app as app_package
from app.api import register_api
from app.briefing.page import register_briefing
from app.context import AppContext, install
from app.export import register_export
from app.health import register_healthz
from app.i18n import HTML_LANG, t
from app.live import register_live
from app.security.access import register_access
from app.security.admin import register_admin
from app.security.headers import register_headers
from app.security.login import register_login
from app.shell import register_shell_callbacks, shell_layout

PACKAGE_DIR = Path(app_package.__file__).resolve().parent
PAGES_DIR = PACKAGE_DIR / "pages"
ASSETS_DIR = PACKAGE_DIR.parent / "assets"

# Dash's default page, with <html lang> set for the configured language (CJK glyph choice).
INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="{html_lang}">
    <head>
        {{%metas%}}
        <title>{{%title%}}</title>
        {{%favicon%}}
        {{%css%}}
    </head>
    <body>
        {{%app_entry%}}
        <footer>
            {{%config%}}
            {{%scripts%}}
            {{%renderer%}}
        </footer>
    </body>
</html>"""


def create_app(settings=None) -> dash.Dash:
    """A configured Dash app; its Flask server is ``app.server`` (a WSGI application)."""
    from queries.db import engine_from_settings
    from queries.settings import get_settings

    settings = settings or get_settings()
    engine = engine_from_settings(settings)
    read_engine = engine_from_settings(settings, read=True) if settings.database_read_url else engine

    dash_app = dash.Dash(
        "app",
        use_pages=True,
        pages_folder=str(PAGES_DIR),
        assets_folder=str(ASSETS_DIR),
        serve_locally=True,
        external_scripts=[],
        external_stylesheets=[],
        include_pages_meta=False,  # twitter-card meta would advertise an image URL nobody serves
        title=t("app.window_title", settings.locale),
        update_title=None,  # no "Updating..." flicker in the tab of an unattended wall
        # Pages build their layouts from the database per request; validating would call every
        # page's layout on each worker's first request. Callback ids are checked by the tests.
        suppress_callback_exceptions=True,
        index_string=INDEX_TEMPLATE.format(html_lang=HTML_LANG[settings.locale]),
        enable_mcp=False,
    )
    server = dash_app.server
    server.secret_key = settings.resolved_secret_key()
    server.json.ensure_ascii = False  # /healthz and JSON routes keep Chinese readable
    install(server, AppContext(settings=settings, engine=engine, read_engine=read_engine))
    register_healthz(server)
    register_api(server)
    register_live(server)
    register_export(server)
    register_briefing(server)
    register_login(server)
    register_admin(server)

    dash_app.layout = lambda: shell_layout(settings.locale)
    register_shell_callbacks(dash_app)
    register_headers(dash_app)
    register_access(dash_app)  # last: its before_request runs after Dash's set-up and the export's
    ready_for_requests(dash_app)
    return dash_app


def ready_for_requests(dash_app) -> None:
    """Run Dash's first-request set-up now (``Dash._setup_server`` and the pages router, the
    ``before_request`` hooks Dash itself registered, in their order), so that the first requests
    of a process — many at once from a browser — find it done. Dash does it racily (a flag
    first, the work after): with a threaded server (gunicorn's threads, the embedded server of
    ``cityops run``) the requests arriving together with the first one answered 500 for Dash's
    scripts (``"dash" is registered but the path requested is not valid``), or failed with a
    dictionary changing size during iteration (the router adding its callbacks while
    ``_setup_server`` walks them), and a wall whose React came from such a request stayed blank.
    Our own hooks (access control, audit) are not run: nothing is logged or written."""
    server = dash_app.server
    hooks = [hook for hook in server.before_request_funcs.get(None, ()) if _is_dash_hook(hook, dash_app)]
    if not hooks:
        raise RuntimeError("Dash registered no before_request set-up hook: the Dash version changed, see app.server.ready_for_requests")
    with server.test_request_context("/"):
        for hook in hooks:
            hook()


def _is_dash_hook(hook, dash_app) -> bool:
    """``Dash._setup_server`` (bound to this app) or a closure of ``Dash`` (the pages router)."""
    if getattr(hook, "__self__", None) is dash_app:
        return True
    return getattr(hook, "__module__", "").startswith("dash.") and getattr(hook, "__qualname__", "").startswith(f"{dash.Dash.__name__}.")
