"""The API's calls as data (method, path, body, Idempotency-Key), built once for both clients.

Every mutation gets its Idempotency-Key here — the caller's, else a fresh uuid4 — before the first attempt, so the
retries of one call all carry the same key and the server applies the call once (docs/exactly-once.md).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ._http import Call, body, new_key
from .types import BankOptions, Filter, IndexSettings, Scope


def filter_of(filter: Filter | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The filter as the API takes it: each field a string, or a list of strings for set membership. Values are sent
    as given (a tuple or set becomes a list; a set's order is sorted so retries send the same body); the server checks
    fields, types and limits and names what is wrong (``filter.<field>``)."""
    if filter is None:
        return None
    result: dict[str, Any] = {}
    for field, value in dict(filter).items():
        if isinstance(value, (set, frozenset)):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        result[field] = value
    return result


def scope_of(scope: Scope | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The write's scope without absent fields (None = not set)."""
    if scope is None:
        return None
    return {k: v for k, v in dict(scope).items() if v is not None}


def scope_filter(scope: Scope | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The filter "every field this scope sets, equal": an agent's own memories (None for an empty scope)."""
    fields = scope_of(scope)
    return fields or None


def create_bank(name: str, dimension: int | None, embedder_id: str | None, shard_count: int | None,
                options: BankOptions | Mapping[str, Any] | None, index: IndexSettings | Mapping[str, Any] | None,
                idempotency_key: str | None, extra: Mapping[str, Any] | None) -> Call:
    fields = {"name": name, "dimension": dimension, "embedderId": embedder_id, "shardCount": shard_count,
              "options": options, "index": index}
    return Call("POST", ("banks",), body(fields, extra), idempotency_key=idempotency_key or new_key())


def get_bank(name: str) -> Call:
    return Call("GET", ("banks", name))


def list_banks() -> Call:
    return Call("GET", ("banks",))


def delete_bank(name: str, idempotency_key: str | None) -> Call:
    return Call("DELETE", ("banks", name), idempotency_key=idempotency_key or new_key())


def update_options(name: str, changes: BankOptions | Mapping[str, Any], idempotency_key: str | None) -> Call:
    return Call("PATCH", ("banks", name, "options"), dict(changes), idempotency_key=idempotency_key or new_key())


def replace_options(name: str, options: BankOptions | Mapping[str, Any], idempotency_key: str | None) -> Call:
    return Call("PUT", ("banks", name, "options"), dict(options), idempotency_key=idempotency_key or new_key())


def stats(name: str) -> Call:
    return Call("GET", ("banks", name, "stats"))


def run_retention(name: str, idempotency_key: str | None) -> Call:
    return Call("POST", ("banks", name, "retention:run"), idempotency_key=idempotency_key or new_key())


def calibrate(name: str, sample: int | None, apply: bool, idempotency_key: str | None) -> Call:
    # Only applying changes the bank, so only then is it a mutation with a key.
    key = (idempotency_key or new_key()) if apply else None
    return Call("POST", ("banks", name, "calibrate"), body({"sample": sample, "apply": bool(apply)}),
                idempotency_key=key)


def recall(bank: str, query: Sequence[float] | None, query_text: str | None, embedder_id: str | None,
           k1: int | None, k2: int | None, lam: float | None, delta: float | None, require_full_coverage: bool,
           filter: Filter | Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> Call:
    if query is None and query_text is None and not (extra and ("query" in extra or "queryText" in extra)):
        raise ValueError("recall needs query (a vector) or query_text.")
    fields = {
        "query": list(query) if query is not None else None,
        "queryText": query_text,
        "embedderId": embedder_id,
        "k1": k1,
        "k2": k2,
        "lambda": lam,
        "delta": delta,
        # false is the server's default; sent only when asked for, to keep bodies minimal.
        "requireFullCoverage": True if require_full_coverage else None,
        "filter": filter_of(filter),
    }
    return Call("POST", ("banks", bank, "recall"), body(fields, extra))


def reward(bank: str, token: str, reward: float, memory_ids: Sequence[str] | None, idempotency_key: str | None,
           extra: Mapping[str, Any] | None) -> Call:
    fields = {"token": token, "reward": reward, "memoryIds": list(memory_ids) if memory_ids is not None else None}
    return Call("POST", ("banks", bank, "reward"), body(fields, extra), idempotency_key=idempotency_key or new_key())


def write(bank: str, experience: str, success: bool, intent: Sequence[float] | None, intent_text: str | None,
          embedder_id: str | None, recall_token: str | None, scope: Scope | Mapping[str, Any] | None,
          metadata: Mapping[str, str] | None, idempotency_key: str | None, extra: Mapping[str, Any] | None,
          ttl_seconds: float | None = None) -> Call:
    if intent is None and intent_text is None and not (extra and ("intent" in extra or "intentText" in extra)):
        raise ValueError("write needs intent (a vector) or intent_text.")
    fields = {
        "intent": list(intent) if intent is not None else None,
        "intentText": intent_text,
        "embedderId": embedder_id,
        "experience": experience,
        "success": bool(success),
        "recallToken": recall_token,
        "scope": scope_of(scope),
        "metadata": dict(metadata) if metadata is not None else None,
        "ttlSeconds": ttl_seconds,
    }
    return Call("POST", ("banks", bank, "memories"), body(fields, extra), idempotency_key=idempotency_key or new_key())


def get_memory(bank: str, memory_id: str) -> Call:
    return Call("GET", ("banks", bank, "memories", memory_id))


def list_memories(bank: str, limit: int | None, cursor: str | None,
                  filter: Filter | Mapping[str, Any] | None, state: str | None = None) -> Call:
    fields = filter_of(filter) or {}
    for reserved in ("limit", "cursor", "state"):
        if reserved in fields:
            # The query string names filter fields and listing parameters alike; these are never a filter field.
            raise ValueError(f"filter field {reserved!r} is not a filter field: use userId, agentId, sessionId, "
                             "runId or metadata.<key>.")
    # state is passed as given: the server refuses an unknown one naming the field (one rule in one place).
    return Call("GET", ("banks", bank, "memories"), query={**fields, "limit": limit, "cursor": cursor, "state": state})


def delete_by_scope(bank: str, filter: Filter | Mapping[str, Any], idempotency_key: str | None) -> Call:
    # No client-side check that a scope field is present: the server refuses it naming the field, and one rule in one
    # place cannot drift. The query is built once, so retries send the same request with the same key.
    return Call("DELETE", ("banks", bank, "memories"), query=filter_of(filter) or {},
                idempotency_key=idempotency_key or new_key())


def edit_memory(bank: str, memory_id: str, experience: str | None, metadata: Mapping[str, str] | None,
                idempotency_key: str | None, extra: Mapping[str, Any] | None) -> Call:
    if experience is None and metadata is None and not extra:
        raise ValueError("edit_memory needs experience or metadata (or both).")
    fields = {"experience": experience, "metadata": dict(metadata) if metadata is not None else None}
    return Call("PATCH", ("banks", bank, "memories", memory_id), body(fields, extra), idempotency_key=idempotency_key or new_key())


def archive_memory(bank: str, memory_id: str, archive: bool, idempotency_key: str | None) -> Call:
    return Call("POST", ("banks", bank, "memories", memory_id, "archive" if archive else "restore"),
                idempotency_key=idempotency_key or new_key())


def delete_memory(bank: str, memory_id: str, idempotency_key: str | None) -> Call:
    return Call("DELETE", ("banks", bank, "memories", memory_id), idempotency_key=idempotency_key or new_key())
