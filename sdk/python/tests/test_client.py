"""The sync client's wire behaviour against fake servers: headers, bodies, paths, retries, idempotency, errors."""

from __future__ import annotations

import email.utils
import time
import unittest
import uuid

import memrl
from fakes import KEY, FakeMemRL, FakeServer, problem, scripted
from memrl import (Conflict, ConnectionFailed, InvalidRequest, MemRL, MemRLError, NotFound, QuotaExceeded,
                   RateLimited, RetryPolicy, RewardConflict, Unauthorized, Unavailable)

WRITTEN = (201, None, {"memoryId": "m1", "createdKey": True, "q": 0.0})


def client_for(server: FakeServer, **kwargs) -> MemRL:
    client = MemRL(server.url, KEY, timeout=5, **kwargs)
    client.sleeps = []                      # type: ignore[attr-defined]
    client._sleep = client.sleeps.append    # type: ignore[attr-defined]  # record instead of sleeping
    return client


class RequestTests(unittest.TestCase):
    def test_Requests_CarryTheKey_AndOnlyMutationsAnIdempotencyKey(self):
        bank = {"name": "b", "dimension": 384}
        with FakeServer(scripted((200, None, bank), (201, None, bank))) as server:
            client = client_for(server)
            self.assertEqual(client.get_bank("b"), bank)
            client.create_bank("b")
        for request in server.requests:
            self.assertEqual(request["headers"]["authorization"], "Bearer " + KEY)
        self.assertNotIn("content-type", server.requests[0]["headers"], "a GET has no body to type")
        self.assertEqual(server.requests[1]["headers"]["content-type"], "application/json")
        self.assertNotIn("idempotency-key", server.requests[0]["headers"])
        uuid.UUID(server.requests[1]["headers"]["idempotency-key"])

    def test_Bodies_OmitNoneFields_AndUseTheWireNames(self):
        ok = (200, None, {"token": "t", "memories": []})
        answers = [ok, ok, WRITTEN, (200, None, {"updated": []}), (201, None, {})]
        with FakeServer(scripted(*answers)) as server:
            client = client_for(server)
            client.recall("b", query_text="hello")
            client.recall("b", query=[0.5, 0.25], k2=2, lam=0.7, require_full_coverage=True, embedder_id="e@1")
            client.write("b", "did it", True, intent_text="task", recall_token="t")
            client.reward("b", "t", 0.0)
            client.create_bank("b", dimension=8, embedder_id="e@1", shard_count=3, options={"lambda": 0.2},
                               index={"exact": True})
        bodies = [r["body"] for r in server.requests]
        self.assertEqual(bodies[0], {"queryText": "hello"})
        self.assertEqual(bodies[1], {"query": [0.5, 0.25], "embedderId": "e@1", "k2": 2, "lambda": 0.7,
                                     "requireFullCoverage": True})
        self.assertEqual(bodies[2], {"intentText": "task", "experience": "did it", "success": True, "recallToken": "t"})
        self.assertEqual(bodies[3], {"token": "t", "reward": 0.0}, "a reward of 0 is kept")
        self.assertEqual(bodies[4], {"name": "b", "dimension": 8, "embedderId": "e@1", "shardCount": 3,
                                     "options": {"lambda": 0.2}, "index": {"exact": True}})
        for raw in (r["raw_body"] for r in server.requests):
            self.assertNotIn(b"null", raw)

    def test_Extra_IsPassedThrough_ForMembersTheSdkDoesNotName(self):
        ok = (200, None, {"token": "t", "memories": []})
        with FakeServer(scripted(ok, WRITTEN)) as server:
            client = client_for(server)
            client.recall("b", query_text="q", extra={"filter": {"team": "a"}})
            client.write("b", "e", True, intent_text="t", extra={"metadata": {"ticket": 7}})
        self.assertEqual(server.requests[0]["body"], {"queryText": "q", "filter": {"team": "a"}})
        self.assertEqual(server.requests[1]["body"]["metadata"], {"ticket": 7})

    def test_Methods_ReachTheirRoutes(self):
        with FakeServer(scripted(*[(200, None, {"banks": []})] + [(200, None, {})] * 6 + [(204, None, None)] * 2)) as server:
            client = client_for(server)
            self.assertEqual(client.list_banks(), [])
            client.update_options("b", {"qFloor": None})
            client.replace_options("b", {"alpha": 0.1})
            client.stats("b")
            client.calibrate("b", sample=100)
            client.calibrate("b", apply=True)
            client.list_memories("b", limit=5, cursor="c")
            client.delete_memory("b", "m1")
            self.assertIsNone(client.delete_bank("b"))
        self.assertEqual([(r["method"], r["raw_path"]) for r in server.requests], [
            ("GET", "/v1/banks"), ("PATCH", "/v1/banks/b/options"), ("PUT", "/v1/banks/b/options"),
            ("GET", "/v1/banks/b/stats"), ("POST", "/v1/banks/b/calibrate"), ("POST", "/v1/banks/b/calibrate"),
            ("GET", "/v1/banks/b/memories"), ("DELETE", "/v1/banks/b/memories/m1"), ("DELETE", "/v1/banks/b")])
        self.assertEqual(server.requests[1]["raw_body"], b'{"qFloor":null}', "PATCH sends null to clear an option")
        self.assertNotIn("idempotency-key", server.requests[4]["headers"], "a calibration that applies nothing")
        self.assertIn("idempotency-key", server.requests[5]["headers"])
        self.assertEqual(server.requests[6]["query"], {"limit": "5", "cursor": "c"})

    def test_EditMemory_SendsOnlyTheMembersGiven_AsAKeyedPatch(self):
        with FakeServer(scripted((200, None, {"id": "m1", "experience": "fixed"}))) as server:
            client = client_for(server)
            self.assertEqual(client.edit_memory("b", "m1", experience="fixed")["experience"], "fixed")
            with self.assertRaises(ValueError):
                client.edit_memory("b", "m1")
        self.assertEqual(len(server.requests), 1, "an edit with nothing to change is refused before it is sent")
        request = server.requests[0]
        self.assertEqual((request["method"], request["raw_path"]), ("PATCH", "/v1/banks/b/memories/m1"))
        self.assertEqual(request["body"], {"experience": "fixed"})
        self.assertIn("idempotency-key", request["headers"])

    def test_ArchiveAndRestore_AreKeyedPostsWithoutABody(self):
        archived = (200, None, {"id": "m1", "archivedAt": "2026-12-03T00:00:00Z"})
        restored = (200, None, {"id": "m1", "archivedAt": None, "restoredAt": "2026-12-03T00:01:00Z"})
        with FakeServer(scripted(archived, restored)) as server:
            client = client_for(server)
            self.assertEqual(client.archive_memory("b", "m1", idempotency_key="k-1")["archivedAt"], "2026-12-03T00:00:00Z")
            self.assertIsNone(client.restore_memory("b", "m1")["archivedAt"])
        self.assertEqual([(r["method"], r["raw_path"]) for r in server.requests],
                         [("POST", "/v1/banks/b/memories/m1/archive"), ("POST", "/v1/banks/b/memories/m1/restore")])
        self.assertEqual(server.requests[0]["headers"]["idempotency-key"], "k-1")
        self.assertIn("idempotency-key", server.requests[1]["headers"])
        self.assertEqual(server.requests[0]["raw_body"], b"")

    def test_ListMemories_ArchivedState_IsAQueryParameter_NeverAFilterField(self):
        page = (200, None, {"memories": [], "nextCursor": None})
        with FakeServer(scripted(page, page)) as server:
            client = client_for(server)
            client.list_memories("b", limit=2, state="archived")
            self.assertEqual(list(client.iter_memories("b", page_size=3, state="all")), [])
        self.assertEqual(server.requests[0]["query_pairs"], [("limit", "2"), ("state", "archived")])
        self.assertEqual(server.requests[1]["query_pairs"], [("limit", "3"), ("state", "all")])
        with self.assertRaises(ValueError):
            client.list_memories("b", filter={"state": "archived"})

    def test_Write_TimeToLive_IsSentAsTtlSeconds_AndLeftOutWhenNotGiven(self):
        with FakeServer(scripted(WRITTEN, WRITTEN)) as server:
            client = client_for(server)
            client.write("b", "e", True, intent_text="t", ttl_seconds=3600)
            client.write("b", "e", True, intent_text="t")
        self.assertEqual(server.requests[0]["body"]["ttlSeconds"], 3600)
        self.assertNotIn("ttlSeconds", server.requests[1]["body"])

    def test_RunRetention_IsAKeyedPost_ToTheColonRoute(self):
        with FakeServer(scripted((200, None, {"purged": 0, "archived": 2, "more": False, "at": "2026-12-03T00:00:00Z"}))) as server:
            self.assertEqual(client_for(server).run_retention("b", idempotency_key="r-1")["archived"], 2)
        request = server.requests[0]
        self.assertEqual((request["method"], request["raw_path"]), ("POST", "/v1/banks/b/retention%3Arun"))
        self.assertEqual(request["headers"]["idempotency-key"], "r-1")

    def test_ScopeMetadataAndFilters_AreSentAsTheApiTakesThem(self):
        ok = (200, None, {"token": "t", "memories": []})
        page = (200, None, {"memories": [], "nextCursor": None})
        with FakeServer(scripted(WRITTEN, ok, page, (200, None, {"deleted": 3}))) as server:
            client = client_for(server)
            client.write("b", "e", True, intent_text="t", scope={"userId": "u", "runId": None},
                         metadata={"topic": "x"})
            client.recall("b", query_text="q", filter={"userId": ("u", "v"), "metadata.topic": {"y", "x"}})
            client.list_memories("b", limit=5, filter={"userId": ["u", "v"], "metadata.topic": "x"})
            self.assertEqual(client.delete_by_scope("b", {"userId": "u"}), 3)
        self.assertEqual((server.requests[0]["body"]["scope"], server.requests[0]["body"]["metadata"]),
                         ({"userId": "u"}, {"topic": "x"}), "an absent scope field is left out, not sent as null")
        self.assertEqual(server.requests[1]["body"]["filter"], {"userId": ["u", "v"], "metadata.topic": ["x", "y"]},
                         "tuples and sets become lists (a set sorted, so a retry sends the same body)")
        self.assertEqual(server.requests[2]["query_pairs"],
                         [("userId", "u"), ("userId", "v"), ("metadata.topic", "x"), ("limit", "5")],
                         "a set in a query string is the parameter repeated")
        self.assertEqual((server.requests[3]["method"], server.requests[3]["raw_path"],
                          server.requests[3]["query_pairs"]), ("DELETE", "/v1/banks/b/memories", [("userId", "u")]))
        uuid.UUID(server.requests[3]["headers"]["idempotency-key"])
        with self.assertRaises(ValueError):
            client.list_memories("b", filter={"limit": "7"})

    def test_DeleteByScope_Retried503_ReusesTheIdempotencyKey(self):
        unavailable = (503, {"Retry-After": "0"}, problem(503, "Service Unavailable", "shard busy"))
        with FakeServer(scripted(unavailable, unavailable, (200, None, {"deleted": 2}))) as server:
            self.assertEqual(client_for(server).delete_by_scope("b", {"userId": "u"}), 2)
        self.assertEqual(len({r["headers"]["idempotency-key"] for r in server.requests}), 1)
        self.assertEqual(len(server.requests), 3)

    def test_BadFilter_RaisesInvalidRequest_WithFieldExpectedActual(self):
        bad = (400, None, {**problem(400, "Bad Request", "filter.userId is the number 7"), "field": "filter.userId",
                           "expected": "a string, or an array of strings (set membership)", "actual": "the number 7"})
        with FakeServer(scripted(bad)) as server:
            with self.assertRaises(InvalidRequest) as raised:
                client_for(server).recall("b", query_text="q", filter={"userId": 7})
        self.assertEqual((raised.exception.field, raised.exception.actual), ("filter.userId", "the number 7"))
        self.assertTrue(raised.exception.expected.startswith("a string"))

    def test_PathSegments_AreQuoted(self):
        with FakeServer(scripted((200, None, {"id": "x"}))) as server:
            client_for(server).get_memory("my bank/1", "a?b#c%")
        self.assertEqual(server.requests[0]["raw_path"], "/v1/banks/my%20bank%2F1/memories/a%3Fb%23c%25")

    def test_Recall_WithoutQuery_IsRefusedBeforeSending(self):
        with FakeServer(scripted()) as server:
            with self.assertRaises(ValueError):
                client_for(server).recall("b")
            with self.assertRaises(ValueError):
                client_for(server).write("b", "e", True)
        self.assertEqual(server.requests, [])

    def test_NaN_IsRefusedBeforeSending(self):
        with FakeServer(scripted()) as server:
            with self.assertRaises(ValueError):
                client_for(server).recall("b", query=[float("nan")])
        self.assertEqual(server.requests, [])

    def test_IterMemories_FollowsCursors(self):
        pages = {None: {"memories": [{"id": "a"}, {"id": "b"}], "nextCursor": "c1"},
                 "c1": {"memories": [{"id": "c"}], "nextCursor": None}}
        with FakeServer(lambda request: (200, None, pages[request["query"].get("cursor")])) as server:
            ids = [m["id"] for m in client_for(server).iter_memories("b", page_size=2)]
        self.assertEqual(ids, ["a", "b", "c"])
        self.assertEqual([r["query"] for r in server.requests], [{"limit": "2"}, {"limit": "2", "cursor": "c1"}])

    def test_IterMemories_StopsOnARepeatedCursor(self):
        with FakeServer(lambda request: (200, None, {"memories": [], "nextCursor": "same"})) as server:
            with self.assertRaises(RuntimeError):
                list(client_for(server).iter_memories("b"))
        self.assertEqual(len(server.requests), 2)


class RetryTests(unittest.TestCase):
    def test_Retried503_ReusesTheIdempotencyKey_AndHonoursRetryAfter(self):
        unavailable = (503, {"Retry-After": "2"}, problem(503, "Service Unavailable", "shard busy"))
        with FakeServer(scripted(unavailable, unavailable, WRITTEN, WRITTEN)) as server:
            client = client_for(server)
            self.assertEqual(client.write("b", "exp", False, intent_text="task")["memoryId"], "m1")
            client.write("b", "exp", False, intent_text="task")
        keys = [r["headers"]["idempotency-key"] for r in server.requests]
        self.assertEqual(len(set(keys[:3])), 1, "every attempt of one call carries the same key")
        self.assertNotEqual(keys[3], keys[0], "another call, another key")
        self.assertEqual(len({r["raw_body"] for r in server.requests}), 1)
        self.assertEqual(client.sleeps, [2.0, 2.0])

    def test_RetryAfter_AsAnHttpDate_IsHonoured_AndCapped(self):
        soon = email.utils.formatdate(time.time() + 30, usegmt=True)
        limited = [(429, {"Retry-After": soon}, problem(429, "Too Many Requests", "slow")),
                   (429, {"Retry-After": "3600"}, problem(429, "Too Many Requests", "slow")), WRITTEN]
        with FakeServer(scripted(*limited)) as server:
            client = client_for(server, retry=RetryPolicy(retry_after_cap=60))
            client.write("b", "e", True, intent_text="t", idempotency_key="mine")
        self.assertTrue(25 <= client.sleeps[0] <= 30, client.sleeps)
        self.assertEqual(client.sleeps[1], 60)
        self.assertEqual([r["headers"]["idempotency-key"] for r in server.requests], ["mine"] * 3)

    def test_Backoff_WithoutRetryAfter_GrowsAndIsJittered(self):
        with FakeServer(scripted(*[(503, None, problem(503, "Service Unavailable", "x"))] * 5)) as server:
            client = client_for(server, retry=RetryPolicy(backoff_base=1.0, backoff_cap=3.0))
            with self.assertRaises(Unavailable) as raised:
                client.stats("b")
        self.assertEqual(len(server.requests), 5)
        self.assertEqual(raised.exception.status, 503)
        for sleep, ceiling in zip(client.sleeps, [1.0, 2.0, 3.0, 3.0]):
            self.assertTrue(ceiling / 2 <= sleep <= ceiling, client.sleeps)

    def test_RateLimited_AfterTheLastAttempt_CarriesRetryAfter(self):
        with FakeServer(scripted(*[(429, {"Retry-After": "1"}, problem(429, "Too Many Requests", "x"))] * 2)) as server:
            client = client_for(server, retry=RetryPolicy(max_attempts=2))
            with self.assertRaises(RateLimited) as raised:
                client.get_bank("b")
        self.assertEqual(raised.exception.retry_after, "1")
        self.assertEqual(len(server.requests), 2)

    def test_ClientErrors_AreNotRetried(self):
        for status in (400, 401, 403, 404, 409):
            with self.subTest(status=status), FakeServer(scripted((status, None, problem(status, "x", "y")))) as server:
                client = client_for(server)
                with self.assertRaises(MemRLError):
                    client.write("b", "e", True, intent_text="t")
                self.assertEqual(len(server.requests), 1)
                self.assertEqual(client.sleeps, [])

    def test_LostResponse_RetriedWrite_AppliesOnce(self):
        fake = FakeMemRL()
        fake.create({"name": "b"})
        fake.lose_responses = 2    # applied, then the connection drops before the answer: twice
        with FakeServer(fake) as server:
            client = client_for(server)
            written = client.write("b", "sent the link", True, intent_text="reset my password")
            self.assertEqual(client.stats("b")["memories"], 1)
        self.assertEqual(written["memoryId"], "m1")
        self.assertEqual(fake.applied, 1, "the retries were replays")
        self.assertEqual(len(client.sleeps), 2)
        self.assertEqual(len({r["headers"]["idempotency-key"] for r in server.requests[:3]}), 1)

    def test_ConnectionRefused_IsRetried_ThenConnectionFailed(self):
        with FakeServer(scripted()) as server:
            url = server.url
        client = MemRL(url, KEY, timeout=2)     # the port is closed now
        sleeps: list[float] = []
        client._sleep = sleeps.append
        with self.assertRaises(ConnectionFailed) as raised:
            client.get_bank("b")
        self.assertEqual(len(sleeps), 4, "five attempts, four waits")
        self.assertIsNone(raised.exception.status)
        self.assertIsInstance(raised.exception.__cause__, OSError)

    def test_RetryPolicy_RefusesNoAttempts(self):
        with self.assertRaises(ValueError):
            RetryPolicy(max_attempts=0)


class ErrorTests(unittest.TestCase):
    def raised(self, status, body, headers=None) -> MemRLError:
        with FakeServer(scripted((status, headers, body))) as server:
            with self.assertRaises(MemRLError) as raised:
                client_for(server, retry=RetryPolicy(max_attempts=1)).get_bank("b")
        return raised.exception

    def test_BadRequest_IsInvalidRequest_WithFieldExpectedActualReason(self):
        error = self.raised(400, problem(400, "Bad Request", "k2 is out of range.", field="k2",
                                         expected="an integer in [1, k1]", actual="9", reason="missing"))
        self.assertIsInstance(error, InvalidRequest)
        self.assertEqual((error.field, error.expected, error.actual, error.reason),
                         ("k2", "an integer in [1, k1]", "9", "missing"))
        self.assertEqual(error.problem["detail"], "k2 is out of range.")
        for part in ("HTTP 400", "Bad Request", "k2 is out of range.", "field='k2'", "actual='9'"):
            self.assertIn(part, str(error))

    def test_Statuses_MapToTheHierarchy(self):
        cases = {401: Unauthorized, 403: memrl.Forbidden, 404: NotFound, 405: memrl.MethodNotAllowed, 409: Conflict,
                 413: memrl.PayloadTooLarge, 415: memrl.UnsupportedMediaType, 431: memrl.HeadersTooLarge,
                 500: memrl.ServerError, 502: memrl.ServerError}
        for status, kind in cases.items():
            with self.subTest(status=status):
                error = self.raised(status, problem(status, "t", "d"))
                self.assertIs(type(error), kind)
                self.assertEqual(error.status, status)
        self.assertTrue(issubclass(memrl.PayloadTooLarge, InvalidRequest))

    def test_Reasons_RefineTheKind(self):
        quota = self.raised(403, problem(403, "Forbidden", "over", reason="quota", quota="banks", limit=10, current=10))
        self.assertIsInstance(quota, QuotaExceeded)
        self.assertEqual((quota.quota, quota.limit, quota.current), ("banks", 10, 10))
        conflict = self.raised(409, problem(409, "Conflict", "again", reason="reward-conflict", expected="1"))
        self.assertIsInstance(conflict, RewardConflict)
        self.assertIsInstance(conflict, Conflict)

    def test_NonJsonErrorBody_BecomesTheDetail(self):
        error = self.raised(502, b"<html>bad gateway</html>")
        self.assertEqual(error.problem, {"detail": "<html>bad gateway</html>", "status": 502})

    def test_Unauthorized_KeepsTheHeaders(self):
        error = self.raised(401, problem(401, "Unauthorized", "No key."), {"WWW-Authenticate": 'Bearer realm="memrl"'})
        self.assertEqual(error.headers["www-authenticate"], 'Bearer realm="memrl"')


class DefaultsTests(unittest.TestCase):
    def test_DefaultKey_ComesFromTheEnvironment_ThenTheKeyFile(self):
        import os
        import tempfile
        from pathlib import Path
        from unittest import mock
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / "data").mkdir()
            (Path(directory) / "data" / "api-key.local").write_text("from-file\n")
            with mock.patch.dict(os.environ, {"MEMRL_API_KEY": ""}):
                self.assertEqual(memrl.default_api_key([Path(directory)]), "from-file")
                with self.assertRaises(MemRLError) as raised:
                    memrl.default_api_key([Path(directory) / "nowhere"])
                self.assertIn("MEMRL_API_KEY", str(raised.exception))
            with mock.patch.dict(os.environ, {"MEMRL_API_KEY": " from-env "}):
                self.assertEqual(memrl.default_api_key([Path(directory)]), "from-env")
            with mock.patch.dict(os.environ, {"MEMRL_URL": "http://silo:9"}):
                self.assertEqual(memrl.default_url(), "http://silo:9")


if __name__ == "__main__":
    unittest.main()
