"""The asyncio client.

Each HTTP attempt runs the sync client's urllib code in a thread of the client's own executor; the waits between
attempts are ``asyncio.sleep``, so a retrying call holds no thread while it waits. Why threads and not raw asyncio
streams: the same code path as :class:`memrl.MemRL` (one HTTP implementation to trust: http.client's parsing of
chunked bodies, TLS through ssl, proxies), where streams would need an HTTP/1.1 client of our own. The cost is a thread
per request in flight, bounded by ``max_concurrency``; an agent fleet bigger than that queues, it does not fail.
Cancelling a call stops waiting for it; an attempt already sent runs to its end in its thread (its result dropped),
which is safe to retry because a mutation's retry carries the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence, cast

from . import _calls
from ._http import (CONNECTION_ERRORS, Call, RetryPolicy, Transport, decode, default_api_key, default_url, error_of,
                    header)
from .errors import ConnectionFailed
from .types import (Bank, BankOptions, BankStats, BankSummary, Calibration, Filter, IndexSettings, Memory, RetentionRun,
                    MemoryPage, Metadata, Recall, RewardResult, Scope, WriteResult)

__all__ = ["AsyncMemRL"]


class AsyncMemRL:
    """The asyncio twin of :class:`memrl.MemRL`: the same methods, each a coroutine. Use ``async with`` (or
    ``await client.aclose()``) to release its threads."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 retry: RetryPolicy | None = None, max_concurrency: int = 16) -> None:
        self._transport = Transport(url or default_url(), api_key if api_key is not None else default_api_key(),
                                    timeout)
        self.retry = retry or RetryPolicy()
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="memrl")
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def url(self) -> str:
        return self._transport.base_url

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> AsyncMemRL:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- banks ------------------------------------------------------------------------------------------------

    async def create_bank(self, name: str, *, dimension: int | None = None, embedder_id: str | None = None,
                          shard_count: int | None = None, options: BankOptions | Mapping[str, Any] | None = None,
                          index: IndexSettings | Mapping[str, Any] | None = None, idempotency_key: str | None = None,
                          extra: Mapping[str, Any] | None = None) -> Bank:
        return cast(Bank, await self._send(_calls.create_bank(name, dimension, embedder_id, shard_count, options,
                                                              index, idempotency_key, extra)))

    async def get_bank(self, name: str) -> Bank:
        return cast(Bank, await self._send(_calls.get_bank(name)))

    async def list_banks(self) -> list[BankSummary]:
        return cast("list[BankSummary]", (await self._send(_calls.list_banks()))["banks"])

    async def delete_bank(self, name: str, *, idempotency_key: str | None = None) -> None:
        await self._send(_calls.delete_bank(name, idempotency_key))

    async def update_options(self, name: str, changes: BankOptions | Mapping[str, Any], *,
                             idempotency_key: str | None = None) -> Bank:
        return cast(Bank, await self._send(_calls.update_options(name, changes, idempotency_key)))

    async def replace_options(self, name: str, options: BankOptions | Mapping[str, Any], *,
                              idempotency_key: str | None = None) -> Bank:
        return cast(Bank, await self._send(_calls.replace_options(name, options, idempotency_key)))

    async def stats(self, name: str) -> BankStats:
        return cast(BankStats, await self._send(_calls.stats(name)))

    async def calibrate(self, name: str, *, sample: int | None = None, apply: bool = False,
                        idempotency_key: str | None = None) -> Calibration:
        return cast(Calibration, await self._send(_calls.calibrate(name, sample, apply, idempotency_key)))

    # ---- the MemRL step ---------------------------------------------------------------------------------------

    async def recall(self, bank: str, *, query: Sequence[float] | None = None, query_text: str | None = None,
                     embedder_id: str | None = None, k1: int | None = None, k2: int | None = None,
                     lam: float | None = None, delta: float | None = None, require_full_coverage: bool = False,
                     filter: Filter | Mapping[str, Any] | None = None,
                     extra: Mapping[str, Any] | None = None) -> Recall:
        return cast(Recall, await self._send(_calls.recall(bank, query, query_text, embedder_id, k1, k2, lam, delta,
                                                           require_full_coverage, filter, extra)))

    async def reward(self, bank: str, token: str, reward: float, *, memory_ids: Sequence[str] | None = None,
                     idempotency_key: str | None = None, extra: Mapping[str, Any] | None = None) -> RewardResult:
        return cast(RewardResult, await self._send(_calls.reward(bank, token, reward, memory_ids, idempotency_key,
                                                                 extra)))

    async def write(self, bank: str, experience: str, success: bool, *, intent: Sequence[float] | None = None,
                    intent_text: str | None = None, embedder_id: str | None = None, recall_token: str | None = None,
                    scope: Scope | Mapping[str, Any] | None = None,
                    metadata: Metadata | Mapping[str, str] | None = None,
                    idempotency_key: str | None = None, extra: Mapping[str, Any] | None = None,
                    ttl_seconds: float | None = None) -> WriteResult:
        return cast(WriteResult, await self._send(_calls.write(bank, experience, success, intent, intent_text,
                                                               embedder_id, recall_token, scope, metadata,
                                                               idempotency_key, extra, ttl_seconds)))

    # ---- memories ---------------------------------------------------------------------------------------------

    async def get_memory(self, bank: str, memory_id: str) -> Memory:
        return cast(Memory, await self._send(_calls.get_memory(bank, memory_id)))

    async def list_memories(self, bank: str, *, limit: int | None = None, cursor: str | None = None,
                            filter: Filter | Mapping[str, Any] | None = None) -> MemoryPage:
        return cast(MemoryPage, await self._send(_calls.list_memories(bank, limit, cursor, filter)))

    async def iter_memories(self, bank: str, *, page_size: int = 100,
                            filter: Filter | Mapping[str, Any] | None = None) -> AsyncIterator[Memory]:
        cursor: str | None = None
        while True:
            page = await self.list_memories(bank, limit=page_size, cursor=cursor, filter=filter)
            for memory in page.get("memories") or []:
                yield memory
            next_cursor = page.get("nextCursor")
            if not next_cursor:
                return
            if next_cursor == cursor:
                raise RuntimeError(f"the server returned the same cursor twice: {cursor!r}")
            cursor = next_cursor

    async def run_retention(self, name: str, *, idempotency_key: str | None = None) -> RetentionRun:
        """:meth:`memrl.MemRL.run_retention`: one run of the bank's retention policy; what it did."""
        return cast(RetentionRun, await self._send(_calls.run_retention(name, idempotency_key)))

    async def edit_memory(self, bank: str, memory_id: str, *, experience: str | None = None,
                          metadata: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                          extra: Mapping[str, Any] | None = None) -> Memory:
        """:meth:`memrl.MemRL.edit_memory`: replaces the experience and/or metadata and returns the memory."""
        return cast(Memory, await self._send(_calls.edit_memory(bank, memory_id, experience, metadata, idempotency_key, extra)))

    async def archive_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> Memory:
        """:meth:`memrl.MemRL.archive_memory`: takes the memory out of recall, restorable; returns it."""
        return cast(Memory, await self._send(_calls.archive_memory(bank, memory_id, True, idempotency_key)))

    async def restore_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> Memory:
        """:meth:`memrl.MemRL.restore_memory`: brings an archived memory back into recall; returns it."""
        return cast(Memory, await self._send(_calls.archive_memory(bank, memory_id, False, idempotency_key)))

    async def delete_memory(self, bank: str, memory_id: str, *, idempotency_key: str | None = None) -> None:
        await self._send(_calls.delete_memory(bank, memory_id, idempotency_key))

    async def delete_by_scope(self, bank: str, filter: Filter | Scope | Mapping[str, Any], *,
                              idempotency_key: str | None = None) -> int:
        """:meth:`memrl.MemRL.delete_by_scope`: erases the memories matching ``filter`` and returns the count."""
        return int((await self._send(_calls.delete_by_scope(bank, filter, idempotency_key)))["deleted"])

    # ---- transport: the sync client's rule, with the attempt in a thread and the waits on the loop ------------

    async def _send(self, call: Call) -> Any:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await loop.run_in_executor(self._executor, self._transport.send, call)
            except CONNECTION_ERRORS as error:
                if attempt >= self.retry.max_attempts:
                    raise ConnectionFailed(None, {"title": "No response", "detail": str(error)}) from error
                await self._sleep(self.retry.delay(attempt))
                continue
            if 200 <= response.status < 300:
                return decode(response)
            if response.status in self.retry.statuses and attempt < self.retry.max_attempts:
                await self._sleep(self.retry.delay(attempt, header(response.headers, "Retry-After")))
                continue
            raise error_of(response)
