"""The administrator's pages, server-rendered: users and the audit log.

* ``GET /admin/users`` (``manage_users``) — every user with role, areas, state (disabled, locked
  until) and failed log-ins; changes are made with ``cityops users`` on the server.
* ``GET /admin/audit`` (``view_audit``) — the audit log newest first, ``PAGE_SIZE`` a page;
  filters ``user``, ``action``, ``outcome``, ``from``, ``to`` (dates or date-times in Beijing time;
  a date ``to`` includes that whole day) and ``page``. Every value is checked: a bad one is a 400
  page naming the field, never a 500.
* ``GET /admin/audit.csv`` (``view_audit``) — the same filters (``page`` ignored), up to
  ``CSV_MAX_ROWS`` entries, UTF-8 with a byte-order mark so Excel reads the Chinese; writes
  ``audit_exported``. Cells an attacker may fill (a failed log-in's name) are neutralised against
  spreadsheet formula injection.

The enforcement layer (``app.security.access``) guards these routes from its table; each handler
checks its capability again (defence in depth): nobody logged in → the log-in page, a role without
the capability → 403 and ``access_denied`` in the audit log.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import flask

from app.context import current_context, current_lang
from app.i18n import LANGUAGES, t
from app.security.login import BEIJING, local_time, login_url, render

USERS_PATH = "/admin/users"
AUDIT_PATH = "/admin/audit"
AUDIT_CSV_PATH = "/admin/audit.csv"
PAGE_SIZE = 50
MAX_PAGE = 10_000
CSV_MAX_ROWS = 100_000
OUTCOMES = ("ok", "denied", "failed")
USER_FILTER = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
DATE_FILTER = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class BadFilter(ValueError):
    """A filter value that is not valid: ``field`` names the parameter, ``reason`` a catalogue key."""

    def __init__(self, field_name: str, reason: str, **values):
        self.field = field_name
        self.reason = reason
        self.values = values
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True)
class AuditFilters:
    user: str | None = None
    action: str | None = None
    outcome: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    page: int = 1
    given: dict = field(default_factory=dict)  # the raw values as given (for the form and links)

    def query(self, **changes) -> str:
        """The filters as a query string, with ``changes`` (None drops a key)."""
        values = {**self.given, **changes}
        return urlencode({key: value for key, value in values.items() if value not in (None, "")})


def _moment(value: str, name: str, *, end: bool) -> dt.datetime:
    if not DATE_FILTER.fullmatch(value):
        raise BadFilter(name, "security.invalid.date")
    try:
        moment = dt.datetime.fromisoformat(value)
        if end and "T" not in value:
            moment += dt.timedelta(days=1)  # a date as the end includes that whole day
        return moment.replace(tzinfo=BEIJING).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):  # 2025-02-30, 9999-12-31 as an end, 0001-01-01…
        raise BadFilter(name, "security.invalid.date") from None


def parse_filters(args) -> AuditFilters:
    """The audit filters from query ``args``; ``BadFilter`` names the first bad one."""
    from queries.auth import AUDIT_ACTIONS

    given = {name: (args.get(name) or "").strip() for name in ("user", "action", "outcome", "from", "to")}
    user, action, outcome = given["user"] or None, given["action"] or None, given["outcome"] or None
    if user is not None and not USER_FILTER.fullmatch(user):
        raise BadFilter("user", "security.invalid.user")
    if action is not None and action not in AUDIT_ACTIONS:
        raise BadFilter("action", "security.invalid.action")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadFilter("outcome", "security.invalid.outcome")
    start = _moment(given["from"], "from", end=False) if given["from"] else None
    end = _moment(given["to"], "to", end=True) if given["to"] else None
    if start is not None and end is not None and end <= start:
        raise BadFilter("to", "security.invalid.range")
    raw_page = (args.get("page") or "1").strip()
    if not re.fullmatch(r"[0-9]{1,6}", raw_page) or not 1 <= int(raw_page) <= MAX_PAGE:
        raise BadFilter("page", "security.invalid.page", max=MAX_PAGE)
    return AuditFilters(user=user, action=action, outcome=outcome, start=start, end=end, page=int(raw_page),
                        given={key: value for key, value in given.items() if value})


# --- guard and page frame ------------------------------------------------------------------------


def _here() -> str:
    query = flask.request.query_string.decode("utf-8", "replace")
    return flask.request.path + (f"?{query}" if query else "")


def guard(capability: str, lang: str):
    """None when the caller may use this page; else the response: log-in page or 403."""
    from app.security.audit import audit
    from app.security.identity import current_identity

    who = current_identity()
    if who is None:
        return flask.redirect(login_url(_here(), flask.request.args.get("lang")), code=303)
    if not who.can(capability):
        audit("access_denied", identity=who, target=flask.request.path, outcome="denied", detail={"capability": capability})
        role = label("security.role", who.role, lang)
        return render("admin_error.html", 403, lang=lang, **_frame(lang, who, None), title=t("security.forbidden.title", lang),
                      message=t("security.forbidden.body", lang, user=who.user, role=role), back_href=f"/?lang={lang}",
                      back_label=t("security.forbidden.home", lang))
    return None


def label(prefix: str, code: str, lang: str) -> str:
    """The catalogue's words for ``prefix.code``, or the code itself when it has none (data from an
    older or newer version must still show)."""
    from app.i18n import CATALOGUE

    key = f"{prefix}.{code}"
    return t(key, lang) if key in CATALOGUE else str(code)


def _frame(lang: str, who, active: str | None) -> dict:
    """What every admin page shows around its content: menu, languages, who is logged in."""
    from app.security.identity import csrf_token

    entries = []
    if who is not None and who.can("manage_users"):
        entries.append({"path": USERS_PATH, "label": t("security.admin.users", lang)})
    if who is not None and who.can("view_audit"):
        entries.append({"path": AUDIT_PATH, "label": t("security.admin.audit", lang)})
    query = flask.request.args.to_dict()
    languages = []
    for code in LANGUAGES:
        query["lang"] = code
        languages.append({"code": code, "label": t(f"lang.{code}", code), "href": f"{flask.request.path}?{urlencode(query)}", "active": code == lang})
    session_user = who.user if who is not None and who.via in ("session", "device") else None
    return {"menu": [{**entry, "active": entry["path"] == active} for entry in entries], "languages": languages,
            "session_user": session_user, "csrf": csrf_token() if session_user else None}


def _value(value):
    """A frame cell as a Python value (NaN/NaT → None)."""
    if value is None:
        return None
    try:
        import pandas as pd

        if value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return value


def _records(frame) -> list[dict]:
    return [{key: _value(value) for key, value in row.items()} for row in frame.to_dict("records")]


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


# --- pages ---------------------------------------------------------------------------------------


def users_page():
    from app.security.identity import current_identity
    from queries.auth import list_users

    lang = current_lang(flask.request.args.get("lang"))
    refused = guard("manage_users", lang)
    if refused is not None:
        return refused
    with current_context().engine.connect() as conn:
        users = _records(list_users(conn))
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for user in users:
        locked_until = _aware(user["locked_until"])
        locked = locked_until is not None and locked_until > now
        rows.append({
            "name": user["name"], "role": label("security.role", user["role"], lang),
            "role_code": user["role"], "areas": ", ".join(user["areas"] or ()) or t("security.users.all_areas", lang),
            "disabled": bool(user["disabled"]), "locked": locked, "locked_text": local_time(locked_until, with_seconds=False) if locked else "",
            "failed": int(user["failed_logins"] or 0), "updated": local_time(_aware(user["updated_at"]), with_seconds=False) if user["updated_at"] else "",
        })
    who = current_identity()
    return render("admin_users.html", 200, lang=lang, **_frame(lang, who, USERS_PATH), title=t("security.admin.users", lang), users=rows)


def _bad_filter(exc: BadFilter, lang: str):
    from app.security.identity import current_identity

    name = label("security.audit.filter", exc.field, lang)
    separator = "" if lang == "zh" else " "  # after a full-width colon, no space
    message = t("security.invalid.field", lang, label=name, field=exc.field) + separator + t(exc.reason, lang, **exc.values)
    return render("admin_error.html", 400, lang=lang, **_frame(lang, current_identity(), AUDIT_PATH), title=t("security.invalid.title", lang),
                  message=message, field=exc.field, back_href=f"{AUDIT_PATH}?lang={lang}", back_label=t("security.invalid.back", lang))


def _detail_text(detail) -> str:
    if detail in (None, "", {}):
        return ""
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return detail
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _audit_entries(lang: str, *, limit: int, paged: bool):
    """(filters, entries) of the audit log for this request's filters, or the refusal / 400 page."""
    from queries.auth import list_audit

    refused = guard("view_audit", lang)
    if refused is not None:
        return refused
    try:
        filters = parse_filters(flask.request.args)
    except BadFilter as exc:
        return _bad_filter(exc, lang)
    offset = (filters.page - 1) * PAGE_SIZE if paged else 0
    with current_context().engine.connect() as conn:
        entries = _records(list_audit(conn, user=filters.user, action=filters.action, outcome=filters.outcome, start=filters.start,
                                      end=filters.end, limit=limit, offset=offset))
    return filters, entries


def audit_page():
    from app.security.identity import current_identity
    from queries.auth import AUDIT_ACTIONS

    lang = current_lang(flask.request.args.get("lang"))
    found = _audit_entries(lang, limit=PAGE_SIZE + 1, paged=True)
    if not isinstance(found, tuple):  # refused, or a bad filter
        return found
    filters, entries = found
    has_next = len(entries) > PAGE_SIZE
    rows = [{
        "id": entry["id"], "at": local_time(_aware(entry["at"])), "user": entry["user_name"] or "",
        "role": label("security.role", entry["role"], lang) if entry["role"] else "",
        "addr": entry["remote_addr"] or "", "action": entry["action"],
        "action_label": label("security.action", entry["action"], lang),
        "target": entry["target"] or "", "area": entry["area_code"] or "", "outcome": entry["outcome"],
        "outcome_label": label("security.outcome", entry["outcome"], lang),
        "detail": _detail_text(entry["detail"]),
    } for entry in entries[:PAGE_SIZE]]
    keep = {"lang": flask.request.args.get("lang") or None}
    return render(
        "admin_audit.html", 200, lang=lang, **_frame(lang, current_identity(), AUDIT_PATH), title=t("security.admin.audit", lang), entries=rows,
        given=filters.given, page=filters.page,
        actions=[{"code": code, "label": t(f"security.action.{code}", lang)} for code in AUDIT_ACTIONS],
        outcomes=[{"code": code, "label": t(f"security.outcome.{code}", lang)} for code in OUTCOMES],
        prev_href=f"{AUDIT_PATH}?{filters.query(page=filters.page - 1, **keep)}" if filters.page > 1 else None,
        next_href=f"{AUDIT_PATH}?{filters.query(page=filters.page + 1, **keep)}" if has_next else None,
        csv_href=f"{AUDIT_CSV_PATH}?{filters.query()}", reset_href=f"{AUDIT_PATH}?lang={lang}",
    )


def _cell(value) -> str:
    """A CSV cell: text that a spreadsheet would run as a formula is quoted with a leading '."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(BEIJING).isoformat(timespec="seconds")
    if isinstance(value, dict):
        value = _detail_text(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def audit_csv():
    from app.security.audit import audit
    from queries.auth import AUDIT_COLUMNS

    lang = current_lang(flask.request.args.get("lang"))
    found = _audit_entries(lang, limit=CSV_MAX_ROWS, paged=False)
    if not isinstance(found, tuple):  # refused, or a bad filter
        return found
    filters, entries = found
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_COLUMNS)
    for entry in entries:
        writer.writerow([_cell(entry[name]) for name in AUDIT_COLUMNS])
    truncated = len(entries) >= CSV_MAX_ROWS
    # Written before the file leaves: an export that cannot be traced must not happen (audit raises).
    audit("audit_exported", target=AUDIT_CSV_PATH, detail={"filters": filters.given, "rows": len(entries), "truncated": truncated})
    stamp = dt.datetime.now(BEIJING).strftime("%Y%m%d-%H%M%S")
    response = flask.Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), status=200, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Rows"] = str(len(entries))
    if truncated:
        response.headers["X-Truncated"] = f"newest {CSV_MAX_ROWS} rows only"
    return response


def register_admin(server: flask.Flask) -> None:
    server.add_url_rule(USERS_PATH, "admin_users", users_page, methods=["GET"])
    server.add_url_rule(AUDIT_PATH, "admin_audit", audit_page, methods=["GET"])
    server.add_url_rule(AUDIT_CSV_PATH, "admin_audit_csv", audit_csv, methods=["GET"])
