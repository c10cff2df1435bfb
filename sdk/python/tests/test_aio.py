"""The asyncio client: the same wire behaviour as the sync one, waits on the loop, concurrent calls."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest

from fakes import KEY, FakeMemRL, FakeServer, problem, scripted
from memrl import AsyncMemRL, ConnectionFailed, InvalidRequest, NotFound, RetryPolicy


def client_for(server: FakeServer, **kwargs) -> AsyncMemRL:
    client = AsyncMemRL(server.url, KEY, timeout=5, **kwargs)
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    client.sleeps = sleeps      # type: ignore[attr-defined]
    client._sleep = record      # type: ignore[assignment]
    return client


class AsyncClientTests(unittest.IsolatedAsyncioTestCase):
    async def test_Retried503_ReusesTheIdempotencyKey_AndWaitsOnTheLoop(self):
        unavailable = (503, {"Retry-After": "1.5"}, problem(503, "Service Unavailable", "busy"))
        written = (201, None, {"memoryId": "m1", "createdKey": True, "q": 0.0})
        with FakeServer(scripted(unavailable, written)) as server:
            async with client_for(server) as client:
                result = await client.write("b", "e", True, intent_text="t", extra={"metadata": {"a": 1}})
        self.assertEqual(result["memoryId"], "m1")
        self.assertEqual(client.sleeps, [1.5])
        keys = [r["headers"]["idempotency-key"] for r in server.requests]
        self.assertEqual(len(keys), 2)
        self.assertEqual(keys[0], keys[1])
        self.assertEqual(server.requests[0]["body"]["metadata"], {"a": 1})

    async def test_ScopeMetadataFilterAndDeleteByScope_AsTheSyncClientSendsThem(self):
        unavailable = (503, {"Retry-After": "0"}, problem(503, "Service Unavailable", "busy"))
        answers = [(201, None, {"memoryId": "m1", "createdKey": True, "q": 0.0}),
                   (200, None, {"token": "t", "memories": []}),
                   (200, None, {"memories": [], "nextCursor": None}), unavailable, (200, None, {"deleted": 4})]
        with FakeServer(scripted(*answers)) as server:
            async with client_for(server) as client:
                await client.write("b", "e", True, intent_text="t", scope={"userId": "u"}, metadata={"k": "v"})
                await client.recall("b", query_text="q", filter={"userId": ["u", "v"]})
                self.assertEqual([m async for m in client.iter_memories("b", filter={"userId": ["u", "v"]})], [])
                self.assertEqual(await client.delete_by_scope("b", {"userId": "u"}), 4)
        body = server.requests[0]["body"]
        self.assertEqual((body["scope"], body["metadata"]), ({"userId": "u"}, {"k": "v"}))
        self.assertEqual(server.requests[1]["body"]["filter"], {"userId": ["u", "v"]})
        self.assertEqual(server.requests[2]["query_pairs"], [("userId", "u"), ("userId", "v"), ("limit", "100")])
        self.assertEqual(server.requests[3]["headers"]["idempotency-key"], server.requests[4]["headers"]["idempotency-key"])

    async def test_LostResponse_RetriedWrite_AppliesOnce(self):
        fake = FakeMemRL()
        fake.create({"name": "b"})
        fake.lose_responses = 1
        with FakeServer(fake) as server:
            async with client_for(server) as client:
                written = await client.write("b", "e", True, intent_text="t")
                stats = await client.stats("b")
        self.assertEqual((written["memoryId"], stats["memories"], fake.applied), ("m1", 1, 1))

    async def test_Errors_RaiseTheSameHierarchy(self):
        bad = problem(400, "Bad Request", "no", field="reward", expected="a finite number", actual="NaN",
                      reason="not-finite")
        with FakeServer(scripted((400, None, bad), (404, None, problem(404, "Not Found", "No bank 'x'.")))) as server:
            async with client_for(server) as client:
                with self.assertRaises(InvalidRequest) as raised:
                    await client.reward("b", "t", 1.0)
                with self.assertRaises(NotFound):
                    await client.get_bank("x")
        self.assertEqual((raised.exception.field, raised.exception.reason), ("reward", "not-finite"))

    async def test_ConnectionRefused_IsConnectionFailed(self):
        with FakeServer(scripted()) as server:
            url = server.url
        async with AsyncMemRL(url, KEY, timeout=2, retry=RetryPolicy(max_attempts=2, backoff_base=0.001)) as client:
            with self.assertRaises(ConnectionFailed):
                await client.get_bank("b")

    async def test_Calls_RunConcurrently(self):
        # Each answer waits until four requests are in flight: a client running calls one at a time would stall.
        barrier = threading.Barrier(4, timeout=5)

        def app(request):
            barrier.wait()
            return 200, None, {"name": request["path"][2]}

        with FakeServer(app) as server:
            async with client_for(server) as client:
                started = time.monotonic()
                banks = await asyncio.gather(*(client.get_bank(f"b{n}") for n in range(4)))
        self.assertEqual([b["name"] for b in banks], ["b0", "b1", "b2", "b3"])
        self.assertLess(time.monotonic() - started, 5)

    async def test_IterMemories_FollowsCursors(self):
        pages = {None: {"memories": [{"id": "a"}], "nextCursor": "c1"},
                 "c1": {"memories": [{"id": "b"}], "nextCursor": None}}
        with FakeServer(lambda request: (200, None, pages[request["query"].get("cursor")])) as server:
            async with client_for(server) as client:
                ids = [m["id"] async for m in client.iter_memories("b", page_size=1)]
        self.assertEqual(ids, ["a", "b"])


if __name__ == "__main__":
    unittest.main()
