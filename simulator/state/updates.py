"""The vocabulary of atomic updates, shared by every store (a leaf module: it imports nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final


class _Delete:
    """The value an update function returns to remove the record."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Final = _Delete()

# fn(current record) -> the new record, the same record (nothing written) or DELETE
Updater = Callable[[Any], Any]

__all__ = ["DELETE", "Updater"]
