"""What the sync and async clients share: configuration defaults, request building, one HTTP attempt over
urllib.request, and the retry rule. Kept free of any event loop so both clients run the same code for a request."""

from __future__ import annotations

import email.utils
import json
import os
import random
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import Any, Mapping, Sequence

from ._version import __version__
from .errors import MemRLError, error_for

DEFAULT_URL = "http://127.0.0.1:8080"
KEY_FILE = Path("data") / "api-key.local"
USER_AGENT = f"memrl-python/{__version__}"

# The exchange did not complete (refused, reset, timed out, garbled). urllib's HTTPError is a URLError too; it is a
# response, and the attempt handles it before these.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, HTTPException)


def default_url() -> str:
    """``MEMRL_URL`` if set, else http://127.0.0.1:8080 (the embedded silo's default)."""
    return os.environ.get("MEMRL_URL", "").strip() or DEFAULT_URL


def default_api_key(search: Sequence[Path] | None = None) -> str:
    """``MEMRL_API_KEY`` if set, else the key the embedded silo wrote to ``data/api-key.local`` under the current
    directory (the silo writes it relative to where it was started) or one of ``search``'s directories."""
    key = os.environ.get("MEMRL_API_KEY", "").strip()
    if key:
        return key
    places = [Path.cwd() / KEY_FILE] + [Path(d) / KEY_FILE for d in (search or [])]
    for place in places:
        if place.is_file():
            key = place.read_text(encoding="utf-8").strip()
            if key:
                return key
    raise MemRLError(None, {
        "title": "No API key",
        "detail": "set MEMRL_API_KEY, pass api_key=, or start the silo (dotnet run --project silo), which writes its "
                  "key to " + " or ".join(str(p) for p in places),
    })


@dataclass(frozen=True)
class RetryPolicy:
    """When a request is tried again: on connection errors and on the statuses in ``statuses`` (429, 503), at most
    ``max_attempts`` attempts in all. The wait is ``Retry-After`` when the server sends it (capped at
    ``retry_after_cap`` seconds), else ``backoff_base`` × 2^(attempt − 1), capped at ``backoff_cap``, with jitter
    (50–100 %) so many agents do not retry in lockstep. A mutation's retries carry the same Idempotency-Key, so the
    server applies it once. 403 (quotas) is never retried: waiting does not bring a tenant under a quota."""

    max_attempts: int = 5
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    retry_after_cap: float = 60.0
    statuses: frozenset[int] = frozenset({429, 503})
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts is {self.max_attempts}; it must be at least 1.")

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        seconds = parse_retry_after(retry_after)
        if seconds is not None:
            return min(seconds, self.retry_after_cap)
        return min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)) * (0.5 + self.rng.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass(frozen=True)
class Call:
    """One logical request. ``idempotency_key`` is fixed when the call is made, before its first attempt, so every
    retry sends the same one."""

    method: str
    segments: tuple[str, ...]
    body: Any = None
    query: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    payload: bytes


def new_key() -> str:
    return str(uuid.uuid4())


def body(fields: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body: the named fields without None values, then ``extra`` as given (it may override a field)."""
    result = {name: value for name, value in fields.items() if value is not None}
    if extra:
        result.update(extra)
    return result


def _segment(value: str) -> str:
    """One path segment, quoted so '/', '?', '#', '%' and spaces in names stay inside it."""
    return urllib.parse.quote(str(value), safe="")


def _is_loopback(host: str | None) -> bool:
    return host in ("localhost", "::1") or (host or "").startswith("127.")


class Transport:
    """One attempt of a call over urllib.request (http.client underneath; TLS and proxies as the platform has them)."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        # An http_proxy in the environment must not swallow requests to a silo on this machine.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(urllib.parse.urlsplit(self.base_url).hostname) else []
        self._opener = urllib.request.build_opener(*handlers)

    def request_of(self, call: Call) -> tuple[str, bytes | None, dict[str, str]]:
        url = self.base_url + "/v1/" + "/".join(_segment(s) for s in call.segments)
        if call.query:
            # doseq: a list value is the parameter repeated (?userId=a&userId=b), how the API reads a set.
            url += "?" + urllib.parse.urlencode({k: v for k, v in call.query.items() if v is not None}, doseq=True)
        data = None
        if call.body is not None:
            # allow_nan=False: NaN and Infinity are not JSON; fail here rather than send what the server refuses.
            data = json.dumps(call.body, allow_nan=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": "Bearer " + self.api_key,
            "Accept": "application/json, application/problem+json",
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return url, data, headers

    def send(self, call: Call) -> Response:
        """One attempt. An HTTP error status is a Response; a failed exchange raises one of CONNECTION_ERRORS."""
        url, data, headers = self.request_of(call)
        request = urllib.request.Request(url, data=data, headers=headers, method=call.method)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, dict(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            try:
                payload = error.read()
            except (OSError, HTTPException):
                payload = b""
            finally:
                error.close()
            return Response(error.code, dict(error.headers.items()) if error.headers else {}, payload)


def decode(response: Response) -> Any:
    """The JSON of a 2xx response, or None for an empty body (204)."""
    if not response.payload.strip():
        return None
    return json.loads(response.payload.decode("utf-8"))


def problem_of(response: Response) -> dict[str, Any]:
    """The problem+json document; a body that is not a JSON object (a proxy's page) becomes its detail."""
    text = response.payload.decode("utf-8", errors="replace")
    try:
        problem = json.loads(text) if text.strip() else {}
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"detail": text.strip()[:500]} if text.strip() else {}
    problem.setdefault("status", response.status)
    return problem


def error_of(response: Response) -> MemRLError:
    return error_for(response.status, problem_of(response), response.headers)


def header(headers: Mapping[str, str], name: str) -> str | None:
    name = name.lower()
    return next((v for k, v in headers.items() if k.lower() == name), None)
