"""Numbers read from paths, query strings and names: ASCII digits with a length cap, or nothing.

``str.isdigit()`` is true for ``"³"`` and ``"٣"``, which ``int()`` refuses or reads; ``int()`` of more than
4,300 digits raises. Either one turned a request for an id that cannot exist into a 500. Every place that
turns client text into a record id, an endpoint index or a scan number goes through :func:`parse_id`, and
answers its own 404 or 400 when it gets ``None``.

>>> parse_id("0042"), parse_id("³"), parse_id("7" * 5000), parse_id(" 9 ")
(42, None, None, None)
"""

from __future__ import annotations

import re

MAX_ID_DIGITS = 18  # below 2**63: every id Tanium hands out fits a signed 64-bit integer

_ID = re.compile(rf"0*([0-9]{{1,{MAX_ID_DIGITS}}})")


def parse_id(text: object) -> int | None:
    """``text`` as a non-negative integer when it is 1–18 ASCII digits (leading zeros aside), else None.

    Takes ``int`` values from JSON bodies as they are (``bool`` is not an id).

    >>> parse_id(7), parse_id(True), parse_id("1e3")
    (7, None, None)
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if 0 <= text < 10**MAX_ID_DIGITS else None
    if not isinstance(text, str):
        return None
    found = _ID.fullmatch(text)
    return int(found.group(1)) if found else None


__all__ = ["MAX_ID_DIGITS", "parse_id"]
