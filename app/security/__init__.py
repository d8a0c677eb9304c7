"""Access control: who is asking (``Identity``), what each role may do (``CAPABILITIES``), and
where it is enforced.

Graded protection level 3 asks for every access to be authenticated and authorised, every view and
export to be traceable, and personal data shown only to those who need it. The pieces:

* ``identity``  — log-in with argon2 password hashes, server-checked sessions that expire after
  inactivity, back-off and lock-out after failed attempts, revocable tokens (``Authorization:
  Bearer …`` for API clients; ``/wall/ID?token=…`` once, for a wall device, which then keeps a
  device session). ``current_identity()`` answers for the request being handled.
* ``access``    — one table from every page, Dash callback and data route to the capability it
  needs, enforced in a ``before_request`` hook: a callback is an HTTP endpoint and refuses an
  unauthorised request even when the UI never shows the control. Default deny: a route or callback
  nobody declared is refused.
* ``headers``   — Content-Security-Policy (self only; Dash's inline script by hash), frame-ancestors,
  nosniff, referrer policy; CSRF: state-changing requests must come from our own origin (and the
  log-in form carries a token).
* ``audit``     — the append-only audit log (who, when, from where, what) and its admin view;
  entries of requests served while the database is away wait in a bounded buffer.

Roles (``queries.auth.ROLES``): ``wall`` (a device: read-only, walls only), ``leader`` (overview,
briefing, command view without personal data), ``commander`` (+ incident personal data, wall
emergency switch/acknowledge), ``analyst`` (+ studio and catalogue: edits specs), ``admin``
(everything, users and the audit log). A user may be restricted to areas (a district's staff see
their district): ``Identity.areas`` holds area-code prefixes, empty = the whole city; several are a
union (``queries.auth.areas_within`` / ``records_within`` in SQL, ``Identity.may_see_area`` here).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# What a role may do. Pages and routes name one capability each (app.security.access).
CAPABILITIES: dict[str, frozenset[str]] = {
    "wall": frozenset({"view_wall"}),
    "leader": frozenset({"view_overview", "view_briefing", "view_command", "view_wall", "export", "use_api"}),
    "commander": frozenset({"view_overview", "view_briefing", "view_command", "view_wall", "export", "use_api",
                            "see_personal_data", "operate_wall"}),
    "analyst": frozenset({"view_overview", "view_briefing", "view_command", "view_wall", "export", "use_api",
                          "view_catalog", "edit_specs"}),
    "admin": frozenset({"view_overview", "view_briefing", "view_command", "view_wall", "export", "use_api",
                        "see_personal_data", "operate_wall", "view_catalog", "edit_specs", "manage_users", "view_audit"}),
}


@dataclass(frozen=True)
class Identity:
    """The authenticated caller of one request."""

    user: str
    role: str
    areas: tuple[str, ...] = ()  # area-code prefixes the user is restricted to; () = everywhere
    via: str = "session"  # session | token | device (a wall's device session)
    capabilities: frozenset[str] = field(default=frozenset())

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def may_see_area(self, code: str | None) -> bool:
        return not self.areas or (code is not None and any(code.startswith(prefix) for prefix in self.areas))

    @property
    def cache_scope(self) -> str:
        """The query cache's scope for this caller: results differ by what may be seen in clear and
        by area, so a masked answer and a clear one never share an entry (queries.cache)."""
        clear = "personal" if self.can("see_personal_data") else "masked"
        areas = ".".join(sorted(self.areas)) or "all"  # queries.cache.SCOPE_PATTERN: [A-Za-z0-9_.:-], ≤ 128
        if len(areas) > 100:
            import hashlib

            areas = "h-" + hashlib.sha256(areas.encode()).hexdigest()[:32]
        return f"{clear}:{areas}"


def identity_for(user: str, role: str, areas=(), via: str = "session") -> Identity:
    return Identity(user=user, role=role, areas=tuple(areas or ()), via=via, capabilities=CAPABILITIES.get(role, frozenset()))
