"""Against a real silo: set MEMRL_URL and MEMRL_API_KEY (tests/MemRL.Api.Tests/PythonExampleTests.cs starts a silo
process and does). Skipped, saying so, when they are not set. Each test makes its own bank and deletes it."""

from __future__ import annotations

import http.client
import json
import os
import unittest
import urllib.parse
import uuid

from fakes import DROP, FakeServer
from memrl import (AgentLoop, AsyncAgentLoop, AsyncMemRL, Conflict, InvalidRequest, MemRL, NotFound, Outcome,
                   RetryPolicy, RewardConflict, Unauthorized)

URL = os.environ.get("MEMRL_URL", "").strip()
KEY = os.environ.get("MEMRL_API_KEY", "").strip() or os.environ.get("MEMRL_KEY", "").strip()
NEEDS_SILO = unittest.skipUnless(URL and KEY, "set MEMRL_URL and MEMRL_API_KEY to run against a silo")
PARAPHRASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata", "paraphrases.json")
# delta 0 lets every stored key pass the similarity gate: the hashing embedder gives paraphrases modest similarity.
OPTIONS = {"delta": 0.0, "qInitSuccess": 1.0}


def fresh(prefix: str = "sdk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class LosingProxy:
    """Forwards every request to the silo; the answers to the next ``lose`` mutations are dropped after the silo
    applied them (the connection closes with no response), as when a response is lost on the way back."""

    FORWARDED = ("authorization", "content-type", "accept", "idempotency-key")

    def __init__(self) -> None:
        self.lose = 0
        self.target = urllib.parse.urlsplit(URL)

    def __call__(self, request: dict):
        connection = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=30)
        try:
            query = urllib.parse.urlencode(request["query"])
            connection.request(request["method"], request["raw_path"] + ("?" + query if query else ""),
                               body=request["raw_body"] or None,
                               headers={k: v for k, v in request["headers"].items() if k in self.FORWARDED})
            answer = connection.getresponse()
            payload = answer.read()
        finally:
            connection.close()
        if "idempotency-key" in request["headers"] and self.lose > 0:
            self.lose -= 1
            return DROP
        return answer.status, {k: v for k, v in answer.getheaders() if k.lower() == "retry-after"}, payload or None


@NEEDS_SILO
class SiloTests(unittest.TestCase):
    def setUp(self):
        self.client = MemRL(URL, KEY, timeout=30)
        self.bank = fresh()
        self.created = self.client.create_bank(self.bank, options=OPTIONS)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        try:
            self.client.delete_bank(self.bank)
        except NotFound:
            pass

    def test_Banks_CreateGetListPatchStatsDelete(self):
        self.assertEqual(self.created["name"], self.bank)
        self.assertEqual(self.created["options"]["delta"], 0.0)
        self.assertEqual(self.client.create_bank(self.bank, options=OPTIONS)["version"], self.created["version"],
                         "the same spec again returns the bank")
        with self.assertRaises(Conflict):
            self.client.create_bank(self.bank, shard_count=self.created["shardCount"] + 1, options=OPTIONS)
        self.assertEqual(self.client.get_bank(self.bank)["embedderId"], self.created["embedderId"])
        self.assertIn(self.bank, [b["name"] for b in self.client.list_banks()])
        patched = self.client.update_options(self.bank, {"lambda": 0.25})
        self.assertEqual((patched["options"]["lambda"], patched["options"]["qInitSuccess"]), (0.25, 1.0))
        self.assertGreater(patched["version"], self.created["version"])
        stats = self.client.stats(self.bank)
        self.assertEqual((stats["memories"], stats["keys"]), (0, 0))
        self.client.delete_bank(self.bank)
        with self.assertRaises(NotFound) as raised:
            self.client.get_bank(self.bank)
        self.assertEqual(raised.exception.field, "bank")

    def test_Step_WriteRecallRewardWithTheToken(self):
        first = self.client.write(self.bank, "Sent a reset link.", True, intent_text="I forgot my password")
        self.assertTrue(first["createdKey"])
        recall = self.client.recall(self.bank, query_text="how do I reset my password")
        self.assertEqual([m["id"] for m in recall["memories"]], [first["memoryId"]])
        self.assertEqual(recall["coverage"]["shardsAnswered"], recall["coverage"]["shardsTotal"])
        rewarded = self.client.reward(self.bank, recall["token"], 0.0)
        self.assertEqual(rewarded["updated"][0]["id"], first["memoryId"])
        self.assertEqual(rewarded["updated"][0]["visits"], 1)
        again = self.client.reward(self.bank, recall["token"], 0.0)
        self.assertEqual(again["updated"], rewarded["updated"], "the same reward again answers the first result")
        with self.assertRaises(RewardConflict) as raised:
            self.client.reward(self.bank, recall["token"], 1.0)
        self.assertEqual(raised.exception.reason, "reward-conflict")
        memory = self.client.get_memory(self.bank, first["memoryId"])
        self.assertEqual((memory["visits"], memory["q"]), (1, rewarded["updated"][0]["q"]))
        second = self.client.write(self.bank, "Asked to retry.", False, intent_text="how do I reset my password",
                                   recall_token=recall["token"])
        self.assertEqual({m["id"] for m in self.client.iter_memories(self.bank, page_size=1)},
                         {first["memoryId"], second["memoryId"]})

    def test_Write_RetriedWithItsKey_AppliesOnce_AndAnotherBodyConflicts(self):
        key = str(uuid.uuid4())
        first = self.client.write(self.bank, "probe", False, intent_text="probe", idempotency_key=key)
        again = self.client.write(self.bank, "probe", False, intent_text="probe", idempotency_key=key)
        self.assertEqual(again["memoryId"], first["memoryId"])
        self.assertEqual(self.client.stats(self.bank)["memories"], 1)
        with self.assertRaises(Conflict):
            self.client.write(self.bank, "another body", False, intent_text="probe", idempotency_key=key)
        self.client.delete_memory(self.bank, first["memoryId"])
        with self.assertRaises(NotFound):
            self.client.get_memory(self.bank, first["memoryId"])

    def test_LostResponses_RetriedWriteRewardAndDelete_ApplyOnce(self):
        proxy = LosingProxy()
        with FakeServer(proxy) as server:
            lossy = MemRL(server.url, KEY, timeout=30, retry=RetryPolicy(backoff_base=0.01))
            proxy.lose = 2
            written = lossy.write(self.bank, "Sent a reset link.", True, intent_text="I forgot my password")
            self.assertEqual(proxy.lose, 0, "two answers were lost")
            self.assertEqual(len(server.requests), 3)
            self.assertEqual(self.client.stats(self.bank)["memories"], 1, "three attempts, one memory")
            self.assertEqual([m["id"] for m in self.client.iter_memories(self.bank)], [written["memoryId"]])

            recall = self.client.recall(self.bank, query_text="I forgot my password")
            proxy.lose = 1
            rewarded = lossy.reward(self.bank, recall["token"], 0.0)
            self.assertEqual(rewarded["updated"][0]["visits"], 1)
            self.assertEqual(self.client.get_memory(self.bank, written["memoryId"])["visits"], 1)

            proxy.lose = 1
            lossy.delete_memory(self.bank, written["memoryId"])
            self.assertEqual(self.client.stats(self.bank)["memories"], 0)

    def test_Errors_NameTheField(self):
        with self.assertRaises(InvalidRequest) as raised:
            self.client.recall(self.bank, query_text="x", extra={"lamda": 0.3})
        self.assertEqual((raised.exception.status, raised.exception.field, raised.exception.reason),
                         (400, "lamda", "unknown-member"))
        with self.assertRaises(InvalidRequest) as raised:
            self.client.update_options(self.bank, {"alpha": 7})
        self.assertEqual(raised.exception.field, "alpha", "the PATCH body is the options object")
        self.assertEqual(raised.exception.actual, "7")
        with self.assertRaises(InvalidRequest) as raised:
            self.client.reward(self.bank, "not-a-token", 1.0)
        self.assertEqual(raised.exception.field, "token")
        with self.assertRaises(Unauthorized):
            MemRL(URL, "wrong-key").get_bank(self.bank)

    def test_AgentLoop_LearnsTheRightTactic(self):
        right, wrong = "Send a reset link.", "Escalate and wait."
        loop = AgentLoop(self.client, self.bank)

        def act(memories):
            if memories and memories[0]["success"]:
                tactic = memories[0]["experience"]
            else:
                tactic = right if memories and memories[0]["experience"] == wrong else wrong
            return Outcome(tactic, tactic == right)

        episodes = [loop.run_episode(task, act) for task in ["I forgot my password", "reset my password",
                                                             "my password reset is not working"]]
        self.assertEqual([e.outcome.experience for e in episodes], [wrong, right, right])
        self.assertIsNone(episodes[0].rewarded)
        self.assertEqual(self.client.stats(self.bank)["memories"], 3)


@NEEDS_SILO
class AsyncSiloTests(unittest.IsolatedAsyncioTestCase):
    async def test_AsyncClient_RunsTheStep(self):
        bank = fresh("sdk-async")
        async with AsyncMemRL(URL, KEY, timeout=30) as client:
            await client.create_bank(bank, options=OPTIONS)
            try:
                loop = AsyncAgentLoop(client, bank)
                first = await loop.run_episode("cancel my subscription", lambda m: Outcome("Cancelled it.", True))
                second = await loop.run_episode("please cancel my plan", lambda m: Outcome(m[0]["experience"], True))
                self.assertEqual(second.memories[0]["id"], first.written["memoryId"])
                self.assertEqual(second.rewarded["updated"][0]["visits"], 1)
                ids = [m["id"] async for m in client.iter_memories(bank)]
                self.assertEqual(sorted(ids), sorted([first.written["memoryId"], second.written["memoryId"]]))
            finally:
                await client.delete_bank(bank)
            with self.assertRaises(NotFound):
                await client.stats(bank)


@NEEDS_SILO
class ScopeSiloTests(unittest.TestCase):
    """Scopes, metadata and filters end to end (docs/scopes.md): two users in one bank."""

    def setUp(self):
        self.client = MemRL(URL, KEY, timeout=30)
        self.bank = fresh("sdk-scope")
        self.client.create_bank(self.bank, options=OPTIONS)
        self.addCleanup(self.cleanup)
        write = self.client.write
        self.ana = [write(self.bank, f"ana {i}", True, intent_text=f"reset my password {i}",
                          scope={"userId": "ana", "agentId": "support"},
                          metadata={"topic": topic, "n": str(i)})["memoryId"]
                    for i, topic in enumerate(["billing", "login", "login"])]
        self.bob = [write(self.bank, f"bob {i}", True, intent_text=f"reset my password {i}",
                          scope={"userId": "bob"}, metadata={"topic": "billing"})["memoryId"] for i in range(2)]

    def cleanup(self):
        try:
            self.client.delete_bank(self.bank)
        except NotFound:
            pass

    def recalled(self, **filter_):
        recall = self.client.recall(self.bank, query_text="reset my password", k1=10, k2=10, filter=filter_ or None)
        return {m["id"] for m in recall["memories"]}, recall

    def test_Recall_FilteredByUser_ReturnsOnlyThatUsersMemories_WithScopeAndMetadata(self):
        everyone, _ = self.recalled()
        self.assertEqual(everyone, set(self.ana + self.bob), "without a filter both users' memories are found")
        ana, recall = self.recalled(userId="ana")
        self.assertEqual(ana, set(self.ana))
        first = recall["memories"][0]
        self.assertEqual(first["scope"], {"userId": "ana", "agentId": "support", "sessionId": None, "runId": None}
                         if "sessionId" in first["scope"] else {"userId": "ana", "agentId": "support"})
        self.assertEqual(first["metadata"]["topic"], ["billing", "login", "login"][self.ana.index(first["id"])])
        self.assertEqual(self.recalled(userId="bob")[0], set(self.bob))
        self.assertEqual(self.recalled(userId=["ana", "bob"])[0], set(self.ana + self.bob), "a list is a set")
        self.assertEqual(self.recalled(userId="carol")[0], set(), "nobody's memories for an unknown user")

    def test_Recall_MetadataSetMembership_AndAcrossFields(self):
        self.assertEqual(self.recalled(**{"metadata.topic": "login"})[0], set(self.ana[1:]))
        self.assertEqual(self.recalled(**{"metadata.topic": ["login", "billing"]})[0], set(self.ana + self.bob))
        self.assertEqual(self.recalled(**{"userId": "bob", "metadata.topic": "billing"})[0], set(self.bob))
        self.assertEqual(self.recalled(**{"userId": "bob", "metadata.topic": "login"})[0], set(), "AND, not OR")
        self.assertEqual(self.recalled(**{"agentId": "support", "metadata.n": ("0", "2")})[0],
                         {self.ana[0], self.ana[2]})

    def test_List_ByFilter_FollowsCursorsWithTheFilter(self):
        self.assertEqual({m["id"] for m in self.client.iter_memories(self.bank, page_size=1, filter={"userId": "ana"})},
                         set(self.ana))
        page = self.client.list_memories(self.bank, filter={"userId": ["bob"], "metadata.topic": "billing"})
        self.assertEqual({m["id"] for m in page["memories"]}, set(self.bob))
        self.assertEqual(page["memories"][0]["metadata"], {"topic": "billing"})
        self.assertEqual(page["memories"][0]["scope"]["userId"], "bob")
        self.assertEqual(self.client.list_memories(self.bank, filter={"metadata.topic": "login", "userId": "bob"})
                         ["memories"], [])

    def test_DeleteByScope_CountsAndARetryUnderTheSameKeyAnswersTheSameCount(self):
        key = str(uuid.uuid4())
        self.assertEqual(self.client.delete_by_scope(self.bank, {"userId": "ana"}, idempotency_key=key), 3)
        self.assertEqual(self.client.delete_by_scope(self.bank, {"userId": "ana"}, idempotency_key=key), 3,
                         "the retry replays the first answer, although nothing is left to delete")
        self.assertEqual(self.client.delete_by_scope(self.bank, {"userId": "ana"}), 0, "a new key deletes again")
        self.assertEqual({m["id"] for m in self.client.iter_memories(self.bank)}, set(self.bob), "bob's stay")
        with self.assertRaises(Conflict):
            self.client.delete_by_scope(self.bank, {"userId": "bob"}, idempotency_key=key)
        self.assertEqual(self.client.stats(self.bank)["memories"], 2, "a conflicting key changed nothing")

    def test_DeleteByScope_LostAnswers_AreRetriedWithTheKey_AndCountOnce(self):
        proxy = LosingProxy()
        with FakeServer(proxy) as server:
            lossy = MemRL(server.url, KEY, timeout=30, retry=RetryPolicy(backoff_base=0.01))
            proxy.lose = 2
            self.assertEqual(lossy.delete_by_scope(self.bank, {"userId": "bob"}), 2)
            self.assertEqual(len(server.requests), 3)
            keys = {r["headers"]["idempotency-key"] for r in server.requests}
            self.assertEqual(len(keys), 1, "every attempt carries the same Idempotency-Key")
        self.assertEqual({m["id"] for m in self.client.iter_memories(self.bank)}, set(self.ana))

    def test_BadFilters_AndDeletes_AreRefusedNamingTheField_AndChangeNothing(self):
        cases = [
            ({"userId": 7}, "filter.userId"),
            ({"userId": ["ana", 7]}, "filter.userId"),
            ({"userId": None}, "filter.userId"),
            ({"userId": []}, "filter.userId"),
            ({"colour": "red"}, "filter.colour"),
        ]
        for bad, field in cases:
            with self.subTest(filter=bad):
                with self.assertRaises(InvalidRequest) as raised:
                    self.client.recall(self.bank, query_text="reset my password", filter=bad)
                self.assertEqual((raised.exception.status, raised.exception.field), (400, field))
                self.assertTrue(raised.exception.expected, "the problem says what was expected")
                self.assertTrue(raised.exception.actual, "and what was sent")
        with self.assertRaises(InvalidRequest) as raised:
            self.client.list_memories(self.bank, filter={"colour": "red"})
        self.assertEqual(raised.exception.field, "colour", "in a query string the field is the parameter")
        with self.assertRaises(InvalidRequest) as raised:
            self.client.delete_by_scope(self.bank, {"metadata.topic": "billing"})
        self.assertTrue(raised.exception.field, "a delete without a scope field names what is missing")
        with self.assertRaises(InvalidRequest):
            self.client.delete_by_scope(self.bank, {})
        self.assertEqual(self.client.stats(self.bank)["memories"], 5, "refused deletes erased nothing")

    def test_BadScopesAndMetadata_AreRefusedAtWrite_WithNothingStored(self):
        cases = [
            ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
            ({"metadata": {"topic": "x" * 257}}, "metadata.topic"),
            ({"metadata": {"bad key": "v"}}, "metadata.bad key"),
            ({"scope": {"userId": ""}}, "scope.userId"),
            ({"scope": {"userId": "u" * 129}}, "scope.userId"),
        ]
        for arguments, field in cases:
            with self.subTest(arguments=arguments):
                with self.assertRaises(InvalidRequest) as raised:
                    self.client.write(self.bank, "x", True, intent_text="x", **arguments)
                self.assertTrue(raised.exception.field.startswith(field.split(".")[0]), raised.exception.problem)
                if "." in field:
                    self.assertEqual(raised.exception.field, field)
        with self.assertRaises(InvalidRequest) as raised:
            self.client.write(self.bank, "x", True, intent_text="x", extra={"metadata": {"n": 7}})
        self.assertTrue(raised.exception.field.startswith("metadata"), raised.exception.problem)
        self.assertEqual(self.client.stats(self.bank)["memories"], 5)

    def test_AgentLoop_WithAScope_RecallsOnlyItsOwnAndWritesWithIt(self):
        carol = AgentLoop(self.client, self.bank, scope={"userId": "carol"}, metadata={"channel": "chat"},
                          recall_options={"k1": 10, "k2": 10})
        first = carol.run_episode("reset my password", lambda m: Outcome("carol's tactic", True))
        self.assertEqual(first.memories, [], "ana's and bob's memories are not carol's")
        second = carol.run_episode("reset my password", lambda m: Outcome(m[0]["experience"], True))
        self.assertEqual([m["id"] for m in second.memories], [first.written["memoryId"]])
        stored = self.client.get_memory(self.bank, first.written["memoryId"])
        self.assertEqual((stored["scope"]["userId"], stored["metadata"]), ("carol", {"channel": "chat"}))


@NEEDS_SILO
class SemanticTextTests(unittest.TestCase):
    """Text recall with the silo's default embedder on a bank made with no embedder and no options, as a new user
    makes it: paraphrases sharing few words with their memory find it."""

    def test_Paraphrases_RecallTheirMemory_WithTheDefaultEmbedderAndGate(self):
        client = MemRL(URL, KEY, timeout=60)
        bank = fresh("sdk-text")
        created = client.create_bank(bank)
        try:
            self.assertIn("minilm", created["embedderId"].lower(), "the default text embedder is MiniLM")
            with open(PARAPHRASES, encoding="utf-8") as file:
                pairs = json.load(file)["pairs"]
            ids = [client.write(bank, f"how we handled: {p['memory']}", True, intent_text=p["memory"])["memoryId"]
                   for p in pairs]
            found, misses = 0, []
            for pair, memory_id in zip(pairs, ids):
                recalled = [m["id"] for m in client.recall(bank, query_text=pair["paraphrase"])["memories"]]
                if memory_id in recalled[:3]:
                    found += 1
                else:
                    misses.append(pair["paraphrase"])
            self.assertGreaterEqual(found, 8, f"{found} of {len(pairs)} at rank <= 3; missed: {misses}")
        finally:
            client.delete_bank(bank)


if __name__ == "__main__":
    unittest.main()
