"""Against a real silo: set MEMRL_URL and MEMRL_API_KEY (tests/MemRL.Api.Tests/PythonExampleTests.cs starts a silo
process and does). Skipped, saying so, when they are not set. Each test makes its own bank and deletes it."""

from __future__ import annotations

import http.client
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


if __name__ == "__main__":
    unittest.main()
