"""Personal data on screen: names, phone numbers, ID-card numbers and exact addresses are masked
for every viewer who does not need them.

The rule (``mask_personal(record, viewer)``): a viewer with the capability ``see_personal_data``
(commanders and administrators, ``app.security.CAPABILITIES``) sees a record in clear on screen;
everyone else — leaders, analysts, wall devices, and nobody (``viewer`` None) — and every export
(PDF, PNG: the file leaves the system, whoever asked for it) sees the personal fields masked (reporter / caller name: first character; phone: carrier
prefix and last four digits; address: its first third) and phone and ID-card numbers written into
free text (titles, descriptions, notes, work-order content) masked too. ``mask_text`` applies the
free-text rule to one string (list titles, tickers, live events).

The cache: a query asked with ``include_personal=True`` is cached per viewer scope
(``app.context.run_query``), and for masked viewers the command view reads
``masked_incident_detail``, whose cached value is already masked: a masked caller never reads an
entry made for a clear one, and clear personal data is never cached for a masked one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "*"
PHONE_KEEP_HEAD = 3  # 138****5678: carrier prefix …
PHONE_KEEP_TAIL = 4  # … and the last four digits, as banks and 12345 centres print them
# Mobile numbers (11 digits from 1), landlines with area code, 18-character ID numbers in free text.
_NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{17}[\dXx])(?!\d)")
NAME_FIELDS = ("reporter_name", "caller_name")
PHONE_FIELDS = ("reporter_phone", "caller_phone")
ADDRESS_FIELDS = ("address",)
PERSONAL_FIELDS = (*NAME_FIELDS, *PHONE_FIELDS, *ADDRESS_FIELDS)
FREE_TEXT_FIELDS = ("title", "description", "note", "content")
CLEAR_CAPABILITY = "see_personal_data"


def mask_phone(value: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; separators kept, short numbers masked but the last two."""
    if not value:
        return value
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) >= PHONE_KEEP_HEAD + PHONE_KEEP_TAIL + 1:
        hidden = set(digits[PHONE_KEEP_HEAD:-PHONE_KEEP_TAIL])
    else:
        hidden = set(digits[:-2])
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(value))


def mask_name(value: str | None) -> str | None:
    """``张三`` → ``张*``, ``John Smith`` → ``J*** *****``: the first character only."""
    if not value:
        return value
    return value[0] + "".join(ch if ch.isspace() else MASK for ch in value[1:])


def mask_address(value: str | None) -> str | None:
    """The first third of an address (district and street), the rest hidden."""
    if not value:
        return value
    keep = max(2, len(value) // 3)
    return value[:keep] + MASK * 4


def mask_numbers_in_text(value: str | None) -> str | None:
    """Phone and ID numbers written into free text (titles, descriptions, notes)."""
    if not value:
        return value
    return _NUMBER_IN_TEXT.sub(lambda match: mask_phone(match.group(0)), value)


def sees_clear(viewer) -> bool:
    """Whether ``viewer`` (an ``app.security.Identity`` or None) may see personal data in clear.

    Never in an export (``via == "export"``: the page a PDF or PNG is made of): a file leaves the
    system, so personal data in it is masked whoever asked for it."""
    can = getattr(viewer, "can", None)
    return bool(can and can(CLEAR_CAPABILITY)) and getattr(viewer, "via", None) != "export"


def mask_text(value, viewer=None):
    """Free text as ``viewer`` may read it: phone and ID numbers masked unless they see clear data."""
    if not isinstance(value, str) or sees_clear(viewer):
        return value
    return mask_numbers_in_text(value)


def mask_personal(record: Mapping, viewer=None) -> dict:
    """A copy of ``record`` fit for ``viewer`` to see: in clear for a viewer with
    ``see_personal_data``, masked for everyone else (``viewer`` None included)."""
    if sees_clear(viewer):
        return dict(record)
    masked = dict(record)
    for name in NAME_FIELDS:
        if isinstance(masked.get(name), str) and masked[name]:
            masked[name] = mask_name(masked[name])
    for name in PHONE_FIELDS:
        if isinstance(masked.get(name), str) and masked[name]:
            masked[name] = mask_phone(masked[name])
    for name in ADDRESS_FIELDS:
        if isinstance(masked.get(name), str) and masked[name]:
            masked[name] = mask_address(masked[name])
    for name in FREE_TEXT_FIELDS:
        if isinstance(masked.get(name), str):
            masked[name] = mask_numbers_in_text(masked[name])
    if isinstance(masked.get("events"), list):
        masked["events"] = [mask_personal(event, viewer) if isinstance(event, Mapping) else event for event in masked["events"]]
    return masked
