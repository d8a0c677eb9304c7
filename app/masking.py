"""Personal data on screen: reporter names, phone numbers and exact addresses are masked.

Every page that shows a record with personal data passes it through ``mask_personal`` — the one
place where the access-control work will decide, from the viewer's role, which fields may be
shown in clear. Until roles exist nobody may: everything is masked, always.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "*"
PHONE_KEEP_HEAD = 3  # 138****5678: carrier prefix …
PHONE_KEEP_TAIL = 4  # … and the last four digits, as banks and 12345 centres print them
# Mobile numbers (11 digits from 1), landlines with area code, 18-character ID numbers in free text.
_NUMBER_IN_TEXT = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{17}[\dXx])(?!\d)")
PERSONAL_FIELDS = ("reporter_name", "reporter_phone", "address")
FREE_TEXT_FIELDS = ("title", "description", "note")


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


def mask_personal(record: Mapping, viewer=None) -> dict:
    """A copy of ``record`` fit for ``viewer`` to see.

    ``viewer`` is who is looking (None for now): the access-control layer will decide here which
    roles see which fields in clear. Until then every personal field is masked for everyone.
    """
    masked = dict(record)
    if masked.get("reporter_name"):
        masked["reporter_name"] = mask_name(masked["reporter_name"])
    if masked.get("reporter_phone"):
        masked["reporter_phone"] = mask_phone(masked["reporter_phone"])
    if masked.get("address"):
        masked["address"] = mask_address(masked["address"])
    for name in FREE_TEXT_FIELDS:
        if isinstance(masked.get(name), str):
            masked[name] = mask_numbers_in_text(masked[name])
    if isinstance(masked.get("events"), list):
        masked["events"] = [mask_personal(event, viewer) for event in masked["events"]]
    return masked
