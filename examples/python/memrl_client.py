"""A small client for the MemRL.Cluster HTTP/JSON API (docs/http-api.md), standard library only.

    from memrl_client import MemRLClient

    client = MemRLClient()                       # MEMRL_URL / MEMRL_API_KEY, or the silo's data/api-key.local
    client.create_bank("support")                # the server's default (text) embedder
    recall = client.recall("support", query_text="I forgot my password")
    ...                                          # act with recall["memories"], judge the outcome
    client.reward("support", recall["token"], 1.0)
    client.write("support", "Sent a reset link.", True, intent_text="I forgot my password",
                 recall_token=recall["token"])

Every mutation carries an ``Idempotency-Key``: the caller's, or a fresh uuid4 per call that is reused when that call
is retried, so a retry after a lost response applies once. Requests are retried on connection errors and on 429/503
(honouring ``Retry-After``), at most five attempts. Any other error response raises :class:`MemRLError`.

Python 3.9+.
"""

import email.utils
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path

__all__ = ["MemRLClient", "MemRLError", "default_api_key", "default_base_url", "DEFAULT_URL"]

DEFAULT_URL = "http://127.0.0.1:8080"
KEY_FILE = Path("data") / "api-key.local"

MAX_ATTEMPTS = 5
RETRY_STATUSES = (429, 503)
BACKOFF_BASE = 0.2       # seconds; doubled per attempt, with jitter
BACKOFF_CAP = 5.0
RETRY_AFTER_CAP = 60.0   # never sleep longer than this on one Retry-After

# Exceptions that mean "the exchange did not complete" (refused, reset, timed out, garbled response).
# urllib.error.HTTPError is a URLError too, but it is caught before these.
_CONNECTION_ERRORS = (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError, HTTPException)


class MemRLError(Exception):
    """An error response of the API: the HTTP status and its problem+json body (RFC 9457) as a dict."""

    def __init__(self, status, problem):
        self.status = status
        self.problem = dict(problem or {})
        super().__init__(self._describe())

    @property
    def title(self):
        return self.problem.get("title")

    @property
    def detail(self):
        return self.problem.get("detail")

    @property
    def field(self):
        return self.problem.get("field")

    @property
    def expected(self):
        return self.problem.get("expected")

    @property
    def actual(self):
        return self.problem.get("actual")

    def _describe(self):
        text = "HTTP {}".format(self.status)
        if self.title:
            text += " {}".format(self.title)
        if self.detail:
            text += ": {}".format(self.detail)
        extras = ["{}={}".format(name, json.dumps(self.problem[name]))
                  for name in ("field", "expected", "actual") if self.problem.get(name) is not None]
        if extras:
            text += " ({})".format(", ".join(extras))
        return text


def default_base_url():
    """``MEMRL_URL`` if set, else http://127.0.0.1:8080."""
    return os.environ.get("MEMRL_URL", "").strip() or DEFAULT_URL


def default_api_key():
    """``MEMRL_API_KEY`` if set, else the key the silo wrote to ``data/api-key.local``.

    The file is looked up relative to the current directory, then to the repository root (two levels above this
    file), since the silo writes it relative to where it was started (usually the repository root).
    """
    key = os.environ.get("MEMRL_API_KEY", "").strip()
    if key:
        return key
    places = [Path.cwd() / KEY_FILE, Path(__file__).resolve().parents[2] / KEY_FILE]
    for place in places:
        if place.is_file():
            key = place.read_text(encoding="utf-8").strip()
            if key:
                return key
    raise RuntimeError(
        "No MemRL API key: set MEMRL_API_KEY, or start the silo (dotnet run --project silo), which writes its key "
        "to {} or {} (neither exists or both are empty).".format(places[0], places[1]))


def _without_none(fields):
    """The dict without its None-valued entries (top level only: nested values such as options go as given)."""
    return {name: value for name, value in fields.items() if value is not None}


def _segment(value):
    """One URL path segment, quoted so that '/', '?', '#', '%' and spaces in bank names or ids stay inside it."""
    return urllib.parse.quote(str(value), safe="")


def _retry_after_seconds(value):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None if absent/unparseable."""
    if not value:
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


def _is_loopback(host):
    return host in ("localhost", "127.0.0.1", "::1") or (host or "").startswith("127.")


class MemRLClient:
    """Client for one MemRL.Cluster silo. All methods return the decoded JSON response (dicts)."""

    def __init__(self, base_url=None, api_key=None, timeout=30):
        self.base_url = (base_url or default_base_url()).rstrip("/")
        self.api_key = api_key if api_key is not None else default_api_key()
        self.timeout = timeout
        # Hooks the tests replace to avoid real sleeping; jitter keeps many agents from retrying in lockstep.
        self._sleep = time.sleep
        self._random = random.Random()
        host = urllib.parse.urlsplit(self.base_url).hostname
        # An http_proxy in the environment must not swallow requests to a silo on this machine.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    # ---- banks ------------------------------------------------------------------------------------------------

    def create_bank(self, name, dimension=None, embedder_id=None, shard_count=None, options=None):
        """Creates a bank, or returns the existing one when the spec is the same (a different spec is 409).

        Without dimension and embedder_id the bank is made for the server's text embedder, so it accepts
        ``query_text`` / ``intent_text``.
        """
        body = _without_none({"name": name, "dimension": dimension, "embedderId": embedder_id,
                              "shardCount": shard_count, "options": options})
        return self._call("POST", ["banks"], body, idempotency_key=self._new_key())

    def get_bank(self, name):
        return self._call("GET", ["banks", name])

    def update_options(self, name, changes):
        """Changes the named MemRL options and keeps the others (PATCH, a new bank version), e.g.
        ``update_options("support", {"lambda": 0.3})``. An unknown or invalid member changes nothing (400)."""
        return self._call("PATCH", ["banks", name, "options"], changes, idempotency_key=self._new_key())

    def replace_options(self, name, options):
        """Replaces every MemRL option (PUT): the object must name them all, as ``get_bank(name)["options"]``
        does; a missing member is 400 naming it."""
        return self._call("PUT", ["banks", name, "options"], options, idempotency_key=self._new_key())

    def stats(self, name):
        return self._call("GET", ["banks", name, "stats"])

    def delete_bank(self, name):
        """Deletes the bank and all its memories. Returns the response body, or None when it is empty."""
        return self._call("DELETE", ["banks", name], idempotency_key=self._new_key())

    def calibrate(self, name, sample=None, apply=False):
        """Similarity statistics of the bank's keys and the suggested delta; ``apply=True`` also sets it."""
        body = _without_none({"sample": sample, "apply": bool(apply)})
        # Only applying changes the bank, so only then is it a mutation that carries a key.
        return self._call("POST", ["banks", name, "calibrate"], body,
                          idempotency_key=self._new_key() if apply else None)

    # ---- the MemRL step ---------------------------------------------------------------------------------------

    def recall(self, bank, query=None, query_text=None, k1=None, k2=None, lam=None, delta=None,
               require_full_coverage=False):
        """Two-phase recall by vector (``query``) or text (``query_text``).

        Returns ``{"token", "coverage", "poolSize", "explored", "memories": [...]}``; pass the token to
        :meth:`reward` and :meth:`write`. Parameters left None take the bank's options.
        """
        if query is None and query_text is None:
            raise ValueError("recall needs query (a vector) or query_text.")
        body = _without_none({
            "query": list(query) if query is not None else None,
            "queryText": query_text,
            "k1": k1,
            "k2": k2,
            "lambda": lam,
            "delta": delta,
            # false is the server's default too; sent only when asked for, to keep bodies minimal.
            "requireFullCoverage": True if require_full_coverage else None,
        })
        return self._call("POST", ["banks", bank, "recall"], body)

    def reward(self, bank, token, reward, memory_ids=None, idempotency_key=None):
        """Updates the Q of the memories a recall returned (all of them, or the subset ``memory_ids``)."""
        body = _without_none({"token": token, "reward": reward,
                              "memoryIds": list(memory_ids) if memory_ids is not None else None})
        return self._call("POST", ["banks", bank, "reward"], body,
                          idempotency_key=idempotency_key or self._new_key())

    def write(self, bank, experience, success, intent=None, intent_text=None, recall_token=None,
              idempotency_key=None):
        """Writes an experience; returns ``{"memoryId", "createdKey", "q"}``."""
        if intent is None and intent_text is None:
            raise ValueError("write needs intent (a vector) or intent_text.")
        body = _without_none({
            "intent": list(intent) if intent is not None else None,
            "intentText": intent_text,
            "experience": experience,
            "success": bool(success),
            "recallToken": recall_token,
        })
        return self._call("POST", ["banks", bank, "memories"], body,
                          idempotency_key=idempotency_key or self._new_key())

    # ---- memories ---------------------------------------------------------------------------------------------

    def get_memory(self, bank, memory_id):
        return self._call("GET", ["banks", bank, "memories", memory_id])

    def list_memories(self, bank, limit=None, cursor=None):
        """One page: ``{"memories": [...], "nextCursor": "..." or None}``."""
        return self._call("GET", ["banks", bank, "memories"], query=_without_none({"limit": limit, "cursor": cursor}))

    def iter_memories(self, bank, page_size=100):
        """Yields every memory of the bank, following ``nextCursor`` page by page."""
        cursor = None
        while True:
            page = self.list_memories(bank, limit=page_size, cursor=cursor)
            for memory in page.get("memories") or []:
                yield memory
            next_cursor = page.get("nextCursor")
            if not next_cursor:
                return
            if next_cursor == cursor:
                # A server bug would otherwise make this loop forever.
                raise RuntimeError("the server returned the same cursor twice: {!r}".format(cursor))
            cursor = next_cursor

    def delete_memory(self, bank, memory_id, idempotency_key=None):
        return self._call("DELETE", ["banks", bank, "memories", memory_id],
                          idempotency_key=idempotency_key or self._new_key())

    # ---- transport --------------------------------------------------------------------------------------------

    @staticmethod
    def _new_key():
        return str(uuid.uuid4())

    def _call(self, method, segments, body=None, query=None, idempotency_key=None):
        """Sends one logical request, retrying it (same body, same Idempotency-Key) on connection errors and
        429/503. Returns the decoded JSON body, or None when the response has no body."""
        url = self.base_url + "/v1/" + "/".join(_segment(s) for s in segments)
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            # allow_nan=False: NaN/Infinity are not JSON; fail here rather than send what the server must refuse.
            data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Authorization": "Bearer " + self.api_key,
            "Content-Type": "application/json",
            "Accept": "application/json, application/problem+json",
            "User-Agent": "memrl-python-example/1",
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key

        for attempt in range(1, MAX_ATTEMPTS + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return self._decode(response.read())
            except urllib.error.HTTPError as error:
                status = error.code
                retry_after = _retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
                try:
                    payload = error.read()
                except (OSError, HTTPException):
                    payload = b""
                finally:
                    error.close()
                if status not in RETRY_STATUSES or attempt == MAX_ATTEMPTS:
                    raise MemRLError(status, self._problem(status, error.reason, payload)) from None
                self._sleep(self._backoff(attempt) if retry_after is None else min(retry_after, RETRY_AFTER_CAP))
            except _CONNECTION_ERRORS:
                # The request may or may not have been applied; a mutation's retry carries the same key, so the
                # server replays the first result instead of applying it twice.
                if attempt == MAX_ATTEMPTS:
                    raise
                self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def _backoff(self, attempt):
        delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
        return delay * (0.5 + self._random.random() / 2)

    @staticmethod
    def _decode(payload):
        if not payload or not payload.strip():
            return None
        return json.loads(payload.decode("utf-8"))

    @staticmethod
    def _problem(status, reason, payload):
        """The problem+json body as a dict; a non-JSON body (a proxy's error page, say) becomes title/detail."""
        text = payload.decode("utf-8", errors="replace") if payload else ""
        try:
            problem = json.loads(text) if text.strip() else {}
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            problem = {"detail": text.strip()[:500]} if text.strip() else {}
        problem.setdefault("status", status)
        if not problem.get("title") and reason:
            problem["title"] = str(reason)
        return problem
