"""The synchronous client."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Mapping, Sequence, cast

from . import _calls
from ._http import (CONNECTION_ERRORS, Call, RetryPolicy, Transport, decode, default_api_key, default_url, error_of,
                    header)
from .errors import ConnectionFailed
from .types import (Bank, BankOptions, BankStats, BankSummary, Calibration, Filter, IndexSettings, Memory, RetentionRun,
                    MemoryPage, Metadata, Recall, RewardResult, Scope, WriteResult)

__all__ = ["MemRL"]


class MemRL:
    """A client of one MemRL.Cluster HTTP API (docs/http-api.md). Thread-safe: each call is its own request.

    ``url`` defaults to ``MEMRL_URL`` or http://127.0.0.1:8080, ``api_key`` to ``MEMRL_API_KEY`` or the embedded
    silo's ``data/api-key.local``. Errors raise :class:`memrl.MemRLError` subclasses carrying the problem document;
    429, 503 and connection errors are retried as ``retry`` says, with the same Idempotency-Key.
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None) -> None:
        self._transport = Transport(url or default_url(), api_key if api_key is not None else default_api_key(),
                                    timeout)
        self.retry = retry or RetryPolicy()
        # Tests replace it to record the waits instead of sleeping them.
        self._sleep: Callable[[float], None] = time.sleep

    @property
    def url(self) -> str:
        return self._transport.base_url

    def close(self) -> None:
        """Nothing to release (each request has its own connection); here so the client is a context manager."""

    def __enter__(self) -> MemRL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- banks ------------------------------------------------------------------------------------------------

    def create_bank(self, name: str, *, dimension: int | None = None, embedder_id: str | None = None,
                    shard_count: int | None = None, options: BankOptions | Mapping[str, Any] | None = None,
                    index: IndexSettings | Mapping[str, Any] | None = None, idempotency_key: str | None = None,
                    extra: Mapping[str, Any] | None = None) -> Bank:
        """Creates a bank, or returns it when it exists with the same spec (another spec is :class:`Conflict`).
        Without ``dimension`` and ``embedder_id`` it is made for the server's text embedder (``query_text``)."""
        return cast(Bank, self._send(_calls.create_bank(name, dimension, embedder_id, shard_count, options, index,
                                                        idempotency_key, extra)))

    def get_bank(self, name: str) -> Bank:
        return cast(Bank, self._send(_calls.get_bank(name)))

    def list_banks(self) -> list[BankSummary]:
        """The tenant's banks in name order, with the memories and text bytes the quotas count."""
        return cast("list[BankSummary]", self._send(_calls.list_banks())["banks"])

    def delete_bank(self, name: str, *, idempotency_key: str | None = None) -> None:
        """Deletes the bank and every memory in it (:class:`NotFound` when there is none)."""
        self._send(_calls.delete_bank(name, idempotency_key))

    def update_options(self, name: str, changes: BankOptions | Mapping[str, Any], *,
                       idempotency_key: str | None = None) -> Bank:
        """Changes the options named and keeps the others (PATCH; ``None`` clears ``qFloor``/``qMin``)."""
        return cast(Bank, self._send(_calls.update_options(name, changes, idempotency_key)))

    def replace_options(self, name: str, options: BankOptions | Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> Bank:
        """Replaces every option (PUT): pass ``get_bank(name)["options"]`` with your changes."""
        return cast(Bank, self._send(_calls.replace_options(name, options, idempotency_key)))

    def stats(self, name: str) -> BankStats:
        return cast(BankStats, self._send(_calls.stats(name)))

    def calibrate(self, name: str, *, sample: int | None = None, apply: bool = False,
                  idempotency_key: str | None = None) -> Calibration:
        """Similarity statistics of the bank's keys and the suggested delta; ``apply=True`` sets it."""
        return cast(Calibration, self._send(_calls.calibrate(name, sample, apply, idempotency_key)))

    def run_retention(self, name: str, *, idempotency_key: str | None = None) -> RetentionRun:
        """Runs the bank's retention policy once (docs/retention.md): purges archived memories past their retention
        period, archives what the rules name, then caps the bank by utility, at most ``maxPerRun`` changes (``more``:
        run again). Retries carry the same Idempotency-Key, so a retried run answers the first."""
        return cast(RetentionRun, self._send(_calls.run_retention(name, idempotency_key)))

    # ---- the MemRL step ---------------------------------------------------------------------------------------

    def recall(self, bank: str, *, query: Sequence[float] | None = None, query_text: str | None = None,
               embedder_id: str | None = None, k1: int | None = None, k2: int | None = None,
               lam: float | None = None, delta: float | None = None, require_full_coverage: bool = False,
               filter: Filter | Mapping[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None) -> Recall:
        """Two-phase recall by vector or text. Pass the ``token`` to :meth:`reward` and :meth:`write`. Parameters
        left None take the bank's options; ``lam`` is the API's ``lambda``."""
        return cast(Recall, self._send(_calls.recall(bank, query, query_text, embedder_id, k1, k2, lam, delta,
                                                     require_full_coverage, filter, extra)))

    def reward(self, bank: str, token: str, reward: float, *, memory_ids: Sequence[str] | None = None,
               idempotency_key: str | None = None, extra: Mapping[str, Any] | None = None) -> RewardResult:
        """Moves the Q of the memories a recall returned (or the subset ``memory_ids``) toward ``reward``. Each memory
        takes one reward per recall: the same value again answers the first result, another is
        :class:`RewardConflict`."""
        return cast(RewardResult, self._send(_calls.reward(bank, token, reward, memory_ids, idempotency_key, extra)))

    def write(self, bank: str, experience: str, success: bool, *, intent: Sequence[float] | None = None,
              intent_text: str | None = None, embedder_id: str | None = None, recall_token: str | None = None,
              scope: Scope | Mapping[str, Any] | None = None, metadata: Metadata | Mapping[str, str] | None = None,
              idempotency_key: str | None = None, extra: Mapping[str, Any] | None = None,
              ttl_seconds: float | None = None) -> WriteResult:
        """Writes an experience, keyed by ``intent`` (a vector) or ``intent_text`` (embedded by the server).
        ``scope`` says whose it is (``{"userId": ..., "agentId": ..., "sessionId": ..., "runId": ...}``, each
        optional) and ``metadata`` is free string key–values stored with it (docs/scopes.md has the limits).
        ``ttl_seconds`` (1 s to 100 years) makes the memory expire: the first retention run after it archives it."""
        return cast(WriteResult, self._send(_calls.write(bank, experience, success, intent, intent_text, embedder_id,
                                                         recall_token, scope, metadata, idempotency_key, extra,
                                                         ttl_seconds)))

    # ---- memories ---------------------------------------------------------------------------------------------

    def get_memory(self, bank: str, memory_id: str) -> Memory:
        return cast(Memory, self._send(_calls.get_memory(bank, memory_id)))

    def list_memories(self, bank: str, *, limit: int | None = None, cursor: str | None = None,
                      filter: Filter | Mapping[str, Any] | None = None, state: str | None = None) -> MemoryPage:
        """One page, oldest first per shard; pass ``nextCursor`` back for the next (None on the last page), with the
        same ``filter`` and ``state``. Only the memories matching ``filter`` (as :meth:`recall` takes it) are listed;
        ``state`` is ``"active"`` (the default), ``"archived"`` (restorable until purged) or ``"all"``."""
        return cast(MemoryPage, self._send(_calls.list_memories(bank, limit, cursor, filter, state)))

    def iter_memories(self, bank: str, *, page_size: int = 100,
                      filter: Filter | Mapping[str, Any] | None = None, state: str | None = None) -> Iterator[Memory]:
        """Every memory of the bank (or those matching ``filter``, in ``state``), following ``nextCursor`` page by page."""
        cursor: str | None = None
        while True:
            page = self.list_memories(bank, limit=page_size, cursor=cursor, filter=filter, state=state)
            yield from page.get("memories") or []
            next_cursor = page.get("nextCursor")
            if not next_cursor:
                return
            if next_cursor == cursor:
                raise RuntimeError(f"the server returned the same cursor twice: {cursor!r}")
            cursor = next_cursor

    def edit_memory(self, bank: str, memory_id: str, *, experience: str | None = None,
                    metadata: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                    extra: Mapping[str, Any] | None = None) -> Memory:
        """Replaces the memory's experience and/or its whole metadata (``{}`` clears it) and returns it as edited; its
        id, key, scope, Q and visits stay. Retries carry the same Idempotency-Key, so the edit applies once."""
        return cast(Memory, self._send(_calls.edit_memory(bank, memory_id, experience, metadata, idempotency_key, extra)))

    def archive_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> Memory:
        """Takes the memory out of recall at once (its key too, when that held no other active memory); it stays
        restorable for the bank's retention period and comes back with ``archivedAt`` set. Archiving it again changes
        nothing; a reward of a recall made before the archive still counts."""
        return cast(Memory, self._send(_calls.archive_memory(bank, memory_id, True, idempotency_key)))

    def restore_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> Memory:
        """Brings an archived memory back into recall with the Q and history it had (``restoredAt`` set). After the
        retention period, or once purged or deleted, it is refused naming ``memoryId``."""
        return cast(Memory, self._send(_calls.archive_memory(bank, memory_id, False, idempotency_key)))

    def delete_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> None:
        self._send(_calls.delete_memory(bank, memory_id, idempotency_key))

    def delete_by_scope(self, bank: str, filter: Filter | Scope | Mapping[str, Any], *,
                        idempotency_key: str | None = None) -> int:
        """Erases every memory matching ``filter`` (at least one scope field, e.g. ``{"userId": "u-7"}``: the server
        refuses a filter without one, so nothing erases a whole bank by accident) and returns how many went. Retries
        carry the same Idempotency-Key, so a retried delete answers the first count."""
        return int(self._send(_calls.delete_by_scope(bank, filter, idempotency_key))["deleted"])

    # ---- transport --------------------------------------------------------------------------------------------

    def _send(self, call: Call) -> Any:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._transport.send(call)
            except CONNECTION_ERRORS as error:
                # Maybe applied, maybe not: the retry carries the same key, so the server replays a first result.
                if attempt >= self.retry.max_attempts:
                    raise ConnectionFailed(None, {"title": "No response", "detail": str(error)}) from error
                self._sleep(self.retry.delay(attempt))
                continue
            if 200 <= response.status < 300:
                return decode(response)
            if response.status in self.retry.statuses and attempt < self.retry.max_attempts:
                self._sleep(self.retry.delay(attempt, header(response.headers, "Retry-After")))
                continue
            raise error_of(response)
