"""Vendor errors: one class per status, rendered by one handler into Tanium's ``{"text": ...}`` body.

Tanium error bodies start with the status code and phrase, e.g. ``{"text": "404 Item Not Found"}`` or
``{"text": "400 Bad Request: body must be a JSON object"}``. Handlers raise these; ``app.py`` renders them.
"""

from __future__ import annotations


class VendorError(Exception):
    """Base of every error the simulator answers with a vendor-shaped body."""

    status = 500
    phrase = "Internal Server Error"

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.phrase)
        self.detail = detail
        self.headers = headers or {}

    @property
    def text(self) -> str:
        head = f"{self.status} {self.phrase}"
        return f"{head}: {self.detail}" if self.detail else head


class BadRequest(VendorError):
    """400: malformed body, wrong types, missing fields, bad query values."""

    status, phrase = 400, "Bad Request"


class Unauthorized(VendorError):
    """401: missing or invalid ``session`` credential."""

    status, phrase = 401, "Unauthorized"


class Forbidden(VendorError):
    """403: the session has expired (clients log in again and retry once)."""

    status, phrase = 403, "Forbidden"


class NotFound(VendorError):
    """404: unknown id or route (Tanium says "Item Not Found")."""

    status, phrase = 404, "Item Not Found"


class MethodNotAllowed(VendorError):
    """405: the route exists but not with this method."""

    status, phrase = 405, "Method Not Allowed"


class Conflict(VendorError):
    """409: the request does not fit the resource's current state."""

    status, phrase = 409, "Conflict"


class PayloadTooLarge(VendorError):
    """413: the body is larger than the simulator accepts."""

    status, phrase = 413, "Payload Too Large"


class UnsupportedMediaType(VendorError):
    """415: a body that is not JSON."""

    status, phrase = 415, "Unsupported Media Type"


class TooManyRequests(VendorError):
    """429: rate limited (only ever injected by a scenario)."""

    status, phrase = 429, "Too Many Requests"


class ServiceUnavailable(VendorError):
    """503: the module server is unavailable (only ever injected by a scenario)."""

    status, phrase = 503, "Service Unavailable"


PHRASES: dict[int, str] = {
    cls.status: cls.phrase
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        TooManyRequests,
        ServiceUnavailable,
    )
}
PHRASES.setdefault(500, "Internal Server Error")
PHRASES.setdefault(502, "Bad Gateway")
PHRASES.setdefault(504, "Gateway Timeout")


def error_text(status: int, detail: str = "") -> str:
    """The vendor text for any status, e.g. ``error_text(503)`` -> ``"503 Service Unavailable"``."""
    head = f"{status} {PHRASES.get(status, 'Error')}"
    return f"{head}: {detail}" if detail else head
