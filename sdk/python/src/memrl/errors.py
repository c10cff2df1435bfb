"""Problem details (RFC 9457) as exceptions: one class per status the API documents, each carrying the document."""

from __future__ import annotations

from typing import Any, Mapping

from .types import Problem

__all__ = [
    "MemRLError", "ConnectionFailed", "InvalidRequest", "Unauthorized", "Forbidden", "QuotaExceeded", "NotFound",
    "MethodNotAllowed", "Conflict", "RewardConflict", "PayloadTooLarge", "UnsupportedMediaType", "RateLimited",
    "HeadersTooLarge", "Unavailable", "ServerError", "error_for",
]


class MemRLError(Exception):
    """Every error the SDK raises. ``status`` is the HTTP status (None when no response came), ``problem`` the
    problem+json document as sent (a proxy's non-JSON error page becomes ``{"detail": <text>}``).

    ``field``, ``expected``, ``actual`` and ``reason`` are the API's error contract (docs/errors.md): the member,
    parameter or header at fault as the caller spells it, what it must be, the value sent, and a code to branch on
    (``missing``, ``unknown-member``, ``token-expired``, ``token-invalid``, ``cursor-invalid``, ``not-finite``,
    ``reward-conflict``, ``quota``).
    """

    status: int | None

    def __init__(self, status: int | None, problem: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.problem: Problem = dict(problem or {})  # type: ignore[assignment]
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        super().__init__(self._describe())

    @property
    def title(self) -> str | None:
        return self.problem.get("title")

    @property
    def detail(self) -> str | None:
        return self.problem.get("detail")

    @property
    def field(self) -> str | None:
        return self.problem.get("field")

    @property
    def expected(self) -> str | None:
        return self.problem.get("expected")

    @property
    def actual(self) -> str | None:
        return self.problem.get("actual")

    @property
    def reason(self) -> str | None:
        return self.problem.get("reason")

    def _describe(self) -> str:
        text = f"HTTP {self.status}" if self.status is not None else "no response"
        if self.title:
            text += f" {self.title}"
        if self.detail:
            text += f": {self.detail}"
        extras = [f"{name}={self.problem[name]!r}" for name in ("field", "expected", "actual", "reason")
                  if self.problem.get(name) is not None]  # type: ignore[literal-required]
        if extras:
            text += f" ({', '.join(extras)})"
        return text


class ConnectionFailed(MemRLError):
    """No response after every attempt (refused, reset, timed out, garbled); the last cause is ``__cause__``.

    A mutation may or may not have been applied: call it again with the same ``idempotency_key`` to find out without
    applying it twice.
    """


class InvalidRequest(MemRLError):
    """400: bad input, recall token, cursor or request target; ``field``/``expected``/``actual``/``reason`` say which."""


class Unauthorized(MemRLError):
    """401: no key, or a key the server does not know."""


class Forbidden(MemRLError):
    """403: a read-only key on a mutation, or a quota (see :class:`QuotaExceeded`)."""


class QuotaExceeded(Forbidden):
    """403 with ``reason: "quota"``: nothing was stored, and waiting will not help (so it is never retried)."""

    @property
    def quota(self) -> str | None:
        return self.problem.get("quota")

    @property
    def limit(self) -> int | None:
        return self.problem.get("limit")

    @property
    def current(self) -> int | None:
        return self.problem.get("current")


class NotFound(MemRLError):
    """404: no such bank, memory or route (another tenant's answers the same)."""


class MethodNotAllowed(MemRLError):
    """405: the route has no such method; ``expected`` lists the allowed ones."""


class Conflict(MemRLError):
    """409: an Idempotency-Key reused with another body or call, or a bank created again with another spec."""


class RewardConflict(Conflict):
    """409 with ``reason: "reward-conflict"``: the memory already took another value from this recall
    (``expected`` is the value given first)."""


class PayloadTooLarge(InvalidRequest):
    """413: the body is over the server's MaxRequestBytes."""


class UnsupportedMediaType(InvalidRequest):
    """415: the body was not ``application/json``."""


class HeadersTooLarge(InvalidRequest):
    """431: a header, or all of them, over the server's limits."""


class RateLimited(MemRLError):
    """429: the tenant's rate limit or an overloaded shard, still so after every retry."""

    @property
    def retry_after(self) -> str | None:
        """The Retry-After header as sent (seconds or an HTTP date), if any."""
        return self.headers.get("retry-after")


class Unavailable(MemRLError):
    """503: a recall or stats no shard answered, or one that required full coverage and did not get it."""


class ServerError(MemRLError):
    """Any other status, 5xx included: not part of the API's contract, so nothing more is known."""


_BY_STATUS: dict[int, type[MemRLError]] = {
    400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 429: RateLimited, 431: HeadersTooLarge, 503: Unavailable,
}


def error_for(status: int, problem: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None) -> MemRLError:
    """The exception for an error response: by status, refined by ``reason`` where a client must tell kinds apart."""
    reason = (problem or {}).get("reason")
    kind: type[MemRLError]
    if status == 403 and reason == "quota":
        kind = QuotaExceeded
    elif status == 409 and reason == "reward-conflict":
        kind = RewardConflict
    else:
        kind = _BY_STATUS.get(status, ServerError)
    return kind(status, problem, headers)
